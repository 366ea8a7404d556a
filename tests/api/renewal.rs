//! Silent renewal over HTTP against the dev identity provider and its own sign-in session: a
//! navigation with a session due or expired goes through `prompt=none` and back without any
//! page, keeping `auth_time`; a provider that needs a page sends the user to the interactive
//! sign-in; past the absolute limit the user is signed out; scripts hear `session_expired`; and
//! a user disabled at the provider is out at her next renewal.

use base64::Engine;
use entra_sso::dev_idp::DEV_SESSION_COOKIE;
use entra_sso::tokens::session::{SessionClaims, Sessions};
use serde_json::Value;

use crate::helpers::*;

const SESSION: &str = "__Host-sso-session";
const HOUR: u64 = 3600;

fn now() -> u64 {
    entra_sso::support::time::now()
}

/// A session for alice, signed as `app` signs them, with the given times (`exp` relative to now).
fn alice_session(app: &TestApp, auth_time: u64, iat: u64, exp: u64) -> String {
    let keys = session_keys(SECRET_A, CLIENT_ID, app.authority());
    let sessions = Sessions::new(keys, ISSUER.into(), CLIENT_ID.into(), 0);
    let mut claims = SessionClaims {
        iss: String::new(),
        aud: String::new(),
        sub: "alice-sub".into(),
        idp: app.authority().into(),
        oid: Some("a11ce000-0000-4000-8000-00000000a11c".into()),
        tid: Some(entra_sso::dev_idp::DEV_TENANT.into()),
        name: Some("Alice Example".into()),
        preferred_username: Some("alice@dev.example".into()),
        email: None,
        roles: vec![],
        groups: vec![],
        groups_overage: false,
        login_hint: Some("dev-hint-alice".into()),
        sid: None,
        iat,
        exp,
        auth_time: Some(auth_time),
    };
    sessions.mint(&mut claims, &entra_sso::idp::policy::Policy::default()).unwrap()
}

/// A browser: the app's cookies and, apart, the dev IdP's (another site).
#[derive(Default)]
struct Browser {
    app: Jar,
    idp: Jar,
}

impl Browser {
    /// A browser holding `session` and, when `idp_user` is given, a dev IdP session of that
    /// user, made by an interactive sign-in at the IdP.
    async fn with(app: &TestApp, session: &str, idp_user: Option<&str>) -> Browser {
        let mut b = Browser::default();
        if let Some(user) = idp_user {
            let r = b.interactive(app, "/", user).await;
            assert_eq!(r.status(), 302, "interactive sign-in of {user}");
        }
        b.app.cookies.retain(|(n, _)| n != SESSION);
        b.app.cookies.push((SESSION.into(), session.into()));
        b
    }

    /// A navigation (`Sec-Fetch-Mode: navigate`) to `url`, on the app or the IdP by its host.
    async fn navigate(&mut self, url: &str) -> reqwest::Response {
        let jar = if url.starts_with("http://127.0.0.1") && url.contains("/oauth2/") || url.contains("/dev/users/") {
            &mut self.idp
        } else {
            &mut self.app
        };
        let r =
            client().get(url).header("cookie", jar.header()).header("sec-fetch-mode", "navigate").send().await.unwrap();
        jar.absorb(r.headers());
        r
    }

    /// The whole interactive sign-in of `user` from `/api/login`, through the IdP's page.
    async fn interactive(&mut self, app: &TestApp, return_to: &str, user: &str) -> reqwest::Response {
        let authorize = app.login(&mut self.app, return_to).await;
        let page = self.navigate(&authorize).await;
        assert_eq!(page.status(), 200, "the IdP shows its sign-in page");
        let (endpoint, query) = authorize.split_once('?').unwrap();
        let r = client()
            .post(endpoint)
            .header("cookie", self.idp.header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("{query}&user={user}"))
            .send()
            .await
            .unwrap();
        self.idp.absorb(r.headers());
        if r.status() != 302 {
            return r;
        }
        app.callback(&mut self.app, &location(&r)).await
    }

    /// The claims of the app's session cookie, read without verifying.
    fn session(&self) -> Value {
        let token = self.app.get(SESSION).expect("a session cookie");
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }
}

/// An absolute URL of the deployment (`https://app.example.test/…`) on the test instance.
fn on(app: &TestApp, url: &str) -> String {
    match url.strip_prefix("https://app.example.test") {
        Some(path) => format!("{}{path}", app.base),
        None if url.starts_with('/') => format!("{}{url}", app.base),
        None => url.to_owned(),
    }
}

