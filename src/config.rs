//! Typed settings, read once from the environment at start-up.
//!
//! A reading reports every faulty setting at once ([`ConfigErrors`]: one [`ConfigError`] per
//! faulty variable, each naming it), so a misconfigured instance stops with every line an
//! operator has to act on rather than the first. What works but deserves a look comes back as
//! [`ConfigWarning`]s in [`Settings::warnings`], for the command to log (start-up) or list
//! (`doctor`): reading itself logs nothing. Secret values never appear in either.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::idp::authority::{is_guid, Authority};
use crate::idp::credential::certificate::{self, ClientCertificate};
use crate::idp::credential::{federated_source, ClientCredential, CredentialError, CredentialKind};
use crate::idp::policy::{KeptGroups, Policy, TenantPolicy, RESTRICT};
use crate::idp::provider::ProviderConfig;
use crate::support::text::cap;
use crate::telemetry::sign_in::EventFormat;
use crate::tokens::secret::{SecretString, SigningSecret, SigningSecrets};
use crate::web::cloud_zones;
use crate::web::url::{is_loopback, is_reserved_for_testing, parse_public_url};

/// How to make an `SSO_SECRET` value, named in every refusal of one.
const SECRET_ADVICE: &str = "generate one with `entra-sso keygen` (or `openssl rand -base64 32`)";

/// A setting that is missing or invalid: names the variable and says what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong, without the value when the variable holds a secret; advice on the fix,
    /// when there is some, follows after `; `.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, problem: impl std::fmt::Display) -> Self {
        Self { variable, problem: problem.to_string() }
    }
}

/// Every faulty setting of one reading, one [`ConfigError`] per faulty variable, in the order of
/// the settings table (docs/design.md §6.1); never empty. `Display` gives one line per error.
#[derive(Debug)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// `errors` as one failure, or `None` when there are none.
    pub fn new(errors: Vec<ConfigError>) -> Option<Self> {
        (!errors.is_empty()).then_some(Self(errors))
    }

    /// Both readings' values, or every error of either (the first's, then the second's): for a
    /// command that reads settings of its own besides [`Settings`].
    pub fn join<T, U>(first: Result<T, Self>, second: Result<U, Self>) -> Result<(T, U), Self> {
        match (first, second) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
            (Err(mut a), Err(b)) => {
                a.0.extend(b.0);
                Err(a)
            }
        }
    }
}

impl std::ops::Deref for ConfigErrors {
    type Target = [ConfigError];

    fn deref(&self) -> &[ConfigError] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A setting that works but deserves a look. Returned with the settings
/// ([`Settings::warnings`]), never logged while reading: start-up logs each, `doctor` lists each
/// as a `!` line. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The environment variable concerned.
    pub variable: &'static str,
    /// What was found.
    pub finding: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.variable, self.finding, self.fix)
    }
}

/// An environment variable a cloud platform sets in every process it runs, and that platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudMarker {
    /// The variable; set (to any value, even empty) means the platform runs this process.
    pub variable: &'static str,
    /// The platform, in words.
    pub platform: &'static str,
}

/// The one list of cloud markers. With any of them set, `serve`, `proxy` and `doctor` refuse a
/// loopback authority ([`Startup::cloud`]) and `entra-sso dev` /
/// `dev-idp` refuse to start (`dev_idp::refuse_in_cloud`): there, another process on the same
/// host (a sidecar, a same-host proxy) could answer as the identity provider.
pub const CLOUD_MARKERS: &[CloudMarker] = &[
    // "WEBSITE_SITE_NAME: Read-only. App name." Also set for Functions on App Service plans.
    // https://learn.microsoft.com/azure/app-service/reference-app-settings#app-environment
    CloudMarker { variable: "WEBSITE_SITE_NAME", platform: "Azure App Service" },
    // The language worker, `custom` here (Core Tools' `func start` sets it too, from
    // local.settings.json). https://learn.microsoft.com/azure/azure-functions/functions-app-settings#functions_worker_runtime
    CloudMarker { variable: "FUNCTIONS_WORKER_RUNTIME", platform: "Azure Functions" },
    // A reserved runtime variable, "the name of the function" (cargo lambda's emulator sets it too).
    // https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
    CloudMarker { variable: "AWS_LAMBDA_FUNCTION_NAME", platform: "AWS Lambda" },
    // A built-in variable of every container app, "the name of the container app".
    // https://learn.microsoft.com/azure/container-apps/environment-variables#built-in-environment-variables
    CloudMarker { variable: "CONTAINER_APP_NAME", platform: "Azure Container Apps" },
    // The API server's service, injected into every container of every pod (AKS, EKS, GKE, …).
    // https://kubernetes.io/docs/concepts/containers/container-environment/#cluster-information
    CloudMarker { variable: "KUBERNETES_SERVICE_HOST", platform: "Kubernetes, such as AKS" },
    // Task metadata endpoint v4, injected into each container (Fargate 1.4.0+, EC2 agent 1.39.0+).
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4.html
    CloudMarker { variable: "ECS_CONTAINER_METADATA_URI_V4", platform: "Amazon ECS" },
    // Task metadata endpoint v3, injected by older agents and Fargate 1.3.0.
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v3.html
    CloudMarker { variable: "ECS_CONTAINER_METADATA_URI", platform: "Amazon ECS" },
];

/// The first cloud marker for which `is_set` holds, if any.
pub fn cloud_marker(is_set: impl Fn(&str) -> bool) -> Option<&'static CloudMarker> {
    CLOUD_MARKERS.iter().find(|m| is_set(m.variable))
}

/// How the IdP returns the authorization response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// `GET /api/callback?code=…&state=…` (default; flow cookie `SameSite=Lax`).
    Query,
    /// `POST /api/callback` from an auto-submitted form (flow cookie `SameSite=None`).
    FormPost,
}

impl ResponseMode {
    /// The value of the `response_mode` authorize parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// What `/api/logout` does after clearing the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutMode {
    /// Redirect to the IdP's end-session endpoint (signs out of Microsoft too).
    Idp,
    /// Only clear the local session and redirect to `return_to`.
    Local,
}

/// Where this service's own routes live on the host it answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mount {
    /// Under `/api` (`entra-sso serve`, Azure Functions, Lambda): `/api/login`, `/api/callback`, ….
    #[default]
    Api,
    /// At App Service Authentication's paths (`entra-sso proxy`): `/.auth/login/aad`,
    /// `/.auth/login/aad/callback`, `/.auth/me`, `/.auth/logout`, ….
    EasyAuth,
}

impl Mount {
    /// The path of the redirect URI, from the issuer's path on.
    const fn callback_suffix(self) -> &'static str {
        match self {
            Mount::Api => "/callback",
            Mount::EasyAuth => "/login/aad/callback",
        }
    }

    /// The sign-in route, relative to the issuer.
    pub const fn login_suffix(self) -> &'static str {
        match self {
            Mount::Api => "/login",
            Mount::EasyAuth => "/login/aad",
        }
    }

    /// The sign-in route's path on a host whose routes are not behind a prefix.
    pub const fn login_path(self) -> &'static str {
        match self {
            Mount::Api => "/api/login",
            Mount::EasyAuth => "/.auth/login/aad",
        }
    }

    /// The sign-out route's path on a host whose routes are not behind a prefix.
    pub const fn logout_path(self) -> &'static str {
        match self {
            Mount::Api => "/api/logout",
            Mount::EasyAuth => "/.auth/logout",
        }
    }

    /// Refuses a redirect URI whose path this mount does not serve the callback at. Under
    /// [`Mount::EasyAuth`] it must end with `/.auth/login/aad/callback`, the redirect URI an app
    /// registration made for App Service Authentication already has.
    fn check_redirect_uri(self, redirect_uri: &Url) -> Result<(), ConfigError> {
        match self {
            Mount::EasyAuth if !redirect_uri.path().ends_with("/.auth/login/aad/callback") => Err(ConfigError::new(
                "SSO_REDIRECT_URI",
                "entra-sso proxy serves the callback at /.auth/login/aad/callback: register and set \
                 https://<host>/.auth/login/aad/callback",
            )),
            _ => Ok(()),
        }
    }
}

/// What the command reading the settings adds to the checks every reading makes.
/// `Startup::default()` (the routes under `/api`, no cloud marker) is the Lambda adapter's and
/// `entra-sso dev`'s.
#[derive(Debug, Clone, Copy, Default)]
pub struct Startup {
    /// Where the routes live: [`Mount::EasyAuth`] for `entra-sso proxy`, which then needs a
    /// redirect URI at `/.auth/login/aad/callback`.
    pub mount: Mount,
    /// The cloud marker set where the command runs, if any: a loopback authority is then
    /// refused. `serve`, `proxy` and `doctor` look; the Lambda adapter does not, as it is started
    /// by the Lambda runtime or by `cargo lambda`'s emulator, which sets `AWS_LAMBDA_FUNCTION_NAME`
    /// too, and keeps only the redirect-URI rule there.
    pub cloud: Option<&'static CloudMarker>,
}

impl Startup {
    /// Routes at `mount`, on the platform [`cloud_marker`] finds through `is_set`.
    pub fn new(mount: Mount, is_set: impl Fn(&str) -> bool) -> Self {
        Self { mount, cloud: cloud_marker(is_set) }
    }
}

