//! The whole flow against the dev identity provider, and the stateless guarantees: any
//! instance finishes any flow, restarts and rotation break nothing, parallel tabs work, and a
//! callback cannot be replayed or injected into another browser.

use crate::helpers::*;

#[tokio::test]
async fn full_flow_login_callback_me_logout() {
    let app = TestApp::with_dev_idp(&[("SSO_POST_LOGOUT_REDIRECT_URI", "https://app.example.test/")]).await;
    let mut jar = Jar::default();

    let authorize = app.login(&mut jar, "/dashboard?tab=2").await;
    assert!(authorize.starts_with(&app.authority().replace("/v2.0", "/oauth2/v2.0/authorize?")));
    for p in ["client_id", "redirect_uri", "state", "nonce", "code_challenge"] {
        assert!(query_param(&authorize, p).is_some(), "authorize URL lacks {p}");
    }
    assert_eq!(query_param(&authorize, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(jar.flow_cookies().len(), 1);

    let cb = idp_sign_in(&authorize, "alice").await;
    let r = app.callback(&mut jar, &cb).await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/dashboard?tab=2");
    let set_cookies: Vec<&str> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let session = set_cookies.iter().find(|c| c.starts_with("__Host-sso-session=")).expect("session cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "session cookie lacks {attr}");
    }
    assert!(session.len() < 3584, "session cookie is {} bytes", session.len());
    assert!(jar.flow_cookies().is_empty(), "flow cookie cleared");

    let (status, claims) = app.me(&mut jar).await;
    assert_eq!(status, 200);
    assert_eq!(claims["name"], "Alice Example");
    assert_eq!(claims["preferred_username"], "alice@dev.example");
    assert_eq!(claims["tid"], entra_sso::dev_idp::DEV_TENANT);
    assert!(claims.get("id_token").is_none() && claims.get("access_token").is_none());

    let r = client()
        .post(format!("{}/api/logout?return_to=/", app.base))
        .header("cookie", jar.header())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let target = location(&r);
    assert!(target.contains("/oauth2/v2.0/logout?"), "{target}");
    assert_eq!(query_param(&target, "post_logout_redirect_uri").as_deref(), Some("https://app.example.test/"));
    jar.absorb(r.headers());
    assert!(jar.get("__Host-sso-session").is_none());
    let (status, body) = app.me(&mut jar).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "not_signed_in");
}

#[tokio::test]
async fn callback_on_another_instance_sharing_only_the_secret_succeeds() {
    let idp = spawn_idp().await;
    let a = spawn_app(&idp.authority, &[]).await;
    let b = spawn_app(&idp.authority, &[]).await;
    let mut jar = Jar::default();
    let r = sign_in(&a.base, &b.base, &mut jar, "bob").await;
    assert_eq!(r.status(), 302);
    let (status, claims) = me(&a.base, &mut jar).await;
    assert_eq!((status, claims["roles"][0].as_str()), (200, Some("Admin")), "session from B is valid on A");
}

#[tokio::test]
async fn restart_between_login_and_callback_succeeds() {
    let idp = spawn_idp().await;
    let mut jar = Jar::default();
    let first = spawn_app(&idp.authority, &[]).await;
    let authorize = login(&first.base, &mut jar, "/after").await;
    drop(first);
    let second = spawn_app(&idp.authority, &[]).await;
    let cb = idp_sign_in(&authorize, "alice").await;
    let r = callback(&second.base, &mut jar, &cb).await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/after");
}

#[tokio::test]
async fn rotation_with_the_old_secret_second_keeps_flows_and_sessions() {
    let idp = spawn_idp().await;
    let old = spawn_app(&idp.authority, &[("SSO_SECRET", SECRET_A)]).await;
    let rotated_secrets = format!("{SECRET_B},{SECRET_A}");
    let rotated = spawn_app(&idp.authority, &[("SSO_SECRET", &rotated_secrets)]).await;

    let mut signed_in = Jar::default();
    assert_eq!(sign_in(&old.base, &old.base, &mut signed_in, "alice").await.status(), 302);
    let mut in_flight = Jar::default();
    let authorize = login(&old.base, &mut in_flight, "/").await;

    assert_eq!(me(&rotated.base, &mut signed_in).await.0, 200, "session minted before rotation");
    let cb = idp_sign_in(&authorize, "alice").await;
    assert_eq!(callback(&rotated.base, &mut in_flight, &cb).await.status(), 302, "flow started before rotation");

    // Dropping the old secret too early is diagnosed, not reported as forgery.
    let new_only = spawn_app(&idp.authority, &[("SSO_SECRET", SECRET_B)]).await;
    let mut jar = Jar::default();
    let authorize = login(&old.base, &mut jar, "/").await;
    let cb = idp_sign_in(&authorize, "alice").await;
    assert_eq!(error_code(callback(&new_only.base, &mut jar, &cb).await).await, (400, "state_key_unknown".into()));
    assert_eq!(me(&new_only.base, &mut signed_in).await.0, 401);
}

#[tokio::test]
async fn two_tabs_in_one_browser_both_complete() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    let first = app.login(&mut jar, "/one").await;
    let second = app.login(&mut jar, "/two").await;
    assert_eq!(jar.flow_cookies().len(), 2);
    let cb2 = idp_sign_in(&second, "bob").await;
    let cb1 = idp_sign_in(&first, "alice").await;
    let r2 = app.callback(&mut jar, &cb2).await;
    assert_eq!((r2.status().as_u16(), location(&r2)), (302, "/two".into()));
    let r1 = app.callback(&mut jar, &cb1).await;
    assert_eq!((r1.status().as_u16(), location(&r1)), (302, "/one".into()));
    assert_eq!(app.me(&mut jar).await.1["name"], "Alice Example", "the last completed sign-in wins");
}

