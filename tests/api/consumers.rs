//! Consumers of the session: an app that verifies the session cookie with nothing but a stock
//! JWT library and this deployment's published keys. `tests/interop/verify-session.mjs` does it
//! with panva's `jose` (`createRemoteJWKSet` + `jwtVerify`, `algorithms: ['ES256']`) against the
//! instance's `/api/jwks`, or against its discovery document alone.
//!
//! Needs Node.js 20+ (the tests install the locked packages of `tests/interop` on first run),
//! so they are ignored unless asked for: `cargo test -- --include-ignored`.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use entra_sso::dev_idp::DEV_TENANT;
use entra_sso::App;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::helpers::{
    get, idp_sign_in, login, serve_on, settings, sign_in, spawn_app, spawn_idp_for, Jar, TestApp, CLIENT_ID, ISSUER,
    SECRET_B,
};
use crate::support::prerequisites::{node_suite_missing, require};

/// The default session cookie.
const SESSION_COOKIE: &str = "__Host-sso-session";
/// The session's `typ` header.
const SESSION_TYP: &str = "entra-sso-session+jwt";
/// The dev IdP's users' object ids.
const ALICE_OID: &str = "a11ce000-0000-4000-8000-00000000a11c";
const BOB_OID: &str = "b0b00000-0000-4000-8000-000000000b0b";

/// Fails `test` when the `jose` consumer cannot run here.
fn require_jose(test: &str) {
    require(&format!("{test} (node + jose)"), &node_suite_missing("interop", "jose"));
}

/// Runs `verify-session.mjs` with `args`: whether the token verified, and its JSON answer.
async fn jose_verify(args: Vec<String>) -> (bool, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify-session.mjs");
    // Off the runtime's thread: the instance that serves the keys runs on it.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg(script).args(&args).output().expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(code == Some(0) || code == Some(1), "verify-session.mjs exited {code:?}: {stdout}{stderr}");
    let answer: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("verify-session.mjs printed {stdout:?}: {e}"));
    assert_eq!(answer["ok"], json!(code == Some(0)), "{answer}");
    (code == Some(0), answer)
}

/// The arguments for a consumer that knows the JWKS URL, issuer and audience.
fn with_jwks(jwks: &str, issuer: &str, audience: &str, token: &str) -> Vec<String> {
    ["--jwks", jwks, "--issuer", issuer, "--audience", audience, "--typ", SESSION_TYP, token]
        .map(str::to_owned)
        .to_vec()
}

/// A session cookie for `user` from `app`.
async fn session_of(app: &TestApp, user: &str) -> String {
    let mut jar = Jar::default();
    let r = app.sign_in(&mut jar, user).await;
    assert!(r.status().is_redirection(), "callback answered {}", r.status());
    jar.get(SESSION_COOKIE).unwrap_or_else(|| panic!("no {SESSION_COOKIE} after signing in")).to_owned()
}

/// The `kid`s `app` publishes, signing key first.
async fn published_kids(base: &str) -> Vec<String> {
    let r = get(&format!("{base}/api/jwks"), &mut Jar::default()).await;
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    jwks["keys"].as_array().expect("keys").iter().map(|k| k["kid"].as_str().expect("kid").to_owned()).collect()
}

