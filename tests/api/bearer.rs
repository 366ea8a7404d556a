//! Entra access tokens for this app, through the same gate as sessions: a SPA's delegated token
//! and a daemon's app-only token from the dev identity provider pass `/api/auth` and `/api/me`
//! with the right principal, and every token an attacker or a confused client could send is
//! refused with its own code, `401`, RFC 6750's challenge and JSON, never a redirect.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::pkcs1::EncodeRsaPublicKey;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::idp_fake::{sign_rs256, test_key, FakeIdp, OTHER_TENANT, TENANT};

/// Alice's and Bob's object ids at the dev identity provider.
const ALICE_OID: &str = "a11ce000-0000-4000-8000-00000000a11c";
const BOB_OID: &str = "b0b00000-0000-4000-8000-000000000b0b";

/// The dev identity provider's endpoint `path` under `authority`.
fn endpoint(authority: &str, path: &str) -> String {
    format!("{}/oauth2/v2.0/{path}", authority.trim_end_matches("/v2.0"))
}

/// What a single-page app does with MSAL: the code flow with PKCE at the identity provider,
/// asking for `scope`, as `user`, then the code redeemed; returns the access token.
pub(crate) async fn spa_token(authority: &str, redirect_uri: &str, user: &str, scope: &str) -> String {
    let verifier = "spa-verifier-spa-verifier-spa-verifier-0001";
    let challenge = entra_sso::tokens::flow::challenge(verifier);
    let authorize = format!(
        "{}?client_id={CLIENT_ID}&response_type=code&redirect_uri={}&scope={}&state=s1&nonce=n1&code_challenge={}&code_challenge_method=S256",
        endpoint(authority, "authorize"),
        urlencode(redirect_uri),
        urlencode(scope),
        challenge.as_str(),
    );
    let back = idp_post(&authorize, &format!("user={user}")).await;
    let code = query_param(&back, "code").expect("a code");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("code", &code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let (status, body) = post_form(&endpoint(authority, "token"), &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// What a daemon (or a managed identity) does: client credentials for `api://<client>/.default`.
pub(crate) async fn daemon_token(authority: &str) -> String {
    client_credentials(authority, CLIENT_ID, CLIENT_SECRET).await
}

/// The app-only token the identity provider at `authority` issues to `client_id` with `secret`
/// for its own API (`api://<client id>/.default`).
pub(crate) async fn client_credentials(authority: &str, client_id: &str, secret: &str) -> String {
    let scope = format!("api://{client_id}/.default");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", scope.as_str()),
    ];
    let (status, body) = post_form(&endpoint(authority, "token"), &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The JSON claims of a JWT, read without checking it (for what the test expects).
pub(crate) fn payload(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// `GET <base>/api/auth<query>` with `Authorization: Bearer <token>`.
async fn auth(base: &str, token: &str, query: &str) -> reqwest::Response {
    client().get(format!("{base}/api/auth{query}")).bearer_auth(token).send().await.unwrap()
}

/// The decoded `X-MS-CLIENT-PRINCIPAL`'s values of claim type `typ`.
fn principal_claims(r: &reqwest::Response, typ: &str) -> Vec<String> {
    let encoded = r.headers()["x-ms-client-principal"].to_str().unwrap();
    let principal: Value = serde_json::from_slice(&STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(principal["auth_typ"], "aad");
    let claims = principal["claims"].as_array().unwrap();
    claims.iter().filter(|c| c["typ"] == typ).map(|c| c["val"].as_str().unwrap().to_owned()).collect()
}

const OID_TYP: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
const TID_TYP: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
const SCOPE_TYP: &str = "http://schemas.microsoft.com/identity/claims/scope";

/// Asserts a refusal of the bearer token with `code`: `401`, RFC 6750's challenge, JSON, no
/// redirect, and neither the header nor the body echoing `token`. Returns the JSON body.
pub(crate) async fn refused(r: reqwest::Response, code: &str, token: &str) -> Value {
    assert_eq!(r.status(), 401, "{code}");
    assert!(r.headers().get("location").is_none(), "{code}: never a redirect");
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""), "{challenge}");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{code}: JSON");
    let body = r.text().await.unwrap();
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], code, "{body}");
    let signature = token.rsplit('.').next().unwrap_or(token);
    for shown in [&challenge, &body] {
        assert!(signature.len() < 8 || !shown.contains(signature), "{code}: the token is echoed");
    }
    json
}

#[tokio::test]
async fn a_spa_with_a_delegated_token_passes_as_its_user() {
    let app = TestApp::with_dev_idp(&[]).await;
    let token =
        spa_token(app.authority(), REDIRECT_URI, "alice", &format!("openid profile api://{CLIENT_ID}/access_as_user"))
            .await;
    let claims = payload(&token);
    assert_eq!(
        (claims["aud"].as_str(), claims["scp"].as_str(), claims["ver"].as_str()),
        (Some(CLIENT_ID), Some("access_as_user"), Some("2.0"))
    );

    let r = auth(&app.base, &token, "").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-client-principal-id"], ALICE_OID);
    assert_eq!(r.headers()["x-ms-client-principal-name"], "alice@dev.example");
    assert_eq!(principal_claims(&r, OID_TYP), [ALICE_OID]);
    assert_eq!(principal_claims(&r, TID_TYP), [entra_sso::dev_idp::DEV_TENANT]);
    assert_eq!(principal_claims(&r, SCOPE_TYP), ["access_as_user"]);
    assert_eq!(principal_claims(&r, "idtyp"), ["user"]);
    assert!(r.headers().get("x-sso-assertion").is_none(), "the assertion only for Proxy-SSO-Assertion: 1");

    // A plain sign-in's access token is another resource's (Graph's, at Entra): useless here.
    let plain = spa_token(app.authority(), REDIRECT_URI, "alice", "openid profile email").await;
    refused(auth(&app.base, &plain, "").await, "token_malformed", &plain).await;
}

#[tokio::test]
async fn a_daemon_with_an_app_only_token_passes_as_its_service_principal() {
    let app = TestApp::with_dev_idp(&[]).await;
    let token = daemon_token(app.authority()).await;
    let claims = payload(&token);
    assert_eq!(claims["idtyp"], "app");
    assert!(claims.get("scp").is_none(), "app-only tokens carry no scp");
    let principal = claims["oid"].as_str().unwrap().to_owned();
    assert!(principal.len() == 36 && principal != ALICE_OID);

    let r = client()
        .get(format!("{}/api/auth", app.base))
        .bearer_auth(&token)
        .header("proxy-sso-assertion", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-client-principal-id"], principal.as_str());
    assert!(r.headers().get("x-ms-client-principal-name").is_none(), "an app has no user name");
    assert_eq!(principal_claims(&r, OID_TYP), [principal.as_str()]);
    assert_eq!(principal_claims(&r, "azp"), [CLIENT_ID]);
    assert_eq!(principal_claims(&r, "idtyp"), ["app"]);
    assert!(principal_claims(&r, SCOPE_TYP).is_empty());

    // The assertion: ES256 by the session keys, this deployment's issuer, never a session.
    let assertion = r.headers()["x-sso-assertion"].to_str().unwrap().to_owned();
    let a = payload(&assertion);
    assert_eq!(
        (a["iss"].as_str(), a["aud"].as_str(), a["idtyp"].as_str()),
        (Some(ISSUER), Some(CLIENT_ID), Some("app"))
    );
    assert_eq!(a["exp"], claims["exp"], "it expires with the token");
    let keys = session_keys(SECRET_A, CLIENT_ID, app.authority());
    assert!(keys.verify(&assertion, 3400).is_ok(), "apps verify it with the published keys");
    let mut jar = Jar { cookies: vec![("__Host-sso-session".into(), assertion)] };
    assert_eq!(app.me(&mut jar).await.0, 401, "an assertion is not a session");
}

/// A programmable provider, an instance against it with `extra` settings, and honest claims of
/// a delegated v2 token for this app.
async fn fake(extra: &[(&str, &str)]) -> (std::sync::Arc<FakeIdp>, Running, TestApp, Value) {
    let (idp, server) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.authority, extra).await;
    let now = entra_sso::support::time::now();
    let claims = json!({
        "aud": CLIENT_ID, "iss": idp.issuer_for(TENANT), "ver": "2.0", "tid": TENANT,
        "oid": "00000000-0000-0000-66f3-3332eca7ea81", "sub": "sub-of-abe", "azp": "11111111-5555-4555-8555-555555555555",
        "scp": "access_as_user", "iat": now, "nbf": now, "exp": now + 3600,
        "name": "Abe Lincoln", "preferred_username": "AbeLi@example.com",
    });
    (idp, server, app, claims)
}

fn with(base: &Value, changes: Value) -> Value {
    let mut c = base.clone();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[tokio::test]
async fn each_bad_token_is_refused_with_its_own_code() {
    let (idp, _server, app, honest) = fake(&[]).await;
    let sign = |claims: &Value| sign_rs256(test_key(0), "k0", claims);
    let ok = sign(&honest);
    assert_eq!(auth(&app.base, &ok, "").await.status(), 200, "the honest token passes");
    let now = entra_sso::support::time::now();
    let v1_issuer = format!("{}/", idp.issuer_for(TENANT).trim_end_matches("/v2.0"));
    let v1 = sign(&with(
        &honest,
        json!({"ver": "1.0", "iss": v1_issuer, "azp": null, "appid": "11111111-5555-4555-8555-555555555555"}),
    ));
    assert_eq!(auth(&app.base, &v1, "").await.status(), 200, "a v1 token of the same tenant passes");

    let header = |h: &Value| URL_SAFE_NO_PAD.encode(h.to_string());
    let body_of = |t: &str| t.split('.').nth(1).unwrap().to_owned();
    let unsigned = format!("{}.{}.", header(&json!({"alg": "none", "typ": "JWT"})), body_of(&ok));
    let public_pem = test_key(0).to_public_key().to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some("k0".into());
    let hs256 =
        jsonwebtoken::encode(&hs, &honest, &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes())).unwrap();
    // Microsoft Graph's tokens carry a nonce in their header, so their signature cannot verify
    // anywhere but at Graph: here, the signature of another header.
    let graph_claims = with(&honest, json!({"aud": "00000003-0000-0000-c000-000000000000", "scp": "User.Read"}));
    let graph_signed = sign(&graph_claims);
    let graph_header = header(&json!({"typ": "JWT", "nonce": "AbCdEf123", "alg": "RS256", "x5t": "k0", "kid": "k0"}));
    let graph = format!("{graph_header}.{}.{}", body_of(&graph_signed), graph_signed.rsplit('.').next().unwrap());

    let cases = [
        ("token_wrong_audience", sign(&with(&honest, json!({"aud": "api://someone-else"})))),
        ("token_wrong_audience", sign(&with(&honest, json!({"aud": "99999999-8888-4777-8666-555555555555"})))),
        ("token_wrong_tenant", sign(&with(&honest, json!({"tid": OTHER_TENANT, "iss": idp.issuer_for(OTHER_TENANT)})))),
        ("token_expired", sign(&with(&honest, json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})))),
        ("token_signature_invalid", unsigned),
        ("token_signature_invalid", hs256),
        ("token_signature_invalid", sign_rs256(test_key(1), "k0", &honest)),
        ("token_signature_invalid", sign_rs256(test_key(1), "unknown-kid", &honest)),
        ("token_wrong_issuer", sign(&with(&honest, json!({"iss": v1_issuer})))),
        ("token_wrong_issuer", sign(&with(&honest, json!({"ver": "1.0"})))),
        (
            "token_wrong_issuer",
            sign(&with(
                &honest,
                json!({"iss": "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0"}),
            )),
        ),
        ("token_malformed", "not-a-jwt".to_owned()),
        ("token_malformed", sign(&with(&honest, json!({"ver": null})))),
    ];
    for (code, token) in &cases {
        refused(auth(&app.base, token, "").await, code, token).await;
    }

    let json = refused(auth(&app.base, &graph, "").await, "token_wrong_audience", &graph).await;
    let detail = json["detail"].as_str().unwrap();
    assert!(detail.contains("Microsoft Graph") && detail.contains(&format!("api://{CLIENT_ID}/.default")), "{detail}");
    let r = auth(&app.base, &graph, "").await;
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!("api://{CLIENT_ID}/.default")),
        "the challenge says which audience: {challenge}"
    );
}

