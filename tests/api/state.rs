//! The `state` parameter at the callback: every tampering, expiry and key problem gets its own
//! error code, checked through the real endpoint.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entra_sso::tokens::jws::{Purpose, TokenKeys};
use entra_sso::tokens::state::{self, StateClaims};
use serde_json::Value;

use crate::helpers::*;

struct Setup {
    app: TestApp,
    jar: Jar,
    genuine: String,
}

async fn setup() -> Setup {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    let authorize = app.login(&mut jar, "/").await;
    let genuine = query_param(&authorize, "state").unwrap();
    Setup { app, jar, genuine }
}

async fn code_for(s: &mut Setup, state: &str) -> (u16, String) {
    let cb = format!("https://app.example.test/api/callback?code=abc&state={}", urlencode(state));
    error_code(callback(&s.app.base, &mut s.jar, &cb).await).await
}

fn parts(token: &str) -> (String, Value, String) {
    let mut it = token.split('.');
    let header = it.next().unwrap().to_owned();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, payload, it.next().unwrap().to_owned())
}

fn keys_for(s: &Setup, secret: &str, client_id: &str) -> TokenKeys {
    token_keys(secret, Purpose::State, client_id, s.app.app.settings().authority.as_str())
}

#[tokio::test]
async fn missing_and_unreadable_states() {
    let mut s = setup().await;
    let cb = "https://app.example.test/api/callback?code=abc";
    assert_eq!(error_code(callback(&s.app.base, &mut s.jar, cb).await).await, (400, "state_missing".into()));
    for bad in ["hello", "a.b", "a.b.c.d", "ä.ö.ü", ""] {
        assert_eq!(code_for(&mut s, bad).await, (400, "state_malformed".into()), "{bad:?}");
    }
    let genuine = s.genuine.clone();
    assert_eq!(code_for(&mut s, &format!("{genuine},{genuine}")).await, (400, "state_malformed".into()));
    let cb = format!("https://app.example.test/api/callback?code=abc&state={genuine}&state={genuine}");
    assert_eq!(error_code(callback(&s.app.base, &mut s.jar, &cb).await).await, (400, "state_malformed".into()));
    let (h, p, _) = parts(&genuine);
    let stripped = format!("{h}.{}.", URL_SAFE_NO_PAD.encode(p.to_string()));
    assert_eq!(code_for(&mut s, &stripped).await, (400, "state_malformed".into()), "signature stripped");
}

#[tokio::test]
async fn each_claim_tampered_is_invalid() {
    let mut s = setup().await;
    let (h, payload, sig) = parts(&s.genuine);
    let replacements: &[(&str, Value)] = &[
        ("jti", "AAAAAAAAAAAAAAAAAAAAAA".into()),
        ("iat", 1.into()),
        ("exp", 9_999_999_999u64.into()),
        ("aud", "https://evil.example/api/callback".into()),
        ("rt", "https://evil.example/".into()),
        ("vh", "A".repeat(43).into()),
    ];
    for (claim, value) in replacements {
        let mut p = payload.clone();
        p[*claim] = value.clone();
        let forged = format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode(p.to_string()));
        assert_eq!(code_for(&mut s, &forged).await, (400, "state_invalid".into()), "{claim} tampered");
    }
}

#[tokio::test]
async fn algorithm_swaps_are_invalid() {
    let mut s = setup().await;
    let (h, _, _) = parts(&s.genuine);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&h).unwrap()).unwrap();
    let rest = s.genuine.split_once('.').unwrap().1.to_owned();
    for alg in ["none", "HS512", "RS256", "hs256"] {
        let mut hh = header.clone();
        hh["alg"] = alg.into();
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(hh.to_string()));
        assert_eq!(code_for(&mut s, &forged).await, (400, "state_invalid".into()), "alg {alg}");
    }
}

#[tokio::test]
async fn unknown_kid_and_other_deployments() {
    let mut s = setup().await;
    let now = entra_sso::support::time::now();
    let claims = StateClaims {
        jti: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        iat: now,
        exp: now + 600,
        aud: REDIRECT_URI.into(),
        rt: "/".into(),
        vh: "A".repeat(43),
        pn: false,
        at: None,
    };
    let other_secret = state::mint(&keys_for(&s, SECRET_B, CLIENT_ID), &claims);
    assert_eq!(code_for(&mut s, &other_secret).await, (400, "state_key_unknown".into()));
    let other_deployment = state::mint(&keys_for(&s, SECRET_A, "another-client-id"), &claims);
    assert_eq!(code_for(&mut s, &other_deployment).await, (400, "state_key_unknown".into()));
    let wrong_aud = state::mint(
        &keys_for(&s, SECRET_A, CLIENT_ID),
        &StateClaims { aud: "https://other.example/api/callback".into(), ..claims },
    );
    assert_eq!(code_for(&mut s, &wrong_aud).await, (400, "state_invalid".into()));
}

#[tokio::test]
async fn expired_state_is_reported_as_expired() {
    let mut s = setup().await;
    let now = entra_sso::support::time::now();
    // The browser holds a matching flow cookie: only the lifetime is wrong.
    let flow = entra_sso::tokens::flow::Flow::new();
    let claims = StateClaims {
        jti: flow.id().to_owned(),
        iat: now - 1000,
        exp: now - 400,
        aud: REDIRECT_URI.into(),
        rt: "/later".into(),
        vh: entra_sso::tokens::flow::challenge(flow.verifier()).as_str().to_owned(),
        pn: false,
        at: None,
    };
    s.jar.cookies.push((entra_sso::tokens::flow::cookie_name(flow.id()), flow.verifier().to_owned()));
    let expired = state::mint(&keys_for(&s, SECRET_A, CLIENT_ID), &claims);
    let cb = format!("https://app.example.test/api/callback?code=abc&state={expired}");
    let r = callback(&s.app.base, &mut s.jar, &cb).await;
    let body = r.text().await.unwrap();
    assert!(body.contains("<code>state_expired</code>"), "{body}");
    assert!(body.contains("return_to=%2Flater"), "offers a fresh start to the same place");
}

#[tokio::test]
async fn malformed_codes_are_refused_before_any_token_call() {
    let mut s = setup().await;
    let genuine = s.genuine.clone();
    for code in ["", "a,b", "a b", "<script>"] {
        let cb = format!("https://app.example.test/api/callback?code={}&state={genuine}", urlencode(code));
        assert_eq!(
            error_code(callback(&s.app.base, &mut s.jar, &cb).await).await,
            (400, "code_malformed".into()),
            "{code:?}"
        );
    }
    let cb = format!("https://app.example.test/api/callback?code=a&code=b&state={genuine}");
    assert_eq!(error_code(callback(&s.app.base, &mut s.jar, &cb).await).await, (400, "code_malformed".into()));
}
