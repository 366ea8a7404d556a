//! The security review's findings, each held by a test that failed before its fix: tenant-scoped
//! roles, sessions bound to their deployment and re-checked against the current policy, strong
//! secrets, outbound calls an attacker cannot exhaust, IdP text only for the flow's own browser,
//! logout CSRF, cookies found behind a site's own, revocation in the future, and ID-token edge
//! cases. (Server time-outs and Lambda events have their own files.)

use std::process::Command;
use std::sync::atomic::Ordering;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::idp_fake::*;

/// The claims of the session cookie in `jar` (read, not verified).
fn session_claims(jar: &Jar) -> Value {
    let token = jar.get("__Host-sso-session").expect("a session cookie");
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Asserts that `entra-sso serve` with these variables stops at once with exit code 2 and a
/// message that names each of `mentions`.
fn assert_serve_refuses(vars: &[(&str, &str)], mentions: &[&str]) {
    let (code, stderr) = serve_exits(vars).expect("serve must refuse to start");
    assert_eq!(code, 2, "{stderr}");
    for word in mentions {
        assert!(stderr.contains(word), "no `{word}` in: {stderr}");
    }
}

/// `entra-sso serve` with the shared client in tenant `contoso.onmicrosoft.com` and `vars` on
/// top: the exit code and stderr if it stops within 10 s, or `None` if it was still running (it
/// started).
fn serve_exits(vars: &[(&str, &str)]) -> Option<(i32, String)> {
    let settings = TestSettings::new()
        .with("SSO_TENANT_ID", "contoso.onmicrosoft.com")
        .with("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .with_all(vars);
    let run = crate::support::binary::run(&["serve"], &settings);
    (run.code != -1).then_some((run.code, run.stderr))
}

// 1. App-role and group rules trust any tenant (start-up refusal: `config::tests::role_and_group_rules_need_a_tenant_restriction`).

#[test]
fn serve_refuses_role_rules_open_to_every_tenant() {
    let vars = [
        ("SSO_TENANT_ID", "organizations"),
        ("SSO_ALLOWED_TENANTS", "*"),
        ("SSO_REQUIRED_ROLES", "Admin"),
        ("SSO_SECRET", SECRET_A),
    ];
    assert_serve_refuses(&vars, &["SSO_REQUIRED_ROLES", "tenant restriction"]);
}

// 2. Sessions bound to the deployment and re-checked against today's policy.

#[tokio::test]
async fn a_session_of_another_deployment_sharing_the_secret_is_refused() {
    // Staging and production on one app registration, authority and SSO_SECRET.
    let (idp, _s) = FakeIdp::spawn().await;
    let production = spawn_app(&idp.authority, &[]).await;
    let staging = spawn_app(&idp.authority, &[("SSO_REDIRECT_URI", "https://staging.example.test/api/callback")]).await;
    let SignIn { status, mut jar, .. } = sign_in_with(&staging, &idp, 0, "k0", idp.claims("")).await;
    assert_eq!(status, 302);
    assert_eq!(me(&staging.base, &mut jar).await.0, 200, "staging accepts its own session");
    assert_eq!(me(&production.base, &mut jar).await.0, 401, "production refuses staging's session");
}

#[tokio::test]
async fn a_tightened_role_rule_applies_to_sessions_already_issued() {
    let (idp, _s) = FakeIdp::spawn().await;
    let open = spawn_app(&idp.authority, &[]).await;
    let strict = spawn_app(&idp.authority, &[("SSO_REQUIRED_ROLES", "Admin")]).await;
    let SignIn { status, jar: mut member, .. } = sign_in_with(&open, &idp, 0, "k0", idp.claims("")).await;
    assert_eq!(status, 302);
    assert_eq!(me(&open.base, &mut member).await.0, 200);
    let (status, body) = me(&strict.base, &mut member).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied_by_policy")), "{body}");

    let mut admin_claims = idp.claims("");
    admin_claims["roles"] = json!(["Admin"]);
    let SignIn { jar: mut admin, .. } = sign_in_with(&open, &idp, 0, "k0", admin_claims).await;
    assert_eq!(me(&strict.base, &mut admin).await.0, 200, "a session meeting the rule still passes");
}

#[tokio::test]
async fn a_tenant_removed_from_the_list_loses_its_sessions() {
    let (idp, _s) = FakeIdp::spawn_multi("organizations").await;
    let both = format!("{TENANT},{OTHER_TENANT}");
    let wide = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", &both)]).await;
    let narrow = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", TENANT)]).await;
    let SignIn { status, jar: mut other, .. } =
        sign_in_with(&wide, &idp, 0, "k0", tenant_claims(&idp, OTHER_TENANT)).await;
    assert_eq!(status, 302);
    assert_eq!(me(&narrow.base, &mut other).await.0, 403);
    let SignIn { jar: mut listed, .. } = sign_in_with(&wide, &idp, 0, "k0", tenant_claims(&idp, TENANT)).await;
    assert_eq!(me(&narrow.base, &mut listed).await.0, 200);
}

// 3. Weak `SSO_SECRET` values (unit tests: `secret::tests::*`, `config::tests::weak_secrets_are_refused_with_the_generator_named`).

#[test]
fn serve_refuses_guessable_secrets_and_keygen_makes_good_ones() {
    for weak in ["CompanyName-SSO-Secret-Prod-2025!", &"a".repeat(32), &"password".repeat(4)] {
        let (code, stderr) = serve_exits(&[("SSO_SECRET", weak)]).unwrap_or_else(|| panic!("started with {weak}"));
        assert_eq!(code, 2);
        assert!(stderr.contains("SSO_SECRET") && stderr.contains("entra-sso keygen"), "{stderr}");
        assert!(!stderr.contains(weak), "the value is not echoed: {stderr}");
    }
    let keygen = || {
        let out = Command::new(env!("CARGO_BIN_EXE_entra-sso")).arg("keygen").output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (first, second) = (keygen(), keygen());
    assert_ne!(first, second);
    assert_eq!(URL_SAFE_NO_PAD.decode(&first).unwrap().len(), 32);
    assert!(serve_exits(&[("SSO_SECRET", &first)]).is_none(), "serve starts with a generated secret");
}

// 4. Outbound token calls: per-flow cap, and waiting for a permit instead of failing.

#[tokio::test]
async fn one_flow_cannot_drive_many_token_calls() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.authority, &[]).await;
    let Flow { mut jar, state, .. } = start(&app).await;
    let mut codes = Vec::new();
    for i in 0..10 {
        let cb = format!("https://app.example.test/api/callback?code=junk-{i}&state={state}");
        // The jar keeps the flow cookie: every failed callback leaves it in place.
        codes.push(error_code(app.callback(&mut jar, &cb).await).await);
    }
    let reached = idp.token_requests.load(Ordering::SeqCst);
    assert!(reached <= 2, "{reached} token calls from one flow: {codes:?}");
    assert_eq!(codes.last().unwrap(), &(429, "too_many_attempts".to_string()), "{codes:?}");
}

#[tokio::test]
async fn a_genuine_callback_succeeds_while_an_attacker_holds_every_permit() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.authority, &[]).await;
    *idp.token_fault.lock().unwrap() = Some(Fault::Delay(Duration::from_millis(700)));
    // Self-minted flows, one per permit and then some, each with a junk code.
    let attackers = entra_sso::idp::provider::token::MAX_CONCURRENT_REDEMPTIONS + 16;
    let mut flows = Vec::new();
    for _ in 0..attackers {
        let Flow { jar, state, .. } = start(&app).await;
        flows.push((jar, state));
    }
    let Flow { jar: mut genuine_jar, state: genuine_state, nonce } = start(&app).await;
    let honest = sign_rs256(test_key(0), "k0", &idp.claims(&nonce));
    *idp.token_factory.lock().unwrap() = Some(Box::new(move || honest.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    for (mut jar, state) in flows {
        let base = app.base.clone();
        tasks.spawn(async move {
            let cb = format!("https://app.example.test/api/callback?code=junk&state={state}");
            callback(&base, &mut jar, &cb).await.status()
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(idp.token_requests.load(Ordering::SeqCst) >= 32, "the attacker holds the permits");
    let cb = format!("https://app.example.test/api/callback?code=genuine&state={genuine_state}");
    let r = app.callback(&mut genuine_jar, &cb).await;
    assert_eq!(r.status(), 302, "the genuine callback waited for a permit: {:?}", error_code(r).await);
    assert_eq!(app.me(&mut genuine_jar).await.0, 200);
    tasks.join_all().await;
}

// 5. The IdP's error text only for the browser that started the flow.

#[tokio::test]
async fn idp_error_text_needs_the_flow_cookie_not_just_a_state() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut attacker = Jar::default();
    let authorize = app.login(&mut attacker, "/").await;
    let state = query_param(&authorize, "state").unwrap();
    let link = format!(
        "https://app.example.test/api/callback?error=access_denied&error_description={}&state={state}",
        urlencode("Your account is locked. Call +1 555 0100")
    );
    let victim = app.callback(&mut Jar::default(), &link).await;
    assert_eq!(victim.status(), 400);
    let page = victim.text().await.unwrap();
    assert!(page.contains("<code>idp_error</code>") && page.contains("access_denied"));
    assert!(!page.contains("locked") && !page.contains("555"), "attacker text on the victim's page");
    let own = app.callback(&mut attacker, &link).await.text().await.unwrap();
    assert!(own.contains("Your account is locked"), "the flow's own browser sees the description");
}

// 6. Logout CSRF.

async fn signed_in(idp: &TestIdp) -> (TestApp, Jar) {
    let app = spawn_app(&idp.authority, &[]).await;
    let mut jar = Jar::default();
    assert_eq!(app.sign_in(&mut jar, "alice").await.status(), 302);
    (app, jar)
}

#[tokio::test]
async fn a_cross_site_logout_post_only_asks_for_confirmation() {
    let idp = spawn_idp().await;
    let (app, mut jar) = signed_in(&idp).await;
    let cookie = jar.header();
    let post = |headers: &[(&str, &str)]| {
        let mut rb = client().post(format!("{}/api/logout?return_to=/", app.base)).header("cookie", &cookie);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send()
    };
    for headers in [
        &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")][..],
        &[("sec-fetch-site", "same-site"), ("origin", "https://sub.app.example.test")][..],
        &[("origin", "https://evil.example")][..],
        &[][..],
    ] {
        let r = post(headers).await.unwrap();
        assert_eq!(r.status(), 200, "{headers:?}");
        assert!(r.headers().get("set-cookie").is_none(), "{headers:?}: the session is not cleared");
        assert!(r.text().await.unwrap().contains("Sign out?"));
    }
    assert_eq!(app.me(&mut jar).await.0, 200);
    for headers in [&[("sec-fetch-site", "same-origin")][..], &[("origin", "https://app.example.test")][..]] {
        let r = post(headers).await.unwrap();
        assert_eq!(r.status(), 303, "{headers:?}");
    }
}

#[tokio::test]
async fn frontchannel_logout_only_in_a_frame_for_its_own_session() {
    let idp = spawn_idp().await;
    let (app, mut jar) = signed_in(&idp).await;
    let frontchannel = |query: String, dest: &'static str, jar: &Jar| {
        client()
            .get(format!("{}/api/logout/frontchannel{query}", app.base))
            .header("cookie", jar.header())
            .header("sec-fetch-dest", dest)
            .send()
    };
    let r = frontchannel(String::new(), "document", &jar).await.unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(error_code(r).await, (400, "not_a_frame".into()), "a top-level navigation signs no one out");

    let r = frontchannel(format!("?iss={}", urlencode("https://evil.example/v2.0")), "iframe", &jar).await.unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(error_code(r).await.1, "invalid_parameter", "another issuer's logout");

    let r = frontchannel("?sid=another-session".into(), "iframe", &jar).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none(), "another session's logout clears nothing");
    assert_eq!(app.me(&mut jar).await.0, 200);

    let sid = session_claims(&jar)["sid"].as_str().expect("the dev IdP sends sid").to_owned();
    let query = format!("?iss={}&sid={sid}", urlencode(&idp.authority));
    let r = frontchannel(query, "iframe", &jar).await.unwrap();
    assert_eq!(r.status(), 200);
    jar.absorb(r.headers());
    assert_eq!(app.me(&mut jar).await.0, 401, "this session's own logout clears it");
}

// 7. Cookies behind a site's own cookies.

#[tokio::test]
async fn our_cookies_are_read_behind_many_site_cookies() {
    let app = TestApp::with_dev_idp(&[]).await;
    let site: Vec<(String, String)> = (0..100).map(|i| (format!("site_cookie_{i}"), "x".repeat(20))).collect();
    // Browsers send the oldest cookies first: the site's, then ours.
    let mut jar = Jar { cookies: site.clone() };
    assert_eq!(app.sign_in(&mut jar, "alice").await.status(), 302, "flow cookie found");
    assert_eq!(app.me(&mut jar).await.0, 200, "session found");
    for _ in 0..5 {
        app.login(&mut jar, "/").await;
    }
    assert_eq!(jar.flow_cookies().len(), 3, "the live-flow cap still counts our cookies");
}

// 9. Revocation time in the future (unit test: `config::tests::session_not_before_in_the_future_is_refused`).

#[test]
fn serve_refuses_a_session_not_before_in_the_future() {
    let millis = (entra_sso::support::time::now() * 1000).to_string();
    let vars = [("SSO_SECRET", SECRET_A), ("SSO_SESSION_NOT_BEFORE", millis.as_str())];
    assert_serve_refuses(&vars, &["SSO_SESSION_NOT_BEFORE", "milliseconds"]);
}

// 10. ID-token edge cases.

#[tokio::test]
async fn an_id_token_with_an_extra_audience_is_refused() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.authority, &[]).await;
    let mut claims = idp.claims("");
    claims["aud"] = json!([CLIENT_ID, "api://another-app"]);
    let SignIn { status, code, .. } = sign_in_with(&app, &idp, 0, "k0", claims).await;
    assert_eq!((status, code.as_str()), (401, "id_token_invalid"));
    let mut claims = idp.claims("");
    claims["aud"] = json!([CLIENT_ID]);
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", claims).await.status, 302, "an array of this client alone");
}

