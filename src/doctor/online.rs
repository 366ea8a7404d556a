//! The online checks, as a client of the domain: discovery and keys through
//! [`Provider::check_discovery`], the clock against the provider's `Date`, and the client
//! credential proved by [`Provider::client_credentials`]. No HTTP, JSON or AADSTS table here:
//! the provider makes the calls and [`hints`] knows the codes.

use super::{Check, Report};
use crate::config::Settings;
use crate::idp::credential::ClientCredential;
use crate::idp::hints;
use crate::idp::provider::graph::{GraphError, PERMISSION_FIX};
use crate::idp::provider::{Discovered, FetchError, Provider, ProviderConfig, TokenError};
use crate::support::text::cap;

/// Largest clock difference with the provider that passes without a warning.
pub(super) const MAX_CLOCK_SKEW_SECS: u64 = 60;

pub(super) async fn run(settings: &Settings, report: &mut Report) {
    let provider = Provider::new(ProviderConfig::from(settings));
    let Some(discovered) = discovery(&provider, settings, report).await else {
        return;
    };
    check_clock(discovered.date.as_deref(), crate::support::time::now(), report);
    client_credential(&provider, settings, report).await;
    graph_permission(&provider, settings, report).await;
}

/// When a group rule applies, proves with one Graph call that the app may read groups: users
/// with groups overage are looked up there at sign-in.
async fn graph_permission(provider: &Provider, settings: &Settings, report: &mut Report) {
    let subject = "Microsoft Graph";
    let Some(group) = settings.policy.relevant_groups().first() else { return };
    if settings.authority.is_multi_tenant() || matches!(settings.credential, ClientCredential::Public) {
        report.checks.push(Check::warn(
            subject,
            "not tested: it needs a client credential and a tenant",
            "run doctor with SSO_TENANT_ID and the app's credential set",
        ));
        return;
    }
    let check = match provider.check_graph(group).await {
        Ok(Some(())) => Check::pass(subject, format!("the app may read groups (group {group} read)")),
        Ok(None) => return,
        Err(GraphError::Forbidden { .. }) => Check::fail(
            subject,
            "Graph refused to read a group: users with more than 200 groups could not sign in",
            PERMISSION_FIX,
        ),
        Err(GraphError::Failed { status: 404, .. }) => Check::warn(
            subject,
            format!("group {group} does not exist in the tenant"),
            "check the group object ids in SSO_ALLOWED_GROUPS",
        ),
        Err(e) => Check::fail(subject, e.to_string(), "this host must reach Microsoft Graph over https"),
    };
    report.checks.push(check);
}

/// The discovery document and the provider's keys.
async fn discovery(provider: &Provider, settings: &Settings, report: &mut Report) -> Option<Discovered> {
    let authority = settings.authority.as_str();
    let url = cap(&settings.authority.discovery_url(), 200);
    let (finding, fix) = match provider.check_discovery().await {
        Ok(d) => {
            let n = d.keys;
            let plural = if n == 1 { "" } else { "s" };
            report.checks.push(Check::pass(
                "discovery",
                format!("issuer {}, {n} signing key{plural}", cap(&d.metadata.issuer, 200)),
            ));
            return Some(d);
        }
        Err(FetchError::Unreachable { what: "discovery document", source }) => (
            format!("{authority} unreachable: {source}"),
            "check SSO_TENANT_ID / SSO_AUTHORITY, and that this host may reach the provider over https (firewall, \
             proxy, private DNS)",
        ),
        Err(FetchError::Status { what: "discovery document", status }) => (
            format!("{url} answered HTTP {status}"),
            "check SSO_TENANT_ID / SSO_AUTHORITY: the tenant or authority does not exist there",
        ),
        Err(FetchError::Invalid { what: "discovery document", reason }) => (
            format!("{url} is not a usable discovery document: {reason}"),
            "SSO_AUTHORITY must be the provider's issuer URL, without /.well-known/openid-configuration",
        ),
        Err(FetchError::Misconfigured(why)) => {
            (why, "set SSO_AUTHORITY to the issuer the provider publishes (or SSO_TENANT_ID for Entra)")
        }
        Err(e) => (
            format!("no signing keys: {e}"),
            "the provider's jwks_uri must be reachable from this host and list its keys",
        ),
    };
    report.checks.push(Check::fail("discovery", finding, fix));
    None
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
async fn client_credential(provider: &Provider, settings: &Settings, report: &mut Report) {
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
    let scope = format!("{}/.default", settings.client_id);
    let check = match provider.client_credentials(&scope).await {
        Ok(_) => Check::pass(subject, format!("the provider accepted it (a token for {scope})")),
        Err(TokenError::Credential(e)) => Check::fail(
            subject,
            format!("no assertion from {}: {e}", settings.credential.describe()),
            "the platform's identity must be reachable from where doctor runs (run it inside the app, or --offline elsewhere)",
        ),
        Err(TokenError::Unreachable(why)) => Check::fail(
            subject,
            format!("token endpoint unreachable: {why}"),
            "this host must reach the provider's token endpoint over https",
        ),
        Err(TokenError::Refused { error, description, hint, .. }) => refused(&error, &description, hint),
        Err(e) => Check::fail(subject, e.to_string(), "check SSO_AUTHORITY: it must be the provider's issuer"),
    };
    report.checks.push(check);
}

/// The line for a refused client-credentials request: its AADSTS code and first sentence, and
/// the fix from [`hints`].
fn refused(error: &str, description: &str, hint: Option<String>) -> Check {
    let subject = "client credential";
    let first_sentence = description.split(" Trace ID:").next().unwrap_or(description);
    if error == "unsupported_grant_type" {
        return Check::warn(
            subject,
            format!("not tested: the provider does not offer client_credentials ({})", cap(first_sentence, 200)),
            "sign in once to test the credential",
        );
    }
    let finding = match hints::aadsts_code(description) {
        Some(c) => format!(
            "refused: AADSTS{c} {error}: {}",
            cap(first_sentence.trim_start_matches(&format!("AADSTS{c}: ")), 300)
        ),
        None => format!("refused: {error}: {}", cap(first_sentence, 300)),
    };
    Check::fail(subject, finding, hint.unwrap_or_else(|| hints::REFERENCE.to_owned()))
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
    fn refusals_carry_the_code_and_the_hint_or_the_reference() {
        let line = refused("invalid_client", "AADSTS7000215: Invalid client secret provided. Trace ID: x", None);
        assert_eq!(line.finding, "refused: AADSTS7000215 invalid_client: Invalid client secret provided.");
        assert_eq!(line.fix.as_deref(), Some(hints::REFERENCE));
        let line = refused("unsupported_grant_type", "no", Some("h".into()));
        assert_eq!((line.status, line.fix.as_deref()), (Status::Warn, Some("sign in once to test the credential")));
    }
}