/// The token with its payload replaced by `edit(payload)`, header and signature kept.
fn with_payload(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    edit(&mut payload);
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test]
#[ignore = "needs Node.js 20+ (cargo test -- --include-ignored)"]
async fn jose_verifies_a_real_session_against_the_published_jwks() {
    require_jose("jose_verifies_a_real_session_against_the_published_jwks");
    let app = TestApp::with_dev_idp(&[]).await;
    let token = session_of(&app, "alice").await;
    let jwks = format!("{}/api/jwks", app.base);

    let (ok, answer) = jose_verify(with_jwks(&jwks, ISSUER, CLIENT_ID, &token)).await;
    assert!(ok, "a real session verifies: {answer}");
    let (header, claims) = (&answer["header"], &answer["payload"]);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], SESSION_TYP);
    assert_eq!(header["kid"].as_str(), Some(published_kids(&app.base).await[0].as_str()), "signed by the first key");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["oid"], ALICE_OID);
    assert_eq!(claims["tid"], DEV_TENANT);
    assert_eq!(claims["idp"], app.authority(), "the IdP's issuer has its own claim");
    assert_eq!(claims["preferred_username"], "alice@dev.example");
    let (iat, exp) = (claims["iat"].as_i64().expect("iat"), claims["exp"].as_i64().expect("exp"));
    assert!(exp > iat, "exp {exp} after iat {iat}");

    // The consumer sees the user /api/me reports.
    let mut jar = Jar { cookies: vec![(SESSION_COOKIE.into(), token.clone())] };
    let (status, me) = app.me(&mut jar).await;
    assert_eq!(status, 200, "{me}");
    let sub = claims["sub"].as_str().expect("sub");
    assert!(!sub.is_empty());
    assert_eq!(me["sub"], sub);
    assert_eq!(me["oid"], claims["oid"]);

    // A consumer expecting another issuer or audience refuses it: the checks are real.
    let (ok, answer) = jose_verify(with_jwks(&jwks, app.authority(), CLIENT_ID, &token)).await;
    assert!(!ok, "the IdP's issuer is not the session's: {answer}");
    assert_eq!(answer["code"], "ERR_JWT_CLAIM_VALIDATION_FAILED", "{answer}");
    let (ok, answer) = jose_verify(with_jwks(&jwks, ISSUER, "some-other-app", &token)).await;
    assert!(!ok, "another audience: {answer}");
    assert_eq!(answer["code"], "ERR_JWT_CLAIM_VALIDATION_FAILED", "{answer}");
}

#[tokio::test]
#[ignore = "needs Node.js 20+ (cargo test -- --include-ignored)"]
async fn jose_rejects_tampered_and_foreign_sessions() {
    require_jose("jose_rejects_tampered_and_foreign_sessions");
    let app = TestApp::with_dev_idp(&[]).await;
    let token = session_of(&app, "alice").await;
    let jwks = format!("{}/api/jwks", app.base);
    let verify = |token: String| jose_verify(with_jwks(&jwks, ISSUER, CLIENT_ID, &token));

    // The untouched token verifies, so each refusal below is the edit's doing.
    assert!(verify(token.clone()).await.0);

    // Alice's signature over Bob's object id.
    let tampered = with_payload(&token, |p| p["oid"] = json!(BOB_OID));
    let (ok, answer) = verify(tampered).await;
    assert!(!ok, "a tampered payload: {answer}");
    assert_eq!(answer["code"], "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", "{answer}");

    // A flipped signature byte.
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let (ok, answer) = verify(String::from_utf8(flipped).unwrap()).await;
    assert!(!ok, "a changed signature: {answer}");

    // The same claims unsigned (`alg: none`).
    let kid = published_kids(&app.base).await.remove(0);
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": SESSION_TYP, "kid": kid }).to_string());
    let unsigned = format!("{header}.{}.", token.split('.').nth(1).unwrap());
    let (ok, answer) = verify(unsigned).await;
    assert!(!ok, "an unsigned token: {answer}");

    // A real session of another deployment (another SSO_SECRET, the same client, IdP and
    // redirect URI): its key is not among this deployment's, even after the consumer refetches.
    let other = spawn_app(app.authority(), &[("SSO_SECRET", SECRET_B)]).await;
    let mut jar = Jar::default();
    let r = sign_in(&other.base, &other.base, &mut jar, "alice").await;
    assert!(r.status().is_redirection(), "callback answered {}", r.status());
    let foreign = jar.get(SESSION_COOKIE).expect("a session from the other deployment").to_owned();
    let (other_kids, our_kids) = (published_kids(&other.base).await, published_kids(&app.base).await);
    assert!(other_kids.iter().all(|k| !our_kids.contains(k)), "{other_kids:?} vs {our_kids:?}");
    let (ok, answer) = jose_verify(with_jwks(&format!("{}/api/jwks", other.base), ISSUER, CLIENT_ID, &foreign)).await;
    assert!(ok, "valid where it was issued: {answer}");
    let (ok, answer) = verify(foreign).await;
    assert!(!ok, "another deployment's session: {answer}");
    assert_eq!(answer["code"], "ERR_JWKS_NO_MATCHING_KEY", "{answer}");
}