/// `/api/auth?redirect=1` for a navigation to `page`: what a proxy asks.
async fn auth_navigation(app: &TestApp, b: &Browser, query: &str, page: &str) -> reqwest::Response {
    client()
        .get(format!("{}/api/auth{query}", app.base))
        .header("cookie", b.app.header())
        .header("sec-fetch-mode", "navigate")
        .header("x-forwarded-uri", page)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_expired_session_renews_without_a_page_and_keeps_auth_time() {
    let app = TestApp::with_dev_idp(&[]).await;
    let t = now();
    let (auth_time, iat, exp) = (t - 3 * HOUR, t - 2 * HOUR, t - HOUR);
    let mut b = Browser::with(&app, &alice_session(&app, auth_time, iat, exp), Some("alice")).await;

    let r = auth_navigation(&app, &b, "?redirect=1", "/work/form?draft=7").await;
    assert_eq!(r.status(), 302);
    let renew = location(&r);
    assert_eq!(
        renew,
        "https://app.example.test/api/login?return_to=%2Fwork%2Fform%3Fdraft%3D7&prompt=none&login_hint=dev-hint-alice"
    );
    let r = b.navigate(&on(&app, &renew)).await;
    assert_eq!(r.status(), 302);
    let authorize = location(&r);
    assert_eq!(query_param(&authorize, "prompt").as_deref(), Some("none"));
    let r = b.navigate(&authorize).await;
    assert_eq!(r.status(), 302, "the dev IdP answers prompt=none from its session, with no page");
    let callback = location(&r);
    assert!(query_param(&callback, "code").is_some() && query_param(&callback, "error").is_none(), "{callback}");
    let r = app.callback(&mut b.app, &callback).await;
    assert_eq!((r.status().as_u16(), location(&r)), (302, "/work/form?draft=7".into()), "back on the page");

    let renewed = b.session();
    assert_eq!(renewed["auth_time"], auth_time, "the interactive sign-in's time is kept");
    assert!(renewed["iat"].as_u64().unwrap() >= t && renewed["exp"].as_u64().unwrap() >= t + HOUR);
    let (status, me) = app.me(&mut b.app).await;
    assert_eq!((status, me["auth_time"].as_u64()), (200, Some(auth_time)));
    assert_eq!(auth_navigation(&app, &b, "?redirect=1", "/work").await.status(), 200, "renewed: accepted");
}

#[tokio::test]
async fn a_session_in_its_early_window_renews_navigations_and_serves_scripts() {
    let app = TestApp::with_dev_idp(&[]).await;
    let t = now();
    // Valid for two more minutes: inside the five-minute early window of a one-hour lifetime.
    let b = Browser::with(&app, &alice_session(&app, t - HOUR, t - HOUR + 120, t + 120), None).await;
    let r = auth_navigation(&app, &b, "?redirect=1", "/a").await;
    assert_eq!(r.status(), 302);
    assert!(location(&r).contains("prompt=none"), "{}", location(&r));
    // Without ?redirect=1 (nginx's error_page 401 pattern), the 401 carries the renewal URL.
    let r = auth_navigation(&app, &b, "", "/a").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["x-sso-login-url"].to_str().unwrap().contains("&prompt=none&login_hint=dev-hint-alice"));
    // A script with a valid session is simply served.
    let r = client().get(format!("{}/api/auth", app.base)).header("cookie", b.app.header()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut jar = b.app.clone();
    assert_eq!(app.me(&mut jar).await.0, 200);
}

#[tokio::test]
async fn login_required_falls_back_to_the_interactive_sign_in_page() {
    let app = TestApp::with_dev_idp(&[]).await;
    let t = now();
    // No dev IdP session in this browser: prompt=none cannot be answered without a page.
    let mut b = Browser::with(&app, &alice_session(&app, t - 3 * HOUR, t - 2 * HOUR, t - HOUR), None).await;
    let renew = location(&auth_navigation(&app, &b, "?redirect=1", "/back").await);
    let authorize = location(&b.navigate(&on(&app, &renew)).await);
    let callback = location(&b.navigate(&authorize).await);
    assert_eq!(query_param(&callback, "error").as_deref(), Some("login_required"));
    let r = app.callback(&mut b.app, &callback).await;
    assert_eq!(r.status(), 302, "never an error page");
    assert_eq!(location(&r), "/api/login?return_to=%2Fback");
    assert!(b.app.flow_cookies().is_empty(), "the silent flow's cookie is expired");
    let authorize = location(&b.navigate(&on(&app, "/api/login?return_to=%2Fback")).await);
    assert_eq!(query_param(&authorize, "prompt"), None, "interactive this time");
    let page = b.navigate(&authorize).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"user\" value=\"alice\""), "the sign-in page");
}

