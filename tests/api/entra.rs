//! Entra fidelity: multi-tenant issuers, personal accounts, key–issuer binding, groups overage,
//! policy, front-channel logout, and a provider that is down.

use std::sync::atomic::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::idp_fake::*;

#[tokio::test]
async fn organizations_template_admits_listed_tenants_only() {
    let (idp, _s) = FakeIdp::spawn_multi("organizations").await;
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", TENANT)]).await;
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", tenant_claims(&idp, TENANT)).await.status, 302, "allowed tenant");
    let SignIn { status, code, .. } = sign_in_with(&app, &idp, 0, "k0", tenant_claims(&idp, OTHER_TENANT)).await;
    assert_eq!((status, code.as_str()), (403, "access_denied_by_policy"), "tenant not on the list");

    // `iss` must be the template filled with the token's own `tid`.
    let mut crossed = tenant_claims(&idp, TENANT);
    crossed["iss"] = idp.issuer_for(OTHER_TENANT).into();
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", crossed).await.code, "id_token_invalid");
    let mut no_tid = tenant_claims(&idp, TENANT);
    no_tid.as_object_mut().unwrap().remove("tid");
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", no_tid).await.code, "id_token_invalid");
}

#[tokio::test]
async fn personal_accounts_only_where_the_authority_admits_them() {
    let (idp, _s) = FakeIdp::spawn_multi("organizations").await;
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", "*")]).await;
    let SignIn { status, code, .. } = sign_in_with(&app, &idp, 0, "k0", tenant_claims(&idp, MSA_TENANT)).await;
    assert_eq!((status, code.as_str()), (403, "access_denied_by_policy"), "organizations excludes personal accounts");
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", tenant_claims(&idp, OTHER_TENANT)).await.status, 302);

    let (idp, _s) = FakeIdp::spawn_multi("common").await;
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", "*")]).await;
    assert_eq!(
        sign_in_with(&app, &idp, 0, "k0", tenant_claims(&idp, MSA_TENANT)).await.status,
        302,
        "common admits them"
    );
}

#[tokio::test]
async fn a_personal_account_key_cannot_sign_for_a_work_tenant() {
    // The JWKS has the shape of Microsoft's `common` keys: work keys carry the template, the
    // personal-account key carries the personal tenant's issuer.
    let (idp, _s) = FakeIdp::spawn_multi("common").await;
    let msa_issuer = idp.issuer_for(MSA_TENANT);
    *idp.jwks.lock().unwrap() = json!({"keys": [
        jwk(test_key(0), "work", Some(&idp.issuer)),
        jwk(test_key(1), "msa", Some(&msa_issuer)),
    ]});
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_TENANTS", "*")]).await;
    assert_eq!(sign_in_with(&app, &idp, 1, "msa", tenant_claims(&idp, MSA_TENANT)).await.status, 302);
    assert_eq!(sign_in_with(&app, &idp, 0, "work", tenant_claims(&idp, TENANT)).await.status, 302);
    let SignIn { status, code, .. } = sign_in_with(&app, &idp, 1, "msa", tenant_claims(&idp, TENANT)).await;
    assert_eq!((status, code.as_str()), (401, "id_token_invalid"), "personal key, work-tenant claims");
}

#[tokio::test]
async fn groups_overage_becomes_an_explicit_flag() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await;
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/entra/id-token-v2-groups-overage.claims.json")).unwrap();
    let mut claims = idp.claims("");
    claims["_claim_names"] = fixture["_claim_names"].clone();
    claims["_claim_sources"] = fixture["_claim_sources"].clone();
    let SignIn { status, mut jar, .. } = sign_in_with(&app, &idp, 0, "k0", claims).await;
    assert_eq!(status, 302);
    let (_, me) = app.me(&mut jar).await;
    assert_eq!(me["groups_overage"], true);
    assert_eq!(me["groups"], json!([]));
}

#[tokio::test]
async fn huge_claims_keep_the_session_cookie_under_4_kb() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await;
    let mut claims = idp.claims("");
    claims["groups"] = (0..200).map(|i| format!("{i:08}-0000-4000-8000-000000000000")).collect::<Vec<_>>().into();
    claims["roles"] = (0..100).map(|i| format!("Role.{i:04}")).collect::<Vec<_>>().into();
    claims["name"] = "N".repeat(2000).into();
    let Flow { mut jar, state, nonce } = start(&app).await;
    claims["nonce"] = nonce.into();
    idp.set_id_token(sign_rs256(test_key(0), "k0", &claims));
    let r = app.callback(&mut jar, &format!("https://app.example.test/api/callback?code=c&state={state}")).await;
    assert_eq!(r.status(), 302);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-sso-session="))
        .unwrap();
    assert!(cookie.len() < 4096, "Set-Cookie is {} bytes", cookie.len());
    jar.absorb(r.headers());
    let (_, me) = app.me(&mut jar).await;
    assert_eq!(me["groups_overage"], true, "groups that did not fit are flagged, not silently dropped");
    assert!(me["name"].as_str().unwrap().len() <= 256);
}