#[tokio::test]
async fn live_flow_cookies_are_capped_at_three() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    let mut authorize = Vec::new();
    for i in 0..5 {
        authorize.push(app.login(&mut jar, &format!("/{i}")).await);
        assert!(jar.flow_cookies().len() <= 3);
    }
    assert_eq!(jar.flow_cookies().len(), 3);
    // The newest flows still complete; the oldest lost its cookie.
    let cb = idp_sign_in(&authorize[4], "alice").await;
    assert_eq!(app.callback(&mut jar, &cb).await.status(), 302);
    let cb = idp_sign_in(&authorize[0], "alice").await;
    assert_eq!(error_code(app.callback(&mut jar, &cb).await).await, (400, "flow_cookie_missing".into()));
}

#[tokio::test]
async fn login_csrf_and_replay_are_refused() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut victim = Jar::default();
    let mut attacker = Jar::default();
    let authorize = app.login(&mut attacker, "/").await;
    let cb = idp_sign_in(&authorize, "bob").await;

    // The attacker's callback URL injected into the victim's browser.
    let r = app.callback(&mut victim, &cb).await;
    assert_eq!(error_code(r).await, (400, "flow_cookie_missing".into()));
    assert_eq!(app.me(&mut victim).await.0, 401, "victim is not signed in as the attacker");

    // The victim's own flow cookie does not unlock the attacker's state.
    app.login(&mut victim, "/").await;
    let mut forged = victim.clone();
    let victim_flow = forged.flow_cookies()[0].clone();
    let attacker_flow = attacker.flow_cookies()[0].clone();
    let value = forged.get(&victim_flow).unwrap().to_owned();
    forged.cookies.push((attacker_flow, value));
    assert_eq!(error_code(app.callback(&mut forged, &cb).await).await, (400, "flow_mismatch".into()));

    // The genuine browser succeeds once; the same URL again fails.
    let mut kept = attacker.clone();
    assert_eq!(app.callback(&mut attacker, &cb).await.status(), 302);
    assert_eq!(error_code(app.callback(&mut attacker, &cb).await).await, (400, "flow_cookie_missing".into()));
    // Even with the flow cookie kept, the code is single-use at the IdP.
    assert_eq!(error_code(app.callback(&mut kept, &cb).await).await, (502, "token_exchange_failed".into()));
}