/// Everything an instance needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the routes live: `/api` unless `entra-sso proxy` moves them to `/.auth`.
    pub mount: Mount,
    /// `SSO_CLIENT_ID`.
    pub client_id: String,
    /// `SSO_TENANT_ID` or `SSO_AUTHORITY`.
    pub authority: Authority,
    /// `SSO_CLIENT_CREDENTIAL` with its material: how the token request authenticates.
    pub credential: ClientCredential,
    /// `SSO_REDIRECT_URI`, exactly as registered.
    pub redirect_uri: Url,
    /// `SSO_SECRET`, split on commas and decoded; the first signs, all verify.
    pub secrets: SigningSecrets,
    /// `SSO_SCOPES`: scopes beyond `openid profile email`.
    pub extra_scopes: Vec<String>,
    /// `SSO_RETURN_ORIGINS`: absolute origins allowed in `return_to` (ASCII serialisation).
    pub return_origins: Vec<String>,
    /// `SSO_ALLOWED_TENANTS`, `SSO_REQUIRED_ROLES`, `SSO_ALLOWED_GROUPS`,
    /// `SSO_ALLOWED_EMAIL_DOMAINS`, whether the authority admits personal accounts, and the
    /// groups sessions keep (`SSO_SESSION_GROUPS`).
    pub policy: Policy,
    /// `SSO_STATE_TTL` (default 10 minutes).
    pub state_ttl: Duration,
    /// `SSO_SESSION_TTL`, the renewal lifetime: how long one session is valid before it must be
    /// renewed (default 1 hour).
    pub session_ttl: Duration,
    /// `SSO_SESSION_MAX_AGE`, the absolute limit counted from the interactive sign-in, however
    /// often the session was renewed (default 24 hours, and never below the renewal lifetime).
    pub session_max_age: Duration,
    /// `SSO_POST_LOGOUT_REDIRECT_URI`.
    pub post_logout_redirect_uri: Option<Url>,
    /// `SSO_SESSION_NOT_BEFORE`: sessions issued before this Unix time are invalid.
    pub session_not_before: u64,
    /// `SSO_SESSION_AUDIENCE`, else the client id: the `aud` of every session.
    pub session_audience: String,
    /// `SSO_COOKIE_DOMAIN`: the parent domain the session cookie is shared with (lower-case,
    /// no leading dot); `None` keeps it host-only.
    pub cookie_domain: Option<String>,
    /// `SSO_RESPONSE_MODE`: `query` (default) or `form_post`.
    pub response_mode: ResponseMode,
    /// `SSO_LOGOUT`: `idp` (default) or `local`.
    pub logout_mode: LogoutMode,
    /// Connect time-out of every outbound call.
    pub connect_timeout: Duration,
    /// Total time-out of every outbound call.
    pub request_timeout: Duration,
    /// Longest a callback waits for one of the token-call permits when all are taken.
    pub redemption_wait: Duration,
    /// Shortest interval between two JWKS refetches caused by an unknown `kid`.
    pub jwks_refetch_interval: Duration,
    /// Serve the dev start page on `/` (only `entra-sso dev` turns this on).
    pub dev_pages: bool,
    /// `SSO_API_AUDIENCES` and `SSO_API_CLIENTS`: which access tokens are accepted.
    pub api: ApiSettings,
    /// `SSO_EVENTS`: how sign-in events are written; EMF on AWS Lambda, log lines elsewhere.
    pub events: EventFormat,
    /// What the reading found that works but deserves a look, in reading order: for start-up
    /// to log and `doctor` to list.
    pub warnings: Vec<ConfigWarning>,
}

impl Settings {
    /// Reads the settings from the process environment, for `startup`.
    pub fn from_env(startup: Startup) -> Result<Self, ConfigErrors> {
        Self::read(|name| std::env::var(name).ok(), startup)
    }

    /// Reads the settings through `lookup` with the routes under `/api` and no cloud marker
    /// (tests and `entra-sso dev` pass their own variables).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        Self::read(lookup, Startup::default())
    }

    /// Reads the settings through `lookup`, for `startup`: every setting is read and every
    /// faulty one reported, one [`ConfigError`] per variable in the order of the settings table
    /// (docs/design.md §6.1). A check that needs a faulty setting is skipped, never run against
    /// a stand-in: with a faulty `SSO_REDIRECT_URI`, `SSO_COOKIE_DOMAIN` is checked only for
    /// what it can be alone (a domain name, not a public suffix), and a faulty authority leaves
    /// out the rules that depend on it (a multi-tenant authority's allow-list, the tenant gate of
    /// role, group and e-mail rules, a federated credential's source).
    pub fn read(lookup: impl Fn(&str) -> Option<String>, startup: Startup) -> Result<Self, ConfigErrors> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut found = Findings::default();
        let client_id = found.ok(parse_client_id(get("SSO_CLIENT_ID")));
        let authority = found.ok(parse_authority(get("SSO_AUTHORITY"), get("SSO_TENANT_ID")));
        // Read now, reported in its own place below: the authority is judged with it.
        let redirect_uri = parse_redirect_uri(get("SSO_REDIRECT_URI"));
        if let Some(authority) = &authority {
            found.ok(refuse_loopback_authority(authority, redirect_uri.as_ref().ok(), startup.cloud));
        }
        let credential = parse_credential(&get, client_id.as_deref(), authority.as_ref(), &mut found);
        let redirect_uri = found.ok(redirect_uri);
        if let Some(uri) = &redirect_uri {
            found.ok(startup.mount.check_redirect_uri(uri));
        }
        let secrets = found.ok(parse_secrets(get("SSO_SECRET")));
        let extra_scopes = found.ok(parse_scopes(get("SSO_SCOPES")));
        let return_origins = found.ok(parse_origins(get("SSO_RETURN_ORIGINS")));
        let policy = parse_policy(&get, authority.as_ref(), &mut found);
        let state_ttl = found.ok(parse_ttl("SSO_STATE_TTL", get("SSO_STATE_TTL"), 600));
        let session_ttl = found.ok(parse_ttl("SSO_SESSION_TTL", get("SSO_SESSION_TTL"), DEFAULT_SESSION_TTL));
        let session_max_age = found.ok(parse_max_age(get("SSO_SESSION_MAX_AGE"), session_ttl));
        if session_ttl.is_some() && session_ttl == session_max_age {
            found.warnings.push(never_renewed_warning());
        }
        let post_logout_redirect_uri = found.ok(get("SSO_POST_LOGOUT_REDIRECT_URI")
            .map(|v| parse_public_url(&v))
            .transpose()
            .map_err(|e| ConfigError::new("SSO_POST_LOGOUT_REDIRECT_URI", e)));
        let logout_mode = found.ok(match get("SSO_LOGOUT").as_deref() {
            None | Some("idp") => Ok(LogoutMode::Idp),
            Some("local") => Ok(LogoutMode::Local),
            Some(_) => Err(ConfigError::new("SSO_LOGOUT", "must be `idp` or `local`")),
        });
        let response_mode = found.ok(match get("SSO_RESPONSE_MODE").as_deref() {
            None | Some("query") => Ok(ResponseMode::Query),
            Some("form_post") => Ok(ResponseMode::FormPost),
            Some(_) => Err(ConfigError::new("SSO_RESPONSE_MODE", "must be `query` or `form_post`")),
        });
        let session_not_before = found.ok(parse_not_before(get("SSO_SESSION_NOT_BEFORE"), crate::support::time::now()));
        let session_audience = found.ok(parse_audience("SSO_SESSION_AUDIENCE", get("SSO_SESSION_AUDIENCE")));
        let api = parse_api(&get, &mut found);
        let events =
            found.ok(parse_events(get("SSO_EVENTS"), get("AWS_LAMBDA_FUNCTION_NAME"))).unwrap_or(EventFormat::Log);
        let cookie_domain = match get("SSO_COOKIE_DOMAIN") {
            None => Some(None),
            Some(value) => found.ok(parse_cookie_domain(&value, redirect_uri.as_ref())).map(|(domain, warning)| {
                found.warnings.extend(warning);
                Some(domain)
            }),
        };
        if let Some(errors) = ConfigErrors::new(found.errors) {
            return Err(errors);
        }
        let (
            Some(client_id),
            Some(authority),
            Some(credential),
            Some(redirect_uri),
            Some(secrets),
            Some(extra_scopes),
            Some(mut return_origins),
            Some(policy),
            Some(state_ttl),
            Some(session_ttl),
            Some(session_max_age),
            Some(post_logout_redirect_uri),
            Some(logout_mode),
            Some(response_mode),
            Some(session_not_before),
            Some(session_audience),
            Some(cookie_domain),
        ) = (
            client_id,
            authority,
            credential,
            redirect_uri,
            secrets,
            extra_scopes,
            return_origins,
            policy,
            state_ttl,
            session_ttl,
            session_max_age,
            post_logout_redirect_uri,
            logout_mode,
            response_mode,
            session_not_before,
            session_audience,
            cookie_domain,
        )
        else {
            unreachable!("a setting that was not read has its error");
        };
        if startup.mount == Mount::EasyAuth {
            // Easy Auth takes `post_login_redirect_uri` as an absolute URL on the site itself too.
            let own = redirect_uri.origin().ascii_serialization();
            if !return_origins.contains(&own) {
                return_origins.push(own);
            }
        }
        Ok(Settings {
            api: api.with_default_audiences(&client_id),
            events,
            mount: startup.mount,
            session_audience: session_audience.unwrap_or_else(|| client_id.clone()),
            client_id,
            authority,
            credential,
            redirect_uri,
            secrets,
            extra_scopes,
            return_origins,
            policy,
            state_ttl,
            session_ttl,
            session_max_age,
            post_logout_redirect_uri,
            session_not_before,
            cookie_domain,
            response_mode,
            logout_mode,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            redemption_wait: Duration::from_secs(5),
            jwks_refetch_interval: Duration::from_secs(30),
            dev_pages: false,
            warnings: found.warnings,
        })
    }

    /// This deployment's issuer, the `iss` of its sessions: `SSO_REDIRECT_URI` without its last
    /// path segment (and query), so `https://app.example.com/api/callback` gives
    /// `https://app.example.com/api`, where the discovery document is published. Under
    /// [`Mount::EasyAuth`] it is the redirect URI without `/login/aad/callback`:
    /// `https://app.example.com/.auth`.
    pub fn issuer(&self) -> String {
        let path = self.redirect_uri.path();
        let parent = match self.mount {
            Mount::Api => &path[..path.rfind('/').unwrap_or(0)],
            Mount::EasyAuth => path.strip_suffix(self.mount.callback_suffix()).unwrap_or(path),
        };
        format!("{}{parent}", self.redirect_uri.origin().ascii_serialization())
    }

    /// The absolute URL of the sign-in route (`<issuer>/login`, or `<issuer>/login/aad`).
    pub fn login_url(&self) -> String {
        format!("{}{}", self.issuer(), self.mount.login_suffix())
    }

    /// The sessions' renewal lifetime and absolute limit, in seconds.
    pub fn session_lifetimes(&self) -> crate::tokens::session::Lifetimes {
        crate::tokens::session::Lifetimes { ttl: self.session_ttl.as_secs(), max_age: self.session_max_age.as_secs() }
    }
}

/// What one reading found so far: the errors and the warnings.
#[derive(Default)]
pub(crate) struct Findings {
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigWarning>,
}

impl Findings {
    /// The value read, or `None` with its error recorded: the checks that need it are skipped.
    pub(crate) fn ok<T>(&mut self, read: Result<T, ConfigError>) -> Option<T> {
        read.map_err(|e| self.errors.push(e)).ok()
    }
}

/// `SSO_CLIENT_ID`: the app registration's client id.
fn parse_client_id(value: Option<String>) -> Result<String, ConfigError> {
    let client_id =
        value.ok_or_else(|| ConfigError::new("SSO_CLIENT_ID", "required: the app registration's client id"))?;
    if !is_client_id(&client_id) {
        return Err(ConfigError::new("SSO_CLIENT_ID", "must be a client id (letters, digits, '-', '_', '.')"));
    }
    Ok(client_id)
}

