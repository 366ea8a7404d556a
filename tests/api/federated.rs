//! Federated assertion sources against emulated platforms on loopback: an App Service identity
//! endpoint that checks what the real one checks, an STS that verifies the SigV4 signature by
//! recomputing it, and a projected token file that the "platform" rewrites. Every source hands
//! back an RS256 JWT signed by a test key, verified here against that key's JWKS. The platforms
//! live in `support/` (`app_service.rs`, `aws_sts.rs`, `kubernetes.rs`, `platform.rs`).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use entra_sso::idp::credential::aws::{AwsSts, DURATION_SECONDS};
use entra_sso::idp::credential::managed_identity::{ManagedIdentity, AUDIENCE_PUBLIC, AUDIENCE_US_GOV};
use entra_sso::idp::credential::workload_identity::WorkloadIdentity;
use entra_sso::idp::credential::{AssertionSource, CredentialError};
use entra_sso::tokens::secret::SecretString;

use crate::support::app_service::{
    self, mi_env, IdentityEndpoint, IDENTITY_HEADER, MI_ISSUER, MI_PRINCIPAL, USER_ASSIGNED,
};
use crate::support::aws_sts::{
    self, aws_env, iso8601, parse_amz_date, role, unix_of_iso, EmulatedSts, StsMode, AWS_ISSUER, REGION, ROLE_ARN,
};
use crate::support::kubernetes::{self, token_dir};
use crate::support::platform::{platform_token, verify};

// ---------------------------------------------------------------------------------------------
// Managed identity

#[tokio::test]
async fn managed_identity_system_and_user_assigned() {
    let (endpoint, running) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
    let url = format!("{}/msi/token", running.base);
    let authority = "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0";

    let system = ManagedIdentity::from_env(mi_env(&url, IDENTITY_HEADER), None, authority).unwrap();
    let a = system.fetch().await.unwrap();
    let claims = verify(&a, MI_ISSUER, AUDIENCE_PUBLIC);
    assert_eq!(claims["sub"], MI_PRINCIPAL);
    assert!(!endpoint.last_query.lock().unwrap().contains_key("client_id"));
    assert!(system.describe().contains(&url), "{}", system.describe());

    let user = ManagedIdentity::from_env(mi_env(&url, IDENTITY_HEADER), Some(USER_ASSIGNED.into()), authority).unwrap();
    let a = user.fetch().await.unwrap();
    assert_eq!(verify(&a, MI_ISSUER, AUDIENCE_PUBLIC)["sub"], format!("ua-{USER_ASSIGNED}"));
    assert_eq!(endpoint.last_query.lock().unwrap().get("client_id").map(String::as_str), Some(USER_ASSIGNED));
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn managed_identity_numeric_expiry_and_sovereign_audience() {
    let (_endpoint, running) = IdentityEndpoint::spawn(AUDIENCE_US_GOV, true).await;
    let url = format!("{}/msi/token", running.base);
    let source = ManagedIdentity::from_env(
        mi_env(&url, IDENTITY_HEADER),
        None,
        "https://login.microsoftonline.us/contoso.onmicrosoft.us/v2.0",
    )
    .unwrap();
    assert_eq!(source.resource(), AUDIENCE_US_GOV);
    verify(&source.fetch().await.unwrap(), MI_ISSUER, AUDIENCE_US_GOV);
    // The public-cloud audience is refused by an endpoint expecting another: the refusal says so.
    let public =
        ManagedIdentity::from_env(mi_env(&url, IDENTITY_HEADER), None, "https://login.microsoftonline.com/t/v2.0")
            .unwrap();
    let err = public.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Refused { status: 400, .. }), "{err}");
    assert!(err.to_string().contains("SSO_AUTHORITY"), "{err}");
}

