//! The embedded dev identity provider: a stand-in for the Microsoft identity platform (v2.0
//! endpoints) so the whole flow runs locally and in tests with no tenant.
//!
//! It mirrors Entra's paths, claims and error shapes: discovery, an authorize page listing the
//! dev users (with cancel), its own sign-in session (a signed cookie, so `prompt=none` answers
//! without a page as Entra's session does), users an administrator can disable (and one in too many groups for a token, with an emulated
//! Microsoft Graph `checkMemberGroups`), a token endpoint that checks client credentials, the exact redirect
//! URI, PKCE S256 and single-use, expiring codes, the JWKS, and logout. It is for development
//! only: it answers loopback `Host` headers only, signs with a key made fresh at each start, and
//! refuses to start in the cloud (any of [`crate::config::CLOUD_MARKERS`] set).

pub mod assertion;
mod authorize;
pub mod dev;
mod graph;
mod keys;
mod token;
pub mod users;

pub use assertion::{AssertionTrust, FederatedKeys, FederatedTrust, JwksProblem, TrustError};
pub use keys::DevKey;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::app::Handler;
use crate::tokens::secret::SecretString;
use crate::web::pages;

/// The dev IdP's own sign-in cookie: the user who signed in, with a MAC by a per-start key.
pub const DEV_SESSION_COOKIE: &str = "dev-idp-session";

/// The dev tenant's id, used when `SSO_TENANT_ID` is not set.
pub const DEV_TENANT: &str = "00000000-de00-4000-8000-00000000de00";