/// Whether `id` can be a client id: letters, digits, `-`, `_`, `.`; at most 128 characters.
fn is_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `SSO_AUTHORITY`, else `SSO_TENANT_ID`.
fn parse_authority(authority: Option<String>, tenant: Option<String>) -> Result<Authority, ConfigError> {
    match (authority, tenant) {
        (Some(a), _) => Authority::parse(&a).map_err(|e| ConfigError::new("SSO_AUTHORITY", e)),
        (None, Some(t)) => Authority::for_tenant(&t).map_err(|e| ConfigError::new("SSO_TENANT_ID", e)),
        (None, None) => Err(ConfigError::new(
            "SSO_TENANT_ID",
            "required (or SSO_AUTHORITY): the tenant id, domain, `common` or `organizations`",
        )),
    }
}

/// `SSO_REDIRECT_URI`: a public URL (https, or http on loopback).
fn parse_redirect_uri(value: Option<String>) -> Result<Url, ConfigError> {
    let value =
        value.ok_or_else(|| ConfigError::new("SSO_REDIRECT_URI", "required: the public URL of /api/callback"))?;
    parse_public_url(&value).map_err(|e| ConfigError::new("SSO_REDIRECT_URI", e))
}

/// What to do about a loopback authority where one is refused.
const LOOPBACK_FIX: &str = "set the provider's https authority (for Entra, SSO_TENANT_ID); a loopback authority (the \
                            dev identity provider) is for local development only";

/// A loopback authority (the dev identity provider) is refused behind a public redirect URI
/// (https, on a host neither loopback nor reserved for testing): that is a deployment, which must
/// not trust whatever process answers on its own host. Failing that (or with the redirect URI
/// faulty), it is refused while a cloud marker is set: in the cloud another process on the host
/// could answer as the identity provider.
fn refuse_loopback_authority(
    authority: &Authority,
    redirect_uri: Option<&Url>,
    cloud: Option<&CloudMarker>,
) -> Result<(), ConfigError> {
    if !authority.is_loopback() {
        return Ok(());
    }
    let public =
        redirect_uri.filter(|uri| uri.scheme() == "https" && !is_loopback(uri) && !is_reserved_for_testing(uri));
    if let Some(uri) = public {
        return Err(ConfigError::new(
            "SSO_AUTHORITY",
            format!(
                "{} is on this host's loopback interface, but SSO_REDIRECT_URI {} is public: a deployment must not \
                 trust an identity provider that any process on its host could be; {LOOPBACK_FIX}",
                cap(authority.as_str(), 200),
                cap(uri.as_str(), 200)
            ),
        ));
    }
    match cloud {
        Some(marker) => Err(ConfigError::new(
            "SSO_AUTHORITY",
            format!(
                "{} is on this host's loopback interface while {} is set ({}): in the cloud another process on the \
                 host (a sidecar, a proxy) could answer as the identity provider; {LOOPBACK_FIX}",
                cap(authority.as_str(), 200),
                marker.variable,
                marker.platform
            ),
        )),
        None => Ok(()),
    }
}

/// Settings that belong to one credential kind only: set with another, they are a mistake.
const KIND_ONLY: &[(&str, CredentialKind)] = &[
    ("SSO_CLIENT_SECRET", CredentialKind::Secret),
    ("SSO_CLIENT_CERTIFICATE", CredentialKind::Certificate),
    ("SSO_MANAGED_IDENTITY_CLIENT_ID", CredentialKind::ManagedIdentity),
];

/// `SSO_CLIENT_CREDENTIAL` and the material of the kind it names, or `None` with every fault
/// recorded in `found`. Unset, it is `secret` when `SSO_CLIENT_SECRET` is set and a public client
/// otherwise. With `SSO_CLIENT_CREDENTIAL` faulty nothing else is judged; a federated kind's
/// platform variables are checked once the authority is valid (the source is built for it).
fn parse_credential(
    get: &dyn Fn(&str) -> Option<String>,
    client_id: Option<&str>,
    authority: Option<&Authority>,
    found: &mut Findings,
) -> Option<ClientCredential> {
    const VAR: &str = "SSO_CLIENT_CREDENTIAL";
    let kind = match get(VAR) {
        Some(v) => Some(found.ok(CredentialKind::parse(&v).ok_or_else(|| {
            ConfigError::new(VAR, "must be `secret`, `certificate`, `managed-identity`, `workload-identity` or `aws`")
        }))?),
        None if get("SSO_CLIENT_SECRET").is_some() => Some(CredentialKind::Secret),
        None => None,
    };
    let errors_before = found.errors.len();
    for (setting, owner) in KIND_ONLY {
        if get(setting).is_some() && kind != Some(*owner) {
            let now = match kind {
                Some(k) => format!("SSO_CLIENT_CREDENTIAL is `{k}`"),
                None => "SSO_CLIENT_CREDENTIAL is not set".to_owned(),
            };
            let fix = if *owner == CredentialKind::Secret {
                "remove it: a secret left in the settings defeats a secretless credential".to_owned()
            } else {
                format!("set SSO_CLIENT_CREDENTIAL={owner}, or remove it")
            };
            found.errors.push(ConfigError::new(setting, format!("is set but {now}; {fix}")));
        }
    }
    let credential = match kind {
        None => Some(ClientCredential::Public),
        Some(kind) => found.ok(credential_material(get, kind, client_id, authority)?),
    };
    credential.filter(|_| found.errors.len() == errors_before)
}

/// The credential of `kind` from its settings, or `None` when it cannot be judged yet (a
/// federated kind without a valid authority).
fn credential_material(
    get: &dyn Fn(&str) -> Option<String>,
    kind: CredentialKind,
    client_id: Option<&str>,
    authority: Option<&Authority>,
) -> Option<Result<ClientCredential, ConfigError>> {
    let setting_error = |e: CredentialError| match e {
        CredentialError::Setting { setting, reason } => ConfigError::new(setting, reason),
        other => ConfigError::new("SSO_CLIENT_CREDENTIAL", format!("{kind}: {other}")),
    };
    match kind {
        CredentialKind::Secret => Some(match get("SSO_CLIENT_SECRET") {
            Some(secret) => Ok(ClientCredential::Secret(SecretString::new(secret))),
            None => Err(ConfigError::new("SSO_CLIENT_SECRET", "required when SSO_CLIENT_CREDENTIAL is `secret`")),
        }),
        CredentialKind::Certificate => {
            let Some(value) = get(certificate::SETTING) else {
                return Some(Err(ConfigError::new(
                    certificate::SETTING,
                    "required when SSO_CLIENT_CREDENTIAL is `certificate`: a PEM file path, or the PEM itself, \
                     holding the RSA private key and its certificate",
                )));
            };
            // The material is judged alone; the client id only goes into the assertions, and
            // with a faulty one the credential is dropped with the rest of the settings.
            let loaded = ClientCertificate::load(&value, client_id.unwrap_or_default(), crate::support::time::now());
            Some(loaded.map(|cert| ClientCredential::Certificate(std::sync::Arc::new(cert))).map_err(|e| match e {
                CredentialError::Material { reason, .. } => ConfigError::new(certificate::SETTING, reason),
                other => setting_error(other),
            }))
        }
        federated => {
            let source = federated_source(federated, get, authority?.as_str()).expect("a federated kind has a source");
            Some(source.map(|source| ClientCredential::federated(federated, source)).map_err(setting_error))
        }
    }
}

/// `SSO_SESSION_AUDIENCE` (or an entry of `SSO_API_AUDIENCES`, named by `variable`): one
/// printable ASCII word, as consumers compare it byte for byte.
fn parse_audience(variable: &'static str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(a) if a.len() > 256 || !a.bytes().all(|b| b.is_ascii_graphic()) || a.contains(['\u{22}', '\\']) => {
            Err(ConfigError::new(variable, "must be printable ASCII without spaces or quotes, at most 256 bytes"))
        }
        other => Ok(other),
    }
}

/// Which access tokens the API accepts (`SSO_API_AUDIENCES`, `SSO_API_CLIENTS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiSettings {
    /// The `aud` values accepted: `SSO_API_AUDIENCES`, by default the client id and
    /// `api://<client id>` (the application ID URI Entra suggests).
    pub audiences: Vec<String>,
    /// `SSO_API_CLIENTS`: the client ids (`azp`, v1 `appid`) an app-only caller may have;
    /// `None` admits every app-only caller of an admitted tenant.
    pub clients: Option<Vec<String>>,
}

impl ApiSettings {
    /// The default audiences when `SSO_API_AUDIENCES` is unset.
    fn with_default_audiences(mut self, client_id: &str) -> Self {
        if self.audiences.is_empty() {
            self.audiences = vec![client_id.to_owned(), format!("api://{client_id}")];
        }
        self
    }
}

/// `SSO_API_AUDIENCES` and `SSO_API_CLIENTS`, each faulty one recorded; the audiences' default
/// comes once the client id is known.
/// `SSO_EVENTS`: `log` or `emf`; unset, EMF where `AWS_LAMBDA_FUNCTION_NAME` says the process
/// runs on Lambda (its stdout is CloudWatch Logs, which extracts the metrics), log lines
/// elsewhere. The EMF `Function` dimension is that name, else `entra-sso`.
fn parse_events(value: Option<String>, lambda_function: Option<String>) -> Result<EventFormat, ConfigError> {
    let emf = || EventFormat::Emf { function: cap(lambda_function.as_deref().unwrap_or("entra-sso"), 140) };
    match value.as_deref() {
        None if lambda_function.is_some() => Ok(emf()),
        None | Some("log") => Ok(EventFormat::Log),
        Some("emf") => Ok(emf()),
        Some(_) => Err(ConfigError::new("SSO_EVENTS", "must be `log` or `emf`")),
    }
}

fn parse_api(get: &impl Fn(&str) -> Option<String>, found: &mut Findings) -> ApiSettings {
    let list = |v: Option<String>| -> Vec<String> {
        v.map(|v| v.split(',').map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect()).unwrap_or_default()
    };
    let mut audiences = Vec::new();
    for entry in list(get("SSO_API_AUDIENCES")) {
        match found.ok(parse_audience("SSO_API_AUDIENCES", Some(entry))) {
            Some(Some(a)) => audiences.push(a),
            _ => break,
        }
    }
    let clients = get("SSO_API_CLIENTS").map(|v| {
        let ids = list(Some(v));
        if ids.is_empty() || !ids.iter().all(|id| is_client_id(id)) {
            found.errors.push(ConfigError::new(
                "SSO_API_CLIENTS",
                "must be comma-separated client ids (letters, digits, '-', '_', '.')",
            ));
        }
        ids
    });
    ApiSettings { audiences, clients }
}

