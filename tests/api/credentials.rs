//! Client credentials end to end against the dev identity provider: a certificate's PS256
//! assertion signs a user in; a wrong certificate, audience, client id, subject or issuer fails
//! the callback with `token_exchange_failed`, and the token endpoint's refusal carries the
//! AADSTS code and the likely fix into the operator's log detail. The federated path runs with
//! a test's own [`AssertionSource`] (the real sources are tested in `federated.rs`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use entra_sso::dev_idp::{AssertionTrust, DEV_TENANT};
use entra_sso::idp::credential::certificate::ClientCertificate;
use entra_sso::idp::credential::{Assertion, AssertionFuture, AssertionSource, ClientCredential, CredentialKind};
use entra_sso::idp::provider::{Provider, ProviderConfig, TokenError};
use entra_sso::tokens::secret::SecretString;
use entra_sso::Settings;
use rsa::pkcs8::EncodePrivateKey;

use crate::helpers::{
    error_code, free_port, me, post_form, sign_in, sign_in_alice, spawn_idp_trusting, spawn_with, Jar, KillOnDrop,
    Running, TestIdp, TestSettings, CLIENT_ID, REDIRECT_URI,
};
use crate::support::idp_fake::test_key;
use crate::support::platform::{self, impostor_token, platform_token};

const ISSUER: &str = "https://platform.example.test/issuer";
const SUBJECT: &str = "system:serviceaccount:sso:app";
const AUDIENCE: &str = "api://AzureADTokenExchange";

fn key_pem(n: usize) -> String {
    test_key(n).to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string()
}

/// A self-signed certificate (PEM) for key `n`, valid for a year.
fn cert_pem(n: usize) -> String {
    let der = test_key(n).to_pkcs8_der().unwrap().as_bytes().to_vec();
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(der),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::new(vec![format!("entra-sso-test-{n}.example")]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    params.self_signed(&pair).unwrap().pem()
}

/// A dev IdP for [`CLIENT_ID`] (no secret) that accepts the assertions `trust` describes.
async fn idp(trust: AssertionTrust) -> (String, Running) {
    let TestIdp { authority, _server, .. } = spawn_idp_trusting(trust).await;
    (authority, _server)
}

/// A dev IdP trusting the certificate of key `n`, read as `entra-sso dev-idp` reads it: from
/// `SSO_CLIENT_CERTIFICATE`, certificate only.
async fn idp_trusting_certificate(n: usize) -> (String, Running) {
    let pem = cert_pem(n);
    let trust = AssertionTrust::from_env(|name| (name == "SSO_CLIENT_CERTIFICATE").then(|| pem.clone())).unwrap();
    assert!(trust.certificate.is_some() && trust.federated.is_none());
    idp(trust).await
}

/// The shared client without a secret against `authority`, with `extra` variables on top.
fn settings(authority: &str, extra: &[(&str, &str)]) -> Settings {
    TestSettings::new().with("SSO_AUTHORITY", authority).without("SSO_CLIENT_SECRET").with_all(extra).settings()
}

/// Settings in certificate mode with key `n` and its certificate, as PEM text.
fn certificate_settings(authority: &str, n: usize) -> Settings {
    let pem = format!("{}{}", key_pem(n), cert_pem(n));
    settings(authority, &[("SSO_CLIENT_CREDENTIAL", "certificate"), ("SSO_CLIENT_CERTIFICATE", &pem)])
}

/// The error a redemption with `credential` gets from the IdP at `authority`: what the callback
/// writes into the operator's log detail.
async fn refusal(authority: &str, credential: ClientCredential) -> String {
    let mut config = ProviderConfig::from(&settings(authority, &[]));
    config.credential = credential;
    let provider = Provider::new(config);
    let verifier = SecretString::new("a-verifier-that-is-long-enough-for-pkce-0123456789");
    let err =
        provider.redeem("flow-1", entra_sso::support::time::now() + 600, "unknown-code", &verifier).await.unwrap_err();
    assert!(matches!(err, TokenError::Refused { .. }), "{err}");
    err.to_string()
}

fn token_endpoint(authority: &str) -> String {
    format!("{}/oauth2/v2.0/token", authority.trim_end_matches("/v2.0"))
}

#[tokio::test]
async fn certificate_signs_in_end_to_end() {
    let (authority, _idp) = idp_trusting_certificate(0).await;
    let result = sign_in_alice(certificate_settings(&authority, 0)).await;
    assert!(result.signed_in(), "{result:?}");
}

#[tokio::test]
async fn a_wrong_certificate_fails_with_700027_and_the_fix() {
    let (authority, _idp) = idp_trusting_certificate(0).await;
    let result = sign_in_alice(certificate_settings(&authority, 1)).await;
    assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
    let detail = refusal(&authority, certificate_settings(&authority, 1).credential).await;
    assert!(detail.contains("AADSTS700027"), "{detail}");
    assert!(detail.contains("upload SSO_CLIENT_CERTIFICATE's certificate"), "{detail}");
}

/// Hands out a fixed assertion (made by the test), counting fetches.
struct Fixed {
    token: String,
    fetches: AtomicU32,
}

impl AssertionSource for Fixed {
    fn fetch(&self) -> AssertionFuture<'_> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let assertion = Assertion::from_jwt(self.token.clone());
        Box::pin(async move { assertion })
    }
    fn describe(&self) -> String {
        "a test's fixed assertion".into()
    }
}

