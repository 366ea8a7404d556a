//! The second security review (issue #17): forward auth's per-route rules and the session token
//! it hands out, front-channel logout, and the session's one encoding. Each test failed on the
//! commit before its fix, for the reason its finding names.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::idp_fake::*;

/// `GET /api/auth{query}` with `jar`'s cookies and `headers`.
async fn auth(app: &TestApp, query: &str, jar: &Jar, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(format!("{}/api/auth{query}", app.base)).header("cookie", jar.header());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// Claims of a user of a tenant anyone can make, who gave themselves `Admin` and a group there.
fn self_made_admin(idp: &FakeIdp) -> Value {
    let mut claims = tenant_claims(idp, OTHER_TENANT);
    claims["roles"] = json!(["Admin"]);
    claims["groups"] = json!(["7f3c0000-0000-4000-8000-000000000001"]);
    claims
}

// 1. Per-route role and group requirements trusted every tenant.

#[tokio::test]
async fn route_role_and_group_requirements_fail_closed_while_every_tenant_may_sign_in() {
    let (idp, _s) = FakeIdp::spawn_multi("organizations").await;
    let open = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", "*")]).await;
    let SignIn { status, jar, .. } = sign_in_with(&open, &idp, 0, "k0", self_made_admin(&idp)).await;
    assert_eq!(status, 302, "every tenant may sign in");
    assert_eq!(auth(&open, "", &jar, &[]).await.status(), 200, "no requirement: signed in is enough");
    for query in ["?role=Admin", "?group=7f3c0000-0000-4000-8000-000000000001", "?role=Admin&redirect=1"] {
        let (status, code) = error_code(auth(&open, query, &jar, &[]).await).await;
        assert_eq!((status, code.as_str()), (500, "misconfigured"), "{query}: a self-assigned role must not pass");
    }

    // With the tenant listed, the same user's role is its tenant's word, and counts.
    let listed = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", OTHER_TENANT)]).await;
    let SignIn { status, jar, .. } = sign_in_with(&listed, &idp, 0, "k0", self_made_admin(&idp)).await;
    assert_eq!(status, 302);
    assert_eq!(auth(&listed, "?role=Admin", &jar, &[]).await.status(), 200);
    assert_eq!(auth(&listed, "?group=7F3C0000-0000-4000-8000-000000000001", &jar, &[]).await.status(), 200);
    assert_eq!(error_code(auth(&listed, "?role=Owner", &jar, &[]).await).await.1, "access_denied_by_policy");
}

// 4. The HttpOnly session was handed to any same-origin script by `/api/auth`.

#[tokio::test]
async fn the_session_token_goes_only_to_a_check_the_proxy_marks_as_its_own() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    let session = jar.get("__Host-sso-session").unwrap().to_owned();

    // What a page script's `fetch('/api/auth')` sends: the cookie, Fetch Metadata, no Proxy- header.
    let script = [("sec-fetch-mode", "cors"), ("sec-fetch-site", "same-origin"), ("sec-fetch-dest", "empty")];
    let r = auth(&app, "", &jar, &script).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-ms-client-principal-id").is_some(), "the identity headers still come");
    assert!(r.headers().get("x-sso-assertion").is_none(), "a script must not obtain the session token");
    for other in ["0", "true", "yes", ""] {
        let r = auth(&app, "", &jar, &[("proxy-sso-assertion", other)]).await;
        assert!(r.headers().get("x-sso-assertion").is_none(), "Proxy-SSO-Assertion: {other:?}");
    }

    let r = auth(&app, "", &jar, &[("proxy-sso-assertion", "1")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sso-assertion"], session.as_str(), "the proxy's own check gets the token");
}

// 8. Front-channel logout cleared the session for any page that framed it.

#[tokio::test]
async fn a_frame_that_does_not_name_the_session_signs_no_one_out() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    let frame = |query: &str| {
        client()
            .get(format!("{}/api/logout/frontchannel{query}", app.base))
            .header("cookie", jar.header())
            .header("sec-fetch-dest", "iframe")
            .header("sec-fetch-site", "cross-site")
            .send()
    };
    let iss = format!("?iss={}", urlencode(app.authority()));
    for query in ["", iss.as_str()] {
        let r = frame(query).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("set-cookie").is_none(), "{query:?}: a hidden iframe cleared the session");
    }
    // Without the cookie (a cross-site frame under SameSite=Lax) nothing can be matched either.
    let r = client()
        .get(format!("{}/api/logout/frontchannel?sid=guess", app.base))
        .header("sec-fetch-dest", "iframe")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("set-cookie").is_none(), "a blind clear");
    assert_eq!(app.me(&mut jar).await.0, 200, "still signed in");
}

// 10. Every session had a second valid encoding (r, n − s).

#[tokio::test]
async fn the_high_s_twin_of_a_session_is_refused() {
    use p256::elliptic_curve::PrimeField;
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    let session = jar.get("__Host-sso-session").unwrap().to_owned();
    let (head, sig) = session.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let s = p256::Scalar::from_repr(<[u8; 32]>::try_from(&sig[32..]).unwrap().into()).unwrap();
    sig[32..].copy_from_slice(&(-s).to_repr());
    let twin = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&sig));

    let mut twin_jar = Jar::default();
    twin_jar.absorb(&header_map("__Host-sso-session", &twin));
    assert_eq!(app.me(&mut twin_jar).await.0, 401, "the twin encoding is not a session");
    assert_eq!(app.me(&mut jar).await.0, 200, "the issued encoding is");
}

/// A `Set-Cookie` header map that plants `name=value` in a [`Jar`].
fn header_map(name: &str, value: &str) -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("set-cookie", format!("{name}={value}; Path=/").parse().unwrap());
    h
}
