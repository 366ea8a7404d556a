//! `entra-sso doctor`, the real binary, on a good configuration against the dev identity provider
//! and on each broken one: the lines it prints and its exit status.

use crate::helpers::{
    post_form, spawn_idp, TestSettings, CLIENT_ID, CLIENT_SECRET, FIVE_FAULTY, FIVE_FAULTY_NAMED, REDIRECT_URI,
    SECRET_A,
};
use crate::support::binary::{run_for, Run};

impl Run {
    /// The line about `subject`, failing the test when there is none.
    fn line(&self, subject: &str) -> &str {
        let prefix = format!("{subject}:");
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| l.split_once(' ').is_some_and(|(_, rest)| rest.starts_with(&prefix)))
            .collect();
        assert_eq!(lines.len(), 1, "one line about {subject} in:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        lines[0]
    }

    fn marks(&self, mark: char) -> usize {
        self.stdout.lines().filter(|l| l.starts_with(mark)).count()
    }
}

/// Runs `entra-sso doctor` with `args` and exactly the variables `vars` (no others inherited).
async fn doctor(args: &[&str], vars: &TestSettings) -> Run {
    let args: Vec<String> = ["doctor"].iter().chain(args).map(|a| a.to_string()).collect();
    let vars = vars.clone();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_for(&args, &vars, std::time::Duration::from_secs(30))
    })
    .await
    .unwrap()
}

/// A good configuration against `authority`, with `extra` replacing or adding variables.
fn config(authority: &str, extra: &[(&str, &str)]) -> TestSettings {
    TestSettings::new().with("SSO_AUTHORITY", authority).with_all(extra)
}

/// A configuration against `authority` in certificate mode with the PEM file at `pem`.
fn certificate_config(authority: &str, pem: &str) -> TestSettings {
    config(authority, &[("SSO_CLIENT_CREDENTIAL", "certificate"), ("SSO_CLIENT_CERTIFICATE", pem)])
        .without("SSO_CLIENT_SECRET")
}

/// An Entra authority for offline runs with a public redirect URI, which a loopback authority
/// may not have (`config::tests::a_loopback_authority_is_refused_behind_a_public_redirect_uri`).
const ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/v2.0";

/// An authority nothing listens at.
async fn dead_authority() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/00000000-de00-4000-8000-00000000de00/v2.0")
}

#[tokio::test]
async fn a_good_configuration_passes_every_check_against_the_dev_idp() {
    let idp = spawn_idp().await;
    let run = doctor(&[], &config(&idp.authority, &[])).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.marks('✗'), 0, "{}", run.stdout);
    assert!(run.line("settings").starts_with(&format!("✓ settings: client {CLIENT_ID} at {}", idp.authority)));
    assert!(run.line("SSO_SECRET").starts_with("✓ SSO_SECRET: one signing secret of 32 random bytes"));
    assert!(run.line("SSO_REDIRECT_URI").starts_with(&format!("✓ SSO_REDIRECT_URI: {REDIRECT_URI}")));
    assert_eq!(
        run.line("SSO_COOKIE_DOMAIN"),
        "✓ SSO_COOKIE_DOMAIN: unset: the session cookie is host-only on app.example.test"
    );
    assert_eq!(run.line("credential"), "✓ credential: client secret (SSO_CLIENT_SECRET)");
    assert!(run.line("discovery").starts_with(&format!("✓ discovery: issuer {}, 1 signing key", idp.authority)));
    assert!(run.line("clock").starts_with("✓ clock: within 60 s of the provider's"), "{}", run.stdout);
    assert_eq!(
        run.line("client credential"),
        format!("✓ client credential: the provider accepted it (a token for {CLIENT_ID}/.default)")
    );
    assert!(!run.stdout.contains(CLIENT_SECRET) && !run.stderr.contains(CLIENT_SECRET), "the secret never shows");
    assert!(!run.stdout.contains(SECRET_A) && !run.stderr.contains(SECRET_A));
}