#[tokio::test]
async fn tenants_and_clients_are_restricted_for_tokens_too() {
    // A multi-tenant authority with a tenant list: another tenant's genuine token is refused.
    let (idp, _server) = FakeIdp::spawn_multi("organizations").await;
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", TENANT), ("SSO_API_CLIENTS", "daemon-a")]).await;
    let now = entra_sso::support::time::now();
    let base = |tid: &str| {
        json!({"aud": format!("api://{CLIENT_ID}"), "iss": idp.issuer_for(tid), "ver": "2.0", "tid": tid, "oid": "00000000-0000-4000-8000-0000000000a1",
               "sub": "s", "azp": "daemon-a", "idtyp": "app", "roles": ["Jobs.Run"], "iat": now, "nbf": now, "exp": now + 600})
    };
    let sign = |claims: &Value| sign_rs256(test_key(0), "k0", claims);
    let listed = sign(&base(TENANT));
    let r = auth(&app.base, &listed, "?role=Jobs.Run").await;
    assert_eq!(r.status(), 200, "a listed app of a listed tenant, with its app role");
    assert_eq!(principal_claims(&r, "roles"), ["Jobs.Run"]);
    let other_tenant = sign(&base(OTHER_TENANT));
    refused(auth(&app.base, &other_tenant, "").await, "token_wrong_tenant", &other_tenant).await;
    let other_client = sign(&with(&base(TENANT), json!({"azp": "daemon-b"})));
    refused(auth(&app.base, &other_client, "").await, "token_client_not_allowed", &other_client).await;
    // SSO_API_CLIENTS restricts app-only callers; a user's delegated token through another client passes.
    let delegated = sign(&with(&base(TENANT), json!({"azp": "daemon-b", "idtyp": "user", "scp": "access_as_user"})));
    assert_eq!(auth(&app.base, &delegated, "").await.status(), 200);
    assert_eq!(auth(&app.base, &listed, "?role=Admin").await.status(), 403, "route rules hold for tokens");
}