#[tokio::test]
async fn past_the_absolute_limit_the_user_signs_in_interactively() {
    let app = TestApp::with_dev_idp(&[]).await;
    let t = now();
    let b = Browser::with(&app, &alice_session(&app, t - 25 * HOUR, t - 2 * HOUR, t - HOUR), Some("alice")).await;
    let r = auth_navigation(&app, &b, "?redirect=1", "/p").await;
    assert_eq!((r.status().as_u16(), location(&r)), (302, "https://app.example.test/api/login?return_to=%2Fp".into()));
    let mut jar = b.app.clone();
    assert_eq!(app.me(&mut jar).await, (401, serde_json::json!({"error": "not_signed_in", "login_url": "/api/login"})));
    // A lowered SSO_SESSION_MAX_AGE applies to sessions already issued.
    let strict = spawn_app(app.authority(), &[("SSO_SESSION_MAX_AGE", "2h")]).await;
    let b = Browser::with(&app, &alice_session(&app, t - 3 * HOUR, t - 60, t + HOUR), None).await;
    let mut jar = b.app.clone();
    assert_eq!(app.me(&mut jar).await.0, 200);
    assert_eq!(strict.me(&mut jar).await.0, 401);
}

#[tokio::test]
async fn a_forged_prompt_none_login_cannot_extend_auth_time() {
    let app = TestApp::with_dev_idp(&[]).await;
    let t = now();
    // A valid session 20 hours into its day; the query claims a fresh auth_time.
    let mut b = Browser::with(&app, &alice_session(&app, t - 20 * HOUR, t - 60, t + HOUR), Some("alice")).await;
    let forged = format!("/api/login?return_to=%2F&prompt=none&auth_time={t}&at={t}");
    let authorize = location(&b.navigate(&on(&app, &forged)).await);
    let callback = location(&b.navigate(&authorize).await);
    assert_eq!(app.callback(&mut b.app, &callback).await.status(), 302);
    assert_eq!(b.session()["auth_time"], t - 20 * HOUR, "only the verified session supplies auth_time");

    // Past the absolute limit, a prompt=none sign-in is turned into an interactive one.
    let stale = alice_session(&app, t - 25 * HOUR, t - 2 * HOUR, t - HOUR);
    let mut b = Browser::with(&app, &stale, Some("alice")).await;
    let authorize = location(&b.navigate(&on(&app, "/api/login?return_to=%2Fx&prompt=none")).await);
    let callback = location(&b.navigate(&authorize).await);
    assert!(query_param(&callback, "code").is_some(), "the IdP itself would have answered");
    let r = app.callback(&mut b.app, &callback).await;
    assert_eq!((r.status().as_u16(), location(&r)), (302, "/api/login?return_to=%2Fx".into()));
    assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with(SESSION)));
    assert_eq!(b.app.get(SESSION), Some(stale.as_str()), "no new session");
}

#[tokio::test]
async fn scripts_with_an_expired_session_get_session_expired_and_the_renew_url() {
    let app = TestApp::with_dev_idp(&[]).await;
    let t = now();
    let b = Browser::with(&app, &alice_session(&app, t - 3 * HOUR, t - 2 * HOUR, t - HOUR), None).await;
    let mut jar = b.app.clone();
    let (status, body) = app.me(&mut jar).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::json!({"error": "session_expired", "login_url": "/api/login",
            "renew_url": "/api/login?prompt=none&login_hint=dev-hint-alice"})
    );
    let r = client()
        .get(format!("{}/api/auth", app.base))
        .header("cookie", b.app.header())
        .header("x-forwarded-uri", "/api/data")
        .header("sec-fetch-mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let header = r.headers()["x-sso-login-url"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "session_expired");
    assert_eq!(body["login_url"], "https://app.example.test/api/login?return_to=%2Fapi%2Fdata");
    assert_eq!(
        body["renew_url"],
        "https://app.example.test/api/login?return_to=%2Fapi%2Fdata&prompt=none&login_hint=dev-hint-alice"
    );
    assert_eq!(body["renew_url"], header.as_str());
}