#[tokio::test]
async fn offline_skips_the_provider_and_passes_without_one() {
    let authority = dead_authority().await;
    let run = doctor(&["--offline"], &config(&authority, &[])).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.line("online checks").starts_with("! online checks: skipped (--offline)"));
    assert!(!run.stdout.contains("discovery:") && !run.stdout.contains("client credential:"), "{}", run.stdout);
}

#[tokio::test]
async fn every_faulty_setting_gets_its_own_line_with_the_fix() {
    let authority = dead_authority().await;
    let weak = "CompanyName-SSO-Secret-Prod-2025!";
    let run = doctor(&[], &config(&authority, &[("SSO_SECRET", weak)]).without("SSO_CLIENT_ID")).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.line("SSO_CLIENT_ID"),
        "✗ SSO_CLIENT_ID: required: the app registration's client id — copy the Application (client) ID from \
         the app registration's Overview page"
    );
    let secret = run.line("SSO_SECRET");
    assert!(secret.starts_with("✗ SSO_SECRET: entry 1 "), "{secret}");
    assert!(secret.ends_with(" — generate one with `entra-sso keygen` (or `openssl rand -base64 32`)"), "{secret}");
    assert!(!run.stdout.contains(weak), "the value is never echoed");
    assert_eq!(run.marks('✗'), 2, "{}", run.stdout);
    assert!(!run.stdout.contains("discovery:"), "no online checks on a refused configuration");
    assert!(run.stderr.contains("entra-sso doctor: 2 checks failed"), "{}", run.stderr);
}

#[tokio::test]
async fn five_faulty_settings_are_five_lines() {
    let mut extra = vec![("SSO_AUTHORITY", "")];
    extra.extend_from_slice(FIVE_FAULTY);
    let run = doctor(&["--offline"], &config(ENTRA_AUTHORITY, &extra)).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let failed: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('✗')).collect();
    let named: Vec<&str> =
        failed.iter().map(|l| l.trim_start_matches("✗ ").split_once(':').map_or("", |(v, _)| v)).collect();
    assert_eq!(named, FIVE_FAULTY_NAMED, "{}", run.stdout);
    assert!(failed.iter().all(|l| l.contains(" — ")), "each with its fix:\n{}", run.stdout);
    assert_eq!(run.stdout.lines().count(), 5, "nothing else is checked:\n{}", run.stdout);
    assert!(!run.stdout.contains("tooshort-secret-value"), "the value is never echoed");
    assert!(run.stderr.contains("entra-sso doctor: 5 checks failed"), "{}", run.stderr);
}

#[tokio::test]
async fn each_credential_setting_of_another_kind_gets_its_line() {
    let vars = config(
        ENTRA_AUTHORITY,
        &[
            ("SSO_CLIENT_CREDENTIAL", "workload-identity"),
            ("SSO_CLIENT_CERTIFICATE", "/nonexistent/entra-sso/client.pem"),
            ("SSO_MANAGED_IDENTITY_CLIENT_ID", "7f3c0000-0000-4000-8000-000000000001"),
        ],
    );
    let run = doctor(&["--offline"], &vars).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.line("SSO_CLIENT_SECRET").contains("defeats a secretless credential"), "{}", run.stdout);
    assert!(run.line("SSO_CLIENT_CERTIFICATE").contains("SSO_CLIENT_CREDENTIAL=certificate"), "{}", run.stdout);
    assert!(run.line("SSO_MANAGED_IDENTITY_CLIENT_ID").starts_with("✗ "), "{}", run.stdout);
    assert!(run.line("AZURE_FEDERATED_TOKEN_FILE").starts_with("✗ "), "the kind's own fault: {}", run.stdout);
    assert_eq!(run.marks('✗'), 4, "{}", run.stdout);
}

