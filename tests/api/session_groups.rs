//! Only the groups that matter (`SSO_SESSION_GROUPS`): sessions, `X-MS-CLIENT-PRINCIPAL` and
//! `X-SSO-Assertion` carry the user's groups among the kept ones, whether the identity came from
//! an ID token at the callback or from a bearer token, so they stay small however many groups a
//! user has; a `?group=` the sessions cannot carry is the operator's to fix.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::idp_fake::*;

/// The five groups the deployment keeps (one written upper-case, as an operator may paste it).
const KEPT: [&str; 5] = [
    "0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e",
    "1a2b3c4d-0000-4000-8000-000000000001",
    "1a2b3c4d-0000-4000-8000-000000000002",
    "1A2B3C4D-0000-4000-8000-000000000003",
    "1a2b3c4d-0000-4000-8000-000000000004",
];

/// A group no setting names.
const OTHER: &str = "99999999-0000-4000-8000-000000000099";

fn kept_setting() -> String {
    KEPT.join(",")
}

/// 250 group ids, two of them kept (in a different case than configured), the rest not.
fn many_groups() -> Vec<String> {
    let mut groups: Vec<String> = (0..248).map(|i| format!("{i:08}-7777-4000-8000-000000000000")).collect();
    groups.insert(17, KEPT[0].to_ascii_uppercase());
    groups.insert(200, KEPT[3].to_ascii_lowercase());
    groups
}

/// What one signed-in user's identity looks like to the app.
struct Seen {
    /// The `Set-Cookie` header that carried the session.
    set_cookie: String,
    /// `/api/me`.
    me: Value,
    /// `/api/auth`'s `X-MS-CLIENT-PRINCIPAL`, as sent (base64).
    principal: String,
    /// `/api/auth`'s `X-SSO-Assertion`.
    assertion: String,
}

impl Seen {
    /// The group values of the decoded principal.
    fn principal_groups(&self) -> Vec<String> {
        let principal: Value = serde_json::from_slice(&STANDARD.decode(&self.principal).unwrap()).unwrap();
        let claims = principal["claims"].as_array().unwrap();
        claims.iter().filter(|c| c["typ"] == "groups").map(|c| c["val"].as_str().unwrap().to_owned()).collect()
    }

    /// The `groups` claim of the assertion's payload.
    fn assertion_groups(&self) -> Vec<String> {
        let payload = self.assertion.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        serde_json::from_value(claims["groups"].clone()).unwrap()
    }

    fn me_groups(&self) -> Vec<String> {
        serde_json::from_value(self.me["groups"].clone()).unwrap()
    }
}

/// Signs in through the real callback with an ID token listing `groups`, then asks `/api/me`
/// and `/api/auth` (as a proxy asking for the assertion).
async fn sign_in_with_groups(app: &TestApp, idp: &FakeIdp, groups: &[String]) -> Seen {
    let Flow { mut jar, state, nonce } = start(app).await;
    let mut claims = idp.claims(&nonce);
    claims["groups"] = json!(groups);
    idp.set_id_token(sign_rs256(test_key(0), "k0", &claims));
    let r = app.callback(&mut jar, &format!("https://app.example.test/api/callback?code=c&state={state}")).await;
    assert_eq!(r.status(), 302, "signed in");
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-sso-session="))
        .expect("a session cookie");
    jar.absorb(r.headers());
    let (status, me) = app.me(&mut jar).await;
    assert_eq!(status, 200);
    let (principal, assertion) = identity_headers(app, |r| r.header("cookie", jar.header())).await;
    Seen { set_cookie, me, principal, assertion }
}

/// `/api/auth`'s `X-MS-CLIENT-PRINCIPAL` and `X-SSO-Assertion` for the caller `who` makes the
/// request of, asked as a proxy that wants the assertion.
async fn identity_headers(
    app: &TestApp,
    who: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (String, String) {
    let request = who(client().get(format!("{}/api/auth", app.base)));
    let auth = request.header("proxy-sso-assertion", "1").send().await.unwrap();
    assert_eq!(auth.status(), 200);
    let header = |name: &str| auth.headers()[name].to_str().unwrap().to_owned();
    (header("x-ms-client-principal"), header("x-sso-assertion"))
}

fn lower(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|g| g.to_ascii_lowercase()).collect()
}

