//! `entra-sso doctor`: checks a deployment's configuration before it serves anyone, and prints
//! one line per check: `✓` passed, `!` a warning, `✗` failed, with the fix after a dash.
//!
//! Offline, it reads every setting as the handler would ([`Settings::from_lookup`]), reporting
//! every faulty variable rather than only the first, and looks closer at the ones a mistake in
//! costs a failed sign-in: `SSO_SECRET`'s strength, the redirect URI, the cookie scope and the
//! client credential. Online (unless `--offline`), it fetches the discovery document and keys,
//! compares the clock with the provider's `Date` header, and proves the client credential with a
//! client-credentials token request for `<client id>/.default`, which needs no user and changes
//! nothing. A deployment pipeline gates on its exit status.

use std::fmt;

use serde::Deserialize;

use crate::config::{ConfigError, Settings};
use crate::idp::authority::is_guid;
use crate::idp::credential::{hints, ClientCredential};
use crate::idp::provider::Metadata;
use crate::web::cloud_zones;
use crate::web::cookies::parents_to_registrable;
use crate::web::errors::cap;

/// Largest clock difference with the provider that passes without a warning.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// The settings and platform variables a credential is made of: one of them refused, the rest
/// of the settings are read again as a public client's.
const CREDENTIAL_VARIABLES: &[&str] =
    &["SSO_CLIENT_CREDENTIAL", "SSO_CLIENT_SECRET", "SSO_CLIENT_CERTIFICATE", "SSO_MANAGED_IDENTITY_CLIENT_ID"];

/// Longest redirect URI Entra accepts in an app registration.
const MAX_REDIRECT_URI_LEN: usize = 256;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `✓`.
    Pass,
    /// `!`: works, but deserves a look.
    Warn,
    /// `✗`: sign-in will fail (or the configuration is refused) until it is fixed.
    Fail,
}

impl Status {
    /// The mark the line starts with.
    pub fn mark(self) -> char {
        match self {
            Status::Pass => '✓',
            Status::Warn => '!',
            Status::Fail => '✗',
        }
    }
}

/// One check's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Passed, warning or failed.
    pub status: Status,
    /// What was checked: a setting's name or a short word (`discovery`, `clock`, …).
    pub subject: String,
    /// What was found. Never a secret.
    pub finding: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl Check {
    fn pass(subject: impl Into<String>, finding: impl Into<String>) -> Self {
        Self { status: Status::Pass, subject: subject.into(), finding: finding.into(), fix: None }
    }

    fn warn(subject: impl Into<String>, finding: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { status: Status::Warn, subject: subject.into(), finding: finding.into(), fix: Some(fix.into()) }
    }

    fn fail(subject: impl Into<String>, finding: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { status: Status::Fail, subject: subject.into(), finding: finding.into(), fix: Some(fix.into()) }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.mark(), self.subject, self.finding)?;
        match &self.fix {
            Some(fix) => write!(f, " — {fix}"),
            None => Ok(()),
        }
    }
}

/// Every check's line, in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The checks run.
    pub checks: Vec<Check>,
}

impl Report {
    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| c.status == Status::Fail).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        Ok(())
    }
}

/// Runs every check on the settings `lookup` yields; the online ones unless `offline`.
pub async fn run(lookup: impl Fn(&str) -> Option<String>, offline: bool) -> Report {
    let mut report = Report::default();
    let Some(settings) = read_settings(&lookup, &mut report) else {
        return report;
    };
    check_secret(&settings, &mut report);
    check_redirect_uri(&settings, &mut report);
    check_cookie_scope(&settings, &mut report);
    check_tenants(&settings, &mut report);
    check_credential(&settings, &mut report);
    if offline {
        report.checks.push(Check::warn(
            "online checks",
            "skipped (--offline)",
            "run without --offline where the provider is reachable",
        ));
    } else {
        online(&settings, &mut report).await;
    }
    report
}

// ---- offline ----------------------------------------------------------------------------------

/// Settings that stand in for a faulty one, so the checks after it still run; a placeholder
/// cannot fail itself.
fn placeholder(variable: &str) -> Option<String> {
    match variable {
        "SSO_CLIENT_ID" => Some("00000000-0000-0000-0000-000000000000".into()),
        "SSO_TENANT_ID" => Some("00000000-0000-0000-0000-000000000000".into()),
        "SSO_REDIRECT_URI" => Some("https://placeholder.invalid/api/callback".into()),
        "SSO_SECRET" => Some(crate::tokens::secret::SigningSecret::generate().encode().expose().to_owned()),
        _ => None,
    }
}