#[tokio::test]
async fn an_upper_case_personal_tenant_is_not_admitted_under_organizations() {
    let (idp, _s) = FakeIdp::spawn_multi("organizations").await;
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", "*")]).await;
    let upper = MSA_TENANT.to_ascii_uppercase();
    let SignIn { status, code, .. } = sign_in_with(&app, &idp, 0, "k0", tenant_claims(&idp, &upper)).await;
    assert_ne!(status, 302, "personal account admitted through an upper-case tid");
    assert!(code == "access_denied_by_policy" || code == "id_token_invalid", "{code}");
    // An upper-case listed tenant is the same tenant: its GUID compares in lower case.
    let listed = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", TENANT)]).await;
    let mut claims = tenant_claims(&idp, TENANT);
    claims["tid"] = TENANT.to_ascii_uppercase().into();
    let SignIn { status, jar, .. } = sign_in_with(&listed, &idp, 0, "k0", claims).await;
    assert_eq!(status, 302);
    assert_eq!(session_claims(&jar)["tid"], TENANT, "stored in lower case");
}

// Found while writing docs/design.md against the code.

#[tokio::test]
async fn a_callback_without_its_flow_cookie_causes_no_provider_call() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.authority, &[]).await;
    let Flow { state, .. } = start(&app).await;
    let before = idp.requests.load(Ordering::SeqCst);
    let cb = format!("https://app.example.test/api/callback?code=c&state={state}");
    let r = app.callback(&mut Jar::default(), &cb).await;
    assert_eq!(error_code(r).await, (400, "flow_cookie_missing".into()));
    assert_eq!(idp.requests.load(Ordering::SeqCst), before, "a request not bound to a browser fetched discovery");
}

