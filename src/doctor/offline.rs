//! The offline checks: the settings read as the handler reads them, and a closer look at the
//! ones a mistake in costs a failed sign-in.

use super::{Check, Report};
use crate::config::{ConfigError, Mount, Settings, Startup};
use crate::idp::authority::is_guid;
use crate::idp::credential::ClientCredential;
use crate::support::text::cap;
use crate::web::cookies::parents_to_registrable;

/// Longest redirect URI Entra accepts in an app registration.
const MAX_REDIRECT_URI_LEN: usize = 256;

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
/// in one reading: one `✗` per faulty variable, or the settings with a `!` line for each of
/// their warnings. `None` when any was refused.
pub(super) fn read_settings(lookup: &impl Fn(&str) -> Option<String>, report: &mut Report) -> Option<Settings> {
    let startup = Startup::new(Mount::Api, |name| lookup(name).is_some());
    match Settings::read(lookup, startup) {
        Ok(settings) => {
            report.checks.push(Check::pass(
                "settings",
                format!("client {} at {}", settings.client_id, settings.authority.as_str()),
            ));
            for warning in &settings.warnings {
                report.checks.push(Check::warn(warning.variable, &warning.finding, &warning.fix));
            }
            Some(settings)
        }
        Err(errors) => {
            report.checks.extend(errors.iter().map(refusal));
            None
        }
    }
}

pub(super) fn check_secret(settings: &Settings, report: &mut Report) {
    let sizes: Vec<String> = settings.secrets.iter().map(|s| s.expose().len().to_string()).collect();
    let finding = match sizes.len() {
        1 => format!("one signing secret of {} random bytes", sizes[0]),
        n => format!("{n} secrets (the first signs, the others still verify) of {} random bytes", sizes.join(", ")),
    };
    report.checks.push(Check::pass("SSO_SECRET", finding));
}

pub(super) fn check_redirect_uri(settings: &Settings, report: &mut Report) {
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
/// accepted ones, two deserve a warning: a shared cookie on a cloud service's default host name
/// (the settings' own warning, listed by [`read_settings`]), and a cookie domain below its
/// registrable domain, whose other hosts can plant a cookie of the same name (cookie tossing;
/// sign-in and sign-out expire such cookies, see web::cookies).
pub(super) fn check_cookie_scope(settings: &Settings, report: &mut Report) {
    let subject = "SSO_COOKIE_DOMAIN";
    if settings.warnings.iter().any(|w| w.variable == subject) {
        return;
    }
    let host = settings.redirect_uri.host_str().unwrap_or("");
    let Some(domain) = &settings.cookie_domain else {
        report.checks.push(Check::pass(subject, format!("unset: the session cookie is host-only on {host}")));
        return;
    };
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

pub(super) fn check_credential(settings: &Settings, report: &mut Report) {
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
            let now = crate::support::time::now();
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