#[tokio::test]
async fn scopes_are_route_requirements() {
    let app = TestApp::with_dev_idp(&[]).await;
    let spa = spa_token(
        app.authority(),
        REDIRECT_URI,
        "bob",
        &format!("openid api://{CLIENT_ID}/access_as_user api://{CLIENT_ID}/Files.Read"),
    )
    .await;
    assert_eq!(auth(&app.base, &spa, "?scope=access_as_user&scope=Files.Read").await.status(), 200);
    assert_eq!(auth(&app.base, &spa, "?scope=access_as_user&role=Admin").await.status(), 200, "bob holds Admin");
    let (status, code) = error_code(auth(&app.base, &spa, "?scope=Files.Write").await).await;
    assert_eq!((status, code.as_str()), (403, "access_denied_by_policy"));
    let daemon = daemon_token(app.authority()).await;
    let (status, code) = error_code(auth(&app.base, &daemon, "?scope=access_as_user").await).await;
    assert_eq!((status, code.as_str()), (403, "access_denied_by_policy"), "app-only tokens have no scopes");
    // A session has no scopes either.
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    let r = client()
        .get(format!("{}/api/auth?scope=access_as_user", app.base))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (403, "access_denied_by_policy".to_owned()));
    let r = client().get(format!("{}/api/auth", app.base)).header("cookie", jar.header()).send().await.unwrap();
    assert_eq!(r.status(), 200, "without ?scope= the session passes");
}