#[tokio::test]
async fn a_faulty_redirect_uri_leaves_the_cookie_domain_checked_alone() {
    let bad = ("SSO_REDIRECT_URI", "https://app.example.com/api/callback#x");
    // Not comparable with the redirect URI's host: nothing said.
    let run = doctor(&["--offline"], &config(ENTRA_AUTHORITY, &[bad, ("SSO_COOKIE_DOMAIN", "other.com")])).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.line("SSO_REDIRECT_URI").starts_with("✗ "), "{}", run.stdout);
    assert!(!run.stdout.contains("SSO_COOKIE_DOMAIN"), "{}", run.stdout);
    // A public suffix is one whatever the host.
    let run = doctor(&["--offline"], &config(ENTRA_AUTHORITY, &[bad, ("SSO_COOKIE_DOMAIN", "co.uk")])).await;
    assert!(run.line("SSO_COOKIE_DOMAIN").starts_with("✗ SSO_COOKIE_DOMAIN: `co.uk` is a public suffix"));
    assert_eq!(run.marks('✗'), 2, "{}", run.stdout);
}

#[tokio::test]
async fn plain_http_redirect_on_a_public_host_fails() {
    let authority = dead_authority().await;
    let run =
        doctor(&["--offline"], &config(&authority, &[("SSO_REDIRECT_URI", "http://app.example.com/api/callback")]))
            .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.line("SSO_REDIRECT_URI");
    assert!(line.starts_with("✗ SSO_REDIRECT_URI: http:// is accepted only for loopback hosts"), "{line}");
    assert!(line.contains(" — "), "{line}");

    let run =
        doctor(&["--offline"], &config(ENTRA_AUTHORITY, &[("SSO_REDIRECT_URI", "https://app.example.com/callback")]))
            .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.line("SSO_REDIRECT_URI").contains("does not end with /api/callback"), "{}", run.stdout);

    let run =
        doctor(&["--offline"], &config(&authority, &[("SSO_REDIRECT_URI", "http://localhost:7071/api/callback")]))
            .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run
        .line("SSO_REDIRECT_URI")
        .starts_with("! SSO_REDIRECT_URI: http://localhost:7071/api/callback is plain http"));
}

#[tokio::test]
async fn a_public_suffix_cookie_domain_fails() {
    let vars = config(
        ENTRA_AUTHORITY,
        &[
            ("SSO_REDIRECT_URI", "https://my-app.azurewebsites.net/api/callback"),
            ("SSO_COOKIE_DOMAIN", "azurewebsites.net"),
        ],
    );
    let run = doctor(&["--offline"], &vars).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.line("SSO_COOKIE_DOMAIN");
    assert!(line.starts_with("✗ SSO_COOKIE_DOMAIN: `azurewebsites.net` is a public suffix"), "{line}");
    assert!(line.contains(" — put the apps on a domain you own"), "{line}");

    let vars = config(
        ENTRA_AUTHORITY,
        &[("SSO_REDIRECT_URI", "https://sso.example.com/api/callback"), ("SSO_COOKIE_DOMAIN", "example.com")],
    );
    let run = doctor(&["--offline"], &vars).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.line("SSO_COOKIE_DOMAIN").contains("shared with example.com and every subdomain"));
}

#[tokio::test]
async fn a_cookie_domain_below_its_registrable_domain_warns_of_cookie_tossing() {
    let vars = config(
        ENTRA_AUTHORITY,
        &[
            ("SSO_REDIRECT_URI", "https://login.apps.contoso.com/api/callback"),
            ("SSO_COOKIE_DOMAIN", "apps.contoso.com"),
        ],
    );
    let run = doctor(&["--offline"], &vars).await;
    assert_eq!(run.code, 0, "a warning, not a failure:\n{}", run.stdout);
    let line = run.line("SSO_COOKIE_DOMAIN");
    assert!(line.starts_with("! SSO_COOKIE_DOMAIN: apps.contoso.com: "), "{line}");
    assert!(line.contains("every host of contoso.com can plant"), "names the risk: {line}");
    assert!(line.contains(" — "), "{line}");

    // At the registrable domain every host receives the cookie anyway: nothing more to say.
    let vars = config(
        ENTRA_AUTHORITY,
        &[("SSO_REDIRECT_URI", "https://login.contoso.com/api/callback"), ("SSO_COOKIE_DOMAIN", "contoso.com")],
    );
    let run = doctor(&["--offline"], &vars).await;
    assert!(run.line("SSO_COOKIE_DOMAIN").starts_with("✓ SSO_COOKIE_DOMAIN: contoso.com"), "{}", run.stdout);
}