fn fixed(kind: CredentialKind, token: String) -> (ClientCredential, Arc<Fixed>) {
    let source = Arc::new(Fixed { token, fetches: AtomicU32::new(0) });
    (ClientCredential::federated(kind, source.clone()), source)
}

#[tokio::test]
async fn a_certificate_assertion_for_another_audience_or_client_fails_with_its_code() {
    let (authority, _idp) = idp_trusting_certificate(0).await;
    let pem = format!("{}{}", key_pem(0), cert_pem(0));
    let now = entra_sso::support::time::now();
    let ours = ClientCertificate::from_pem(pem.as_bytes(), CLIENT_ID, now).unwrap();
    let other_tenant = token_endpoint(&authority).replace(DEV_TENANT, "11111111-2222-4333-8444-555555555555");
    let wrong_aud = ours.sign(&other_tenant, now).unwrap().token.expose().to_owned();
    let (credential, _) = fixed(CredentialKind::Certificate, wrong_aud);
    let detail = refusal(&authority, credential.clone()).await;
    assert!(detail.contains("AADSTS700023") && detail.contains("SSO_TENANT_ID"), "{detail}");
    let mut s = settings(&authority, &[]);
    s.credential = credential;
    let result = sign_in_alice(s).await;
    assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");

    let theirs = ClientCertificate::from_pem(pem.as_bytes(), "another-client", now).unwrap();
    let wrong_client = theirs.sign(&token_endpoint(&authority), now).unwrap().token.expose().to_owned();
    let detail = refusal(&authority, fixed(CredentialKind::Certificate, wrong_client).0).await;
    assert!(detail.contains("AADSTS700021") && detail.contains("SSO_CLIENT_ID"), "{detail}");
}

#[tokio::test]
async fn no_credential_at_a_confidential_client_fails_with_7000218() {
    let (authority, _idp) = idp_trusting_certificate(0).await;
    let result = sign_in_alice(settings(&authority, &[])).await;
    assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
    let detail = refusal(&authority, ClientCredential::Public).await;
    assert!(detail.contains("AADSTS7000218") && detail.contains("SSO_CLIENT_CREDENTIAL"), "{detail}");
}

// -- Federated: a platform issuer whose RS256 tokens the dev IdP trusts. -----------------------

async fn idp_trusting_platform() -> (String, Running) {
    let TestIdp { authority, _server, .. } = platform::idp_trusting(ISSUER, SUBJECT, AUDIENCE).await;
    (authority, _server)
}