/// What to do about a refused setting, when the refusal does not already say.
fn setting_fix(variable: &str) -> &'static str {
    match variable {
        "SSO_CLIENT_ID" => "copy the Application (client) ID from the app registration's Overview page",
        "SSO_TENANT_ID" => "copy the Directory (tenant) ID from the app registration's Overview page",
        "SSO_AUTHORITY" => {
            "use https://login.microsoftonline.com/<tenant>/v2.0 (or the provider's issuer URL), or set SSO_TENANT_ID instead"
        }
        "SSO_REDIRECT_URI" => {
            "set the public https URL of /api/callback, exactly as registered under Authentication > Web"
        }
        "SSO_SECRET" => "generate one with `entra-sso keygen`",
        "SSO_COOKIE_DOMAIN" => "a domain you own that is the redirect URI's host or a parent of it, or leave it unset",
        _ => "see the configuration table in README.md",
    }
}

/// The line for a refused setting: the refusal, and the fix after the dash (the refusal's own
/// advice after `; ` when it has some).
fn refusal(e: &ConfigError) -> Check {
    match e.problem.split_once("; ") {
        Some((finding, fix)) => Check::fail(e.variable, finding, fix),
        None => Check::fail(e.variable, &e.problem, setting_fix(e.variable)),
    }
}

/// Reads the settings as `serve` does (with its refusal of a loopback authority in the cloud),
/// one `✗` per faulty variable: after each refusal the variable is replaced by a placeholder (or
/// dropped) and the rest read again. `None` when any was refused.
fn read_settings(lookup: &impl Fn(&str) -> Option<String>, report: &mut Report) -> Option<Settings> {
    let mut replaced: Vec<(&'static str, Option<String>)> = Vec::new();
    let mut refused = 0;
    for _ in 0..32 {
        let read = Settings::from_lookup(|name| match replaced.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => value.clone(),
            None => lookup(name),
        })
        .and_then(|s| s.refuse_loopback_authority_in_cloud(|name| lookup(name).is_some()).map(|()| s));
        match read {
            Ok(settings) if refused == 0 => {
                report.checks.push(Check::pass(
                    "settings",
                    format!("client {} at {}", settings.client_id, settings.authority.as_str()),
                ));
                return Some(settings);
            }
            Ok(_) => return None,
            Err(e) => {
                if replaced.iter().any(|(n, _)| *n == e.variable) {
                    // A placeholder was refused: an error in this loop, not in the settings.
                    return None;
                }
                report.checks.push(refusal(&e));
                refused += 1;
                let credential = CREDENTIAL_VARIABLES.contains(&e.variable)
                    || placeholder(e.variable).is_none() && !e.variable.starts_with("SSO_");
                if credential {
                    // The credential or a platform variable it needs: read the rest as a public client's.
                    for variable in CREDENTIAL_VARIABLES {
                        replaced.retain(|(n, _)| n != variable);
                        replaced.push((variable, None));
                    }
                    continue;
                }
                replaced.push((e.variable, placeholder(e.variable)));
                match e.variable {
                    // The authority is read from either; a faulty one falls back on a tenant.
                    "SSO_AUTHORITY" => replaced.push(("SSO_TENANT_ID", placeholder("SSO_TENANT_ID"))),
                    "SSO_TENANT_ID" => replaced.push(("SSO_AUTHORITY", None)),
                    // The cookie domain is checked against the redirect URI's host.
                    "SSO_REDIRECT_URI" => replaced.push(("SSO_COOKIE_DOMAIN", None)),
                    _ => {}
                }
            }
        }
    }
    None
}

fn check_secret(settings: &Settings, report: &mut Report) {
    let sizes: Vec<String> = settings.secrets.iter().map(|s| s.expose().len().to_string()).collect();
    let finding = match sizes.len() {
        1 => format!("one signing secret of {} random bytes", sizes[0]),
        n => format!("{n} secrets (the first signs, the others still verify) of {} random bytes", sizes.join(", ")),
    };
    report.checks.push(Check::pass("SSO_SECRET", finding));
}

