//! Start-up of the real binary: every faulty setting is reported at once, a line each on stderr
//! with exit status 2, by `serve`, `proxy` and the Lambda adapter alike; the settings' warnings
//! are logged once an instance starts.

use std::time::Duration;

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, FIVE_FAULTY, FIVE_FAULTY_NAMED, SECRET_A};
use crate::support::binary::{self, Run};
use crate::support::settings::TestSettings;

/// Runs `entra-sso <args>` with exactly `vars` (nothing inherited), warnings and worse logged;
/// kills it after `limit`.
fn run_for(args: &[&str], vars: &[(&str, &str)], limit: Duration) -> Run {
    binary::run_for(args, &TestSettings::empty().with_all(vars), limit)
}

/// The variables named by the `configuration error` lines of `stderr`, failing on any other line.
fn named(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("entra-sso: configuration error: ").unwrap_or_else(|| {
                panic!("not a configuration error line: {line}\n{stderr}");
            });
            rest.split_once(": ").map_or(rest, |(variable, _)| variable)
        })
        .collect()
}

#[test]
fn serve_reports_five_faulty_settings_in_five_lines() {
    let mut vars = FIVE_FAULTY.to_vec();
    vars.push(("FUNCTIONS_CUSTOMHANDLER_PORT", "0"));
    let run = run_for(&["serve"], &vars, Duration::from_secs(10));
    assert_eq!(run.code, 2, "serve must refuse to start:\n{}", run.stderr);
    assert_eq!(named(&run.stderr), FIVE_FAULTY_NAMED, "{}", run.stderr);
    assert!(!run.stderr.contains("tooshort-secret-value"), "the secret is never echoed");

    // A port that is not one joins the list.
    vars.retain(|(k, _)| *k != "FUNCTIONS_CUSTOMHANDLER_PORT");
    vars.push(("FUNCTIONS_CUSTOMHANDLER_PORT", "http"));
    let run = run_for(&["serve"], &vars, Duration::from_secs(10));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(named(&run.stderr).last(), Some(&"FUNCTIONS_CUSTOMHANDLER_PORT"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 6, "{}", run.stderr);
}

#[test]
fn the_lambda_adapter_reports_five_faulty_settings_in_five_lines() {
    let mut vars = FIVE_FAULTY.to_vec();
    // Nothing listens there: the settings are refused before the runtime is called.
    vars.push(("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"));
    let run = run_for(&[], &vars, Duration::from_secs(10));
    assert_eq!(run.code, 2, "the function must refuse to start:\n{}", run.stderr);
    assert_eq!(named(&run.stderr), FIVE_FAULTY_NAMED, "{}", run.stderr);
}

#[test]
fn proxy_reports_its_own_and_the_handlers_faulty_settings_together() {
    let vars = [
        ("SSO_CLIENT_ID", "not a client id"),
        ("SSO_TENANT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
        // Not where the proxy serves the callback.
        ("SSO_REDIRECT_URI", "https://app.example.test/api/callback"),
        ("SSO_SECRET", SECRET_A),
        ("SSO_UPSTREAM", "https://app:443"),
        ("SSO_PUBLIC_PATHS", "static"),
    ];
    let run = run_for(&["proxy", "--listen", "127.0.0.1:0"], &vars, Duration::from_secs(10));
    assert_eq!(run.code, 2, "proxy must refuse to start:\n{}", run.stderr);
    assert_eq!(
        named(&run.stderr),
        ["SSO_CLIENT_ID", "SSO_REDIRECT_URI", "SSO_UPSTREAM", "SSO_PUBLIC_PATHS"],
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("/.auth/login/aad/callback"), "{}", run.stderr);
}

#[test]
fn start_up_logs_each_warning_of_the_settings_once() {
    let host = "myapp.happyhill-70162bb9.canadacentral.azurecontainerapps.io";
    let redirect = format!("https://{host}/api/callback");
    let vars = [
        ("SSO_CLIENT_ID", CLIENT_ID),
        ("SSO_TENANT_ID", "organizations"),
        ("SSO_ALLOWED_TENANTS", "*"),
        ("SSO_CLIENT_SECRET", CLIENT_SECRET),
        ("SSO_REDIRECT_URI", &redirect),
        ("SSO_COOKIE_DOMAIN", host),
        ("SSO_SECRET", SECRET_A),
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "0"),
    ];
    // It starts and serves: stopped after a moment.
    let run = run_for(&["serve"], &vars, Duration::from_secs(3));
    assert_eq!(run.code, -1, "serve starts:\n{}", run.stderr);
    let warned = |variable: &str| {
        run.stderr.lines().filter(|l| l.contains("WARN") && l.contains(&format!("{variable}: "))).count()
    };
    assert_eq!(warned("SSO_ALLOWED_TENANTS"), 1, "{}", run.stderr);
    assert_eq!(warned("SSO_COOKIE_DOMAIN"), 1, "{}", run.stderr);
    let cookie = run.stderr.lines().find(|l| l.contains("SSO_COOKIE_DOMAIN: ")).unwrap();
    assert!(
        cookie.contains("`*.azurecontainerapps.io`") && cookie.contains("leave SSO_COOKIE_DOMAIN unset"),
        "{cookie}"
    );
}