#[tokio::test]
async fn managed_identity_wrong_header_names_the_fix() {
    let (endpoint, running) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
    let url = format!("{}/msi/token", running.base);
    let source =
        ManagedIdentity::from_env(mi_env(&url, "stale-header"), None, "https://login.microsoftonline.com/t/v2.0")
            .unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Refused { status: 401, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("IDENTITY_HEADER") && msg.contains("restart"), "{msg}");
    assert!(!msg.contains("stale-header"), "the header value never appears: {msg}");
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn managed_identity_unknown_client_id_names_the_fix() {
    let (_endpoint, running) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
    let url = format!("{}/msi/token", running.base);
    let unknown = "99999999-1234-4abc-9def-0123456789ab";
    let source = ManagedIdentity::from_env(
        mi_env(&url, IDENTITY_HEADER),
        Some(unknown.into()),
        "https://login.microsoftonline.com/t/v2.0",
    )
    .unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Refused { status: 400, .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("Identity not found") && msg.contains("SSO_MANAGED_IDENTITY_CLIENT_ID") && msg.contains(unknown),
        "{msg}"
    );
}

#[tokio::test]
async fn managed_identity_not_enabled_and_unreachable() {
    let err = ManagedIdentity::from_env(|_| None, None, "https://login.microsoftonline.com/t/v2.0").unwrap_err();
    assert!(err.to_string().starts_with("IDENTITY_ENDPOINT: not set: managed identity is not enabled"), "{err}");
    // Nothing listens on port 9 of loopback.
    let source =
        ManagedIdentity::new("http://127.0.0.1:9/msi/token", SecretString::new("h"), None, AUDIENCE_PUBLIC).unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Unreachable { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Workload identity

#[tokio::test]
async fn workload_identity_file_rewritten_between_fetches() {
    let dir = token_dir("rotate");
    let path = dir.join("azure-identity-token");
    let iss = "https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/";
    let sub = "system:serviceaccount:sso:entra-sso";
    let first = platform_token(iss, sub, AUDIENCE_PUBLIC, 3600);
    std::fs::write(&path, &first).unwrap();
    let source =
        WorkloadIdentity::from_env(|n| (n == "AZURE_FEDERATED_TOKEN_FILE").then(|| path.display().to_string()))
            .unwrap();
    let a = source.fetch().await.unwrap();
    assert_eq!(a.token.expose(), first);
    assert_eq!(verify(&a, iss, AUDIENCE_PUBLIC)["sub"], sub);

    // The platform rewrites the file (kubelet swaps a symlink; a plain rewrite here).
    std::thread::sleep(Duration::from_millis(1100));
    let second = platform_token(iss, sub, AUDIENCE_PUBLIC, 7200);
    std::fs::write(&path, format!("{second}\n")).unwrap();
    let b = source.fetch().await.unwrap();
    assert_eq!(b.token.expose(), second);
    assert!(b.expires_at > a.expires_at);
    verify(&b, iss, AUDIENCE_PUBLIC);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn workload_identity_unreadable_or_not_a_jwt() {
    let dir = token_dir("faults");
    let path = dir.join("token");
    let source = WorkloadIdentity::new(&path);

    let err = source.fetch().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CredentialError::Material { .. }), "{msg}");
    assert!(
        msg.contains("AZURE_FEDERATED_TOKEN_FILE") && msg.contains("no such file") && msg.contains("mounted"),
        "{msg}"
    );

    std::fs::write(&path, "{\"not\": \"a token\"}").unwrap();
    let msg = source.fetch().await.unwrap_err().to_string();
    assert!(msg.contains("does not hold a JWT") && !msg.contains("not\""), "{msg}");

    // Unreadable: a directory where the token should be (what a mis-mounted volume looks like,
    // and unreadable for root too, unlike a file without read permission).
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let msg = WorkloadIdentity::new(&path).fetch().await.unwrap_err().to_string();
    assert!(msg.contains("AZURE_FEDERATED_TOKEN_FILE") && msg.contains("mounted"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();

    let err = WorkloadIdentity::from_env(|_| None).unwrap_err();
    assert!(err.to_string().starts_with("AZURE_FEDERATED_TOKEN_FILE: not set"), "{err}");
}

#[tokio::test]
async fn aws_signed_request_yields_a_verifiable_token() {
    let (sts, running) = EmulatedSts::spawn(StsMode::Issue).await;
    let source = AwsSts::from_env(aws_env(&format!("{}/", running.base)), AUDIENCE_PUBLIC).unwrap();
    let before = entra_sso::support::time::now();
    let a = source.fetch().await.unwrap();
    let claims = verify(&a, AWS_ISSUER, AUDIENCE_PUBLIC);
    assert_eq!(claims["sub"], ROLE_ARN);
    let lifetime = a.expires_at - before;
    assert!((u64::from(DURATION_SECONDS) - 2..=u64::from(DURATION_SECONDS) + 2).contains(&lifetime), "{lifetime}");
    assert_eq!(sts.last_form.lock().unwrap().get("DurationSeconds").map(String::as_str), Some("900"));
    assert_eq!(sts.requests.load(Ordering::SeqCst), 1);
    // A second fetch signs afresh and is accepted again.
    source.fetch().await.unwrap();
    assert_eq!(sts.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn aws_wrong_secret_fails_the_signature_check() {
    let (_sts, running) = EmulatedSts::spawn(StsMode::Issue).await;
    let mut creds = role();
    creds.secret_access_key = SecretString::new("not-the-secret");
    let source = AwsSts::new(REGION, Some(&format!("{}/", running.base)), creds, AUDIENCE_PUBLIC).unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Refused { status: 403, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("SignatureDoesNotMatch") && msg.contains("AWS_SECRET_ACCESS_KEY"), "{msg}");
    assert!(!msg.contains("not-the-secret"), "{msg}");
    // A different region signs a scope the endpoint does not accept.
    let other = AwsSts::new("us-east-2", Some(&format!("{}/", running.base)), role(), AUDIENCE_PUBLIC).unwrap();
    assert!(other.fetch().await.unwrap_err().to_string().contains("credential scope"));
}

#[tokio::test]
async fn aws_error_answers_name_the_fix() {
    let (sts, running) = EmulatedSts::spawn(StsMode::AccessDenied).await;
    let source = AwsSts::new(REGION, Some(&format!("{}/", running.base)), role(), AUDIENCE_PUBLIC).unwrap();
    let msg = source.fetch().await.unwrap_err().to_string();
    assert!(
        msg.contains("AccessDenied") && msg.contains("sts:GetWebIdentityToken") && msg.contains("role's policy"),
        "{msg}"
    );

    *sts.mode.lock().unwrap() = StsMode::FederationDisabled;
    let err = source.fetch().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CredentialError::Refused { status: 403, .. }));
    assert!(msg.contains("account & region"), "entities are decoded: {msg}");
    assert!(msg.contains("enable-outbound-web-identity-federation"), "{msg}");
}

#[tokio::test]
async fn aws_non_sts_answers_and_missing_role() {
    // An identity endpoint is no STS: its answer is named as not an STS error answer.
    let (_mi, running) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
    let source = AwsSts::new(REGION, Some(&format!("{}/", running.base)), role(), AUDIENCE_PUBLIC).unwrap();
    let msg = source.fetch().await.unwrap_err().to_string();
    assert!(msg.contains("not an STS error answer") && msg.contains("SSO_AWS_STS_ENDPOINT"), "{msg}");

    let err = AwsSts::from_env(|n| (n == "AWS_REGION").then(|| REGION.to_owned()), AUDIENCE_PUBLIC).unwrap_err();
    assert!(err.to_string().starts_with("AWS_ACCESS_KEY_ID: not set"), "{err}");
    let err = AwsSts::new(REGION, Some("http://sts.example.com/"), role(), AUDIENCE_PUBLIC).unwrap_err();
    assert!(err.to_string().starts_with("SSO_AWS_STS_ENDPOINT"), "{err}");
}

#[test]
fn test_side_dates_agree() {
    assert_eq!(unix_of_iso("2026-12-01T17:30:00Z"), Some(1_796_146_200));
    assert_eq!(iso8601(1_796_146_200), "2026-12-01T17:30:00.000Z");
    assert_eq!(iso8601(1_709_208_000), "2024-02-29T12:00:00.000Z");
    assert_eq!(parse_amz_date("20261201T173000Z"), Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_146_200)));
}

// ---------------------------------------------------------------------------------------------
// End to end: each source signs a user in against the dev IdP, which trusts the platform issuer.

mod end_to_end {
    use entra_sso::Settings;

    use super::*;
    use crate::helpers::{sign_in_alice, TestSettings};
    use crate::support::platform::idp_trusting;

    fn settings(authority: &str, credential: &str, platform: &TestSettings) -> Settings {
        TestSettings::new()
            .with("SSO_AUTHORITY", authority)
            .without("SSO_CLIENT_SECRET")
            .with("SSO_CLIENT_CREDENTIAL", credential)
            .and(platform)
            .settings()
    }

    #[tokio::test]
    async fn managed_identity_signs_in() {
        let (_mi, mi_server) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
        let platform = app_service::env(&format!("{}/msi/token", mi_server.base), IDENTITY_HEADER);
        let idp = idp_trusting(MI_ISSUER, MI_PRINCIPAL, AUDIENCE_PUBLIC).await;
        let result = sign_in_alice(settings(&idp.authority, "managed-identity", &platform)).await;
        assert!(result.signed_in(), "{result:?}");

        // A federated credential for another subject: refused at the token endpoint.
        let idp = idp_trusting(MI_ISSUER, "someone-else", AUDIENCE_PUBLIC).await;
        let result = sign_in_alice(settings(&idp.authority, "managed-identity", &platform)).await;
        assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
    }

    #[tokio::test]
    async fn workload_identity_signs_in() {
        let dir = token_dir("e2e");
        let path = dir.join("token");
        let iss = "https://oidc.prod-aks.azure.com/e2e/";
        std::fs::write(&path, platform_token(iss, "system:serviceaccount:sso:app", AUDIENCE_PUBLIC, 3600)).unwrap();
        let platform = kubernetes::env(&path);
        let idp = idp_trusting(iss, "system:serviceaccount:sso:app", AUDIENCE_PUBLIC).await;
        let result = sign_in_alice(settings(&idp.authority, "workload-identity", &platform)).await;
        assert!(result.signed_in(), "{result:?}");

        // A token from another issuer is refused.
        let idp = idp_trusting("https://oidc.other.example/", "system:serviceaccount:sso:app", AUDIENCE_PUBLIC).await;
        let result = sign_in_alice(settings(&idp.authority, "workload-identity", &platform)).await;
        assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn aws_signs_in() {
        let (sts, sts_server) = EmulatedSts::spawn(StsMode::Issue).await;
        let platform = aws_sts::env(&format!("{}/", sts_server.base));
        let idp = idp_trusting(AWS_ISSUER, ROLE_ARN, AUDIENCE_PUBLIC).await;
        let result = sign_in_alice(settings(&idp.authority, "aws", &platform)).await;
        assert!(result.signed_in(), "{result:?}");
        assert!(sts.requests.load(Ordering::SeqCst) >= 1);

        // STS refuses (no permission): the callback fails as a token exchange failure.
        *sts.mode.lock().unwrap() = StsMode::AccessDenied;
        let idp = idp_trusting(AWS_ISSUER, ROLE_ARN, AUDIENCE_PUBLIC).await;
        let result = sign_in_alice(settings(&idp.authority, "aws", &platform)).await;
        assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
    }
}