fn check_redirect_uri(settings: &Settings, report: &mut Report) {
    let uri = &settings.redirect_uri;
    let shown = cap(uri.as_str(), 200);
    let subject = "SSO_REDIRECT_URI";
    if !uri.path().ends_with("/api/callback") {
        report.checks.push(Check::fail(
            subject,
            format!("{shown} does not end with /api/callback, where the handler answers"),
            "use the public URL of /api/callback (behind a proxy, the path the proxy forwards to it)",
        ));
    } else if uri.as_str().len() > MAX_REDIRECT_URI_LEN {
        report.checks.push(Check::fail(
            subject,
            format!("{} characters; Entra registers at most {MAX_REDIRECT_URI_LEN}", uri.as_str().len()),
            "use a shorter host name or path",
        ));
    } else if uri.scheme() == "http" {
        report.checks.push(Check::warn(
            subject,
            format!("{shown} is plain http on a loopback host"),
            "fine for local development only; a deployment needs its https URL",
        ));
    } else if uri.query().is_some() {
        report.checks.push(Check::warn(
            subject,
            format!("{shown} carries a query"),
            "Entra accepts query strings in redirect URIs for work and school accounts only; prefer a plain path",
        ));
    } else {
        report.checks.push(Check::pass(
            subject,
            format!("{shown} (registered in the app registration under Authentication > Web?)"),
        ));
    }
}

/// The session cookie's scope. Configurations the settings refuse never get here; of the
/// accepted ones, two deserve a warning: a shared cookie on a cloud service's default host name,
/// and a cookie domain below its registrable domain, whose other hosts can plant a cookie of the
/// same name (cookie tossing; sign-in and sign-out expire such cookies, see web::cookies).
fn check_cookie_scope(settings: &Settings, report: &mut Report) {
    let subject = "SSO_COOKIE_DOMAIN";
    let host = settings.redirect_uri.host_str().unwrap_or("");
    let Some(domain) = &settings.cookie_domain else {
        report.checks.push(Check::pass(subject, format!("unset: the session cookie is host-only on {host}")));
        return;
    };
    if let Some((finding, fix)) = cloud_zones::default_host_warning(host) {
        report.checks.push(Check::warn(subject, format!("{domain}: {finding}"), fix));
        return;
    }
    let scope = if domain == host {
        format!("{domain}: the session cookie is sent to {domain} and its subdomains")
    } else {
        format!("{domain}: the session cookie is shared with {domain} and every subdomain of it")
    };
    let parents = parents_to_registrable(domain);
    match parents.last() {
        None => report.checks.push(Check::pass(subject, scope)),
        Some(registrable) => report.checks.push(Check::warn(
            subject,
            format!(
                "{scope}, and every host of {registrable} can plant a cookie of the same name for {} (cookie \
                 tossing)",
                parents.join(", ")
            ),
            format!(
                "sign-in and sign-out expire such cookies, but one planted in between signs the user out (or, \
                 before a sign-in, in as someone else): keep every host of {registrable} trusted, or share the \
                 session on a registrable domain of its own"
            ),
        )),
    }
}

fn check_tenants(settings: &Settings, report: &mut Report) {
    if settings.policy.tenants == crate::idp::policy::TenantPolicy::Any {
        report.checks.push(Check::warn(
            "SSO_ALLOWED_TENANTS",
            "`*`: users of every Entra tenant can sign in",
            "list the tenant ids that may sign in, unless anyone with a work account is welcome",
        ));
    }
}

fn check_credential(settings: &Settings, report: &mut Report) {
    let subject = "credential";
    match &settings.credential {
        ClientCredential::Secret(secret) if is_guid(secret.expose().trim()) => report.checks.push(Check::fail(
            subject,
            "SSO_CLIENT_SECRET looks like a secret's ID (a GUID), not its value",
            "copy the secret's Value, shown once when it is created under Certificates & secrets",
        )),
        ClientCredential::Public => report.checks.push(Check::warn(
            subject,
            "none: a public client, which redeems codes with PKCE alone",
            "Entra requires a credential for redirect URIs on the Web platform; configure one unless the \
             registration allows public client flows",
        )),
        ClientCredential::Certificate(cert) => {
            let info = cert.certificate();
            let now = crate::now();
            let days = info.not_after.saturating_sub(now) / 86_400;
            let finding = format!("{}; {days} days left", cert.describe());
            if info.not_after <= now {
                report.checks.push(Check::fail(
                    subject,
                    finding,
                    "create a new certificate and upload it (docs/azure.md, Certificate)",
                ));
            } else if let Some(warning) = cert.expiry_warning(now) {
                let fix = warning.split_once(": ").map_or(warning.as_str(), |(_, fix)| fix).to_owned();
                report.checks.push(Check::warn(subject, finding, fix));
            } else {
                report.checks.push(Check::pass(subject, finding));
            }
        }
        other => report.checks.push(Check::pass(subject, other.describe())),
    }
}