#[tokio::test]
async fn a_user_in_250_groups_has_a_session_no_larger_than_one_in_2() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[("SSO_SESSION_GROUPS", &kept_setting())]).await;
    let many = sign_in_with_groups(&app, &idp, &many_groups()).await;
    let two = sign_in_with_groups(&app, &idp, &[KEPT[1].to_owned(), KEPT[2].to_owned()]).await;

    assert!(
        many.set_cookie.len() <= two.set_cookie.len(),
        "Set-Cookie: {} bytes for 250 groups, {} for 2",
        many.set_cookie.len(),
        two.set_cookie.len()
    );
    assert!(many.principal.len() <= two.principal.len(), "X-MS-CLIENT-PRINCIPAL");
    assert!(many.assertion.len() <= two.assertion.len(), "X-SSO-Assertion");
    assert!(many.set_cookie.len() < 1500, "{} bytes", many.set_cookie.len());

    // Only the kept groups, lower-case, in the token's order; and the list is complete.
    let expected = lower(&[KEPT[0], KEPT[3]]);
    assert_eq!(many.me_groups(), expected);
    assert_eq!(many.me["groups_overage"], false, "complete with respect to the kept groups");
    assert_eq!(many.principal_groups(), expected);
    assert_eq!(many.assertion_groups(), expected);
    assert_eq!(two.me_groups(), lower(&[KEPT[1], KEPT[2]]));
}

#[tokio::test]
async fn a_group_outside_the_kept_set_never_reaches_the_app() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[("SSO_SESSION_GROUPS", KEPT[1]), ("SSO_ALLOWED_GROUPS", KEPT[0])]).await;
    let seen = sign_in_with_groups(&app, &idp, &[OTHER.to_owned(), KEPT[0].to_owned(), KEPT[1].to_owned()]).await;
    for (place, text) in [
        ("/api/me", seen.me.to_string()),
        ("X-MS-CLIENT-PRINCIPAL", String::from_utf8(STANDARD.decode(&seen.principal).unwrap()).unwrap()),
        ("X-SSO-Assertion", seen.assertion_groups().join(",")),
    ] {
        assert!(!text.contains(OTHER), "{place}: {text}");
    }
    assert_eq!(seen.me_groups(), [KEPT[0], KEPT[1]], "the allowed groups are kept with the listed ones");

    // Unset, today's behaviour: every group.
    let app = spawn_app(&idp.issuer, &[("SSO_ALLOWED_GROUPS", KEPT[0])]).await;
    let seen = sign_in_with_groups(&app, &idp, &[OTHER.to_owned(), KEPT[0].to_owned()]).await;
    assert_eq!(seen.me_groups(), [OTHER, KEPT[0]]);
}

#[tokio::test]
async fn a_group_requirement_sessions_cannot_carry_is_misconfigured() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[("SSO_SESSION_GROUPS", &kept_setting())]).await;
    let Flow { mut jar, state, nonce } = start(&app).await;
    let mut claims = idp.claims(&nonce);
    claims["groups"] = json!([KEPT[4], OTHER]);
    idp.set_id_token(sign_rs256(test_key(0), "k0", &claims));
    let r = app.callback(&mut jar, &format!("https://app.example.test/api/callback?code=c&state={state}")).await;
    jar.absorb(r.headers());
    let auth = |query: String| {
        let (base, cookie) = (app.base.clone(), jar.header());
        async move {
            client()
                .get(format!("{base}/api/auth{query}"))
                .header("cookie", cookie)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(auth(format!("?group={}", KEPT[4].to_ascii_uppercase())).await.status(), 200);
    assert_eq!(error_code(auth(format!("?group={}", KEPT[1])).await).await, (403, "access_denied_by_policy".into()));
    // The user is in OTHER, but sessions never carry it: no user could ever pass, so say so.
    let (status, code) = error_code(auth(format!("?group={OTHER}&group={}", KEPT[4])).await).await;
    assert_eq!((status, code.as_str()), (500, "misconfigured"));
}

#[tokio::test]
async fn a_bearer_caller_keeps_only_the_kept_groups_too() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.authority, &[("SSO_SESSION_GROUPS", &kept_setting())]).await;
    let now = entra_sso::support::time::now();
    let claims = json!({
        "aud": CLIENT_ID, "iss": idp.issuer_for(TENANT), "ver": "2.0", "tid": TENANT,
        "oid": "00000000-0000-0000-66f3-3332eca7ea81", "sub": "sub-of-abe", "azp": "11111111-5555-4555-8555-555555555555",
        "scp": "access_as_user", "iat": now, "nbf": now, "exp": now + 3600, "groups": many_groups()[..150],
    });
    let token = sign_rs256(test_key(0), "k0", &claims);
    let (principal, assertion) = identity_headers(&app, |r| r.bearer_auth(&token)).await;
    let me = client().get(format!("{}/api/me", app.base)).bearer_auth(&token).send().await.unwrap();
    let seen = Seen { set_cookie: String::new(), me: me.json().await.unwrap(), principal, assertion };
    let expected = lower(&[KEPT[0]]);
    assert_eq!(seen.me_groups(), expected);
    assert_eq!(seen.me["groups_overage"], false);
    assert_eq!(seen.principal_groups(), expected);
    assert_eq!(seen.assertion_groups(), expected);
}