#[tokio::test]
async fn required_roles_survive_when_the_session_is_cut_to_fit() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.authority, &[("SSO_REQUIRED_ROLES", "Admin")]).await;
    let mut claims = idp.claims("");
    let mut roles: Vec<String> = (0..150).map(|i| format!("Reader.Department.{i:03}.{}", "x".repeat(24))).collect();
    roles.push("Admin".into());
    claims["roles"] = json!(roles);
    let SignIn { status, code, mut jar } = sign_in_with(&app, &idp, 0, "k0", claims).await;
    assert_eq!(status, 302, "{code}");
    let (status, body) = app.me(&mut jar).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["roles"].as_array().unwrap().iter().any(|r| r == "Admin"));
}

#[tokio::test]
async fn a_provider_that_is_not_the_configured_authority_is_a_misconfiguration() {
    // A generic OpenID Provider whose discovery names another issuer.
    let (idp, _s) = FakeIdp::spawn_multi("oidc_provider").await;
    let app = spawn_app(&idp.authority, &[]).await;
    let r = get(&format!("{}/api/login", app.base), &mut Jar::default()).await;
    assert_eq!(error_code(r).await, (500, "misconfigured".into()), "a setting to fix, not an outage to wait out");
}

#[tokio::test]
async fn return_to_is_capped_after_normalisation() {
    let app = TestApp::with_dev_idp(&[]).await;
    // 1,500 quotes are 1,500 bytes as sent and 4,500 once percent-encoded.
    let r = get(&format!("{}/api/login?return_to=/{}", app.base, "%22".repeat(1500)), &mut Jar::default()).await;
    assert_eq!(error_code(r).await, (400, "return_to_rejected".into()));
}
