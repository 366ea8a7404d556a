//! Apps that trust the sign-in: the published keys and discovery document, sessions verified
//! with nothing but a stock JWT library (`jsonwebtoken`) and the JWKS, `/api/auth` forward
//! authentication with App Service's identity headers, and the cookie scope settings.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::*;

const ALICE_GROUP: &str = "0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e";

/// The published JWKS of an instance.
async fn jwks(base: &str) -> JwkSet {
    let r = client().get(format!("{base}/api/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    r.json().await.unwrap()
}

/// Verifies `token` as a consumer would: the key by `kid` from the JWKS, ES256 only, `iss`,
/// `aud` and `exp` required and checked.
fn consume(set: &JwkSet, token: &str, audience: &str) -> Result<Value, String> {
    let kid = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or_else(|| format!("kid {kid} not published"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|t| t.claims).map_err(|e| e.to_string())
}

fn session_cookie(jar: &Jar) -> String {
    jar.get("__Host-sso-session").expect("signed in").to_owned()
}

#[tokio::test]
async fn a_stock_jwt_library_verifies_a_real_session_against_the_published_keys() {
    entra_sso::install_crypto();
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    assert_eq!(app.sign_in(&mut jar, "bob").await.status(), 302);
    let token = session_cookie(&jar);

    let discovery = get_json(&format!("{}/api/.well-known/openid-configuration", app.base)).await;
    assert_eq!(discovery["issuer"], ISSUER);
    assert_eq!(discovery["jwks_uri"], format!("{ISSUER}/jwks"));

    let set = jwks(&app.base).await;
    let claims = consume(&set, &token, CLIENT_ID).unwrap();
    assert_eq!(claims["oid"], "b0b00000-0000-4000-8000-000000000b0b");
    assert_eq!(claims["roles"], serde_json::json!(["Admin"]));
    assert_eq!(claims["idp"], app.authority(), "the IdP's issuer has its own claim");
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("entra-sso-session+jwt"));

    // What a consumer must refuse: another audience, a changed claim, an HS256 twin.
    assert!(consume(&set, &token, "some-other-app").unwrap_err().contains("InvalidAudience"));
    let (head, rest) = token.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let mut forged: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    forged["roles"] = serde_json::json!(["Owner"]);
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
    assert!(consume(&set, &format!("{head}.{forged}.{sig}"), CLIENT_ID).is_err());

    // Every instance with the same settings publishes the same keys: nothing to distribute.
    let second = spawn_app(app.authority(), &[]).await;
    assert_eq!(serde_json::to_value(jwks(&second.base).await).unwrap(), serde_json::to_value(&set).unwrap());
}

#[tokio::test]
async fn rotation_publishes_every_key_and_signs_with_the_first() {
    entra_sso::install_crypto();
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    let old_token = session_cookie(&jar);

    let rotated = spawn_app(app.authority(), &[("SSO_SECRET", &format!("{SECRET_B},{SECRET_A}"))]).await;
    let set = jwks(&rotated.base).await;
    assert_eq!(set.keys.len(), 2);
    assert!(consume(&set, &old_token, CLIENT_ID).is_ok(), "a session signed before the rotation still verifies");
    let (status, _) = rotated.me(&mut jar).await;
    assert_eq!(status, 200);

    let mut fresh = Jar::default();
    sign_in(&rotated.base, &rotated.base, &mut fresh, "alice").await;
    let new_kid = jsonwebtoken::decode_header(session_cookie(&fresh)).unwrap().kid.unwrap();
    assert_eq!(set.keys[0].common.key_id.as_deref(), Some(new_kid.as_str()), "the first secret's key signs");
    assert_ne!(jsonwebtoken::decode_header(&old_token).unwrap().kid.unwrap(), new_kid);
}

#[tokio::test]
async fn session_audience_is_what_consumers_check() {
    entra_sso::install_crypto();
    let app = TestApp::with_dev_idp(&[("SSO_SESSION_AUDIENCE", "api://orders")]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    let set = jwks(&app.base).await;
    assert_eq!(consume(&set, &session_cookie(&jar), "api://orders").unwrap()["aud"], "api://orders");
    assert_eq!(app.me(&mut jar).await.0, 200);
    // A session of the default audience is another deployment's to this one.
    let other = spawn_app(app.authority(), &[]).await;
    assert_eq!(other.me(&mut jar).await.0, 401);
}

/// `GET /api/auth` with the jar's cookies and extra headers.
async fn auth(base: &str, query: &str, jar: &Jar, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(format!("{base}/api/auth{query}")).header("cookie", jar.header());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn principal(r: &reqwest::Response) -> Value {
    serde_json::from_slice(&STANDARD.decode(r.headers()["x-ms-client-principal"].as_bytes()).unwrap()).unwrap()
}

#[tokio::test]
async fn forward_auth_answers_with_app_service_identity_headers() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut bob = Jar::default();
    app.sign_in(&mut bob, "bob").await;

    for method in ["GET", "POST", "DELETE"] {
        let r = client()
            .request(method.parse().unwrap(), format!("{}/api/auth", app.base))
            .header("cookie", bob.header())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method}: nginx's subrequest keeps the protected request's method");
    }
    let r = auth(&app.base, "", &bob, &[("proxy-sso-assertion", "1")]).await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["x-ms-client-principal-id"], "b0b00000-0000-4000-8000-000000000b0b");
    assert_eq!(h["x-ms-client-principal-name"], "bob@dev.example");
    assert_eq!(h["x-ms-client-principal-idp"], "aad");
    assert_eq!(h["x-sso-assertion"].to_str().unwrap(), session_cookie(&bob));
    assert_eq!(h["cache-control"], "no-store");
    let p = principal(&r);
    assert_eq!(p["auth_typ"], "aad");
    assert_eq!(p["role_typ"], "http://schemas.microsoft.com/ws/2008/06/identity/claims/role");
    let claims = p["claims"].as_array().unwrap();
    assert!(claims.contains(&serde_json::json!({"typ": "roles", "val": "Admin"})), "{claims:?}");
    assert!(claims.contains(
        &serde_json::json!({"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "b0b00000-0000-4000-8000-000000000b0b"})
    ));
    assert!(r.bytes().await.unwrap().is_empty(), "an auth answer has no body");

    // Per-route requirements.
    assert_eq!(auth(&app.base, "?role=Admin", &bob, &[]).await.status(), 200);
    assert_eq!(
        error_code(auth(&app.base, "?role=Admin&role=Owner", &bob, &[]).await).await,
        (403, "access_denied_by_policy".into())
    );
    let mut alice = Jar::default();
    app.sign_in(&mut alice, "alice").await;
    assert_eq!(error_code(auth(&app.base, "?role=Admin", &alice, &[]).await).await.0, 403);
    let group = format!("?group=00000000-0000-0000-0000-000000000000&group={}", ALICE_GROUP.to_uppercase());
    assert_eq!(auth(&app.base, &group, &alice, &[]).await.status(), 200, "one listed group suffices");
    assert_eq!(error_code(auth(&app.base, &group, &bob, &[]).await).await.0, 403);
    for bad in ["?rol=Admin", "?role=", "?redirect=yes", &format!("?{}", "role=a&".repeat(17))] {
        assert_eq!(error_code(auth(&app.base, bad, &bob, &[]).await).await, (400, "invalid_parameter".into()), "{bad}");
    }
}

#[tokio::test]
async fn forward_auth_sends_the_signed_out_to_sign_in_and_never_elsewhere() {
    let app = TestApp::with_dev_idp(&[("SSO_RETURN_ORIGINS", "https://orders.example.test")]).await;
    let nobody = Jar::default();

    let r = auth(&app.base, "", &nobody, &[("x-original-uri", "/reports?q=1")]).await;
    assert_eq!(r.status(), 401);
    let login = "https://app.example.test/api/login?return_to=%2Freports%3Fq%3D1";
    assert_eq!(r.headers()["x-sso-login-url"], login);
    let body: Value = r.json().await.unwrap();
    assert_eq!((body["error"].as_str(), body["login_url"].as_str()), (Some("not_signed_in"), Some(login)));

    // ?redirect=1: navigations are redirected, scripts still get 401.
    let nav = [("sec-fetch-mode", "navigate"), ("x-forwarded-uri", "/reports?q=1")];
    let r = auth(&app.base, "?redirect=1", &nobody, &nav).await;
    assert_eq!((r.status().as_u16(), location(&r)), (302, login.to_owned()));
    let r = auth(&app.base, "?redirect=1", &nobody, &[("sec-fetch-mode", "cors"), ("x-forwarded-uri", "/x")]).await;
    assert_eq!(r.status(), 401);
    let r = auth(&app.base, "?redirect=1", &nobody, &[("accept", "text/html"), ("x-forwarded-method", "POST")]).await;
    assert_eq!(r.status(), 401, "a POST is not redirected: its body would be lost");

    // The forwarded origin: this deployment's gives a path, a listed one an absolute URL, any
    // other is refused rather than becoming a redirect target.
    let from = |host: &'static str| {
        [
            ("sec-fetch-mode", "navigate"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", host),
            ("x-forwarded-uri", "/a"),
        ]
    };
    let r = auth(&app.base, "?redirect=1", &nobody, &from("app.example.test")).await;
    assert_eq!(location(&r), "https://app.example.test/api/login?return_to=%2Fa");
    let r = auth(&app.base, "?redirect=1", &nobody, &from("orders.example.test")).await;
    assert_eq!(location(&r), "https://app.example.test/api/login?return_to=https%3A%2F%2Forders.example.test%2Fa");
    let r = auth(&app.base, "?redirect=1", &nobody, &from("evil.example")).await;
    assert_eq!(error_code(r).await, (400, "return_to_rejected".into()));
    let r = auth(
        &app.base,
        "?redirect=1",
        &nobody,
        &[("sec-fetch-mode", "navigate"), ("x-original-uri", "//evil.example/")],
    )
    .await;
    assert_eq!(error_code(r).await, (400, "return_to_rejected".into()));
    // Without the switch a bad forwarded URI only loses its return address.
    let r = auth(&app.base, "", &nobody, &from("evil.example")).await;
    assert_eq!(r.headers()["x-sso-login-url"], "https://app.example.test/api/login");
}

#[tokio::test]
async fn forward_auth_applies_the_current_policy() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut alice = Jar::default();
    app.sign_in(&mut alice, "alice").await;
    let tenant = entra_sso::dev_idp::DEV_TENANT;
    let strict = spawn_app(app.authority(), &[("SSO_ALLOWED_TENANTS", tenant), ("SSO_REQUIRED_ROLES", "Admin")]).await;
    assert_eq!(error_code(auth(&strict.base, "", &alice, &[]).await).await, (403, "access_denied_by_policy".into()));
}

#[tokio::test]
async fn cookie_domain_shares_the_session_under_the_secure_prefix() {
    let app = TestApp::with_dev_idp(&[("SSO_COOKIE_DOMAIN", "example.test")]).await;
    let mut jar = Jar::default();
    let authorize = app.login(&mut jar, "/").await;
    assert!(jar.flow_cookies().iter().all(|c| c.starts_with("__Host-")), "the flow cookie stays host-only");
    let cb = idp_sign_in(&authorize, "alice").await;
    let r = app.callback(&mut jar, &cb).await;
    let set: Vec<&str> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let session = set.iter().find(|c| c.starts_with("__Secure-sso-session=")).expect("session cookie set");
    assert!(session.ends_with("; Domain=example.test") && session.contains("; Secure"), "{session}");
    assert!(!set.iter().any(|c| c.starts_with("__Host-sso-session=") && !c.contains("Max-Age=0")));
    assert_eq!(app.me(&mut jar).await.0, 200);
    // The host-only name is not read under a shared scope, and sign-out clears the shared one.
    let token = jar.get("__Secure-sso-session").unwrap().to_owned();
    let host_only = Jar { cookies: vec![("__Host-sso-session".into(), token)] };
    assert_eq!(auth(&app.base, "", &host_only, &[]).await.status(), 401);
    let r = client()
        .get(format!("{}/api/logout", app.base))
        .header("cookie", jar.header())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    let cleared = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(
        cleared.iter().any(|c| c.starts_with("__Secure-sso-session=;")
            && c.contains("Max-Age=0")
            && c.ends_with("Domain=example.test")),
        "{cleared:?}"
    );
}

// ---- cookie tossing under SSO_COOKIE_DOMAIN ---------------------------------------------------

/// A deployment whose cookie domain sits two labels below its registrable domain: the session
/// is shared with `eu.apps.example.test`, while hosts such as `evil.example.test` (outside it,
/// under the same registrable domain `example.test`) can still set cookies for
/// `apps.example.test` and `example.test`.
const TOSSED_REDIRECT_URI: &str = "https://login.eu.apps.example.test/api/callback";
const TOSSED_COOKIE_DOMAIN: &str = "eu.apps.example.test";

/// A browser's cookies for the hosts of `example.test`, keyed as browsers key them: by name
/// and `Domain` (empty for host-only), all with `Path=/`, oldest first. Every one of them is
/// sent to `login.eu.apps.example.test`.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String, String)>,
}

impl Browser {
    /// What a host outside the cookie domain can do: set a cookie for a parent domain.
    fn plant(&mut self, name: &str, domain: &str, value: &str) {
        self.absorb(&[format!(
            "{name}={value}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax; Domain={domain}"
        )]);
    }

    fn absorb(&mut self, set_cookies: &[String]) {
        for line in set_cookies {
            let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let domain = attributes
                .split(';')
                .find_map(|a| a.trim().strip_prefix("Domain="))
                .unwrap_or("")
                .trim_start_matches('.')
                .to_ascii_lowercase();
            self.cookies.retain(|(n, d, _)| !(n == name && *d == domain));
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), domain, value.to_owned()));
            }
        }
    }

    /// The cookies held, as `name (Domain=…)` without their values.
    fn held(&self) -> Vec<String> {
        self.cookies.iter().map(|(n, d, _)| format!("{n} (Domain={d})")).collect()
    }

    /// How many cookies named `name` the browser holds (and sends).
    fn count(&self, name: &str) -> usize {
        self.cookies.iter().filter(|(n, _, _)| n == name).count()
    }

    /// A request to the deployment with every cookie; the browser keeps what it sets, and the
    /// `Set-Cookie` lines are returned in order.
    async fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> (reqwest::Response, Vec<String>) {
        let cookie = self.cookies.iter().map(|(n, _, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
        let mut request = client().get(url).header("cookie", cookie);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.send().await.unwrap();
        let set: Vec<String> =
            r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        self.absorb(&set);
        (r, set)
    }
}

/// A dev identity provider registered for [`TOSSED_REDIRECT_URI`] and an instance against it
/// with [`TOSSED_COOKIE_DOMAIN`].
async fn tossed_deployment() -> (TestIdp, TestApp) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let client = entra_sso::dev_idp::DevClient {
        client_id: CLIENT_ID.into(),
        client_secret: Some(entra_sso::tokens::secret::SecretString::new(CLIENT_SECRET)),
        redirect_uri: TOSSED_REDIRECT_URI.into(),
    };
    let idp = entra_sso::dev_idp::DevIdp::with_key(&base, entra_sso::dev_idp::DEV_TENANT, client, dev_key()).unwrap();
    let idp = std::sync::Arc::new(idp);
    let authority = idp.authority().to_owned();
    let idp = TestIdp { authority, dev: std::sync::Arc::clone(&idp), _server: serve_on(listener, idp) };
    let app = spawn_app(
        &idp.authority,
        &[("SSO_REDIRECT_URI", TOSSED_REDIRECT_URI), ("SSO_COOKIE_DOMAIN", TOSSED_COOKIE_DOMAIN)],
    )
    .await;
    (idp, app)
}

