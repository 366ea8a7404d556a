//! ID-token validation through the real callback: every forged or mis-addressed token is
//! refused with `id_token_invalid`, and the honest one signs in. Also: login makes no call to
//! an Entra-shaped provider.

use std::sync::atomic::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPublicKey;
use serde_json::Value;

use crate::helpers::*;
use crate::support::idp_fake::*;

/// Runs a callback whose token endpoint answers with `token`; returns (status, code).
async fn finish(app: &TestApp, idp: &FakeIdp, jar: &mut Jar, state: &str, token: String) -> (u16, String) {
    idp.set_id_token(token);
    let cb = format!("https://app.example.test/api/callback?code=fake.code-1&state={state}");
    let r = app.callback(jar, &cb).await;
    if r.status() == 302 {
        return (302, String::new());
    }
    error_code(r).await
}

async fn case(mutate: impl FnOnce(&FakeIdp, &mut Value, &str) -> Option<String>) -> (u16, String) {
    let (idp, _server) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await;
    let Flow { mut jar, state, nonce } = start(&app).await;
    let mut claims = idp.claims(&nonce);
    let token = mutate(&idp, &mut claims, &nonce).unwrap_or_else(|| sign_rs256(test_key(0), "k0", &claims));
    finish(&app, &idp, &mut jar, &state, token).await
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn honest_token_signs_in() {
    assert_eq!(case(|_, _, _| None).await, (302, String::new()));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let r =
        case(|_, c, _| Some(format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "kid": "k0"})), b64(c)))).await;
    assert_eq!(r, (401, "id_token_invalid".into()));
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let r = case(|_, c, _| {
        let public_pem = test_key(0).to_public_key().to_pkcs1_pem(Default::default()).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k0".into());
        Some(jsonwebtoken::encode(&header, c, &EncodingKey::from_secret(public_pem.as_bytes())).unwrap())
    })
    .await;
    assert_eq!(r, (401, "id_token_invalid".into()));
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let r = case(|_, c, _| {
        c["iss"] = format!("https://login.microsoftonline.com/{TENANT}/v2.0").into();
        None
    })
    .await;
    assert_eq!(r, (401, "id_token_invalid".into()));
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let r = case(|_, c, _| {
        c["aud"] = "00000000-0000-0000-0000-000000000000".into();
        None
    })
    .await;
    assert_eq!(r, (401, "id_token_invalid".into()));
}

#[tokio::test]
async fn wrong_or_missing_nonce_is_refused() {
    let r = case(|_, c, _| {
        c["nonce"] = "another-flows-nonce".into();
        None
    })
    .await;
    assert_eq!(r, (401, "id_token_invalid".into()));
    let r = case(|_, c, _| {
        c.as_object_mut().unwrap().remove("nonce");
        None
    })
    .await;
    assert_eq!(r, (401, "id_token_invalid".into()));
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let now = entra_sso::support::time::now();
    let r = case(|_, c, _| {
        c["exp"] = (now - 301).into();
        c["iat"] = (now - 4000).into();
        c["nbf"] = (now - 4000).into();
        None
    })
    .await;
    assert_eq!(r, (401, "id_token_invalid".into()));
    let r = case(|_, c, _| {
        c["nbf"] = (now + 600).into();
        None
    })
    .await;
    assert_eq!(r, (401, "id_token_invalid".into()));
}

#[tokio::test]
async fn kid_not_in_the_jwks_is_refused_after_one_refetch() {
    let (idp, _server) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await;
    app.app.prefetch();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while idp.jwks_requests.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(idp.jwks_requests.load(Ordering::SeqCst), 1, "the keys are prefetched once");
    let Flow { mut jar, state, nonce } = start(&app).await;
    let token = sign_rs256(test_key(1), "unknown-kid", &idp.claims(&nonce));
    assert_eq!(finish(&app, &idp, &mut jar, &state, token).await, (401, "id_token_invalid".into()));
    assert_eq!(idp.jwks_requests.load(Ordering::SeqCst), 2, "exactly one refetch for the unknown kid");
}

