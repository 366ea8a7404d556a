//! The online checks: discovery and keys, the clock against the provider's, and the client
//! credential proved with a client-credentials request.

use serde::Deserialize;

use super::{Check, Report};
use crate::config::Settings;
use crate::idp::authority::is_guid;
use crate::idp::credential::{hints, ClientCredential};
use crate::idp::provider::Metadata;
use crate::support::text::cap;

/// Largest clock difference with the provider that passes without a warning.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

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

pub(super) async fn run(settings: &Settings, report: &mut Report) {
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
    check_clock(date.as_deref(), crate::support::time::now(), report);
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
    let Some(theirs) = date.and_then(crate::support::time::parse_http_date) else {
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

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

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
}