/// A whole sign-in as `user` in `browser`; the callback's `Set-Cookie` lines.
async fn tossed_sign_in(app: &TestApp, browser: &mut Browser, user: &str) -> Vec<String> {
    let (r, _) = browser.get(&format!("{}/api/login?return_to=%2F", app.base), &[]).await;
    assert_eq!(r.status(), 302, "login");
    let callback = idp_sign_in(&location(&r), user).await;
    let path = callback.strip_prefix("https://login.eu.apps.example.test").expect("a callback to the redirect URI");
    let (r, set) = browser.get(&format!("{}{path}", app.base), &[]).await;
    assert_eq!(r.status(), 302, "callback: {:?}", error_code(r).await);
    set
}

/// `GET /api/me` in `browser`: the status and, when signed in, the user's name.
async fn tossed_me(app: &TestApp, browser: &mut Browser) -> (u16, Option<String>) {
    let (r, _) = browser.get(&format!("{}/api/me", app.base), &[]).await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (status, body["name"].as_str().map(str::to_owned))
}

/// The deletions sign-in and sign-out must send before the cookie of the deployment's own
/// domain: one per parent of the cookie domain up to the registrable domain, no further.
fn parent_expiries() -> Vec<String> {
    ["apps.example.test", "example.test"]
        .iter()
        .map(|d| format!("__Secure-sso-session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax; Domain={d}"))
        .collect()
}