#[tokio::test]
#[ignore = "needs Node.js 20+ (cargo test -- --include-ignored)"]
async fn jose_follows_rotation_by_list_order() {
    require_jose("jose_follows_rotation_by_list_order");
    // Before: SECRET_A alone. Step 1: the new value added at the end (still signing with A).
    // Step 2: the new value first. A consumer of step 2's keys verifies sessions of all three.
    let before = TestApp::with_dev_idp(&[]).await;
    let old_session = session_of(&before, "alice").await;
    let secret_a = crate::helpers::SECRET_A;
    let added = spawn_app(before.authority(), &[("SSO_SECRET", &format!("{secret_a},{SECRET_B}"))]).await;
    let moved = spawn_app(before.authority(), &[("SSO_SECRET", &format!("{SECRET_B},{secret_a}"))]).await;
    let (kids_before, kids_added, kids_moved) =
        (published_kids(&before.base).await, published_kids(&added.base).await, published_kids(&moved.base).await);
    assert_eq!(kids_added.len(), 2);
    assert_eq!(kids_added[0], kids_before[0], "adding at the end keeps the signing key");
    assert_eq!(kids_moved, vec![kids_added[1].clone(), kids_added[0].clone()], "moving first swaps the order");

    let mut jar = Jar::default();
    let r = sign_in(&moved.base, &moved.base, &mut jar, "bob").await;
    assert!(r.status().is_redirection());
    let new_session = jar.get(SESSION_COOKIE).expect("a session").to_owned();

    for (what, jwks_of, token, expect_ok) in [
        ("the old session with the added keys", &added.base, &old_session, true),
        ("the old session with the moved keys", &moved.base, &old_session, true),
        ("the new session with the added keys", &added.base, &new_session, true),
        ("the new session with the keys before", &before.base, &new_session, false),
    ] {
        let (ok, answer) = jose_verify(with_jwks(&format!("{jwks_of}/api/jwks"), ISSUER, CLIENT_ID, token)).await;
        assert_eq!(ok, expect_ok, "{what}: {answer}");
    }
    let (_, answer) =
        jose_verify(with_jwks(&format!("{}/api/jwks", moved.base), ISSUER, CLIENT_ID, &new_session)).await;
    assert_eq!(answer["header"]["kid"].as_str(), Some(kids_moved[0].as_str()), "signed by the value listed first");
    assert_eq!(answer["payload"]["oid"], BOB_OID);
    assert_eq!(answer["payload"]["roles"], json!(["Admin"]));
}

#[tokio::test]
#[ignore = "needs Node.js 20+ (cargo test -- --include-ignored)"]
async fn jose_finds_issuer_and_keys_through_the_discovery_document() {
    require_jose("jose_finds_issuer_and_keys_through_the_discovery_document");
    // A deployment whose public address is its loopback address, so the discovery document's
    // jwks_uri is reachable from here, and a dev IdP registered for it.
    let app_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", app_listener.local_addr().unwrap().port());
    let redirect_uri = format!("{base}/api/callback");
    let idp = spawn_idp_for(&redirect_uri).await;
    let audience = "api://consumers-test";
    let app =
        App::new(settings(&idp.authority, &[("SSO_REDIRECT_URI", &redirect_uri), ("SSO_SESSION_AUDIENCE", audience)]));
    let _app = serve_on(app_listener, app);

    let mut jar = Jar::default();
    let authorize = login(&base, &mut jar, "/").await;
    let callback = idp_sign_in(&authorize, "bob").await;
    assert!(callback.starts_with(&redirect_uri), "{callback}");
    let r = get(&callback, &mut jar).await;
    assert!(r.status().is_redirection(), "callback answered {}", r.status());
    let token = jar.get(SESSION_COOKIE).expect("a session").to_owned();

    let discovery = format!("{base}/api/.well-known/openid-configuration");
    let args = |audience: &str| {
        ["--discovery", &discovery, "--audience", audience, "--typ", SESSION_TYP, &token].map(str::to_owned).to_vec()
    };
    let (ok, answer) = jose_verify(args(audience)).await;
    assert!(ok, "verified from the discovery document alone: {answer}");
    assert_eq!(answer["issuer"], format!("{base}/api"), "issuer: SSO_REDIRECT_URI without its last segment");
    assert_eq!(answer["jwks"], format!("{base}/api/jwks"));
    assert_eq!(answer["payload"]["iss"], format!("{base}/api"));
    assert_eq!(answer["payload"]["aud"], audience, "SSO_SESSION_AUDIENCE is the aud");
    assert_eq!(answer["payload"]["oid"], BOB_OID);

    let (ok, answer) = jose_verify(args(CLIENT_ID)).await;
    assert!(!ok, "with SSO_SESSION_AUDIENCE set, the client id is not the audience: {answer}");
}