#[tokio::test]
async fn a_federated_assertion_signs_in_and_is_fetched_off_the_login_path() {
    let (authority, _idp) = idp_trusting_platform().await;
    let (credential, source) = fixed(CredentialKind::WorkloadIdentity, platform_token(ISSUER, SUBJECT, AUDIENCE, 3600));
    let mut s = settings(&authority, &[]);
    s.credential = credential;
    let app = spawn_with(s).await;
    let mut jar = Jar::default();
    // No prefetch: the login makes no outbound call, the callback fetches once.
    crate::helpers::login(&app.base, &mut jar, "/").await;
    assert_eq!(source.fetches.load(Ordering::SeqCst), 0, "login fetches nothing");
    let r = sign_in(&app.base, &app.base, &mut jar, "alice").await;
    assert!(matches!(r.status().as_u16(), 302 | 303), "{}", r.status());
    assert_eq!(me(&app.base, &mut jar).await.0, 200);
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    let r = sign_in(&app.base, &app.base, &mut Jar::default(), "bob").await;
    assert!(matches!(r.status().as_u16(), 302 | 303), "{}", r.status());
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "the second callback uses the cached assertion");

    // With prefetch, the assertion is fetched at start-up, before any callback.
    let (credential, source) = fixed(CredentialKind::Aws, platform_token(ISSUER, SUBJECT, AUDIENCE, 3600));
    let mut s = settings(&authority, &[]);
    s.credential = credential;
    let app = spawn_with(s).await;
    app.app.prefetch();
    for _ in 0..100 {
        if source.fetches.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "fetched in the background");
}

/// A platform that cannot be reached.
struct Down;

impl AssertionSource for Down {
    fn fetch(&self) -> AssertionFuture<'_> {
        Box::pin(async {
            Err(entra_sso::idp::credential::CredentialError::Unreachable {
                origin: "a test's identity endpoint".into(),
                reason: "connection refused".into(),
            })
        })
    }
    fn describe(&self) -> String {
        "a test's identity endpoint".into()
    }
}

#[tokio::test]
async fn an_unreachable_platform_fails_the_callback_as_a_token_exchange_failure() {
    let (authority, _idp) = idp_trusting_platform().await;
    let mut s = settings(&authority, &[]);
    s.credential = ClientCredential::federated(CredentialKind::ManagedIdentity, Arc::new(Down));
    let result = sign_in_alice(s.clone()).await;
    assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
    let provider = Provider::new(ProviderConfig::from(&s));
    let verifier = SecretString::new("a-verifier-that-is-long-enough-for-pkce-0123456789");
    let err = provider.redeem("flow-2", entra_sso::support::time::now() + 600, "code", &verifier).await.unwrap_err();
    assert!(matches!(err, TokenError::Credential(_)), "{err}");
    assert!(err.to_string().contains("a test's identity endpoint unreachable: connection refused"), "{err}");
}

#[tokio::test]
async fn a_federated_mismatch_fails_with_its_code_and_the_fix() {
    let (authority, _idp) = idp_trusting_platform().await;
    for (token, code, words) in [
        (platform_token(ISSUER, "system:serviceaccount:other:app", AUDIENCE, 3600), "AADSTS700213", "subject"),
        (platform_token("https://other.example.test/", SUBJECT, AUDIENCE, 3600), "AADSTS700211", "issuer"),
        (platform_token(ISSUER, SUBJECT, "api://something-else", 3600), "AADSTS700212", "api://AzureADTokenExchange"),
        (impostor_token(ISSUER, SUBJECT, AUDIENCE), "AADSTS700027", "issuer URL"),
    ] {
        let (credential, _) = fixed(CredentialKind::ManagedIdentity, token);
        let mut s = settings(&authority, &[]);
        s.credential = credential.clone();
        let result = sign_in_alice(s).await;
        assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{code}: {result:?}");
        let detail = refusal(&authority, credential).await;
        assert!(detail.contains(code) && detail.contains(words), "{code}: {detail}");
        if code != "AADSTS700027" {
            assert!(detail.contains("propagating"), "{code}: {detail}");
        }
    }
}

#[tokio::test]
async fn the_dev_idp_answers_aadsts_errors_for_malformed_assertions() {
    let (authority, _idp) = idp_trusting_certificate(0).await;
    let post = |form: Vec<(&'static str, String)>| {
        let url = token_endpoint(&authority);
        async move {
            let (status, body) = post_form(&url, &form).await;
            (status, body["error_codes"][0].as_u64().unwrap_or(0))
        }
    };
    let base = |assertion: &str, kind: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("code", "x".to_owned()),
            ("client_assertion_type", kind.to_owned()),
            ("client_assertion", assertion.to_owned()),
        ]
    };
    let jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    assert_eq!(post(base("not-a-jwt", jwt_bearer)).await, (400, 50027));
    assert_eq!(post(base("a.b.c", jwt_bearer)).await, (400, 50027));
    assert_eq!(post(base("a.b.c", "urn:other")).await, (400, 7000219));
    // A federated token where no federated credential is configured.
    let token = platform_token(ISSUER, SUBJECT, AUDIENCE, 3600);
    assert_eq!(post(base(&token, jwt_bearer)).await, (401, 700211));
    // An expired certificate assertion.
    let pem = format!("{}{}", key_pem(0), cert_pem(0));
    let old = entra_sso::support::time::now() - 3600;
    let cert = ClientCertificate::from_pem(pem.as_bytes(), CLIENT_ID, entra_sso::support::time::now()).unwrap();
    let stale = cert.sign(&token_endpoint(&authority), old).unwrap();
    assert_eq!(post(base(stale.token.expose(), jwt_bearer)).await, (401, 700024));
    // A valid assertion reaches the code check.
    let fresh = cert.sign(&token_endpoint(&authority), entra_sso::support::time::now()).unwrap();
    assert_eq!(post(base(fresh.token.expose(), jwt_bearer)).await, (400, 70000));
}