#[tokio::test]
async fn idp_error_shows_the_description_only_for_a_genuine_state() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    let authorize = app.login(&mut jar, "/back").await;
    let cb = idp_post(&authorize, "action=cancel").await;
    assert_eq!(query_param(&cb, "error").as_deref(), Some("access_denied"));

    let r = app.callback(&mut jar, &cb).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("<code>idp_error</code>"));
    assert!(body.contains("access_denied: AADSTS65004"), "description shown");
    assert!(body.contains("return_to=%2Fback"), "try again keeps return_to");

    let forged = "https://app.example.test/api/callback?error=access_denied&error_description=%3Cscript%3ECall+1-800-SCAM&state=x.y.z";
    let r = app.callback(&mut jar, forged).await;
    let body = r.text().await.unwrap();
    assert!(body.contains("<code>idp_error</code>"));
    assert!(!body.contains("SCAM") && !body.contains("<script>"), "unverified description is not shown");
}

#[tokio::test]
async fn errors_answer_json_to_api_clients() {
    let app = TestApp::with_dev_idp(&[]).await;
    let r = client()
        .get(format!("{}/api/callback?code=abc", app.base))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "state_missing");
    assert!(v["request_id"].as_str().is_some_and(|s| s.len() == 16));

    let r = client().get(format!("{}/api/callback", app.base)).send().await.unwrap();
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn form_post_callback_answers_303_and_uses_samesite_none() {
    let app = TestApp::with_dev_idp(&[("SSO_RESPONSE_MODE", "form_post")]).await;
    let mut jar = Jar::default();
    let r = get(&format!("{}/api/login?return_to=/fp", app.base), &mut jar).await;
    let flow_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(flow_cookie.contains("SameSite=None") && flow_cookie.contains("Secure"));
    let authorize = location(&r);
    assert_eq!(query_param(&authorize, "response_mode").as_deref(), Some("form_post"));

    let (endpoint, query) = authorize.split_once('?').unwrap();
    let page = client()
        .post(endpoint)
        .body(format!("{query}&user=alice"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    let body = form_post_body(&html);
    let r = client()
        .post(format!("{}/api/callback", app.base))
        .header("cookie", jar.header())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/fp");
}

#[tokio::test]
async fn cross_site_logout_get_asks_for_confirmation() {
    let app = TestApp::with_dev_idp(&[("SSO_LOGOUT", "local")]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    let r = client()
        .get(format!("{}/api/logout?return_to=/bye", app.base))
        .header("cookie", jar.header())
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none(), "no sign-out without confirmation");
    assert!(r.text().await.unwrap().contains("method=\"post\""));
    let r = client()
        .get(format!("{}/api/logout?return_to=/bye", app.base))
        .header("cookie", jar.header())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (302, "/bye".into()), "local-only logout returns to return_to");
    jar.absorb(r.headers());
    assert_eq!(app.me(&mut jar).await.0, 401);
}

#[tokio::test]
async fn login_fetched_by_script_sets_no_cookie() {
    let app = TestApp::with_dev_idp(&[]).await;
    let r = client().get(format!("{}/api/login", app.base)).header("sec-fetch-mode", "cors").send().await.unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(error_code(r).await, (400, "not_a_navigation".into()));
}

#[test]
fn serve_refuses_to_start_without_a_secret_and_names_it() {
    let vars = TestSettings::new()
        .with("SSO_TENANT_ID", "contoso.onmicrosoft.com")
        .with("SSO_CLIENT_SECRET", "do-not-print-me")
        .with("SSO_SECRET", "short-secret");
    let run = crate::support::binary::run(&["serve"], &vars);
    assert_eq!(run.code, 2);
    let stderr = &run.stderr;
    assert!(stderr.contains("SSO_SECRET"), "{stderr}");
    assert!(!stderr.contains("short-secret") && !stderr.contains("do-not-print-me"), "{stderr}");
}