/// `SSO_COOKIE_DOMAIN`: a registrable domain or a subdomain of one (never a public suffix such
/// as `azurewebsites.net`, for which browsers refuse the cookie) that is `SSO_REDIRECT_URI`'s
/// host or one of its parents, with a warning when that host is a cloud service's default host
/// name. Without a valid redirect URI (`None`) only what the domain is alone is checked.
fn parse_cookie_domain(
    value: &str,
    redirect_uri: Option<&Url>,
) -> Result<(String, Option<ConfigWarning>), ConfigError> {
    const VAR: &str = "SSO_COOKIE_DOMAIN";
    let err = |why: String| ConfigError::new(VAR, why);
    let domain = value.strip_prefix('.').unwrap_or(value).to_ascii_lowercase();
    let label_ok =
        |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if domain.len() > 253 || !domain.split('.').all(label_ok) {
        return Err(err(format!(
            "`{value}` is not a domain name (ASCII letters, digits, '-' and dots; punycode for others)"
        )));
    }
    let host = match redirect_uri.map(Url::host) {
        None => None,
        Some(Some(url::Host::Domain(host))) => Some(host),
        Some(_) => {
            return Err(err("SSO_REDIRECT_URI's host is an IP address: a cookie cannot be shared from it".into()))
        }
    };
    if let Some(host) = host {
        if host != domain && !host.ends_with(&format!(".{domain}")) {
            return Err(err(format!("`{domain}` is not SSO_REDIRECT_URI's host `{host}` nor a parent of it")));
        }
    }
    if psl::suffix_str(&domain) == Some(domain.as_str()) {
        return Err(err(format!(
            "`{domain}` is a public suffix: browsers refuse cookies for it, so sibling apps on it cannot share a \
             session; put the apps on a domain you own (custom domains), or leave SSO_COOKIE_DOMAIN unset"
        )));
    }
    let Some(host) = host else { return Ok((domain, None)) };
    if let Some(why) = cloud_zones::refusal(&domain, host) {
        return Err(err(format!("{why}; {}", cloud_zones::REFUSAL_FIX)));
    }
    let warning = cloud_zones::default_host_warning(host).map(|(finding, fix)| ConfigWarning {
        variable: VAR,
        finding: format!("{domain}: {finding}"),
        fix: fix.to_owned(),
    });
    Ok((domain, warning))
}

fn parse_secrets(value: Option<String>) -> Result<SigningSecrets, ConfigError> {
    let value = value.ok_or_else(|| {
        ConfigError::new(
            "SSO_SECRET",
            format!("required: one or more comma-separated values of 32 random bytes; {SECRET_ADVICE}"),
        )
    })?;
    let entries: Vec<&str> = value.split(',').map(str::trim).collect();
    if entries.len() > 8 {
        return Err(ConfigError::new("SSO_SECRET", "at most 8 secrets may be listed"));
    }
    let mut secrets: Vec<SigningSecret> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let secret = SigningSecret::parse(entry)
            .map_err(|e| ConfigError::new("SSO_SECRET", format!("entry {} {e}; {SECRET_ADVICE}", i + 1)))?;
        if secrets.contains(&secret) {
            return Err(ConfigError::new("SSO_SECRET", format!("entry {} repeats an earlier entry", i + 1)));
        }
        secrets.push(secret);
    }
    let (signing, older) = secrets.split_first().ok_or_else(|| ConfigError::new("SSO_SECRET", "no value"))?;
    Ok(SigningSecrets::new(signing.clone(), older.to_vec()))
}

/// Clock difference tolerated between the operator who picked `SSO_SESSION_NOT_BEFORE` and
/// this instance; any later value would refuse every fresh session, an endless sign-in loop.
pub const NOT_BEFORE_SKEW_SECS: u64 = 60;

fn parse_not_before(value: Option<String>, now: u64) -> Result<u64, ConfigError> {
    let Some(value) = value else { return Ok(0) };
    let err = |problem: String| ConfigError::new("SSO_SESSION_NOT_BEFORE", problem);
    let t = value.parse::<u64>().map_err(|_| err("must be a Unix time in seconds (`date +%s`)".into()))?;
    if t > now + NOT_BEFORE_SKEW_SECS {
        let unit = if t > now.saturating_mul(100) { " (milliseconds? use seconds)" } else { "" };
        return Err(err(format!(
            "{t} is in the future{unit}: every session, even one just issued, would be refused; use a time up to now ({now})"
        )));
    }
    Ok(t)
}

/// `SSO_ALLOWED_TENANTS`: `*`, or a list of tenant ids; required for a multi-tenant authority
/// (checked only with the authority valid).
fn parse_tenants(value: Option<String>, authority: Option<&Authority>) -> Result<TenantPolicy, ConfigError> {
    let policy = match value.as_deref() {
        None => TenantPolicy::Unrestricted,
        Some("*") => TenantPolicy::Any,
        Some(list) => {
            let ids: Vec<String> = list.split(',').map(|t| t.trim().to_ascii_lowercase()).collect();
            if ids.iter().any(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))) {
                return Err(ConfigError::new("SSO_ALLOWED_TENANTS", "must be `*` or comma-separated tenant ids"));
            }
            TenantPolicy::Only(ids)
        }
    };
    if authority.is_some_and(Authority::is_multi_tenant) && policy == TenantPolicy::Unrestricted {
        return Err(ConfigError::new(
            "SSO_ALLOWED_TENANTS",
            "required for a multi-tenant authority (`common`/`organizations`): list the tenant ids that may sign in, or `*` to accept every tenant",
        ));
    }
    Ok(policy)
}

/// The warning `SSO_ALLOWED_TENANTS=*` earns.
fn every_tenant_warning() -> ConfigWarning {
    ConfigWarning {
        variable: "SSO_ALLOWED_TENANTS",
        finding: "`*`: users of every Entra tenant can sign in".to_owned(),
        fix: "list the tenant ids that may sign in, unless anyone with a work account is welcome".to_owned(),
    }
}

/// `SSO_ALLOWED_TENANTS`, `SSO_REQUIRED_ROLES`, `SSO_ALLOWED_GROUPS`, `SSO_SESSION_GROUPS` and
/// `SSO_ALLOWED_EMAIL_DOMAINS`, or `None` with every fault recorded in `found`. Each list is
/// checked alone; the tenant gate of the role, group and e-mail rules only once the authority and
/// the tenants are valid.
fn parse_policy(
    get: &impl Fn(&str) -> Option<String>,
    authority: Option<&Authority>,
    found: &mut Findings,
) -> Option<Policy> {
    let list = |name: &'static str| -> Result<Vec<String>, ConfigError> {
        let Some(v) = get(name) else { return Ok(Vec::new()) };
        let items: Vec<String> = v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        if items.iter().any(|s| s.len() > 256 || s.chars().any(char::is_control)) {
            return Err(ConfigError::new(name, "comma-separated values of at most 256 characters"));
        }
        Ok(items)
    };
    let tenants = found.ok(parse_tenants(get("SSO_ALLOWED_TENANTS"), authority));
    if tenants == Some(TenantPolicy::Any) {
        found.warnings.push(every_tenant_warning());
    }
    // `email` is set by each tenant's administrators and not verified across tenants: a domain
    // rule means something only when the tenants themselves are restricted.
    let gate = match (tenants, authority) {
        (Some(tenants), Some(authority)) => {
            let tenant_scoped = match tenants {
                TenantPolicy::Only(_) => true,
                TenantPolicy::Any => false,
                TenantPolicy::Unrestricted => {
                    !authority.is_multi_tenant() && authority.entra_tenant() != Some("consumers")
                }
            };
            let personal_accounts = authority.admits_personal_accounts();
            Some(Policy { tenants, personal_accounts, tenant_scoped, ..Policy::default() })
        }
        _ => None,
    };
    let gated = |variable: &'static str, rule: &'static str| {
        list(variable).and_then(|values| match &gate {
            Some(gate) if !values.is_empty() => {
                gate.trust_roles_and_groups(rule).map(|()| values).map_err(|e| ConfigError::new(variable, e))
            }
            _ => Ok(values),
        })
    };
    let required_roles = found.ok(gated("SSO_REQUIRED_ROLES", "an app-role rule"));
    let allowed_groups = found.ok(gated("SSO_ALLOWED_GROUPS", "a group rule"));
    let session_groups = found.ok(parse_session_groups(get("SSO_SESSION_GROUPS")));
    let email_domains = found.ok(list("SSO_ALLOWED_EMAIL_DOMAINS").and_then(|domains| match &gate {
        Some(gate) if !domains.is_empty() && !gate.tenant_scoped => Err(ConfigError::new(
            "SSO_ALLOWED_EMAIL_DOMAINS",
            format!("an e-mail domain rule {RESTRICT}: e-mail addresses are not verified across tenants"),
        )),
        _ => Ok(domains.into_iter().map(|d| d.to_ascii_lowercase()).collect()),
    }));
    let (allowed_groups, session_groups) = (allowed_groups?, session_groups?);
    let kept_groups = KeptGroups::new(session_groups, &allowed_groups);
    if kept_groups.only_these() && kept_groups.ids().len() > MAX_SESSION_GROUPS {
        found.warnings.push(too_many_session_groups_warning(kept_groups.ids().len()));
    }
    Some(Policy {
        required_roles: required_roles?,
        allowed_groups,
        email_domains: email_domains?,
        kept_groups,
        ..gate?
    })
}

/// Most kept groups a session is sure to hold whole: about 45 GUIDs fit the cookie beside the
/// other claims; a user in more of them has her groups cut and flagged as overage.
const MAX_SESSION_GROUPS: usize = 40;

/// `SSO_SESSION_GROUPS`: group object ids (GUIDs), comma-separated; `None` when unset. Every id
/// that is not a GUID is named in the one error.
fn parse_session_groups(value: Option<String>) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    let ids: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let bad: Vec<String> = ids.iter().filter(|id| !is_guid(id)).map(|id| format!("`{}`", cap(id, 64))).collect();
    if !bad.is_empty() {
        return Err(ConfigError::new(
            "SSO_SESSION_GROUPS",
            format!("{} not a group object id; list GUIDs, comma-separated (Entra: Groups, Object Id)", bad.join(", ")),
        ));
    }
    if ids.is_empty() {
        return Err(ConfigError::new("SSO_SESSION_GROUPS", "lists no group id; unset it to keep every group"));
    }
    Ok(Some(ids.into_iter().map(str::to_ascii_lowercase).collect()))
}

/// The warning an `SSO_SESSION_GROUPS` too long for a cookie earns.
fn too_many_session_groups_warning(kept: usize) -> ConfigWarning {
    ConfigWarning {
        variable: "SSO_SESSION_GROUPS",
        finding: format!(
            "{kept} groups kept (with SSO_ALLOWED_GROUPS): a user in more than about {MAX_SESSION_GROUPS} of them does \
             not fit in a session cookie, and her groups are dropped and flagged as overage"
        ),
        fix: "list only the groups the app and its rules look at".to_owned(),
    }
}