// ---- online -----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Jwks {
    #[serde(default)]
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// A GET or POST that came back: status, `Date` header and body.
struct Answer {
    status: u16,
    date: Option<String>,
    body: Vec<u8>,
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request.send().await.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let date = response.headers().get(http::header::DATE).and_then(|d| d.to_str().ok()).map(str::to_owned);
    if response.content_length().is_some_and(|l| l > crate::idp::provider::transport::MAX_RESPONSE_BYTES as u64) {
        return Err("response larger than 1 MiB".into());
    }
    let body = response.bytes().await.map_err(|e| describe(&e))?;
    if body.len() > crate::idp::provider::transport::MAX_RESPONSE_BYTES {
        return Err("response larger than 1 MiB".into());
    }
    Ok(Answer { status, date, body: body.to_vec() })
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match e.url() {
        Some(u) => format!("{kind} ({}://{}{})", u.scheme(), u.host_str().unwrap_or(""), u.path()),
        None => kind.to_owned(),
    }
}

async fn online(settings: &Settings, report: &mut Report) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .user_agent(concat!("entra-sso-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid");
    let Some((metadata, date)) = discovery(&http, settings, report).await else {
        return;
    };
    check_clock(date.as_deref(), crate::now(), report);
    client_credential(&http, settings, &metadata, report).await;
}

/// The discovery document and the provider's keys; the `Date` of the discovery answer.
async fn discovery(
    http: &reqwest::Client,
    settings: &Settings,
    report: &mut Report,
) -> Option<(Metadata, Option<String>)> {
    let authority = settings.authority.as_str();
    let url = settings.authority.discovery_url();
    let unreachable_fix = "check SSO_TENANT_ID / SSO_AUTHORITY, and that this host may reach the provider over \
                           https (firewall, proxy, private DNS)";
    let answer = match send(http.get(&url).header(http::header::ACCEPT, "application/json")).await {
        Ok(a) => a,
        Err(why) => {
            report.checks.push(Check::fail("discovery", format!("{authority} unreachable: {why}"), unreachable_fix));
            return None;
        }
    };
    if answer.status != 200 {
        report.checks.push(Check::fail(
            "discovery",
            format!("{} answered HTTP {}", cap(&url, 200), answer.status),
            "check SSO_TENANT_ID / SSO_AUTHORITY: the tenant or authority does not exist there",
        ));
        return None;
    }
    let metadata: Metadata = match serde_json::from_slice(&answer.body) {
        Ok(m) => m,
        Err(e) => {
            report.checks.push(Check::fail(
                "discovery",
                format!("{} is not a discovery document: {}", cap(&url, 200), cap(&e.to_string(), 200)),
                "SSO_AUTHORITY must be the provider's issuer URL, without /.well-known/openid-configuration",
            ));
            return None;
        }
    };
    if let Err(why) = issuer_fits(settings, &metadata.issuer) {
        report.checks.push(Check::fail(
            "discovery",
            why,
            "set SSO_AUTHORITY to the issuer the provider publishes (or SSO_TENANT_ID for Entra)",
        ));
        return None;
    }
    let keys = match send(http.get(&metadata.jwks_uri).header(http::header::ACCEPT, "application/json")).await {
        Ok(Answer { status: 200, body, .. }) => serde_json::from_slice::<Jwks>(&body).map(|j| j.keys.len()).ok(),
        _ => None,
    };
    match keys {
        Some(n) if n > 0 => report.checks.push(Check::pass(
            "discovery",
            format!("issuer {}, {n} signing key{}", cap(&metadata.issuer, 200), if n == 1 { "" } else { "s" }),
        )),
        _ => {
            report.checks.push(Check::fail(
                "discovery",
                format!("no signing keys at {}", cap(&metadata.jwks_uri, 200)),
                "the provider's jwks_uri must be reachable from this host and list its keys",
            ));
            return None;
        }
    }
    Some((metadata, answer.date))
}