#[tokio::test]
async fn a_cookie_domain_in_a_shared_cloud_zone_fails() {
    let authority = dead_authority().await;
    for (host, domain, zone) in [
        ("myendpoint-mdjf2jfgjf82mnzx.z01.azurefd.net", "z01.azurefd.net", "azurefd.net"),
        ("myvm.westeurope.cloudapp.azure.com", "westeurope.cloudapp.azure.com", "cloudapp.azure.com"),
    ] {
        let redirect = format!("https://{host}/api/callback");
        let vars = config(&authority, &[("SSO_REDIRECT_URI", &redirect), ("SSO_COOKIE_DOMAIN", domain)]);
        let run = doctor(&["--offline"], &vars).await;
        assert_eq!(run.code, 1, "{}", run.stdout);
        let line = run.line("SSO_COOKIE_DOMAIN");
        assert!(line.starts_with(&format!("✗ SSO_COOKIE_DOMAIN: `{domain}` ")), "{line}");
        assert!(line.contains(&format!("`*.{zone}`")) && line.contains("other customers"), "{line}");
        assert!(line.contains(" — put the apps on a custom domain"), "{line}");
    }
}

#[tokio::test]
async fn a_cookie_domain_on_a_default_cloud_host_name_warns() {
    let host = "myapp.happyhill-70162bb9.canadacentral.azurecontainerapps.io";
    let redirect = format!("https://{host}/api/callback");
    let run = doctor(
        &["--offline"],
        &config(ENTRA_AUTHORITY, &[("SSO_REDIRECT_URI", &redirect), ("SSO_COOKIE_DOMAIN", host)]),
    )
    .await;
    assert_eq!(run.code, 0, "a warning, not a failure:\n{}", run.stdout);
    let line = run.line("SSO_COOKIE_DOMAIN");
    assert!(line.starts_with(&format!("! SSO_COOKIE_DOMAIN: {host}: ")), "{line}");
    assert!(line.contains("`*.azurecontainerapps.io`") && line.contains("leave SSO_COOKIE_DOMAIN unset"), "{line}");
    // The settings' own warning, which start-up logs
    // (`startup::start_up_logs_each_warning_of_the_settings_once`): doctor lists it, and logs nothing.
    assert_eq!(run.stderr, "", "{}", run.stderr);
}

#[tokio::test]
async fn every_tenant_admitted_is_one_warning_line() {
    let vars = config(ENTRA_AUTHORITY, &[("SSO_ALLOWED_TENANTS", "*")]);
    let run = doctor(&["--offline"], &vars).await;
    assert_eq!(run.code, 0, "a warning, not a failure:\n{}", run.stdout);
    assert_eq!(
        run.line("SSO_ALLOWED_TENANTS"),
        "! SSO_ALLOWED_TENANTS: `*`: users of every Entra tenant can sign in — list the tenant ids that may sign \
         in, unless anyone with a work account is welcome"
    );
    assert_eq!(run.stderr, "", "listed, not logged: {}", run.stderr);
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_with_its_aadsts_code() {
    let idp = spawn_idp().await;
    let run = doctor(&[], &config(&idp.authority, &[("SSO_CLIENT_SECRET", "not-the-secret-value")])).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.line("discovery").starts_with("✓"), "the provider itself is fine");
    let line = run.line("client credential");
    assert!(
        line.starts_with("✗ client credential: refused: AADSTS7000215 invalid_client: Invalid client secret provided."),
        "{line}"
    );
    let fix = line.split_once(" — ").map(|(_, fix)| fix).unwrap_or_default();
    assert!(fix.contains("SSO_CLIENT_SECRET") && fix.contains("Secret ID"), "{line}");
    assert!(!run.stdout.contains("not-the-secret-value"));

    // A secret's ID pasted for its value is caught offline.
    let id = "3f2b1c4d-0000-4000-8000-0123456789ab";
    let run = doctor(&["--offline"], &config(&idp.authority, &[("SSO_CLIENT_SECRET", id)])).await;
    assert_eq!(run.code, 1);
    assert!(run.line("credential").starts_with("✗ credential: SSO_CLIENT_SECRET looks like a secret's ID"));
}