fn parse_scopes(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let scopes: Vec<String> = value.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    // RFC 6749 scope-token characters: printable ASCII except space, `"` and `\`.
    if scopes.iter().any(|s| !s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')) {
        return Err(ConfigError::new("SSO_SCOPES", "scopes are printable ASCII separated by spaces"));
    }
    Ok(scopes.into_iter().filter(|s| !["openid", "profile", "email"].contains(&s.as_str())).collect())
}

fn parse_origins(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let url = parse_public_url(s).map_err(|e| ConfigError::new("SSO_RETURN_ORIGINS", format!("`{s}`: {e}")))?;
            if url.path() != "/" || url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
                return Err(ConfigError::new(
                    "SSO_RETURN_ORIGINS",
                    format!("`{s}` must be an origin only, like https://app.example.com"),
                ));
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}

/// `SSO_SESSION_TTL`'s default: one hour, the renewal lifetime (see docs/decisions.md).
const DEFAULT_SESSION_TTL: u64 = 3600;

/// `SSO_SESSION_MAX_AGE`'s default: a working day and then some.
const DEFAULT_SESSION_MAX_AGE: u64 = 24 * 3600;

/// `SSO_SESSION_MAX_AGE`: as a TTL, and at least the renewal lifetime `ttl` (when that was read).
/// Unset, it is 24 hours, or the renewal lifetime when that is longer, so a deployment that
/// set a long `SSO_SESSION_TTL` before the absolute limit existed starts as it did.
fn parse_max_age(value: Option<String>, ttl: Option<Duration>) -> Result<Duration, ConfigError> {
    let explicit = value.is_some();
    let max_age = parse_ttl("SSO_SESSION_MAX_AGE", value, DEFAULT_SESSION_MAX_AGE)?;
    match ttl {
        Some(ttl) if max_age < ttl && explicit => Err(ConfigError::new(
            "SSO_SESSION_MAX_AGE",
            format!(
                "{} s is shorter than SSO_SESSION_TTL ({} s); the absolute limit must be at least the renewal lifetime",
                max_age.as_secs(),
                ttl.as_secs()
            ),
        )),
        Some(ttl) => Ok(max_age.max(ttl)),
        None => Ok(max_age),
    }
}

/// Sessions whose renewal lifetime is their absolute limit end at their first `exp`.
fn never_renewed_warning() -> ConfigWarning {
    ConfigWarning {
        variable: "SSO_SESSION_MAX_AGE",
        finding: "equals SSO_SESSION_TTL: sessions end at their first expiry and are never renewed silently".to_owned(),
        fix: "keep SSO_SESSION_TTL short (1h, how long a disabled user keeps access) and set SSO_SESSION_MAX_AGE \
              to the limit from sign-in you want (24h)"
            .to_owned(),
    }
}

pub(crate) fn parse_ttl(
    variable: &'static str,
    value: Option<String>,
    default_secs: u64,
) -> Result<Duration, ConfigError> {
    let Some(value) = value else { return Ok(Duration::from_secs(default_secs)) };
    let (digits, unit) = match value.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => value.split_at(i),
        None => (value.as_str(), "s"),
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(ConfigError::new(variable, "a number of seconds, or with a unit: 90s, 10m, 8h")),
    };
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|&s| (30..=30 * 24 * 3600).contains(&s))
        .ok_or_else(|| ConfigError::new(variable, "must be between 30 seconds and 30 days"))?;
    Ok(Duration::from_secs(secs))
}

impl From<&Settings> for ProviderConfig {
    fn from(s: &Settings) -> Self {
        Self {
            authority: s.authority.clone(),
            client_id: s.client_id.clone(),
            credential: s.credential.clone(),
            redirect_uri: s.redirect_uri.to_string(),
            connect_timeout: s.connect_timeout,
            request_timeout: s.request_timeout,
            jwks_refetch_interval: s.jwks_refetch_interval,
            redemption_wait: s.redemption_wait,
            clock: crate::support::time::Clock::Wall,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Every error of a reading of `pairs` for `startup`.
    fn read_for(pairs: &[(&str, &str)], startup: Startup) -> Result<Settings, ConfigErrors> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::read(|k| map.get(k).cloned(), startup)
    }

    /// Every error of a reading of `pairs`.
    fn read(pairs: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
        read_for(pairs, Startup::default())
    }

    /// A reading of `pairs` with at most one faulty setting: its error.
    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        read(pairs).map_err(|errors| {
            assert_eq!(errors.len(), 1, "one error, not:\n{errors}");
            errors.into_iter().next().unwrap()
        })
    }