#[tokio::test]
async fn key_published_for_another_issuer_cannot_sign_for_this_one() {
    let (idp, _server) = FakeIdp::spawn().await;
    // Key 1 is published for the personal-account tenant only.
    let msa = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
    idp.jwks.lock().unwrap()["keys"].as_array_mut().unwrap().push(jwk(test_key(1), "msa", Some(msa)));
    let app = spawn_app(&idp.issuer, &[]).await;
    let Flow { mut jar, state, nonce } = start(&app).await;
    let token = sign_rs256(test_key(1), "msa", &idp.claims(&nonce));
    assert_eq!(finish(&app, &idp, &mut jar, &state, token).await, (401, "id_token_invalid".into()));
}

#[tokio::test]
async fn jwks_rotation_is_picked_up_by_one_refetch() {
    let (idp, _server) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await;
    let Flow { mut jar, state, nonce } = start(&app).await;
    assert_eq!(finish(&app, &idp, &mut jar, &state, sign_rs256(test_key(0), "k0", &idp.claims(&nonce))).await.0, 302);

    *idp.jwks.lock().unwrap() = serde_json::json!({"keys": [jwk(test_key(1), "k1", Some(&idp.issuer))]});
    let before = idp.jwks_requests.load(Ordering::SeqCst);
    let Flow { mut jar, state, nonce } = start(&app).await;
    assert_eq!(finish(&app, &idp, &mut jar, &state, sign_rs256(test_key(1), "k1", &idp.claims(&nonce))).await.0, 302);
    assert_eq!(idp.jwks_requests.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn login_makes_no_call_to_an_entra_shaped_provider() {
    let (idp, _server) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await; // no prefetch
    for _ in 0..20 {
        start(&app).await;
    }
    assert_eq!(idp.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn authorization_response_issuer_must_match() {
    let (idp, _server) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await;
    let Flow { mut jar, state, nonce } = start(&app).await;
    idp.set_id_token(sign_rs256(test_key(0), "k0", &idp.claims(&nonce)));
    let cb = format!(
        "https://app.example.test/api/callback?code=c&state={state}&iss={}",
        urlencode("https://evil.example/v2.0")
    );
    assert_eq!(error_code(app.callback(&mut jar, &cb).await).await, (401, "id_token_invalid".into()));
    let cb = format!("https://app.example.test/api/callback?code=c&state={state}&iss={}", urlencode(&idp.issuer));
    assert_eq!(app.callback(&mut jar, &cb).await.status(), 302);
}

#[tokio::test]
async fn disallowed_tenant_is_denied_by_policy() {
    let (idp, _server) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[("SSO_ALLOWED_TENANTS", "11111111-1111-1111-1111-111111111111")]).await;
    let Flow { mut jar, state, nonce } = start(&app).await;
    let token = sign_rs256(test_key(0), "k0", &idp.claims(&nonce));
    assert_eq!(finish(&app, &idp, &mut jar, &state, token).await, (403, "access_denied_by_policy".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kids_cannot_cause_a_refetch_storm() {
    let (idp, _server) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await;
    let counter = std::sync::atomic::AtomicU64::new(0);
    *idp.token_factory.lock().unwrap() = Some(Box::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        sign_rs256(test_key(1), &format!("random-{n}"), &serde_json::json!({"iss": "x"}))
    }));
    let mut flows = Vec::new();
    for _ in 0..1000 {
        flows.push(start(&app).await);
    }
    let base = app.base.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in flows.chunks(100) {
        let chunk = chunk.to_vec();
        let base = base.clone();
        tasks.spawn(async move {
            let mut codes = Vec::new();
            for Flow { mut jar, state, .. } in chunk {
                let cb = format!("https://app.example.test/api/callback?code=c&state={state}");
                codes.push(error_code(callback(&base, &mut jar, &cb).await).await);
            }
            codes
        });
    }
    let results: Vec<(u16, String)> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(results.len(), 1000);
    assert!(results.iter().all(|r| *r == (401, "id_token_invalid".to_string())));
    let fetches = idp.jwks_requests.load(Ordering::SeqCst);
    assert!(fetches <= 2, "{fetches} JWKS fetches for 1,000 random kids");
}