/// Whether the published issuer belongs to the configured authority.
fn issuer_fits(settings: &Settings, issuer: &str) -> Result<(), String> {
    let authority = settings.authority.as_str();
    let mismatch = || format!("the provider's issuer {} is not the configured authority {authority}", cap(issuer, 200));
    let Some(tenant) = settings.authority.entra_tenant() else {
        return if issuer.trim_end_matches('/') == authority { Ok(()) } else { Err(mismatch()) };
    };
    // Entra: the tenant's own issuer (its GUID even when the authority names a domain), or the
    // `{tenantid}` template for common / organizations, always on the authority's host.
    let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin().ascii_serialization());
    if origin(issuer) != origin(authority) || !issuer.ends_with("/v2.0") {
        return Err(mismatch());
    }
    if is_guid(tenant) && !issuer.eq_ignore_ascii_case(authority) {
        return Err(mismatch());
    }
    Ok(())
}

/// The difference between this host's clock and the provider's `Date`.
fn check_clock(date: Option<&str>, now: u64, report: &mut Report) {
    let Some(theirs) = date.and_then(parse_http_date) else {
        report.checks.push(Check::warn(
            "clock",
            "the provider sent no usable Date header; skew not measured",
            "make sure this host's clock is synchronised (NTP)",
        ));
        return;
    };
    let skew = now.abs_diff(theirs);
    let direction = if now >= theirs { "ahead of" } else { "behind" };
    if skew > MAX_CLOCK_SKEW_SECS {
        report.checks.push(Check::warn(
            "clock",
            format!("{skew} s {direction} the provider's"),
            "synchronise this host's clock (NTP): tokens are checked against it",
        ));
    } else {
        report
            .checks
            .push(Check::pass("clock", format!("within {MAX_CLOCK_SKEW_SECS} s of the provider's ({skew} s)")));
    }
}

/// Proves the credential with a client-credentials request for the app itself.
async fn client_credential(http: &reqwest::Client, settings: &Settings, metadata: &Metadata, report: &mut Report) {
    let subject = "client credential";
    if settings.authority.is_multi_tenant() {
        report.checks.push(Check::warn(
            subject,
            "not tested: a client-credentials request needs a tenant, and the authority is common / organizations",
            "run doctor once with SSO_TENANT_ID set to the app's home tenant",
        ));
        return;
    }
    if matches!(settings.credential, ClientCredential::Public) {
        report.checks.push(Check::warn(
            subject,
            "not tested: no client credential configured",
            "configure a client credential",
        ));
        return;
    }
    let token_endpoint = match settings.authority.entra_endpoints() {
        Some(e) => e.token,
        None => metadata.token_endpoint.clone(),
    };
    let fields = match settings.credential.form_fields(&token_endpoint).await {
        Ok(f) => f,
        Err(e) => {
            report.checks.push(Check::fail(
                subject,
                format!("no assertion from {}: {e}", settings.credential.describe()),
                "the platform's identity must be reachable from where doctor runs (run it inside the app, or --offline elsewhere)",
            ));
            return;
        }
    };
    let scope = format!("{}/.default", settings.client_id);
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "client_credentials"),
        ("client_id", settings.client_id.as_str()),
        ("scope", scope.as_str()),
    ];
    form.extend(fields.iter().map(|(k, v)| (*k, v.expose())));
    let body = serde_urlencoded::to_string(&form).expect("form fields serialise");
    let request = http
        .post(&token_endpoint)
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::ACCEPT, "application/json")
        .body(body);
    let answer = match send(request).await {
        Ok(a) => a,
        Err(why) => {
            report.checks.push(Check::fail(
                subject,
                format!("token endpoint unreachable: {why}"),
                "this host must reach the provider's token endpoint over https",
            ));
            return;
        }
    };
    let parsed: Option<TokenAnswer> = serde_json::from_slice(&answer.body).ok();
    match parsed {
        Some(TokenAnswer { access_token: Some(_), .. }) if answer.status == 200 => {
            report.checks.push(Check::pass(subject, format!("the provider accepted it (a token for {scope})")))
        }
        Some(TokenAnswer { error: Some(error), error_description, error_codes, .. }) => {
            let code = error_codes.first().copied().or_else(|| aadsts_code(error_description.as_deref()));
            let first_sentence = error_description
                .as_deref()
                .map(|d| d.split(" Trace ID:").next().unwrap_or(d).to_owned())
                .unwrap_or_default();
            if error == "unsupported_grant_type" {
                report.checks.push(Check::warn(
                    subject,
                    format!(
                        "not tested: the provider does not offer client_credentials ({})",
                        cap(&first_sentence, 200)
                    ),
                    "sign in once to test the credential",
                ));
                return;
            }
            let finding = match code {
                Some(c) => format!(
                    "refused: AADSTS{c} {error}: {}",
                    cap(first_sentence.trim_start_matches(&format!("AADSTS{c}: ")), 300)
                ),
                None => format!("refused: {error}: {}", cap(&first_sentence, 300)),
            };
            let fix = code
                .and_then(|c| u32::try_from(c).ok())
                .and_then(|c| hints::hint(c, settings.credential.kind()))
                .unwrap_or_else(|| refusal_fix(code).to_owned());
            report.checks.push(Check::fail(subject, finding, fix));
        }
        _ => report.checks.push(Check::fail(
            subject,
            format!("the token endpoint answered HTTP {} without a token or an error", answer.status),
            "check SSO_AUTHORITY: it must be the provider's issuer",
        )),
    }
}

