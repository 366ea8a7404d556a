//! Identity-provider faults: every failure of the token endpoint or the key set ends in the
//! right error page within the configured time-out, the instance stays healthy, and the next
//! sign-in succeeds once the provider recovers.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::support::idp_fake::*;

const TIMEOUT: Duration = Duration::from_secs(1);

async fn app_for(authority: &str) -> TestApp {
    let mut s = settings(authority, &[]);
    s.request_timeout = TIMEOUT;
    s.connect_timeout = TIMEOUT;
    spawn_with(s).await
}

/// One sign-in with an honest token prepared; returns (status, code, seconds taken).
async fn attempt(app: &TestApp, idp: &FakeIdp) -> (u16, String, Duration) {
    let Flow { mut jar, state, nonce } = start(app).await;
    *idp.next_id_token.lock().unwrap() = Some(sign_rs256(test_key(0), "k0", &idp.claims(&nonce)));
    let started = Instant::now();
    let r = app.callback(&mut jar, &format!("https://app.example.test/api/callback?code=c&state={state}")).await;
    let took = started.elapsed();
    if r.status() == 302 {
        return (302, String::new(), took);
    }
    let (status, code) = error_code(r).await;
    (status, code, took)
}

async fn healthy(app: &TestApp) {
    let r = client().get(format!("{}/api/health", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn token_endpoint_faults_fail_cleanly_and_recover() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = app_for(&idp.authority).await;
    let faults = [
        (Fault::Delay(Duration::from_secs(3)), "times out"),
        (Fault::ServerError, "answers 500"),
        (Fault::InvalidJson, "answers invalid JSON"),
        (Fault::HtmlPage, "answers an HTML error page"),
        (Fault::Redirect, "redirects"),
    ];
    for (fault, what) in faults {
        *idp.token_fault.lock().unwrap() = Some(fault);
        let (status, code, took) = attempt(&app, &idp).await;
        assert_eq!((status, code.as_str()), (502, "token_exchange_failed"), "token endpoint {what}");
        assert!(took < TIMEOUT + Duration::from_secs(2), "token endpoint {what}: answered after {took:?}");
        healthy(&app).await;
        *idp.token_fault.lock().unwrap() = None;
        assert_eq!(attempt(&app, &idp).await.0, 302, "sign-in after the token endpoint {what} and recovered");
    }
}

#[tokio::test]
async fn a_slow_token_endpoint_within_the_time_out_is_fine() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = app_for(&idp.authority).await;
    *idp.token_fault.lock().unwrap() = Some(Fault::Delay(Duration::from_millis(300)));
    assert_eq!(attempt(&app, &idp).await.0, 302);
}

#[tokio::test]
async fn connection_refused_then_provider_comes_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let authority = format!("http://127.0.0.1:{port}/{TENANT}/v2.0");
    let app = app_for(&authority).await;
    let mut jar = Jar::default();
    let authorize = app.login(&mut jar, "/").await;
    let state = query_param(&authorize, "state").unwrap();
    let r = app.callback(&mut jar, &format!("https://app.example.test/api/callback?code=c&state={state}")).await;
    assert_eq!(error_code(r).await, (502, "idp_unavailable".into()));
    healthy(&app).await;

    let (idp, _s) = FakeIdp::spawn_on(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap()).await;
    // Discovery failed moments ago; fetching resumes after a short pause.
    tokio::time::sleep(entra_sso::idp::provider::FAILED_FETCH_PAUSE + Duration::from_millis(100)).await;
    assert_eq!(attempt(&app, &idp).await.0, 302);
}

#[tokio::test]
async fn jwks_unreachable_at_cold_start_then_recovers() {
    let (idp, _s) = FakeIdp::spawn().await;
    let keys = idp.jwks.lock().unwrap().clone();
    *idp.jwks.lock().unwrap() = serde_json::Value::Null; // 503
    let app = app_for(&idp.authority).await;
    app.app.prefetch();
    let (status, code, _) = attempt(&app, &idp).await;
    assert_eq!((status, code.as_str()), (502, "idp_unavailable"));
    healthy(&app).await;
    *idp.jwks.lock().unwrap() = keys;
    tokio::time::sleep(entra_sso::idp::provider::FAILED_FETCH_PAUSE + Duration::from_millis(100)).await;
    assert_eq!(attempt(&app, &idp).await.0, 302);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_token_calls_are_capped() {
    let (idp, _s) = FakeIdp::spawn().await;
    // Callbacks past the cap wait for a permit this long, then fail.
    let mut s = settings(&idp.authority, &[]);
    s.redemption_wait = Duration::from_millis(100);
    let app = spawn_with(s).await;
    *idp.token_fault.lock().unwrap() = Some(Fault::Delay(Duration::from_millis(800)));
    let cap = entra_sso::idp::provider::token::MAX_CONCURRENT_REDEMPTIONS;
    let mut flows = Vec::new();
    for _ in 0..cap + 16 {
        let mut jar = Jar::default();
        let authorize = app.login(&mut jar, "/").await;
        flows.push((jar, query_param(&authorize, "state").unwrap()));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (mut jar, state) in flows {
        let base = app.base.clone();
        tasks.spawn(async move {
            let r =
                callback(&base, &mut jar, &format!("https://app.example.test/api/callback?code=c&state={state}")).await;
            error_code(r).await
        });
    }
    let results = tasks.join_all().await;
    assert!(results.iter().all(|r| *r == (502, "token_exchange_failed".to_string())), "{results:?}");
    let reached = idp.token_requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        reached > 0 && reached <= cap,
        "{reached} of {} token calls reached the provider; cap {cap}",
        results.len()
    );
    healthy(&app).await;
}

#[tokio::test]
async fn malformed_codes_never_reach_the_token_endpoint() {
    let (idp, _s) = FakeIdp::spawn().await;
    let app = app_for(&idp.authority).await;
    for code in ["", "a,b", "a%20b", "%C3%A9", &"a".repeat(5000)] {
        let mut jar = Jar::default();
        let authorize = app.login(&mut jar, "/").await;
        let state = query_param(&authorize, "state").unwrap();
        let r =
            app.callback(&mut jar, &format!("https://app.example.test/api/callback?code={code}&state={state}")).await;
        assert_eq!(error_code(r).await, (400, "code_malformed".into()));
    }
    assert_eq!(idp.token_requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}
