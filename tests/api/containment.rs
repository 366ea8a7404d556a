//! Security review #17, each finding held by tests that failed before its fix, on the real
//! binaries: credential material is never echoed (finding 5), a loopback identity provider is
//! refused in the cloud and the dev identity provider does not start there (finding 9), and
//! `IDENTITY_ENDPOINT` takes plain http only on this host or its link (finding 11).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use entra_sso::config::CLOUD_MARKERS;

use crate::helpers::TestSettings;
use crate::support::app_service;
use crate::support::binary::{run, run_for, Run};

/// Deterministic bytes that look random (xorshift), so no run of them repeats by accident.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// base64 of `der` in lines of `width` characters, as `openssl base64` (64) or `base64` (76) write it.
fn wrapped(der: &[u8], width: usize) -> String {
    let text = STANDARD.encode(der);
    let lines: Vec<&str> = text.as_bytes().chunks(width).map(|c| std::str::from_utf8(c).unwrap()).collect();
    lines.join("\n") + "\n"
}

/// Values pasted into SSO_CLIENT_CERTIFICATE that hold credential material: what each is.
fn credential_values() -> Vec<(&'static str, String)> {
    // A PKCS#8 RSA key's DER header, then key-sized noise: a key exported without PEM markers.
    let mut key = vec![0x30, 0x82, 0x04, 0xbd, 0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48];
    key.extend(noise(7, 1203));
    // A PKCS#12 (PFX) file's header (version 3, pkcs7-data), then noise.
    let mut pfx = vec![0x30, 0x82, 0x0a, 0x3c, 0x02, 0x01, 0x03, 0x30, 0x82, 0x09, 0xf6, 0x06, 0x09, 0x2a, 0x86];
    pfx.extend(noise(11, 2609));
    vec![
        ("a base64 private key without PEM markers, in lines", wrapped(&key, 64)),
        ("a PFX as base64, in lines", wrapped(&pfx, 76)),
        ("a client secret", "Qx48Q~mZ1v.Rk3Yt_PwE7nHcL-9sFdJ2aB4uVg0e".to_owned()),
    ]
}

/// The first 16-character run of `value` that `output` holds (also with the output's white
/// space removed, should it re-wrap the value), if any.
fn shown_run(value: &str, output: &str) -> Option<String> {
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let squeezed = compact(output);
    let mut runs: Vec<String> = Vec::new();
    for text in value.lines().map(str::to_owned).chain([compact(value)]) {
        let chars: Vec<char> = text.chars().collect();
        runs.extend(chars.windows(16).map(|w| w.iter().collect::<String>()));
    }
    assert!(!runs.is_empty(), "a value of at least 16 characters");
    runs.into_iter().find(|run| output.contains(run) || squeezed.contains(run))
}

/// Fails, naming every value a run of which its output showed.
fn assert_none_shown(runs: &[(&str, String, Run)]) {
    let shown: Vec<String> = runs
        .iter()
        .filter_map(|(what, value, run)| shown_run(value, &run.both()).map(|r| format!("{what} (`{r}`…)")))
        .collect();
    assert!(shown.is_empty(), "the output shows {}:\n{}", shown.join(", "), runs[0].2.both());
}

