//! The dev identity provider: Entra's paths and error shapes, and its containment (loopback
//! `Host` only, no framing, fresh key per run, refuses cloud runtimes).

use serde_json::Value;

use crate::helpers::*;

/// Runs a login and the sign-in form; returns (verifier-less callback URL, authorize URL).
async fn code_for(idp: &TestIdp) -> (String, String) {
    let app = spawn_app(&idp.authority, &[]).await;
    let mut jar = Jar::default();
    let authorize = app.login(&mut jar, "/").await;
    let cb = idp_sign_in(&authorize, "alice").await;
    (query_param(&cb, "code").unwrap(), authorize)
}

async fn redeem(idp: &TestIdp, fields: &[(&str, &str)]) -> (u16, Value) {
    post_form(&idp.authority.replace("/v2.0", "/oauth2/v2.0/token"), fields).await
}

fn aadsts(v: &Value) -> u64 {
    assert!(v["error_description"].as_str().unwrap().starts_with(&format!("AADSTS{}:", v["error_codes"][0])));
    assert!(v["trace_id"].is_string() && v["correlation_id"].is_string() && v["timestamp"].is_string());
    v["error_codes"][0].as_u64().unwrap()
}

#[tokio::test]
async fn token_endpoint_checks_client_redirect_pkce_and_single_use() {
    let idp = spawn_idp().await;
    let (code, _) = code_for(&idp).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("redirect_uri", REDIRECT_URI),
        ("code", code.as_str()),
    ];
    let wrong_verifier = "x".repeat(43);
    let with = |k: &str, v: &'static str| -> Vec<(&str, &str)> {
        let mut fields: Vec<(&str, &str)> =
            base.iter().map(|&(bk, bv)| if bk == k { (bk, v) } else { (bk, bv) }).collect();
        fields.push(("code_verifier", wrong_verifier.as_str()));
        fields
    };
    let (status, v) = redeem(&idp, &with("client_secret", "wrong")).await;
    assert_eq!((status, v["error"].as_str(), aadsts(&v)), (401, Some("invalid_client"), 7000215));
    // A wrong verifier consumes the code, as at Entra.
    let (status, v) = redeem(&idp, &with("grant_type", "authorization_code")).await;
    assert_eq!((status, v["error"].as_str(), aadsts(&v)), (400, Some("invalid_grant"), 501481));
    let (status, v) = redeem(&idp, &with("grant_type", "authorization_code")).await;
    assert_eq!((status, aadsts(&v)), (400, 54005), "a redeemed code is refused");

    let (code, _) = code_for(&idp).await;
    let fields: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("redirect_uri", "https://other.example/api/callback"),
        ("code", &code),
        ("code_verifier", "x"),
    ];
    let (status, v) = redeem(&idp, &fields).await;
    assert_eq!((status, aadsts(&v)), (400, 50011));
}

#[tokio::test]
async fn discovery_and_keys_mirror_entra() {
    let idp = spawn_idp().await;
    let d = get_json(&format!("{}/.well-known/openid-configuration", idp.authority)).await;
    assert_eq!(d["issuer"], idp.authority);
    let base = idp.authority.trim_end_matches("/v2.0");
    assert_eq!(d["authorization_endpoint"], format!("{base}/oauth2/v2.0/authorize"));
    assert_eq!(d["jwks_uri"], format!("{base}/discovery/v2.0/keys"));
    let keys = get_json(d["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(keys["keys"][0]["kty"], "RSA");
    assert_eq!(keys["keys"][0]["issuer"], idp.authority);

    // `DevIdp::new` (as `entra-sso dev` uses it) makes its own key; the tests share one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let client_reg = entra_sso::dev_idp::DevClient {
        client_id: CLIENT_ID.into(),
        client_secret: None,
        redirect_uri: REDIRECT_URI.into(),
    };
    let fresh = std::sync::Arc::new(
        entra_sso::dev_idp::DevIdp::new(&base, entra_sso::dev_idp::DEV_TENANT, client_reg).unwrap(),
    );
    let other_authority = fresh.authority().to_owned();
    let _other = serve_on(listener, fresh);
    let other_keys: Value = client()
        .get(format!("{}/discovery/v2.0/keys", other_authority.trim_end_matches("/v2.0")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(keys["keys"][0]["kid"], other_keys["keys"][0]["kid"], "a fresh signing key per run");
}

#[tokio::test]
async fn only_loopback_hosts_are_answered_and_pages_refuse_framing() {
    let idp = spawn_idp().await;
    let (_, authorize) = code_for(&idp).await;
    let r = client().get(&authorize).header("host", "idp.example.com").send().await.unwrap();
    assert_eq!(r.status(), 421);
    let r = client().get(&authorize).send().await.unwrap();
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(r.text().await.unwrap().contains("Development identity provider"));
}

#[tokio::test]
async fn unknown_redirect_uri_gets_a_page_not_a_redirect() {
    let idp = spawn_idp().await;
    let (_, authorize) = code_for(&idp).await;
    let r = client().get(authorize.replace("app.example.test", "evil.example")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
}

#[test]
fn dev_refuses_to_run_inside_a_cloud_runtime() {
    for marker in entra_sso::config::CLOUD_MARKERS {
        let out = without_cloud_markers(&mut std::process::Command::new(env!("CARGO_BIN_EXE_entra-sso")))
            .args(["dev", "--port", "0", "--idp-port", "0"])
            .env(marker.variable, "custom")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", marker.variable);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(marker.variable) && stderr.contains(marker.platform), "{stderr}");
    }
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let port = free_port();
    let mut child = without_cloud_markers(&mut std::process::Command::new(env!("CARGO_BIN_EXE_entra-sso")))
        .arg("serve")
        .envs(
            TestSettings::new()
                .with("SSO_TENANT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
                .with("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .with("RUST_LOG", "off")
                .vars(),
        )
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not listen");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
