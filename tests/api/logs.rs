//! What reaches the operator's log and the user's screen: the real binary (`entra-sso dev`,
//! JSON logs at debug level) runs full flows and failures, and no secret, code, verifier, state
//! signature, token (ID, access, session) or session value appears in its log or in any response
//! body — while the log does carry the precise reason of each failure.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{client, free_port, location, query_param, without_cloud_markers, Jar, KillOnDrop};

/// Every response body seen, and the values that must never be shown or logged.
#[derive(Default)]
struct Seen {
    bodies: Vec<String>,
    secrets: Vec<(String, String)>,
}

impl Seen {
    fn secret(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 16, "{what} too short to search for");
        self.secrets.push((what.to_owned(), value.to_owned()));
    }
}

async fn send(seen: &mut Seen, jar: &mut Jar, req: reqwest::RequestBuilder) -> (u16, Option<String>) {
    let r = req.header("cookie", jar.header()).send().await.unwrap();
    jar.absorb(r.headers());
    let status = r.status().as_u16();
    let loc = r.headers().get("location").map(|_| location(&r));
    seen.bodies.push(r.text().await.unwrap());
    (status, loc)
}

#[tokio::test]
async fn no_secret_reaches_logs_or_pages() {
    let (port, idp_port) = (free_port(), free_port());
    let mut child = KillOnDrop(
        without_cloud_markers(&mut Command::new(env!("CARGO_BIN_EXE_entra-sso")))
            .args(["dev", "--port", &port.to_string(), "--idp-port", &idp_port.to_string()])
            .env("RUST_LOG", "debug")
            .env("SSO_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.0.stderr.take().unwrap();
    let sink = Arc::clone(&log);
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        sink.lock().unwrap().push_str(&s);
    });
    let mut banner = BufReader::new(child.0.stdout.take().unwrap());
    let mut seen = Seen::default();
    let started = Instant::now();
    let mut line = String::new();
    while started.elapsed() < Duration::from_secs(15) {
        line.clear();
        if banner.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["client", "secret", value, ..] => seen.secret("client secret", value),
            ["SSO_SECRET", value, ..] => seen.secret("SSO_SECRET", value),
            ["Ctrl-C", ..] => break,
            _ => {}
        }
    }
    assert_eq!(seen.secrets.len(), 2, "dev printed its generated secrets");
    let app = format!("http://localhost:{port}");

    // A full flow: login, sign-in form, callback, me, logout.
    let mut jar = Jar::default();
    let (_, authorize) = send(&mut seen, &mut jar, client().get(format!("{app}/api/login?return_to=/x"))).await;
    let authorize = authorize.unwrap();
    let (flow_name, verifier) = jar.cookies[0].clone();
    seen.secret("PKCE verifier", &verifier);
    let state = query_param(&authorize, "state").unwrap();
    seen.secret("state signature", state.rsplit('.').next().unwrap());
    let (endpoint, query) = authorize.split_once('?').unwrap();
    let form = client()
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&user=alice"));
    let (_, cb) = send(&mut seen, &mut Jar::default(), form).await;
    let cb = cb.unwrap();
    seen.secret("authorization code", &query_param(&cb, "code").unwrap());
    let kept = jar.clone();
    let (status, _) = send(&mut seen, &mut jar, client().get(&cb)).await;
    assert_eq!(status, 302);
    seen.secret("session cookie", jar.get("__Host-sso-session").unwrap());
    assert_eq!(send(&mut seen, &mut jar, client().get(format!("{app}/api/me"))).await.0, 200);

    // A daemon's access token, accepted and then tampered with, at /api/auth and /api/me.
    let client_secret = seen.secrets.iter().find(|(what, _)| what == "client secret").unwrap().1.clone();
    let dev_authority = format!("http://127.0.0.1:{idp_port}/{}/v2.0", entra_sso::dev_idp::DEV_TENANT);
    let dev_client = entra_sso::dev_idp::dev::DEV_CLIENT_ID;
    let token = crate::bearer::client_credentials(&dev_authority, dev_client, &client_secret).await;
    seen.secret("access token", token.rsplit('.').next().unwrap());
    seen.secret("access token claims", token.split('.').nth(1).unwrap());
    let bearer = |path: &str, token: &str| client().get(format!("{app}{path}")).bearer_auth(token);
    assert_eq!(send(&mut seen, &mut Jar::default(), bearer("/api/auth", &token)).await.0, 200);
    assert_eq!(send(&mut seen, &mut Jar::default(), bearer("/api/me", &token)).await.0, 200);
    let tampered = format!("{token}x");
    assert_eq!(send(&mut seen, &mut Jar::default(), bearer("/api/auth", &tampered)).await.0, 401);
    assert_eq!(send(&mut seen, &mut Jar::default(), bearer("/api/me", &tampered[10..])).await.0, 401);

    // Failures: replay without and with the flow cookie, a tampered state, a cancelled sign-in.
    assert_eq!(send(&mut seen, &mut jar, client().get(&cb)).await.0, 400);
    let mut kept = kept;
    assert_eq!(send(&mut seen, &mut kept, client().get(&cb)).await.0, 502);
    let tampered = cb.replace(&state, &format!("{state}x"));
    assert_eq!(send(&mut seen, &mut kept, client().get(&tampered)).await.0, 400);
    let mut other = Jar::default();
    let (_, authorize) = send(&mut seen, &mut other, client().get(format!("{app}/api/login"))).await;
    let (endpoint, query) = authorize.as_deref().unwrap().split_once('?').unwrap();
    let form = client()
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&action=cancel"));
    let (_, cancelled) = send(&mut seen, &mut Jar::default(), form).await;
    assert_eq!(send(&mut seen, &mut other, client().get(cancelled.unwrap())).await.0, 400);
    assert_eq!(
        send(&mut seen, &mut jar, client().post(format!("{app}/api/logout")).header("sec-fetch-site", "same-origin"))
            .await
            .0,
        303
    );
    let _ = flow_name;

    drop(child);
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();

    for l in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}"));
    }
    for (what, value) in &seen.secrets {
        assert!(!log.contains(value.as_str()), "the log contains the {what}");
        for body in &seen.bodies {
            assert!(!body.contains(value.as_str()), "a response body contains the {what}");
        }
    }
    // No JWT of any kind (ID token, state, session) is logged: their JSON headers start `eyJ`.
    assert!(!log.contains("eyJ"), "the log contains a JWT");
    // And the log says precisely what failed.
    for needle in [
        "flow_cookie_missing",
        "token_exchange_failed",
        "AADSTS54005",
        "trace_id=",
        "state_invalid",
        "idp_error",
        "AADSTS65004",
        "request_id",
        "token_signature_invalid",
        "token_malformed",
    ] {
        assert!(log.contains(needle), "the log lacks {needle}");
    }
}

/// Text logs written to a pipe or a file (a log collector, `func start`'s capture) are plain:
/// colour codes there only garble what the operator reads.
#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let (port, idp_port) = (free_port(), free_port());
    let mut child = KillOnDrop(
        without_cloud_markers(&mut Command::new(env!("CARGO_BIN_EXE_entra-sso")))
            .args(["dev", "--port", &port.to_string(), "--idp-port", &idp_port.to_string()])
            .env("RUST_LOG", "info")
            .env_remove("SSO_LOG_FORMAT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(child.0.stderr.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("INFO"), "a log line: {first:?}");
    assert!(!first.contains('\u{1b}'), "colour codes in a piped log: {first:?}");
}