#[tokio::test]
async fn an_unreachable_authority_fails_discovery_and_stops_there() {
    let authority = dead_authority().await;
    let run = doctor(&[], &config(&authority, &[])).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let line = run.line("discovery");
    assert!(line.starts_with(&format!("✗ discovery: {authority} unreachable: connection failed")), "{line}");
    assert!(line.contains(" — check SSO_TENANT_ID / SSO_AUTHORITY"), "{line}");
    assert!(!run.stdout.contains("client credential:"), "{}", run.stdout);
    assert_eq!(run.marks('✗'), 1);
}

#[tokio::test]
async fn an_authority_the_provider_does_not_publish_fails_discovery() {
    let idp = spawn_idp().await;
    // The dev IdP answers only for its own tenant.
    let other = idp.authority.replace("00000000-de00-4000-8000-00000000de00", "11111111-de00-4000-8000-00000000de00");
    let run = doctor(&[], &config(&other, &[])).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.line("discovery").starts_with("✗ discovery: ") && run.line("discovery").contains("HTTP 404"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let run = doctor(&["--online"], &TestSettings::empty()).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("doctor takes only --offline"), "{}", run.stderr);
}

#[tokio::test]
async fn the_dev_idp_grants_client_credentials_for_the_app_itself_and_graph_only() {
    let idp = spawn_idp().await;
    let token = format!("{}/oauth2/v2.0/token", idp.authority.trim_end_matches("/v2.0"));
    let post = |form: Vec<(&'static str, String)>| {
        let token = token.clone();
        async move { post_form(&token, &form).await }
    };
    let form = |scope: &str, secret: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
            ("scope", scope.to_owned()),
        ]
    };
    let (status, body) = post(form(&format!("{CLIENT_ID}/.default"), CLIENT_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() > 20));
    assert!(body.get("id_token").is_none(), "no user, no ID token");
    let (status, _) = post(form(&format!("api://{CLIENT_ID}/.default"), CLIENT_SECRET)).await;
    assert_eq!(status, 200);
    let (status, body) = post(form(&format!("{CLIENT_ID}/.default"), "wrong")).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(7_000_215)));
    let (status, body) = post(form("openid profile", CLIENT_SECRET)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body) = post(form("https://vault.azure.net/.default", CLIENT_SECRET)).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(500_011)));
    // Graph, for the groups overage lookup: a token Graph's emulation takes.
    let (status, body) = post(form("https://graph.microsoft.com/.default", CLIENT_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() > 20));
}

/// A self-signed certificate and its key in one PEM file, valid for `days`, made by `openssl`.
fn certificate_pem(name: &str, days: u32) -> std::path::PathBuf {
    let dir =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("doctor-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=doctor-test", "-days", &days.to_string()])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let pem = dir.join("client.pem");
    let both = [std::fs::read(&key).unwrap(), std::fs::read(&cert).unwrap()].concat();
    std::fs::write(&pem, both).unwrap();
    pem
}

#[tokio::test]
async fn certificate_material_is_read_and_its_expiry_reported() {
    let authority = dead_authority().await;
    let cert = |path: &std::path::Path| path.to_str().unwrap().to_owned();
    let long = cert(&certificate_pem("long", 400));
    let run = doctor(&["--offline"], &certificate_config(&authority, &long)).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let line = run.line("credential");
    assert!(line.starts_with("✓ credential: certificate ") && line.contains("CN=doctor-test"), "{line}");
    assert!(line.ends_with("; 399 days left") || line.ends_with("; 400 days left"), "{line}");

    let short = cert(&certificate_pem("short", 10));
    let run = doctor(&["--offline"], &certificate_config(&authority, &short)).await;
    assert_eq!(run.code, 0, "a warning only: {}", run.stdout);
    let line = run.line("credential");
    assert!(
        line.starts_with("! credential: certificate ")
            && line.contains(" days left — create a new certificate, upload it"),
        "{line}"
    );
}

