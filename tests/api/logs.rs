//! What reaches the operator's log and the user's screen: the real binary (`entra-sso dev`,
//! JSON logs at debug level) runs full flows and failures, and no secret, code, verifier, state
//! signature, token (ID, access, session) or session value appears in its log or in any response
//! body — while the log does carry the precise reason of each failure.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::helpers::{client, location, query_param, Jar};
use crate::support::binary::Dev;

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
    let dev = Dev::start(&[("RUST_LOG", "debug"), ("SSO_LOG_FORMAT", "json")]);
    let (port, idp_port) = (dev.port, dev.idp_port);
    let mut seen = Seen::default();
    // The banner, on stdout among the INFO lines: the two secrets dev generated.
    for line in dev.output.stdout().lines().filter(|l| !l.starts_with('{')) {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["client", "secret", value, ..] => seen.secret("client secret", value),
            ["SSO_SECRET", value, ..] => seen.secret("SSO_SECRET", value),
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

    let (stdout, stderr) = dev.stop();
    // Every log line is JSON, INFO and DEBUG on stdout, WARN and ERROR on stderr; the only other
    // lines are dev's banner on stdout.
    let levels = |text: &str, json_only: bool| -> Vec<String> {
        let lines = text.lines().filter(|l| !l.trim().is_empty() && (json_only || l.starts_with('{')));
        lines
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}"));
                v["level"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    };
    let (out_levels, err_levels) = (levels(&stdout, false), levels(&stderr, true));
    assert!(out_levels.iter().all(|l| l == "INFO" || l == "DEBUG" || l == "TRACE"), "stdout: {out_levels:?}");
    assert!(err_levels.iter().all(|l| l == "WARN" || l == "ERROR"), "stderr: {err_levels:?}");
    assert!(out_levels.contains(&"INFO".to_owned()) && err_levels.contains(&"WARN".to_owned()));
    let log: String =
        stdout.lines().filter(|l| l.starts_with('{')).chain(stderr.lines()).collect::<Vec<_>>().join("\n");
    check_sign_in_events(&log);
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

/// The sign-in events of the flows above, as KQL reads them from JSON log lines: one per
/// callback, each with its outcome and the schema's fields, the IdP's AADSTS code where it gave
/// one.
fn check_sign_in_events(log: &str) {
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["event"] == "sign_in")
        .map(|v| v["fields"].clone())
        .collect();
    let outcomes: Vec<&str> = events.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(
        outcomes,
        ["success", "flow_cookie_missing", "token_exchange_failed", "state_invalid", "idp_error"],
        "{events:?}"
    );
    for e in &events {
        for field in ["tenant", "duration_ms", "idp_ms", "credential", "renewal", "aadsts", "status"] {
            assert!(!e[field].is_null(), "{field} missing: {e}");
        }
        assert_eq!((e["credential"].as_str(), e["renewal"].as_bool()), (Some("secret"), Some(false)), "{e}");
    }
    let (ok, exchange, idp) = (&events[0], &events[2], &events[4]);
    assert_eq!(
        (ok["status"].as_u64(), ok["tenant"].as_str()),
        (Some(302), Some(entra_sso::dev_idp::DEV_TENANT)),
        "{ok}"
    );
    assert!(ok["idp_ms"].as_u64().is_some() && exchange["status"] == 502, "{ok} {exchange}");
    assert_eq!((exchange["aadsts"].as_str(), idp["aadsts"].as_str()), (Some("AADSTS54005"), Some("AADSTS65004")));
}

/// Text logs written to a pipe or a file (a log collector, `func start`'s capture) are plain:
/// colour codes there only garble what the operator reads.
#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let dev = Dev::start(&[("RUST_LOG", "info"), ("SSO_LOG_FORMAT", "")]);
    let started = Instant::now();
    // A 404 is logged at WARN.
    while !dev.output.stderr().contains("WARN") {
        assert!(started.elapsed() < Duration::from_secs(15), "no WARN line on stderr: {}", dev.output.stderr());
        get_no_such_route(dev.port);
        std::thread::sleep(Duration::from_millis(100));
    }
    let (stdout, stderr) = dev.stop();
    let log_lines = |text: &str| text.lines().filter(|l| l.contains(" INFO ") || l.contains(" WARN ")).count();
    assert!(stdout.lines().any(|l| l.contains(" INFO ")), "an INFO line on stdout: {stdout}");
    assert!(!stdout.contains(" WARN "), "a WARN line on stdout: {stdout}");
    assert!(!stderr.contains(" INFO "), "an INFO line on stderr: {stderr}");
    assert!(log_lines(&stdout) + log_lines(&stderr) >= 2);
    for text in [&stdout, &stderr] {
        assert!(!text.contains('\u{1b}'), "colour codes in a piped log: {text:?}");
    }
}

/// `GET /no-such-route` on `port`, answer unread; nothing when nothing listens yet.
fn get_no_such_route(port: u16) {
    use std::io::Write;
    if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = stream.write_all(b"GET /no-such-route HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let _ = stream.read_to_end(&mut Vec::new());
    }
}