#[tokio::test]
async fn a_bearer_header_decides_over_the_cookie() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    let bob =
        spa_token(app.authority(), REDIRECT_URI, "bob", &format!("openid api://{CLIENT_ID}/access_as_user")).await;
    let with_cookie = |auth: Option<String>| {
        let mut req = client()
            .get(format!("{}/api/auth?redirect=1", app.base))
            .header("cookie", jar.header())
            .header("sec-fetch-mode", "navigate");
        if let Some(value) = auth {
            req = req.header("authorization", value);
        }
        req
    };
    let r = with_cookie(Some(format!("Bearer {bob}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-client-principal-id"], BOB_OID, "the token, not alice's cookie");
    // A bad token is refused even with a good cookie, and a navigation is not sent to sign in.
    let bad = format!("{bob}x");
    refused(with_cookie(Some(format!("Bearer {bad}"))).send().await.unwrap(), "token_signature_invalid", &bad).await;
    refused(with_cookie(Some("Bearer".into())).send().await.unwrap(), "token_malformed", "").await;
    // Without a cookie either: 401 with the token's code, never 302.
    let r = client()
        .get(format!("{}/api/auth?redirect=1", app.base))
        .header("sec-fetch-mode", "navigate")
        .bearer_auth(&bad)
        .send()
        .await
        .unwrap();
    refused(r, "token_signature_invalid", &bad).await;
    // Two Authorization headers, one of them Bearer: which would decide is not for us to guess.
    let twice = with_cookie(Some(format!("Bearer {bob}"))).header("authorization", "Basic YWxpY2U6cHc=");
    refused(twice.send().await.unwrap(), "token_malformed", &bob).await;
    // Another scheme is not ours: the cookie decides.
    let r = with_cookie(Some("Basic YWxpY2U6cHc=".into())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-client-principal-id"], ALICE_OID);
    let r = client()
        .get(format!("{}/api/auth", app.base))
        .header("authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (401, "not_signed_in".to_owned()));
}

#[tokio::test]
async fn api_me_answers_a_bearer_caller() {
    let app = TestApp::with_dev_idp(&[]).await;
    let token =
        spa_token(app.authority(), REDIRECT_URI, "alice", &format!("openid api://{CLIENT_ID}/access_as_user")).await;
    let r = client().get(format!("{}/api/me", app.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        (me["oid"].as_str(), me["scp"].as_str(), me["idtyp"].as_str()),
        (Some(ALICE_OID), Some("access_as_user"), Some("user"))
    );
    assert_eq!((me["iss"].as_str(), me["azp"].as_str()), (Some(ISSUER), Some(CLIENT_ID)));
    let tampered = format!("{token}A");
    refused(
        client().get(format!("{}/api/me", app.base)).bearer_auth(&tampered).send().await.unwrap(),
        "token_signature_invalid",
        &tampered,
    )
    .await;
}