#[tokio::test]
async fn sign_in_expires_a_session_cookie_planted_for_a_parent_of_the_cookie_domain() {
    let (_idp, app) = tossed_deployment().await;
    // The attacker signs in as themselves, then plants their session from evil.example.test
    // for the registrable domain.
    let mut attacker = Browser::default();
    tossed_sign_in(&app, &mut attacker, "bob").await;
    let bobs = attacker.cookies.iter().find(|(n, _, _)| n == "__Secure-sso-session").unwrap().2.clone();
    let mut victim = Browser::default();
    victim.plant("__Secure-sso-session", "example.test", &bobs);

    // The victim signs in: the planted cookie is expired, so theirs is the only one sent.
    let set = tossed_sign_in(&app, &mut victim, "alice").await;
    assert_eq!(
        tossed_me(&app, &mut victim).await,
        (200, Some("Alice Example".to_owned())),
        "the victim is signed in as themselves; the browser holds {:?}",
        victim.held()
    );
    let session_lines: Vec<&String> = set.iter().filter(|c| c.starts_with("__Secure-sso-session=")).collect();
    assert_eq!(session_lines.len(), 3, "{set:#?}");
    assert_eq!(session_lines[..2], parent_expiries().iter().collect::<Vec<_>>()[..], "expiries come first");
    // The cookie lives to the absolute limit (SSO_SESSION_MAX_AGE, 24 h), past the session's own
    // `exp`, so an expired session still reaches its renewal.
    assert!(session_lines[2].contains("Max-Age=86400") && session_lines[2].ends_with("; Domain=eu.apps.example.test"));
    assert_eq!(victim.count("__Secure-sso-session"), 1);

    // One planted after the sign-in is a duplicate: it signs the victim out, never in as bob.
    victim.plant("__Secure-sso-session", "apps.example.test", &bobs);
    assert_eq!(tossed_me(&app, &mut victim).await.0, 401);
}

#[tokio::test]
async fn sign_out_expires_a_session_cookie_planted_for_a_parent_of_the_cookie_domain() {
    let (_idp, app) = tossed_deployment().await;
    let mut attacker = Browser::default();
    tossed_sign_in(&app, &mut attacker, "bob").await;
    let bobs = attacker.cookies.iter().find(|(n, _, _)| n == "__Secure-sso-session").unwrap().2.clone();
    let mut victim = Browser::default();
    tossed_sign_in(&app, &mut victim, "alice").await;
    victim.plant("__Secure-sso-session", "apps.example.test", &bobs);

    // Signing out clears every cookie of that name the deployment's parents can hold: the
    // victim is signed out, not left signed in as the attacker.
    let (r, set) =
        victim.get(&format!("{}/api/logout?return_to=%2F", app.base), &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        tossed_me(&app, &mut victim).await,
        (401, None),
        "signed out; the browser holds {:?}; the logout set {set:?}",
        victim.held()
    );
    let mut expected = parent_expiries();
    expected.push(
        "__Secure-sso-session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax; Domain=eu.apps.example.test".into(),
    );
    assert_eq!(set, expected);
    assert_eq!(victim.count("__Secure-sso-session"), 0);
}