#[tokio::test]
async fn an_unreadable_certificate_fails_with_the_setting_named() {
    let authority = dead_authority().await;
    let vars = certificate_config(&authority, "/nonexistent/entra-sso/client.pem").with("SSO_SECRET", "too-short");
    let run = doctor(&["--offline"], &vars).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run.line("SSO_CLIENT_CERTIFICATE");
    assert!(line.starts_with("✗ SSO_CLIENT_CERTIFICATE: ") && line.contains(" — "), "{line}");
    // The settings after the credential are still checked.
    assert!(run.line("SSO_SECRET").starts_with("✗ SSO_SECRET: "), "{}", run.stdout);
}

#[tokio::test]
async fn a_federated_mode_without_its_platform_variables_fails() {
    let authority = dead_authority().await;
    let vars = config(&authority, &[("SSO_CLIENT_CREDENTIAL", "managed-identity")]).without("SSO_CLIENT_SECRET");
    let run = doctor(&["--offline"], &vars).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.marks('✗'), 1, "{}", run.stdout);
    assert!(run.stdout.starts_with("✗ IDENTITY_ENDPOINT: "), "{}", run.stdout);

    let vars = config(&authority, &[("SSO_CLIENT_CREDENTIAL", "workload-identity")]).without("SSO_CLIENT_SECRET");
    let run = doctor(&["--offline"], &vars).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.starts_with("✗ AZURE_FEDERATED_TOKEN_FILE: "), "{}", run.stdout);
}

/// A dev identity provider that accepts assertions of the certificate in `pem` (and no secret).
async fn spawn_idp_trusting(pem: &std::path::Path) -> crate::helpers::TestIdp {
    let pem = pem.to_str().unwrap().to_owned();
    let trust =
        entra_sso::dev_idp::AssertionTrust::from_env(|name| (name == "SSO_CLIENT_CERTIFICATE").then(|| pem.clone()));
    crate::helpers::spawn_idp_trusting(trust.unwrap()).await
}

#[tokio::test]
async fn a_certificate_is_proved_and_an_unregistered_one_refused_with_its_aadsts_code() {
    let registered = certificate_pem("registered", 90);
    let other = certificate_pem("unregistered", 90);
    let idp = spawn_idp_trusting(&registered).await;
    let vars = |pem: &std::path::Path| certificate_config(&idp.authority, pem.to_str().unwrap());
    let run = doctor(&[], &vars(&registered)).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.line("client credential").starts_with("✓ client credential: the provider accepted it"));

    let run = doctor(&[], &vars(&other)).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let line = run.line("client credential");
    assert!(line.starts_with("✗ client credential: refused: AADSTS700027 invalid_client"), "{line}");
    assert!(line.contains(" — ") && line.contains("certificate"), "{line}");
    let key = std::fs::read_to_string(&other).unwrap();
    let key_body = key.lines().nth(1).unwrap();
    assert!(!run.stdout.contains(key_body) && !run.stderr.contains(key_body), "the key never shows");
}

#[tokio::test]
async fn with_a_group_rule_one_graph_call_proves_the_permission() {
    let idp = spawn_idp().await;
    let group = entra_sso::dev_idp::users::many_group(3);
    let run = doctor(&[], &config(&idp.authority, &[("SSO_ALLOWED_GROUPS", &group)])).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.line("Microsoft Graph"), format!("✓ Microsoft Graph: the app may read groups (group {group} read)"));
    let run = doctor(&[], &config(&idp.authority, &[])).await;
    assert!(!run.stdout.contains("Microsoft Graph"), "no group rule, no Graph check:\n{}", run.stdout);
}