/// The `AADSTS<n>` code at the start of an Entra error description.
fn aadsts_code(description: Option<&str>) -> Option<u64> {
    let rest = description?.strip_prefix("AADSTS")?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// What to do about a refused credential, by AADSTS code.
fn refusal_fix(code: Option<u64>) -> &'static str {
    match code {
        Some(7000215) => {
            "SSO_CLIENT_SECRET must be a current secret's Value (not its Secret ID); create a new one under \
             Certificates & secrets if it expired or was deleted"
        }
        Some(7000222) => "the client secret expired: create a new one under Certificates & secrets",
        Some(700016) => "check SSO_CLIENT_ID and the tenant: the application is not registered there",
        Some(90002) | Some(900023) => "check SSO_TENANT_ID: no such tenant",
        Some(7000218) => "the registration needs a client credential: configure a secret, certificate or federated credential",
        Some(700027) => {
            "the certificate is not on the app registration: upload it (az ad app credential reset --cert … --append)"
        }
        Some(700024) => "the assertion is outside its validity time: synchronise this host's clock (NTP)",
        Some(70021) | Some(700211) | Some(700212) | Some(700213) => {
            "no federated credential on the app registration matches the token's issuer, subject and audience; \
             compare them with docs/azure.md or docs/aws.md (a new one takes a few minutes to apply)"
        }
        _ => "see the AADSTS code in Microsoft's error reference (https://learn.microsoft.com/entra/identity-platform/reference-error-codes)",
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) as Unix seconds.
pub fn parse_http_date(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split(' ').collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m == month)? as u32
        + 1;
    let year: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if *h > 23 || *m > 59 || *s > 60 || time.len() != 8 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days).ok().map(|d| d * 86_400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT"), Some(1_709_208_000));
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn clock_skew_over_a_minute_warns() {
        let mut report = Report::default();
        check_clock(Some("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777 + 30, &mut report);
        check_clock(Some("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777 - 61, &mut report);
        check_clock(None, 0, &mut report);
        let marks: Vec<Status> = report.checks.iter().map(|c| c.status).collect();
        assert_eq!(marks, [Status::Pass, Status::Warn, Status::Warn]);
        assert!(report.checks[1].finding.contains("61 s behind"), "{}", report.checks[1]);
    }

    #[test]
    fn aadsts_codes_are_read_from_descriptions() {
        assert_eq!(aadsts_code(Some("AADSTS7000215: Invalid client secret provided.")), Some(7_000_215));
        assert_eq!(aadsts_code(Some("invalid")), None);
        assert_eq!(aadsts_code(None), None);
    }

    #[test]
    fn lines_carry_the_mark_and_the_fix() {
        let line = Check::fail("SSO_SECRET", "too short", "generate one").to_string();
        assert_eq!(line, "✗ SSO_SECRET: too short — generate one");
        assert_eq!(Check::pass("clock", "fine").to_string(), "✓ clock: fine");
    }
}