/// The one client the dev identity provider knows.
#[derive(Debug, Clone)]
pub struct DevClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`; `None` for a public client.
    pub client_secret: Option<SecretString>,
    /// The registered redirect URI (exact match).
    pub redirect_uri: String,
}

/// Why the dev identity provider refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum DevIdpError {
    /// Running inside a cloud runtime: this marker is set.
    #[error("the dev identity provider refuses to run inside a cloud runtime ({} is set: {})", .0.variable, .0.platform)]
    CloudRuntime(&'static crate::config::CloudMarker),
    /// The tenant is not a GUID.
    #[error("the dev identity provider's tenant must be a GUID")]
    Tenant,
}

/// Fails when any of [`crate::config::CLOUD_MARKERS`] is set in the process environment: App
/// Service, Functions, Lambda, Container Apps, Kubernetes or ECS. There a same-host proxy,
/// which sends the default upstream `Host` (`127.0.0.1:<port>`), passes the loopback-`Host`
/// check, so the only containment is not to run.
pub fn refuse_in_cloud() -> Result<(), DevIdpError> {
    match crate::config::cloud_marker(|name| std::env::var_os(name).is_some()) {
        Some(marker) => Err(DevIdpError::CloudRuntime(marker)),
        None => Ok(()),
    }
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    user: &'static users::DevUser,
    scope: String,
    expires: Instant,
}

/// A running dev identity provider's state.
pub struct DevIdp {
    tenant: String,
    issuer: String,
    client: DevClient,
    /// Client assertions accepted besides the secret.
    trust: AssertionTrust,
    keys: keys::SigningKey,
    grants: Mutex<HashMap<String, Grant>>,
    redeemed: Mutex<std::collections::HashSet<String>>,
    /// Signs the dev IdP's own sign-in cookie; drawn at each start, so a restart signs everyone out.
    session_key: [u8; 32],
    /// The ids of the users an administrator disabled ([`DevIdp::set_disabled`]).
    disabled: Mutex<HashSet<&'static str>>,
}

impl DevIdp {
    /// A dev identity provider for `tenant` served at `base_url` (e.g. `http://127.0.0.1:7072`),
    /// with a fresh signing key, as `entra-sso dev` and `dev-idp` start it: refused when the
    /// process runs in the cloud ([`refuse_in_cloud`]).
    pub fn new(base_url: &str, tenant: &str, client: DevClient) -> Result<Self, DevIdpError> {
        refuse_in_cloud()?;
        Self::with_key(base_url, tenant, client, &DevKey::generate())
    }

    /// The same with a given signing key, for tests and benchmarks that share one: it does not
    /// look at the process environment (a test runner may run in a Kubernetes pod).
    pub fn with_key(base_url: &str, tenant: &str, client: DevClient, key: &DevKey) -> Result<Self, DevIdpError> {
        if !crate::idp::authority::is_guid(tenant) {
            return Err(DevIdpError::Tenant);
        }
        let issuer = format!("{}/{tenant}/v2.0", base_url.trim_end_matches('/'));
        Ok(Self {
            keys: keys::SigningKey::new(key, &issuer),
            tenant: tenant.to_ascii_lowercase(),
            issuer,
            client,
            trust: AssertionTrust::default(),
            grants: Mutex::new(HashMap::new()),
            redeemed: Mutex::new(Default::default()),
            session_key: {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).expect("the operating system's random generator is available");
                key
            },
            disabled: Mutex::new(HashSet::new()),
        })
    }

    /// Disables (or enables again) the dev user `id`, as an administrator does in Entra: a
    /// disabled user cannot sign in, interactively or silently. `false` when there is no such user.
    pub fn set_disabled(&self, id: &str, disabled: bool) -> bool {
        let Some(user) = users::find(id) else { return false };
        let mut set = self.disabled.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if disabled {
            set.insert(user.id);
        } else {
            set.remove(user.id);
        }
        true
    }

    /// Whether the dev user `id` is disabled.
    pub fn is_disabled(&self, id: &str) -> bool {
        self.disabled.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(id)
    }

    /// `Set-Cookie` for the dev IdP's own sign-in session of `user`: `<id>.<HMAC>`, HttpOnly,
    /// host-only. `SameSite=Lax` over http: `None` needs `Secure`, which Chromium accepts from
    /// loopback but Safari does not from plain http, and the authorize request that must carry
    /// the cookie is a top-level GET navigation, which `Lax` allows cross-site (docs/decisions.md).
    /// Over https it is `SameSite=None; Secure`, as Entra's own.
    /// `None` ends the session (the same attributes, `Max-Age=0`).
    fn session_cookie(&self, user: Option<&users::DevUser>) -> String {
        let attributes = if self.issuer.starts_with("https://") { "; Secure; SameSite=None" } else { "; SameSite=Lax" };
        match user {
            Some(user) => {
                format!("{DEV_SESSION_COOKIE}={}.{}; Path=/; HttpOnly{attributes}", user.id, self.session_mac(user.id))
            }
            None => format!("{DEV_SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly{attributes}"),
        }
    }

    /// The user whose dev IdP session the request carries, if its cookie's MAC verifies.
    fn session_user(&self, req: &Request<Bytes>) -> Option<&'static users::DevUser> {
        let value = crate::web::cookies::get(req.headers(), DEV_SESSION_COOKIE)?;
        let (id, mac) = value.split_once('.')?;
        let user = users::find(id)?;
        crate::support::ct_eq(mac.as_bytes(), self.session_mac(user.id).as_bytes()).then_some(user)
    }

    fn session_mac(&self, id: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.session_key).expect("HMAC takes any key length");
        mac.update(b"entra-sso/dev-idp-session\0");
        mac.update(id.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// `POST /<tenant>/dev/users/<id>/disabled`, body `true` or `false` (or the dev page's form,
    /// `disabled=true|false&back=<its authorize URL>`, which returns there).
    fn disabled_control(&self, rest: &str, req: &Request<Bytes>) -> Response<Bytes> {
        let Some(id) = rest.strip_prefix("/dev/users/").and_then(|r| r.strip_suffix("/disabled")) else {
            return self.unknown(rest);
        };
        let form: Vec<(String, String)> = url::form_urlencoded::parse(req.body()).into_owned().collect();
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let value = match req.body().as_ref() {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => match field("disabled") {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            },
        };
        let Some(disabled) = value else {
            return pages::text(StatusCode::BAD_REQUEST, "the body must be true or false\n");
        };
        if !self.set_disabled(id, disabled) {
            return pages::text(StatusCode::NOT_FOUND, "no such dev user\n");
        }
        let authorize = format!("/{}/oauth2/v2.0/authorize?", self.tenant);
        match field("back").filter(|back| back.starts_with(&authorize)) {
            Some(back) => pages::redirect(StatusCode::SEE_OTHER, back.to_owned(), Vec::new()),
            None => pages::json(StatusCode::OK, &serde_json::json!({"user": id, "disabled": disabled})),
        }
    }

    /// Also accepts the client assertions `trust` describes: a certificate's, or a trusted
    /// federated issuer's. With any trust and no secret, the client must send an assertion.
    pub fn with_assertion_trust(mut self, trust: AssertionTrust) -> Self {
        self.trust = trust;
        self
    }

    /// The token endpoint, the `aud` of certificate assertions.
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.issuer.trim_end_matches("/v2.0"))
    }

    /// The authority handlers use (`SSO_AUTHORITY`).
    pub fn authority(&self) -> &str {
        &self.issuer
    }

    async fn route(&self, req: Request<Bytes>) -> Response<Bytes> {
        if !loopback_host(&req) {
            return pages::text(
                StatusCode::MISDIRECTED_REQUEST,
                "the dev identity provider answers loopback hosts only\n",
            );
        }
        let path = req.uri().path().to_owned();
        let Some(rest) = path.strip_prefix('/').and_then(|p| p.strip_prefix(self.tenant.as_str())) else {
            return self.unknown(&path);
        };
        match (req.method().clone(), rest) {
            (Method::GET, "/v2.0/.well-known/openid-configuration") => self.discovery(),
            (Method::GET, "/discovery/v2.0/keys") => pages::json(StatusCode::OK, &self.keys.jwks()),
            (Method::GET, "/oauth2/v2.0/authorize") => self.authorize_page(&req),
            (Method::POST, "/oauth2/v2.0/authorize") => self.authorize_decision(&req),
            (Method::POST, "/oauth2/v2.0/token") => self.token(&req).await,
            (Method::GET, "/oauth2/v2.0/logout") | (Method::POST, "/oauth2/v2.0/logout") => self.logout(&req),
            (Method::POST, dev) if dev.starts_with("/dev/users/") => self.disabled_control(dev, &req),
            (Method::POST, graph) if graph.starts_with("/graph/") => self.graph(graph, &req),
            (Method::GET, graph) if graph.starts_with("/graph/v1.0/groups/") => self.graph_group(graph, &req),
            _ => self.unknown(&path),
        }
    }

    fn discovery(&self) -> Response<Bytes> {
        let base = self.issuer.trim_end_matches("/v2.0");
        pages::json(
            StatusCode::OK,
            &serde_json::json!({
                "issuer": self.issuer,
                "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{base}/oauth2/v2.0/token"),
                "jwks_uri": format!("{base}/discovery/v2.0/keys"),
                "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "form_post"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "private_key_jwt"],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "name", "preferred_username", "email", "oid", "tid", "roles", "groups", "ver"],
                "tenant_region_scope": "DEV",
            }),
        )
    }

    fn logout(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let query = req.uri().query().unwrap_or("");
        let target = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "post_logout_redirect_uri")
            .map(|(_, v)| v.into_owned());
        // Signing out at the IdP ends its own session too, as at Entra.
        let end = vec![self.session_cookie(None)];
        match target.and_then(|t| url::Url::parse(&t).ok()).filter(crate::web::url::is_loopback) {
            Some(url) => pages::redirect(StatusCode::FOUND, url.into(), end),
            None => pages::with_cookies(
                dev_page(StatusCode::OK, "Signed out", "<h1>You have signed out</h1><p>You can close this window.</p>"),
                &end,
            ),
        }
    }

    fn unknown(&self, path: &str) -> Response<Bytes> {
        let body = format!(
            "<h1>entra-sso dev identity provider</h1><p>No endpoint at <code>{}</code>. The authority is <code>{}</code>.</p>",
            pages::escape(&crate::support::text::cap(path, 200)),
            pages::escape(&self.issuer)
        );
        dev_page(StatusCode::NOT_FOUND, "Not found", &body)
    }
}

impl Handler for DevIdp {
    fn handle(&self, req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send {
        self.route(req)
    }
}

/// An HTML page of the dev IdP, marked as a development tool.
fn dev_page(status: StatusCode, title: &str, body: &str) -> Response<Bytes> {
    let banner = "<p style=\"background:#fff4ce;padding:.5rem\"><strong>Development identity provider.</strong> Not Microsoft; never use it in production.</p>";
    pages::html(status, title, &format!("{banner}{body}"))
}

fn loopback_host(req: &Request<Bytes>) -> bool {
    let Some(host) = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    url::Url::parse(&format!("http://{host}/")).is_ok_and(|u| crate::web::url::is_loopback(&u))
}

/// A random base64url string of `n` bytes.
fn random_token(n: usize) -> String {
    use base64::Engine;
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the operating system's random generator is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