#[tokio::test]
async fn role_policy_refuses_then_admits() {
    let app = TestApp::with_dev_idp(&[("SSO_REQUIRED_ROLES", "Admin")]).await;
    let mut jar = Jar::default();
    let r = app.sign_in(&mut jar, "alice").await;
    assert_eq!(error_code(r).await, (403, "access_denied_by_policy".into()), "alice has no Admin role");
    assert_eq!(app.me(&mut jar).await.0, 401);
    let r = app.sign_in(&mut jar, "bob").await;
    assert_eq!(r.status(), 302, "bob holds Admin");
}

#[tokio::test]
async fn group_policy_refuses_then_admits() {
    let idp = spawn_idp().await;
    let alice_group = entra_sso::dev_idp::users::find("alice").unwrap().groups[0];
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_GROUPS", alice_group)]).await;
    let mut jar = Jar::default();
    assert_eq!(error_code(app.sign_in(&mut jar, "bob").await).await, (403, "access_denied_by_policy".into()));
    assert_eq!(app.sign_in(&mut jar, "alice").await.status(), 302);
}

#[tokio::test]
async fn group_policy_denies_on_overage() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[("SSO_ALLOWED_GROUPS", "0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e")]).await;
    let mut claims = idp.claims("");
    claims["groups"] = json!(["0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e"]);
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", claims).await.status, 302);
    let mut claims = idp.claims("");
    claims["hasgroups"] = true.into();
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", claims).await.code, "access_denied_by_policy");
}

#[tokio::test]
async fn email_domain_policy_refuses_then_admits() {
    let idp = spawn_idp().await;
    let mut jar = Jar::default();
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_EMAIL_DOMAINS", "contoso.com")]).await;
    assert_eq!(error_code(app.sign_in(&mut jar, "alice").await).await, (403, "access_denied_by_policy".into()));
    let app = spawn_app(&idp.authority, &[("SSO_ALLOWED_EMAIL_DOMAINS", "dev.example")]).await;
    assert_eq!(app.sign_in(&mut jar, "alice").await.status(), 302);
}

#[tokio::test]
async fn frontchannel_logout_clears_the_session_and_may_be_framed_by_the_idp_only() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "alice").await;
    assert_eq!(app.me(&mut jar).await.0, 200);
    let token = jar.get("__Host-sso-session").unwrap();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let sid = claims["sid"].as_str().expect("the dev IdP sends sid");
    // Entra's shape: `sid` alone, no `iss`.
    let url = format!("{}/api/logout/frontchannel?sid={sid}", app.base);
    let r = client().get(url).header("cookie", jar.header()).header("sec-fetch-dest", "iframe").send().await.unwrap();
    jar.absorb(r.headers());
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors http://127.0.0.1:"), "{csp}");
    assert!(r.headers().get("x-frame-options").is_none());
    assert_eq!(app.me(&mut jar).await.0, 401);
}

#[tokio::test]
async fn rp_initiated_logout_carries_the_login_hint() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    app.sign_in(&mut jar, "bob").await;
    let r = client()
        .post(format!("{}/api/logout", app.base))
        .header("cookie", jar.header())
        .header("origin", "https://app.example.test")
        .send()
        .await
        .unwrap();
    let target = location(&r);
    assert_eq!(query_param(&target, "logout_hint").as_deref(), Some("dev-hint-bob"));
    assert_eq!(query_param(&target, "client_id").as_deref(), Some(CLIENT_ID));
}

#[tokio::test]
async fn cold_start_with_the_idp_unreachable_still_serves_login() {
    // A closed port: discovery and keys cannot be fetched.
    let port = free_port();
    let app = spawn_app(&format!("http://127.0.0.1:{port}/{TENANT}/v2.0"), &[]).await;
    app.app.prefetch();
    let Flow { mut jar, state, .. } = start(&app).await;
    let r = app.callback(&mut jar, &format!("https://app.example.test/api/callback?code=c&state={state}")).await;
    assert_eq!(
        error_code(r).await,
        (502, "idp_unavailable".into()),
        "the callback fails with a page, before spending the code"
    );
}

#[tokio::test]
async fn last_good_keys_are_kept_while_the_jwks_endpoint_fails() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = spawn_app(&idp.issuer, &[]).await;
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", idp.claims("")).await.status, 302);
    *idp.jwks.lock().unwrap() = Value::Null; // the endpoint now answers 503
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", idp.claims("")).await.status, 302, "cached key still verifies");
    let fetches = idp.jwks_requests.load(Ordering::SeqCst);
    let SignIn { status, code, .. } = sign_in_with(&app, &idp, 1, "new-kid", idp.claims("")).await;
    assert_eq!((status, code.as_str()), (502, "idp_unavailable"), "an unknown kid while the JWKS is down");
    assert_eq!(idp.jwks_requests.load(Ordering::SeqCst), fetches + 1);
}