/// A certificate configuration with `value` in SSO_CLIENT_CERTIFICATE.
fn certificate_config(value: &str) -> TestSettings {
    TestSettings::new()
        .without("SSO_CLIENT_SECRET")
        .with("SSO_TENANT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
        .with("SSO_CLIENT_CREDENTIAL", "certificate")
        .with("SSO_CLIENT_CERTIFICATE", value)
        .with("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
}

// 5. Credential material echoed (unit tests: `idp::credential::certificate::tests::credential_values_are_described_never_shown`,
//    `config::tests::a_certificate_setting_is_never_echoed`).

#[test]
fn serve_refuses_credential_material_without_echoing_it() {
    let runs: Vec<_> = credential_values()
        .into_iter()
        .map(|(what, v)| (what, v.clone(), run(&["serve"], &certificate_config(&v))))
        .collect();
    assert_none_shown(&runs);
    for (what, _, run) in &runs {
        assert_eq!(run.code, 2, "{what}: serve must refuse to start:\n{}", run.both());
        assert_eq!(run.stderr.lines().count(), 1, "{what}: one line: {}", run.stderr);
        assert!(run.stderr.contains("SSO_CLIENT_CERTIFICATE"), "{what}: the setting is named: {}", run.stderr);
        assert!(run.stderr.contains(" characters"), "{what}: its length is said instead: {}", run.stderr);
    }
}

#[test]
fn doctor_reports_credential_material_without_echoing_it() {
    let runs: Vec<_> = credential_values()
        .into_iter()
        .map(|(what, v)| (what, v.clone(), run(&["doctor", "--offline"], &certificate_config(&v))))
        .collect();
    assert_none_shown(&runs);
    for (what, _, run) in &runs {
        assert_eq!(run.code, 1, "{what}: one check fails:\n{}", run.both());
        let line = run.stdout.lines().find(|l| l.starts_with("✗ SSO_CLIENT_CERTIFICATE: ")).unwrap_or_else(|| {
            panic!("{what}: no ✗ line for SSO_CLIENT_CERTIFICATE in:\n{}", run.stdout);
        });
        assert!(line.contains(" characters") && line.contains(" — "), "{what}: kind, length and the fix: {line}");
    }
}

#[test]
fn dev_idp_refuses_credential_material_without_echoing_it() {
    let runs: Vec<_> = credential_values()
        .into_iter()
        .map(|(what, v)| {
            let vars = dev_idp_config().with("SSO_CLIENT_CERTIFICATE", &v);
            let run = run(&["dev-idp", "--port", "0"], &vars);
            (what, v.clone(), run)
        })
        .collect();
    assert_none_shown(&runs);
    for (what, _, run) in &runs {
        assert_eq!(run.code, 2, "{what}: dev-idp must refuse to start:\n{}", run.both());
        assert!(run.stderr.contains("SSO_CLIENT_CERTIFICATE"), "{what}: {}", run.stderr);
    }
}

// 9. A loopback identity provider trusted in the cloud (unit tests:
//    `config::tests::a_loopback_authority_is_refused_under_each_cloud_marker`,
//    `config::tests::a_loopback_authority_is_refused_behind_a_public_redirect_uri`).

/// An authority on this host's loopback interface, as the dev identity provider's (nothing needs
/// to listen there: start-up makes no call that must succeed).
const LOOPBACK_AUTHORITY: &str = "http://127.0.0.1:9/00000000-de00-4000-8000-00000000de00/v2.0";

/// The shared client against [`LOOPBACK_AUTHORITY`].
fn loopback_config() -> TestSettings {
    TestSettings::new().with("SSO_AUTHORITY", LOOPBACK_AUTHORITY)
}

/// What `dev-idp` reads: the client id and its redirect URI.
fn dev_idp_config() -> TestSettings {
    TestSettings::new().without("SSO_CLIENT_SECRET").without("SSO_SECRET")
}

/// `serve` against [`LOOPBACK_AUTHORITY`] with `extra` variables.
fn serve_loopback(extra: &[(&str, &str)]) -> Run {
    let vars = loopback_config().with("FUNCTIONS_CUSTOMHANDLER_PORT", "0").with_all(extra);
    run_for(&["serve"], &vars, Duration::from_secs(5))
}

#[test]
fn serve_refuses_a_loopback_authority_in_the_cloud() {
    let run = serve_loopback(&[("WEBSITE_SITE_NAME", "x")]);
    assert_eq!(run.code, 2, "serve must refuse to start:\n{}", run.both());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", run.stderr);
    assert!(lines[0].contains("SSO_AUTHORITY") && lines[0].contains("WEBSITE_SITE_NAME"), "{}", lines[0]);
    let started: Vec<&str> =
        CLOUD_MARKERS.iter().map(|m| m.variable).filter(|v| serve_loopback(&[(v, "x")]).code != 2).collect();
    assert!(started.is_empty(), "serve started with a loopback authority under {started:?}");
}

#[test]
fn proxy_refuses_a_loopback_authority_in_the_cloud() {
    let vars = loopback_config()
        .with("SSO_REDIRECT_URI", "https://app.example.test/.auth/login/aad/callback")
        .with("SSO_UPSTREAM", "http://127.0.0.1:9")
        .with("WEBSITE_SITE_NAME", "x");
    let cloud = run_for(&["proxy", "--listen", "127.0.0.1:0"], &vars, Duration::from_secs(5));
    assert_eq!(cloud.code, 2, "proxy must refuse to start:\n{}", cloud.both());
    assert!(cloud.stderr.contains("SSO_AUTHORITY") && cloud.stderr.contains("WEBSITE_SITE_NAME"), "{}", cloud.stderr);
}

#[test]
fn serve_refuses_a_loopback_authority_behind_a_public_redirect_uri() {
    let run = serve_loopback(&[("SSO_REDIRECT_URI", "https://sso.contoso.com/api/callback")]);
    assert_eq!(run.code, 2, "serve must refuse to start:\n{}", run.both());
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(run.stderr.contains("SSO_AUTHORITY") && run.stderr.contains("SSO_REDIRECT_URI"), "{}", run.stderr);
}

#[test]
fn doctor_fails_a_loopback_authority_in_the_cloud() {
    let vars = loopback_config().with("KUBERNETES_SERVICE_HOST", "10.0.0.1");
    let cloud = run(&["doctor", "--offline"], &vars);
    assert_eq!(cloud.code, 1, "{}", cloud.both());
    let line = cloud.stdout.lines().find(|l| l.starts_with("✗ SSO_AUTHORITY: ")).unwrap_or_else(|| {
        panic!("no ✗ line for SSO_AUTHORITY in:\n{}", cloud.stdout);
    });
    assert!(line.contains("KUBERNETES_SERVICE_HOST") && line.contains(" — "), "the marker and the fix: {line}");
    let without = run(&["doctor", "--offline"], &vars.without("KUBERNETES_SERVICE_HOST"));
    assert_eq!(without.code, 0, "no marker, a loopback redirect URI: local development\n{}", without.both());
}

#[test]
fn the_dev_identity_provider_refuses_to_start_in_the_cloud() {
    let lambda = run(&["dev-idp", "--port", "0"], &dev_idp_config().with("AWS_LAMBDA_FUNCTION_NAME", "x"));
    assert_eq!(lambda.code, 2, "{}", lambda.both());
    assert!(lambda.stderr.contains("AWS_LAMBDA_FUNCTION_NAME"), "{}", lambda.stderr);
    // Refused at once, so a run still going after 3 s started.
    let started = |args: &[&str], marker: &str| {
        let run = run_for(args, &dev_idp_config().with(marker, "x"), Duration::from_secs(3));
        run.code != 2 || !run.stderr.contains(marker)
    };
    let dev_idp: Vec<&str> =
        CLOUD_MARKERS.iter().map(|m| m.variable).filter(|m| started(&["dev-idp", "--port", "0"], m)).collect();
    let dev: Vec<&str> = CLOUD_MARKERS
        .iter()
        .map(|m| m.variable)
        .filter(|m| started(&["dev", "--port", "0", "--idp-port", "0"], m))
        .collect();
    assert!(dev_idp.is_empty() && dev.is_empty(), "started under: dev-idp {dev_idp:?}, dev {dev:?}");
}

// 11. `IDENTITY_ENDPOINT` over plain http to any host (unit test:
//     `idp::credential::managed_identity::tests::plain_http_only_to_loopback_and_link_local`).

#[test]
fn serve_and_doctor_refuse_a_plain_http_identity_endpoint_off_this_host() {
    let vars = |endpoint: &str| {
        TestSettings::new()
            .without("SSO_CLIENT_SECRET")
            .with("SSO_TENANT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
            .with("SSO_CLIENT_CREDENTIAL", "managed-identity")
            .with("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
            .and(&app_service::env(endpoint, "a-header-value-the-platform-set"))
    };
    let serve = run_for(&["serve"], &vars("http://10.0.0.5/msi/token"), Duration::from_secs(5));
    assert_eq!(serve.code, 2, "serve must refuse to start:\n{}", serve.both());
    assert!(
        serve.stderr.contains("IDENTITY_ENDPOINT") && serve.stderr.contains("X-IDENTITY-HEADER"),
        "{}",
        serve.stderr
    );
    let doctor = run(&["doctor", "--offline"], &vars("http://example.com/msi/token"));
    assert_eq!(doctor.code, 1, "{}", doctor.both());
    assert!(doctor.stdout.starts_with("✗ IDENTITY_ENDPOINT: "), "{}", doctor.stdout);
    let link_local = run(&["doctor", "--offline"], &vars("http://169.254.129.2:8081/msi/token"));
    assert_eq!(link_local.code, 0, "App Service's endpoint:\n{}", link_local.both());
}