    const BASE: &[(&str, &str)] = &[
        ("SSO_CLIENT_ID", "11111111-2222-3333-4444-555555555555"),
        ("SSO_TENANT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
        ("SSO_REDIRECT_URI", "https://app.example.com/api/callback"),
        ("SSO_SECRET", "hUoBGcO61GjwMdjlVjWayu4t8jq3t32DfjGHBZTce5w"),
    ];

    fn with<'a>(extra: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
        let mut v: Vec<_> = BASE.iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)).cloned().collect();
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn minimal_settings_load_with_defaults() {
        let s = settings(BASE).unwrap();
        assert_eq!(s.state_ttl, Duration::from_secs(600));
        assert_eq!(s.session_ttl, Duration::from_secs(3600));
        assert_eq!(s.session_max_age, Duration::from_secs(24 * 3600));
        assert_eq!(s.response_mode, ResponseMode::Query);
    }

    #[test]
    fn five_faulty_settings_are_five_errors() {
        let short = "tooshort-secret";
        let errors = read(&[
            ("SSO_SESSION_TTL", "forever"),
            ("SSO_SECRET", short),
            ("SSO_REDIRECT_URI", "http://app.example.com/api/callback"),
            ("SSO_TENANT_ID", "not a tenant"),
            ("SSO_CLIENT_ID", "not a client id"),
        ])
        .unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(named, ["SSO_CLIENT_ID", "SSO_TENANT_ID", "SSO_REDIRECT_URI", "SSO_SECRET", "SSO_SESSION_TTL"]);
        let text = errors.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        for (line, variable) in lines.iter().zip(named) {
            assert!(line.starts_with(&format!("{variable}: ")), "{line}");
        }
        assert!(!text.contains(short), "the secret is not echoed: {text}");
    }

    #[test]
    fn every_faulty_setting_is_reported_in_the_order_of_the_table() {
        // Each faulty alone (its dependants' checks skipped where they need a faulty one), in
        // the order of docs/design.md §6.1, whatever the order of the variables.
        let faulty = [
            ("SSO_CLIENT_ID", "a b"),
            ("SSO_TENANT_ID", "-x"),
            ("SSO_CLIENT_CREDENTIAL", "password"),
            ("SSO_REDIRECT_URI", "ftp://app.example.com/api/callback"),
            ("SSO_SECRET", "short"),
            ("SSO_SCOPES", "a\"b"),
            ("SSO_RETURN_ORIGINS", "https://a.example.com/path"),
            ("SSO_ALLOWED_TENANTS", "a b"),
            ("SSO_REQUIRED_ROLES", "a\u{7}"),
            ("SSO_ALLOWED_GROUPS", "g\u{7}"),
            ("SSO_ALLOWED_EMAIL_DOMAINS", "d\u{7}"),
            ("SSO_STATE_TTL", "1"),
            ("SSO_SESSION_TTL", "10d"),
            ("SSO_POST_LOGOUT_REDIRECT_URI", "http://app.example.com/"),
            ("SSO_LOGOUT", "everywhere"),
            ("SSO_RESPONSE_MODE", "fragment"),
            ("SSO_SESSION_NOT_BEFORE", "yesterday"),
            ("SSO_SESSION_AUDIENCE", "a b"),
            ("SSO_COOKIE_DOMAIN", "exa mple.com"),
        ];
        let mut reversed = faulty;
        reversed.reverse();
        let errors = read(&reversed).unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.variable).collect();
        let expected: Vec<&str> = faulty.iter().map(|(v, _)| *v).collect();
        assert_eq!(named, expected, "{errors}");
        assert_eq!(errors.to_string().lines().count(), faulty.len());
    }

    #[test]
    fn checks_that_need_a_faulty_setting_are_skipped() {
        let names = |pairs: &[(&'static str, &str)]| -> Vec<&'static str> {
            read(&with(pairs)).unwrap_err().iter().map(|e| e.variable).collect()
        };
        let bad_redirect = ("SSO_REDIRECT_URI", "not a url");
        // The cookie domain cannot be compared with a faulty redirect URI's host ...
        assert_eq!(names(&[bad_redirect, ("SSO_COOKIE_DOMAIN", "other.com")]), ["SSO_REDIRECT_URI"]);
        // ... but is still checked for what it is alone.
        assert_eq!(names(&[bad_redirect, ("SSO_COOKIE_DOMAIN", "co.uk")]), ["SSO_REDIRECT_URI", "SSO_COOKIE_DOMAIN"]);
        assert_eq!(names(&[bad_redirect, ("SSO_COOKIE_DOMAIN", "a_b")]), ["SSO_REDIRECT_URI", "SSO_COOKIE_DOMAIN"]);
        // A faulty authority: no allow-list demanded, no tenant gate, no federated source.
        let bad_tenant = ("SSO_TENANT_ID", "-common");
        assert_eq!(names(&[bad_tenant, ("SSO_REQUIRED_ROLES", "Admin")]), ["SSO_TENANT_ID"]);
        assert_eq!(names(&[bad_tenant, ("SSO_ALLOWED_EMAIL_DOMAINS", "contoso.com")]), ["SSO_TENANT_ID"]);
        assert_eq!(names(&[bad_tenant, ("SSO_CLIENT_CREDENTIAL", "managed-identity")]), ["SSO_TENANT_ID"]);
        // A faulty tenant list: no gate either.
        let bad_list = [("SSO_TENANT_ID", "organizations"), ("SSO_ALLOWED_TENANTS", ",")];
        assert_eq!(names(&[bad_list[0], bad_list[1], ("SSO_ALLOWED_GROUPS", "g1")]), ["SSO_ALLOWED_TENANTS"]);
        // Certificate material does not depend on the client id: judged all the same.
        let certificate = [("SSO_CLIENT_CREDENTIAL", "certificate"), ("SSO_CLIENT_CERTIFICATE", "/nonexistent.pem")];
        assert_eq!(
            names(&[("SSO_CLIENT_ID", "a b"), certificate[0], certificate[1]]),
            ["SSO_CLIENT_ID", "SSO_CLIENT_CERTIFICATE"]
        );
        // A default audience is not needed to find a faulty client id.
        assert_eq!(names(&[("SSO_CLIENT_ID", "a b")]), ["SSO_CLIENT_ID"]);
    }

    #[test]
    fn warnings_are_returned_not_logged() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logged = Captured::default();
        let writer = logged.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).finish();
        let host = "myapp.happyhill-70162bb9.canadacentral.azurecontainerapps.io";
        let redirect = format!("https://{host}/api/callback");
        let s = tracing::subscriber::with_default(subscriber, || {
            read(&with(&[
                ("SSO_TENANT_ID", "organizations"),
                ("SSO_ALLOWED_TENANTS", "*"),
                ("SSO_REDIRECT_URI", &redirect),
                ("SSO_COOKIE_DOMAIN", host),
            ]))
            .unwrap()
        });
        let logged = String::from_utf8(logged.0.lock().unwrap().clone()).unwrap();
        assert_eq!(logged, "", "reading logs nothing");
        let named: Vec<&str> = s.warnings.iter().map(|w| w.variable).collect();
        assert_eq!(named, ["SSO_ALLOWED_TENANTS", "SSO_COOKIE_DOMAIN"]);
        assert_eq!(s.warnings[0].to_string(), "SSO_ALLOWED_TENANTS: `*`: users of every Entra tenant can sign in; list the tenant ids that may sign in, unless anyone with a work account is welcome");
        let cookie = &s.warnings[1];
        assert!(cookie.finding.starts_with(&format!("{host}: {host} is a default host name of ")), "{cookie}");
        assert!(cookie.fix.starts_with("leave SSO_COOKIE_DOMAIN unset"), "{cookie}");
        assert!(settings(BASE).unwrap().warnings.is_empty(), "nothing to say");
    }

    #[test]
    fn the_easy_auth_mount_takes_its_callback_path_and_admits_its_own_origin() {
        let easy_auth = Startup { mount: Mount::EasyAuth, cloud: None };
        let errors = read_for(&with(&[("SSO_SECRET", "short")]), easy_auth).unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(named, ["SSO_REDIRECT_URI", "SSO_SECRET"], "{errors}");
        assert!(errors[0].problem.contains("/.auth/login/aad/callback"), "{errors}");
        let s = read_for(&with(&[("SSO_REDIRECT_URI", "https://app.example.com/.auth/login/aad/callback")]), easy_auth)
            .unwrap();
        assert_eq!(s.mount, Mount::EasyAuth);
        assert_eq!(s.issuer(), "https://app.example.com/.auth");
        assert_eq!(s.return_origins, ["https://app.example.com"]);
    }

    #[test]
    fn errors_of_two_readings_join_in_order() {
        let one = |v: &'static str| ConfigErrors::from(ConfigError::new(v, "bad"));
        assert!(ConfigErrors::new(Vec::new()).is_none(), "never empty");
        assert_eq!(ConfigErrors::join(Ok::<_, ConfigErrors>(1), Ok::<_, ConfigErrors>(2)).unwrap(), (1, 2));
        let e = ConfigErrors::join::<(), ()>(Err(one("A")), Ok(())).unwrap_err();
        assert_eq!(e.to_string(), "A: bad");
        let e = ConfigErrors::join::<(), ()>(Err(one("A")), Err(one("B"))).unwrap_err();
        assert_eq!(e.to_string(), "A: bad\nB: bad");
    }

    #[test]
    fn each_missing_required_variable_is_named() {
        for name in ["SSO_CLIENT_ID", "SSO_TENANT_ID", "SSO_REDIRECT_URI", "SSO_SECRET"] {
            let pairs: Vec<_> = BASE.iter().filter(|(k, _)| *k != name).cloned().collect();
            assert_eq!(settings(&pairs).unwrap_err().variable, name);
        }
    }

    #[test]
    fn short_secret_is_refused_without_echoing_it() {
        let err = settings(&with(&[("SSO_SECRET", "hUoBGcO61GjwMdjlVjWayu4t8jq3t32DfjGHBZTce5w,tooshort-secret")]))
            .unwrap_err();
        assert_eq!(err.variable, "SSO_SECRET");
        assert!(err.to_string().contains("entry 2"));
        assert!(!err.to_string().contains("tooshort"));
    }

    #[test]
    fn weak_secrets_are_refused_with_the_generator_named() {
        let weak = [
            "CompanyName-SSO-Secret-Prod-2025!".to_owned(),
            "a".repeat(32),
            "password".repeat(4),
            "password".repeat(8),
            "0123456789abcdef0123456789abcdef".to_owned(),
        ];
        for value in &weak {
            let err = settings(&with(&[("SSO_SECRET", value)])).unwrap_err();
            assert_eq!(err.variable, "SSO_SECRET", "{value}");
            assert!(err.problem.contains("entra-sso keygen"), "{err}");
            assert!(!err.to_string().contains(value.as_str()), "the value is not echoed: {err}");
        }
        let repeated = "hUoBGcO61GjwMdjlVjWayu4t8jq3t32DfjGHBZTce5w,hUoBGcO61GjwMdjlVjWayu4t8jq3t32DfjGHBZTce5w";
        assert!(settings(&with(&[("SSO_SECRET", repeated)])).unwrap_err().problem.contains("repeats"));
        let hex = "1c3550f039c5c924d971fd7983a5a0cfd276c8fb3ae61de473fa235eddb6a374";
        assert!(settings(&with(&[("SSO_SECRET", hex)])).is_ok(), "64 hex digits");
    }

    #[test]
    fn role_and_group_rules_need_a_tenant_restriction() {
        for rule in [("SSO_REQUIRED_ROLES", "Admin"), ("SSO_ALLOWED_GROUPS", "7f3c0000-0000-4000-8000-000000000001")] {
            assert!(settings(&with(&[rule])).is_ok(), "single-tenant authority");
            for tenant in ["common", "organizations"] {
                let err =
                    settings(&with(&[rule, ("SSO_TENANT_ID", tenant), ("SSO_ALLOWED_TENANTS", "*")])).unwrap_err();
                assert_eq!(err.variable, rule.0);
                assert!(err.problem.contains("tenant restriction"), "{err}");
            }
            let listed = [rule, ("SSO_TENANT_ID", "organizations"), ("SSO_ALLOWED_TENANTS", "t1,t2")];
            assert!(settings(&with(&listed)).is_ok());
        }
    }

    #[test]
    fn session_groups_are_guids_every_bad_one_named_and_joined_with_the_allowed_groups() {
        let g1 = "0D1E6F3A-7C2B-4C53-9C1E-5A1D2B3C4D5E";
        let g2 = "7f3c0000-0000-4000-8000-000000000001";
        let err = settings(&with(&[("SSO_SESSION_GROUPS", &format!("{g1}, admins,x{g2}"))])).unwrap_err();
        assert_eq!(err.variable, "SSO_SESSION_GROUPS");
        assert!(err.problem.contains("`admins`, `x7f3c") && !err.problem.contains(g1), "{err}");
        let empty = settings(&with(&[("SSO_SESSION_GROUPS", ", ,")])).unwrap_err();
        assert!(empty.problem.contains("unset it"), "{empty}");
        let s = settings(&with(&[("SSO_SESSION_GROUPS", &format!("{g1},{g1}")), ("SSO_ALLOWED_GROUPS", g2)])).unwrap();
        assert_eq!(s.policy.relevant_groups(), [g1.to_ascii_lowercase(), g2.to_owned()]);
        assert!(s.policy.kept_groups.only_these() && s.warnings.is_empty());
        let unset = settings(&with(&[("SSO_ALLOWED_GROUPS", g2)])).unwrap();
        assert!(!unset.policy.kept_groups.only_these() && unset.policy.relevant_groups() == [g2]);
        let many: Vec<String> = (0..41).map(|i| format!("7f3c0000-0000-4000-8000-{i:012}")).collect();
        let s = settings(&with(&[("SSO_SESSION_GROUPS", &many.join(","))])).unwrap();
        assert_eq!(s.warnings.iter().map(|w| w.variable).collect::<Vec<_>>(), ["SSO_SESSION_GROUPS"]);
    }

    #[test]
    fn session_not_before_in_the_future_is_refused() {
        let now = crate::support::time::now();
        let ok = (now - 10).to_string();
        assert_eq!(settings(&with(&[("SSO_SESSION_NOT_BEFORE", &ok)])).unwrap().session_not_before, now - 10);
        let future = (now + 3600).to_string();
        let err = settings(&with(&[("SSO_SESSION_NOT_BEFORE", &future)])).unwrap_err();
        assert!(err.problem.contains("in the future"), "{err}");
        let millis = (now * 1000).to_string();
        assert!(settings(&with(&[("SSO_SESSION_NOT_BEFORE", &millis)])).unwrap_err().problem.contains("milliseconds"));
    }

    #[test]
    fn multi_tenant_authority_needs_an_allow_list() {
        let err = settings(&with(&[("SSO_TENANT_ID", "common")])).unwrap_err();
        assert_eq!(err.variable, "SSO_ALLOWED_TENANTS");
        assert!(settings(&with(&[("SSO_TENANT_ID", "organizations"), ("SSO_ALLOWED_TENANTS", "*")])).is_ok());
    }

    #[test]
    fn plain_http_redirect_uri_is_only_for_loopback() {
        assert!(settings(&with(&[("SSO_REDIRECT_URI", "http://localhost:7071/api/callback")])).is_ok());
        let err = settings(&with(&[("SSO_REDIRECT_URI", "http://app.example.com/api/callback")])).unwrap_err();
        assert_eq!(err.variable, "SSO_REDIRECT_URI");
    }

    #[test]
    fn the_cloud_markers_are_the_documented_ones() {
        let names: Vec<&str> = CLOUD_MARKERS.iter().map(|m| m.variable).collect();
        assert_eq!(
            names,
            [
                "WEBSITE_SITE_NAME",
                "FUNCTIONS_WORKER_RUNTIME",
                "AWS_LAMBDA_FUNCTION_NAME",
                "CONTAINER_APP_NAME",
                "KUBERNETES_SERVICE_HOST",
                "ECS_CONTAINER_METADATA_URI_V4",
                "ECS_CONTAINER_METADATA_URI",
            ]
        );
        assert_eq!(cloud_marker(|v| v == "CONTAINER_APP_NAME").map(|m| m.platform), Some("Azure Container Apps"));
        assert_eq!(cloud_marker(|_| false), None);
    }

    #[test]
    fn a_loopback_authority_is_refused_under_each_cloud_marker() {
        let local = [("SSO_REDIRECT_URI", "http://localhost:7071/api/callback")];
        let under = |marker: &'static CloudMarker| Startup { mount: Mount::Api, cloud: Some(marker) };
        for authority in ["http://127.0.0.1:7072/00000000-de00-4000-8000-00000000de00/v2.0", "http://localhost:7072"] {
            let vars = with(&[local[0], ("SSO_AUTHORITY", authority)]);
            assert!(read(&vars).is_ok(), "{authority}: no marker, local development");
            for marker in CLOUD_MARKERS {
                let Err(errors) = read_for(&vars, under(marker)) else {
                    panic!("{authority} accepted while {} is set", marker.variable);
                };
                assert_eq!(errors.len(), 1, "{errors}");
                assert_eq!(errors[0].variable, "SSO_AUTHORITY", "{}: {errors}", marker.variable);
                let text = errors.to_string();
                assert!(text.contains(marker.variable) && text.contains(marker.platform), "{text}");
                assert!(text.contains("loopback") && !text.contains('\n'), "{text}");
            }
        }
        // A provider off this host is fine anywhere.
        for marker in CLOUD_MARKERS {
            assert!(read_for(&with(&[local[0]]), under(marker)).is_ok(), "{}", marker.variable);
        }
        // Judged alone when the redirect URI is faulty too: two lines.
        let both = with(&[("SSO_AUTHORITY", "http://127.0.0.1:7072"), ("SSO_REDIRECT_URI", "ftp://x")]);
        let errors = read_for(&both, under(&CLOUD_MARKERS[0])).unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(named, ["SSO_AUTHORITY", "SSO_REDIRECT_URI"], "{errors}");
        assert!(errors[0].problem.contains(CLOUD_MARKERS[0].variable), "{errors}");
    }

    #[test]
    fn a_loopback_authority_is_refused_behind_a_public_redirect_uri() {
        let loopback = ("SSO_AUTHORITY", "http://127.0.0.1:7072/00000000-de00-4000-8000-00000000de00/v2.0");
        for public in [
            "https://app.contoso.com/api/callback",
            "https://my-app.azurewebsites.net/api/callback",
            "https://10.0.0.5/api/callback",
        ] {
            let Err(err) = settings(&with(&[loopback, ("SSO_REDIRECT_URI", public)])) else {
                panic!("a loopback authority accepted with the redirect URI {public}");
            };
            assert_eq!(err.variable, "SSO_AUTHORITY", "{public}: {err}");
            assert!(err.problem.contains("SSO_REDIRECT_URI") && err.problem.contains(public), "{err}");
            assert!(settings(&with(&[("SSO_REDIRECT_URI", public)])).is_ok(), "{public} with Entra's authority");
        }
        // Loopback, and names reserved for testing (RFC 2606, RFC 6761), are no deployment.
        for local in [
            "http://localhost:7071/api/callback",
            "https://127.0.0.1:8443/api/callback",
            "https://app.example.test/api/callback",
            "https://app.localhost/api/callback",
            "https://sso.example/api/callback",
            "https://sso.invalid/api/callback",
        ] {
            assert!(settings(&with(&[loopback, ("SSO_REDIRECT_URI", local)])).is_ok(), "{local}");
        }
    }

    #[test]
    fn the_absolute_limit_is_at_least_the_renewal_lifetime() {
        let s = settings(&with(&[("SSO_SESSION_TTL", "2h"), ("SSO_SESSION_MAX_AGE", "12h")])).unwrap();
        assert_eq!((s.session_ttl.as_secs(), s.session_max_age.as_secs()), (7200, 12 * 3600));
        let e = settings(&with(&[("SSO_SESSION_TTL", "2h"), ("SSO_SESSION_MAX_AGE", "1h")])).unwrap_err();
        assert_eq!(e.variable, "SSO_SESSION_MAX_AGE");
        assert!(e.problem.contains("SSO_SESSION_TTL"), "{e}");
        // Unset, it follows a renewal lifetime set longer than its default, with a warning: such
        // sessions are never renewed.
        let s = settings(&with(&[("SSO_SESSION_TTL", "48h")])).unwrap();
        assert_eq!(s.session_max_age.as_secs(), 48 * 3600);
        let named: Vec<&str> = s.warnings.iter().map(|w| w.variable).collect();
        assert_eq!(named, ["SSO_SESSION_MAX_AGE"]);
        assert!(s.warnings[0].finding.contains("never renewed"), "{}", s.warnings[0]);
        let s = settings(&with(&[("SSO_SESSION_TTL", "2h"), ("SSO_SESSION_MAX_AGE", "2h")])).unwrap();
        assert_eq!(s.warnings.len(), 1, "set equal: the same warning");
        assert!(settings(&with(&[("SSO_SESSION_TTL", "2h")])).unwrap().warnings.is_empty());
        assert_eq!(settings(&with(&[("SSO_SESSION_MAX_AGE", "1d")])).unwrap_err().variable, "SSO_SESSION_MAX_AGE");
        // Reported with every other faulty setting, in the table's order.
        let errors = read(&with(&[
            ("SSO_SESSION_TTL", "2h"),
            ("SSO_SESSION_MAX_AGE", "30m"),
            ("SSO_LOGOUT", "nowhere"),
            ("SSO_CLIENT_ID", "not a client id"),
        ]))
        .unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(named, ["SSO_CLIENT_ID", "SSO_SESSION_MAX_AGE", "SSO_LOGOUT"]);
    }

    #[test]
    fn ttl_units_and_bounds() {
        let s = settings(&with(&[("SSO_STATE_TTL", "5m"), ("SSO_SESSION_TTL", "90")])).unwrap();
        assert_eq!(s.state_ttl, Duration::from_secs(300));
        assert_eq!(s.session_ttl, Duration::from_secs(90));
        assert_eq!(settings(&with(&[("SSO_STATE_TTL", "1")])).unwrap_err().variable, "SSO_STATE_TTL");
        assert_eq!(settings(&with(&[("SSO_STATE_TTL", "10d")])).unwrap_err().variable, "SSO_STATE_TTL");
    }

    #[test]
    fn email_domain_rule_needs_a_tenant_restriction() {
        let rule = ("SSO_ALLOWED_EMAIL_DOMAINS", "contoso.com");
        assert!(settings(&with(&[rule])).is_ok(), "single-tenant authority");
        let err = settings(&with(&[rule, ("SSO_TENANT_ID", "common"), ("SSO_ALLOWED_TENANTS", "*")])).unwrap_err();
        assert_eq!(err.variable, "SSO_ALLOWED_EMAIL_DOMAINS");
        assert!(settings(&with(&[rule, ("SSO_TENANT_ID", "organizations"), ("SSO_ALLOWED_TENANTS", "t1,t2")])).is_ok());
        assert!(settings(&with(&[rule, ("SSO_TENANT_ID", "consumers")])).is_err());
    }

    #[test]
    fn issuer_is_the_redirect_uri_parent() {
        let s = settings(&with(&[])).unwrap();
        assert_eq!(s.issuer(), "https://app.example.com/api");
        let s = settings(&with(&[("SSO_REDIRECT_URI", "https://Sso.Example.com:8443/auth/api/callback?x=1")])).unwrap();
        assert_eq!(s.issuer(), "https://sso.example.com:8443/auth/api");
    }

    #[test]
    fn api_audiences_default_to_the_client_id_and_its_uri() {
        let s = settings(&with(&[])).unwrap();
        let client = "11111111-2222-3333-4444-555555555555";
        assert_eq!(s.api.audiences, [client.to_owned(), format!("api://{client}")]);
        assert_eq!(s.api.clients, None, "any app-only caller unless listed");
        let s = settings(&with(&[
            ("SSO_API_AUDIENCES", "api://orders, https://orders.example"),
            ("SSO_API_CLIENTS", "a1,b.2"),
        ]))
        .unwrap();
        assert_eq!(s.api.audiences, ["api://orders", "https://orders.example"]);
        assert_eq!(s.api.clients, Some(vec!["a1".to_owned(), "b.2".to_owned()]));
        let e = read(&with(&[("SSO_API_AUDIENCES", "a b"), ("SSO_API_CLIENTS", "not a client")])).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("SSO_API_AUDIENCES") && text.contains("SSO_API_CLIENTS"), "both at once: {text}");
    }

    #[test]
    fn session_audience_defaults_to_the_client_id() {
        assert_eq!(settings(&with(&[])).unwrap().session_audience, "11111111-2222-3333-4444-555555555555");
        let s = settings(&with(&[("SSO_SESSION_AUDIENCE", "api://my-app")])).unwrap();
        assert_eq!(s.session_audience, "api://my-app");
        let e = settings(&with(&[("SSO_SESSION_AUDIENCE", "a b")])).unwrap_err();
        assert!(e.to_string().contains("SSO_SESSION_AUDIENCE"), "{e}");
    }

    #[test]
    fn cookie_domain_is_a_parent_and_never_a_public_suffix() {
        let on = |redirect: &'static str, domain: &'static str| {
            settings(&with(&[("SSO_REDIRECT_URI", redirect), ("SSO_COOKIE_DOMAIN", domain)])).map(|s| s.cookie_domain)
        };
        assert_eq!(on("https://sso.example.com/api/callback", ".Example.com").unwrap().as_deref(), Some("example.com"));
        assert_eq!(
            on("https://sso.example.com/api/callback", "sso.example.com").unwrap().as_deref(),
            Some("sso.example.com")
        );
        for (redirect, domain, why) in [
            ("https://my-app.azurewebsites.net/api/callback", "azurewebsites.net", "public suffix"),
            ("https://sso.example.co.uk/api/callback", "co.uk", "public suffix"),
            ("https://abc.lambda-url.eu-west-1.on.aws/api/callback", "lambda-url.eu-west-1.on.aws", "public suffix"),
            ("https://sso.example.com/api/callback", "com", "public suffix"),
            ("https://sso.example.com/api/callback", "other.com", "nor a parent"),
            ("https://sso.example.com/api/callback", "ample.com", "nor a parent"),
            ("https://sso.example.com/api/callback", "exa mple.com", "not a domain name"),
            ("http://127.0.0.1:7071/api/callback", "127.0.0.1", "IP address"),
        ] {
            let e = on(redirect, domain).unwrap_err().to_string();
            assert!(e.starts_with("SSO_COOKIE_DOMAIN") && e.contains(why), "{domain}: {e}");
        }
    }

    #[test]
    fn cookie_domain_is_never_a_shared_cloud_zone() {
        let on = |host: &str, domain: &str| {
            let redirect = format!("https://{host}/api/callback");
            settings(&with(&[("SSO_REDIRECT_URI", &redirect), ("SSO_COOKIE_DOMAIN", domain)])).map(|s| s.cookie_domain)
        };
        let front_door = "myendpoint-mdjf2jfgjf82mnzx.z01.azurefd.net";
        let vm = "myvm.westeurope.cloudapp.azure.com";
        let container_app = "myapp.happyhill-70162bb9.canadacentral.azurecontainerapps.io";
        let mut accepted = Vec::new();
        for (host, domain, why) in [
            (front_door, "z01.azurefd.net", "Azure Front Door"),
            (front_door, "azurefd.net", "public suffix"),
            (vm, "westeurope.cloudapp.azure.com", "virtual machine"),
            (vm, "cloudapp.azure.com", "virtual machine"),
            (vm, "azure.com", "virtual machine"),
            (container_app, "happyhill-70162bb9.canadacentral.azurecontainerapps.io", "Container Apps"),
            (container_app, "canadacentral.azurecontainerapps.io", "Container Apps"),
            (container_app, "azurecontainerapps.io", "Container Apps"),
            ("my-app.chinacloudsites.cn", "chinacloudsites.cn", "App Service"),
            ("my-app-a1b2c3.westeurope-01.azurewebsites.net", "westeurope-01.azurewebsites.net", "public suffix"),
            ("my-app.scm.azurewebsites.net", "scm.azurewebsites.net", "App Service"),
            ("a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", "eu-west-1.amazonaws.com", "Amazon Web Services"),
            ("abc.lambda-url.eu-west-1.on.aws", "eu-west-1.on.aws", "Lambda"),
            ("d111111abcdef8.cloudfront.net", "cloudfront.net", "public suffix"),
        ] {
            match on(host, domain) {
                Ok(_) => accepted.push(format!("{domain} for {host}")),
                Err(e) => {
                    let e = e.to_string();
                    assert!(e.starts_with("SSO_COOKIE_DOMAIN") && e.contains(why), "{domain}: {e}");
                    assert!(!e.contains('\n'), "one line: {e}");
                }
            }
        }
        assert!(accepted.is_empty(), "accepted: {accepted:#?}");
        // A domain of one's own, one that merely ends like a zone, and a default host name
        // itself (the cookie then reaches that host and its subdomains only) are accepted.
        for (host, domain) in [
            ("sso.contoso.com", "contoso.com"),
            ("sso.notazurefd.net", "notazurefd.net"),
            ("login.cloudfront.contoso.com", "cloudfront.contoso.com"),
            (container_app, container_app),
            (front_door, front_door),
        ] {
            assert_eq!(on(host, domain).unwrap().as_deref(), Some(domain), "{domain}");
        }
    }

    #[test]
    fn every_shared_cloud_zone_is_refused_with_the_levels_within_and_above_it() {
        let on = |host: &str, domain: &str| {
            let redirect = format!("https://{host}/api/callback");
            settings(&with(&[("SSO_REDIRECT_URI", &redirect), ("SSO_COOKIE_DOMAIN", domain)]))
        };
        for z in cloud_zones::SHARED_CLOUD_ZONES {
            let host = format!("app.shared.{}", z.zone);
            let (_, above) = z.zone.split_once('.').unwrap();
            // The zone, a shared level within it, the level above it (which may hold other
            // zones too, and may be a public suffix itself).
            let named = format!("`*.{}`", z.zone);
            for (domain, why) in
                [(z.zone, named.as_str()), (&format!("shared.{}", z.zone), named.as_str()), (above, "`*.")]
            {
                let e = on(&host, domain).map(|s| s.cookie_domain).unwrap_err();
                assert_eq!(e.variable, "SSO_COOKIE_DOMAIN");
                assert!(e.problem.contains("public suffix") || e.problem.contains(why), "{domain}: {e}");
            }
            assert_eq!(on(&host, &host).unwrap().cookie_domain, Some(host.clone()), "the default host name itself");
        }
    }

    #[test]
    fn return_origins_must_be_bare_origins() {
        let s =
            settings(&with(&[("SSO_RETURN_ORIGINS", "https://a.example.com, https://b.example.com:8443")])).unwrap();
        assert_eq!(s.return_origins, vec!["https://a.example.com", "https://b.example.com:8443"]);
        let err = settings(&with(&[("SSO_RETURN_ORIGINS", "https://a.example.com/path")])).unwrap_err();
        assert_eq!(err.variable, "SSO_RETURN_ORIGINS");
    }

    #[test]
    fn credential_defaults_to_secret_when_one_is_set_else_a_public_client() {
        let s = settings(&with(&[("SSO_CLIENT_SECRET", "s3cret-value")])).unwrap();
        assert_eq!(s.credential.kind(), Some(CredentialKind::Secret));
        assert!(matches!(&s.credential, ClientCredential::Secret(x) if x.expose() == "s3cret-value"));
        let s = settings(BASE).unwrap();
        assert_eq!(s.credential.kind(), None);
        assert!(matches!(s.credential, ClientCredential::Public));
        let s = settings(&with(&[("SSO_CLIENT_CREDENTIAL", "secret"), ("SSO_CLIENT_SECRET", "x")])).unwrap();
        assert_eq!(s.credential.kind(), Some(CredentialKind::Secret));
        assert!(!format!("{s:?}").contains("s3cret"), "Debug hides the secret");
    }

    #[test]
    fn credential_settings_that_are_missing_or_contradict_are_named() {
        // Extra variables, the variable named, words of the problem.
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[("SSO_CLIENT_CREDENTIAL", "password")], "SSO_CLIENT_CREDENTIAL", "`certificate`"),
            (&[("SSO_CLIENT_CREDENTIAL", "Secret")], "SSO_CLIENT_CREDENTIAL", "must be"),
            (&[("SSO_CLIENT_CREDENTIAL", "secret")], "SSO_CLIENT_SECRET", "required"),
            (&[("SSO_CLIENT_CREDENTIAL", "certificate")], "SSO_CLIENT_CERTIFICATE", "required"),
            (
                &[
                    ("SSO_CLIENT_CREDENTIAL", "certificate"),
                    ("SSO_CLIENT_SECRET", "x"),
                    ("SSO_CLIENT_CERTIFICATE", "/x"),
                ],
                "SSO_CLIENT_SECRET",
                "defeats a secretless credential",
            ),
            (
                &[("SSO_CLIENT_CERTIFICATE", "/etc/cert.pem")],
                "SSO_CLIENT_CERTIFICATE",
                "SSO_CLIENT_CREDENTIAL=certificate",
            ),
            (
                &[("SSO_CLIENT_SECRET", "x"), ("SSO_CLIENT_CERTIFICATE", "/etc/cert.pem")],
                "SSO_CLIENT_CERTIFICATE",
                "is `secret`",
            ),
            (
                &[
                    ("SSO_CLIENT_CREDENTIAL", "aws"),
                    ("SSO_MANAGED_IDENTITY_CLIENT_ID", "7f3c0000-0000-4000-8000-000000000001"),
                ],
                "SSO_MANAGED_IDENTITY_CLIENT_ID",
                "SSO_CLIENT_CREDENTIAL=managed-identity",
            ),
            (
                &[("SSO_CLIENT_CREDENTIAL", "certificate"), ("SSO_CLIENT_CERTIFICATE", "/nonexistent/cert.pem")],
                "SSO_CLIENT_CERTIFICATE",
                "cannot read the file",
            ),
            (&[("SSO_CLIENT_CREDENTIAL", "managed-identity")], "IDENTITY_ENDPOINT", ""),
            (&[("SSO_CLIENT_CREDENTIAL", "workload-identity")], "AZURE_FEDERATED_TOKEN_FILE", ""),
            (&[("SSO_CLIENT_CREDENTIAL", "aws")], "AWS_REGION", ""),
        ];
        for (extra, variable, needle) in cases {
            // A setting of another kind is named besides what the chosen kind lacks.
            let errors = read(&with(extra)).unwrap_err();
            assert_eq!(errors[0].variable, *variable, "{extra:?}: {errors}");
            assert!(errors[0].problem.contains(needle), "{extra:?}: {errors}");
            for err in &errors {
                assert!(!err.to_string().contains('\n'), "one line: {err}");
            }
        }
        // Each of them, and the chosen kind's own fault, a line each.
        let errors = read(&with(&[
            ("SSO_CLIENT_CREDENTIAL", "workload-identity"),
            ("SSO_CLIENT_SECRET", "x"),
            ("SSO_CLIENT_CERTIFICATE", "/x"),
            ("SSO_MANAGED_IDENTITY_CLIENT_ID", "7f3c0000-0000-4000-8000-000000000001"),
        ]))
        .unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(
            named,
            [
                "SSO_CLIENT_SECRET",
                "SSO_CLIENT_CERTIFICATE",
                "SSO_MANAGED_IDENTITY_CLIENT_ID",
                "AZURE_FEDERATED_TOKEN_FILE"
            ],
            "{errors}"
        );
        // An unknown kind: the other credential settings cannot be judged against it.
        let errors = read(&with(&[("SSO_CLIENT_CREDENTIAL", "password"), ("SSO_CLIENT_SECRET", "x")])).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors}");
    }

    #[test]
    fn a_certificate_setting_is_never_echoed() {
        use crate::idp::credential::certificate::tests::{assert_not_echoed, base64_blob};
        let values = [
            base64_blob(&[0x30, 0x82, 0x04, 0xbd, 0x02, 0x01, 0x00], 1200, 64),
            base64_blob(&[0x30, 0x82, 0x0a, 0x3c, 0x02, 0x01, 0x03], 2600, 76),
            "Qx48Q~mZ1v.Rk3Yt_PwE7nHcL-9sFdJ2aB4uVg0e".to_owned(),
        ];
        for value in &values {
            let err = settings(&with(&[("SSO_CLIENT_CREDENTIAL", "certificate"), ("SSO_CLIENT_CERTIFICATE", value)]))
                .unwrap_err();
            assert_eq!(err.variable, "SSO_CLIENT_CERTIFICATE", "{err}");
            assert!(err.problem.contains(" characters") && !err.problem.contains('\n'), "{err}");
            assert_not_echoed(value, &err.to_string());
        }
    }

    #[test]
    fn federated_kinds_build_their_source_from_the_platform_variables() {
        let s = settings(&with(&[
            ("SSO_CLIENT_CREDENTIAL", "managed-identity"),
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token"),
            ("IDENTITY_HEADER", "header-value"),
            ("SSO_MANAGED_IDENTITY_CLIENT_ID", "7f3c0000-0000-4000-8000-000000000001"),
        ]))
        .unwrap();
        assert_eq!(s.credential.kind(), Some(CredentialKind::ManagedIdentity));
        assert!(!format!("{:?}", s.credential).contains("header-value"));
        let s = settings(&with(&[
            ("SSO_CLIENT_CREDENTIAL", "workload-identity"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"),
        ]))
        .unwrap();
        assert_eq!(s.credential.kind(), Some(CredentialKind::WorkloadIdentity));
        let s = settings(&with(&[
            ("SSO_CLIENT_CREDENTIAL", "aws"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
            ("AWS_SESSION_TOKEN", "session"),
        ]))
        .unwrap();
        assert_eq!(s.credential.kind(), Some(CredentialKind::Aws));
        assert!(!format!("{s:?}").contains("aws-secret-value"));
    }
}
