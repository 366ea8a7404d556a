//! Complete sign-ins per second against `entra-sso dev`: login → dev IdP → callback.
//!
//! usage: flow_load --app-port P [--workers 32] [--seconds 10]
//!
//! Each of N concurrent workers repeats, until the time is up:
//!   1. `GET http://localhost:P/api/login` → `302` to the dev IdP's authorize URL, plus the flow
//!      cookie (`__Host-sso-flow-…`);
//!   2. `POST` that authorize URL's endpoint with its query plus `user=alice` as the form (the dev
//!      IdP's automation contract) → `302` to `http://localhost:P/api/callback?code=…&state=…`;
//!   3. `GET` the callback with the flow cookie in a `Cookie` header set by hand (the cookies are
//!      `__Host-`/`Secure`, which a cookie jar would not send over http) → expects `302`.
//!
//! The callback redeems the code at the dev IdP (same process as the app): the IdP signs an RS256
//! ID token per flow, which is most of the server's CPU per flow.
//!
//! `localhost` is resolved to 127.0.0.1 only. Prints flows/s, per-flow p50/p99 and errors.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
    let port: u16 = opt("--app-port").expect("--app-port P").parse().unwrap();
    let workers: usize = opt("--workers").map_or(32, |v| v.parse().unwrap());
    let seconds: f64 = opt("--seconds").map_or(10.0, |v| v.parse().unwrap());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .resolve("localhost", SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .pool_max_idle_per_host(workers * 2)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let app = Arc::new(format!("http://localhost:{port}"));
        // One warm-up flow: fails loudly if the contract is not what this client expects.
        flow(&client, &app).await.unwrap_or_else(|e| panic!("flow_load: warm-up flow failed: {e}"));

        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(seconds);
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let (client, app) = (client.clone(), Arc::clone(&app));
            tasks.push(tokio::spawn(async move {
                let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0u64, None);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match flow(&client, &app).await {
                        Ok(()) => latencies.push(t.elapsed()),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (latencies, errors, first_error)
            }));
        }
        let (mut all, mut errors, mut first_error) = (Vec::new(), 0, None);
        for t in tasks {
            let (l, e, f) = t.await.unwrap();
            all.extend(l);
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        all.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let pick = |q: f64| all.get(((all.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or_default();
        println!(
            "flow_load flows={} errors={} seconds={:.2} flows_per_s={:.1} p50_ms={:.2} p99_ms={:.2} workers={}",
            all.len(),
            errors,
            elapsed,
            all.len() as f64 / elapsed,
            ms(pick(0.5)),
            ms(pick(0.99)),
            workers
        );
        if let Some(e) = first_error {
            eprintln!("flow_load: first error: {e}");
        }
    });
}

/// One complete sign-in.
async fn flow(client: &reqwest::Client, app: &str) -> Result<(), String> {
    let login = client
        .get(format!("{app}/api/login?return_to=%2F"))
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    expect(&login, "login")?;
    let authorize = header(&login, LOCATION)?;
    let cookie = header(&login, SET_COOKIE)?.split(';').next().unwrap_or("").to_owned();
    let (endpoint, query) = authorize.split_once('?').ok_or("login: authorize URL without a query")?;

    let idp = client
        .post(endpoint)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("{query}&user=alice"))
        .send()
        .await
        .map_err(|e| format!("idp: {e}"))?;
    expect(&idp, "idp")?;
    let callback_url = header(&idp, LOCATION)?;

    let callback =
        client.get(&callback_url).header(COOKIE, cookie).send().await.map_err(|e| format!("callback: {e}"))?;
    expect(&callback, "callback")?;
    if !callback.headers().get_all(SET_COOKIE).iter().any(|v| v.as_bytes().starts_with(b"__Host-sso-session=")) {
        return Err("callback: no session cookie".into());
    }
    Ok(())
}

fn expect(r: &reqwest::Response, step: &str) -> Result<(), String> {
    if r.status() == 302 || r.status() == 303 {
        Ok(())
    } else {
        Err(format!("{step}: status {}", r.status()))
    }
}

fn header(r: &reqwest::Response, name: reqwest::header::HeaderName) -> Result<String, String> {
    r.headers().get(&name).and_then(|v| v.to_str().ok()).map(str::to_owned).ok_or_else(|| format!("no {name} header"))
}