// -- The binaries: `entra-sso dev-idp` reads SSO_CLIENT_CERTIFICATE, `entra-sso serve` signs. ---

fn binary(args: &[&str], vars: &TestSettings) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_entra-sso"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("SSO_LOG_FORMAT", "json")
        .envs(vars.vars())
        .stdin(std::process::Stdio::null());
    c
}

async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {port}");
}

/// `entra-sso serve` in certificate mode with the PEM file at `pem`, against `authority`; its
/// log is returned once `run` is done and the process stopped.
async fn serve_with_certificate<F, Fut>(authority: &str, pem: &std::path::Path, run: F) -> String
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let port = free_port();
    let vars = TestSettings::new()
        .with("SSO_AUTHORITY", authority)
        .without("SSO_CLIENT_SECRET")
        .with("SSO_CLIENT_CREDENTIAL", "certificate")
        .with("SSO_CLIENT_CERTIFICATE", pem.display().to_string())
        .with("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string());
    let child = binary(&["serve"], &vars)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let output = crate::support::binary::Collected::from(&mut child.0);
    wait_for_port(port).await;
    run(format!("http://127.0.0.1:{port}")).await;
    drop(child);
    output.finish()
}

#[tokio::test]
async fn the_binaries_sign_in_with_a_certificate_and_log_the_fix_for_a_wrong_one() {
    let dir = std::env::temp_dir().join(format!("entra-sso-cred-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (good, wrong) = (dir.join("good.pem"), dir.join("wrong.pem"));
    std::fs::write(&good, format!("{}{}", key_pem(0), cert_pem(0))).unwrap();
    std::fs::write(&wrong, format!("{}{}", key_pem(1), cert_pem(1))).unwrap();

    // The dev IdP is given the whole PEM, as the handler is, and uses only its certificate.
    let idp_port = free_port();
    let _idp = KillOnDrop(
        binary(
            &["dev-idp", "--port", &idp_port.to_string()],
            &TestSettings::empty()
                .with("SSO_CLIENT_ID", CLIENT_ID)
                .with("SSO_REDIRECT_URI", REDIRECT_URI)
                .with("SSO_CLIENT_CERTIFICATE", good.display().to_string()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    wait_for_port(idp_port).await;
    let authority = format!("http://127.0.0.1:{idp_port}/{DEV_TENANT}/v2.0");

    let log = serve_with_certificate(&authority, &good, |base| async move {
        let mut jar = Jar::default();
        let r = sign_in(&base, &base, &mut jar, "alice").await;
        assert!(matches!(r.status().as_u16(), 302 | 303), "{}", r.status());
        assert_eq!(me(&base, &mut jar).await.0, 200);
    })
    .await;
    assert!(log.contains("signed in"), "{log}");

    let log = serve_with_certificate(&authority, &wrong, |base| async move {
        let r = sign_in(&base, &base, &mut Jar::default(), "alice").await;
        assert_eq!(error_code(r).await, (502, "token_exchange_failed".to_owned()));
    })
    .await;
    assert!(log.contains("AADSTS700027"), "{log}");
    assert!(log.contains("upload SSO_CLIENT_CERTIFICATE's certificate"), "{log}");
    // Neither the assertion (its header `{"alg":"PS256",…` in base64url) nor the key is logged.
    assert!(!log.contains("eyJhbGciOiJQUzI1NiIs") && !log.contains("PRIVATE KEY"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}