#[tokio::test]
async fn a_disabled_user_is_out_at_her_next_renewal() {
    let app = TestApp::with_dev_idp(&[]).await;
    let idp = &app.idp.as_ref().unwrap().dev;
    let mut b = Browser::default();
    assert_eq!(b.interactive(&app, "/", "alice").await.status(), 302);
    assert_eq!(app.me(&mut b.app.clone()).await.0, 200);

    // The administrator disables her, over the dev IdP's control (loopback only).
    let control = app.authority().replace("/v2.0", "/dev/users/alice/disabled");
    let r = client().post(&control).body("true").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.json::<Value>().await.unwrap()["disabled"].as_bool()), (200, Some(true)));
    assert!(idp.is_disabled("alice"));

    // Her session reaches the end of its renewal lifetime.
    let t = now();
    let auth_time = b.session()["auth_time"].as_u64().unwrap();
    b.app.cookies.retain(|(n, _)| n != SESSION);
    b.app.cookies.push((SESSION.into(), alice_session(&app, auth_time, t - HOUR, t - 1)));
    let renew = location(&auth_navigation(&app, &b, "?redirect=1", "/").await);
    let authorize = location(&b.navigate(&on(&app, &renew)).await);
    let callback = location(&b.navigate(&authorize).await);
    assert_eq!(query_param(&callback, "error").as_deref(), Some("interaction_required"));
    assert!(query_param(&callback, "error_description").unwrap().starts_with("AADSTS50057:"));
    let r = app.callback(&mut b.app, &callback).await;
    assert_eq!((r.status().as_u16(), location(&r)), (302, "/api/login?return_to=%2F".into()));
    // The interactive sign-in fails at the provider's own page.
    let r = b.interactive(&app, "/", "alice").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50057"));
    assert_eq!(app.me(&mut b.app.clone()).await.0, 401, "she is out");

    // Enabled again (in process), she signs in as before.
    assert!(idp.set_disabled("alice", false));
    assert_eq!(b.interactive(&app, "/", "alice").await.status(), 302);
    assert_eq!(app.me(&mut b.app.clone()).await.0, 200);
}

#[tokio::test]
async fn the_dev_idp_session_answers_prompt_none_as_entra_does() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut b = Browser::default();
    assert_eq!(b.interactive(&app, "/", "alice").await.status(), 302);
    let cookie = b.idp.get(DEV_SESSION_COOKIE).expect("the dev IdP's session cookie").to_owned();
    assert!(cookie.starts_with("alice."), "{cookie}");

    let silent = |hint: &str| format!("/api/login?return_to=%2F&prompt=none{hint}");
    let error_for = async |b: &mut Browser, url: String| {
        let authorize = location(&b.navigate(&on(&app, &url)).await);
        let r = b.navigate(&authorize).await;
        assert_eq!(r.status(), 302, "never a page for prompt=none");
        let cb = location(&r);
        (query_param(&cb, "error"), query_param(&cb, "error_description").unwrap_or_default())
    };
    assert_eq!(error_for(&mut b, silent("&login_hint=ALICE%40dev.example")).await.0, None, "the hint matches");
    assert_eq!(error_for(&mut b, silent("&login_hint=dev-hint-alice")).await.0, None, "her ID token's login_hint too");
    let (error, description) = error_for(&mut b, silent("&login_hint=bob%40dev.example")).await;
    assert_eq!(error.as_deref(), Some("login_required"));
    assert!(description.starts_with("AADSTS50058:"), "{description}");
    // A forged cookie (bob with alice's MAC) is no session.
    let mac = cookie.split_once('.').unwrap().1;
    b.idp.cookies = vec![(DEV_SESSION_COOKIE.into(), format!("bob.{mac}"))];
    assert_eq!(error_for(&mut b, silent("")).await.0.as_deref(), Some("login_required"));
    // Signing out at the IdP ends its session.
    let logout = app.authority().replace("/v2.0", "/oauth2/v2.0/logout");
    b.idp.cookies = vec![(DEV_SESSION_COOKIE.into(), cookie)];
    let r = b.navigate(&logout).await;
    assert_eq!(r.status(), 200);
    assert!(b.idp.get(DEV_SESSION_COOKIE).is_none());
}
