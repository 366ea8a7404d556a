//! `entra-sso proxy` in process, in front of an app made here (a hyper server that echoes what
//! it receives, streams events, counts uploads, tunnels an upgrade, stalls or breaks off on
//! request), against the dev identity provider: sign-in at App Service Authentication's paths,
//! the gate, the headers the app gets, and every hostile shape the issue names.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use entra_sso::config::{Mount, Startup};
use entra_sso::proxy::settings::{PathRule, ProxySettings, Unauthenticated};
use entra_sso::proxy::Proxy;

use crate::helpers::*;

/// The redirect URI an App Service Authentication registration has.
const PROXY_REDIRECT: &str = "https://app.example.test/.auth/login/aad/callback";

/// What the app made here has seen.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    uploaded: AtomicUsize,
    paths: std::sync::Mutex<Vec<String>>,
}

/// The app behind the proxy.
async fn spawn_upstream() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let seen = Arc::clone(&counter);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| app(req, Arc::clone(&seen)));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, seen)
}

type AppBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn app(mut req: http::Request<Incoming>, seen: Arc<Seen>) -> Result<http::Response<AppBody>, Infallible> {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    seen.paths.lock().unwrap().push(path.clone());
    let text = |s: String| Full::new(Bytes::from(s)).boxed();
    Ok(match path.as_str() {
        "/sse" => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                for i in 0..3 {
                    let _ = tx.send(Ok(Frame::data(Bytes::from(format!("data: event {i}\n\n"))))).await;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
            let stream = tokio_stream_from(rx);
            http::Response::builder()
                .header("content-type", "text/event-stream")
                .body(StreamBody::new(stream).boxed())
                .unwrap()
        }
        "/upload" => {
            let mut body = req.into_body();
            let mut n = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map(|f| f.into_data().unwrap_or_default()) {
                    n += data.len();
                }
            }
            seen.uploaded.store(n, Ordering::SeqCst);
            http::Response::new(text(n.to_string()))
        }
        // An app that answers a WebSocket request by switching to HTTP/2.
        "/switch-to-h2c" => http::Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "h2c")
            .body(text(String::new()))
            .unwrap(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            http::Response::new(text("late".into()))
        }
        "/echo-upgrade" => {
            // Apps that match on the raw target (Node's `req.url`) need the origin-form.
            if req.uri().scheme().is_some() {
                return Ok(http::Response::builder().status(400).body(text("absolute-form target".into())).unwrap());
            }
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(upgraded) = upgrade.await {
                    let mut io = TokioIo::new(upgraded);
                    let mut buf = [0u8; 64];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            http::Response::builder()
                .status(101)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(text(String::new()))
                .unwrap()
        }
        _ if req.uri().scheme().is_some() => {
            http::Response::builder().status(400).body(text("absolute-form target".into())).unwrap()
        }
        _ => {
            let headers: HashMap<String, String> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let body = json!({"method": req.method().as_str(), "path": req.uri().to_string(), "headers": headers});
            http::Response::builder()
                .header("content-type", "application/json")
                .header("connection", "keep-alive, x-hop")
                .header("x-hop", "must not reach the client")
                .body(text(body.to_string()))
                .unwrap()
        }
    })
}

/// An mpsc receiver as a stream of frames.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A proxy, its dev IdP and its app.
struct TestProxy {
    base: String,
    addr: SocketAddr,
    /// The metrics listener (`SSO_METRICS_LISTEN`).
    metrics: String,
    seen: Arc<Seen>,
    _metrics: Running,
    _idp: TestIdp,
    _stop: oneshot::Sender<()>,
}

fn proxy_settings(upstream: SocketAddr) -> ProxySettings {
    let get = |k: &str| (k == "SSO_UPSTREAM").then(|| format!("http://{upstream}"));
    ProxySettings::from_lookup(get, Some("127.0.0.1:0"), Some(&Default::default())).unwrap()
}

impl TestProxy {
    async fn start(extra: &[(&str, &str)], adjust: impl FnOnce(&mut ProxySettings)) -> TestProxy {
        let idp = spawn_idp_for(PROXY_REDIRECT).await;
        let (upstream, seen) = spawn_upstream().await;
        let mut vars = vec![("SSO_REDIRECT_URI", PROXY_REDIRECT)];
        vars.extend_from_slice(extra);
        let settings = settings_for(&idp.authority, &vars, Startup { mount: Mount::EasyAuth, cloud: None });
        let mut proxy_settings = proxy_settings(upstream);
        adjust(&mut proxy_settings);
        let proxy = Proxy::new(settings, proxy_settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = serve(proxy.metrics_endpoint()).await;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(entra_sso::proxy::run(listener, proxy, async move {
            let _ = stopped.await;
        }));
        let base = format!("http://{addr}");
        TestProxy { base, addr, metrics: metrics.base.clone(), seen, _metrics: metrics, _idp: idp, _stop: stop }
    }

    /// Signs `user` in through `/.auth/login/aad`, returning to `return_to`.
    async fn sign_in(&self, jar: &mut Jar, user: &str, return_to: &str) -> reqwest::Response {
        let url = format!("{}/.auth/login/aad?post_login_redirect_uri={}", self.base, urlencode(return_to));
        let r = get(&url, jar).await;
        assert_eq!(r.status(), 302, "login");
        let callback = idp_sign_in(&location(&r), user).await;
        let path = callback.strip_prefix("https://app.example.test").unwrap();
        assert!(path.starts_with("/.auth/login/aad/callback?"), "{path}");
        get(&format!("{}{path}", self.base), jar).await
    }

    async fn headers_seen(&self, jar: &Jar, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut req = client().get(format!("{}/headers?x=1", self.base)).header("cookie", jar.header());
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Sends raw bytes and returns everything the proxy answers until it closes or 2 s pass.
    async fn raw(&self, request: &[u8]) -> String {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[tokio::test]
async fn signed_out_navigations_sign_in_and_scripts_get_401() {
    let p = TestProxy::start(&[], |_| {}).await;
    let r = client().get(format!("{}/page?x=1", p.base)).header("sec-fetch-mode", "navigate").send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "https://app.example.test/.auth/login/aad?return_to=%2Fpage%3Fx%3D1");
    let r = client().get(format!("{}/api/data", p.base)).header("accept", "application/json").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_signed_in");
    assert_eq!(body["login_url"], "https://app.example.test/.auth/login/aad?return_to=%2Fapi%2Fdata");
    assert_eq!(p.seen.requests.load(Ordering::SeqCst), 0, "nothing reached the app");
}

#[tokio::test]
async fn a_signed_in_user_reaches_the_app_with_app_service_headers_and_nothing_spoofed() {
    let p = TestProxy::start(&[], |_| {}).await;
    let mut jar = Jar::default();
    let r = p.sign_in(&mut jar, "bob", "/dashboard?tab=2").await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/dashboard?tab=2");
    let session = jar.get("__Host-sso-session").expect("session cookie").to_owned();

    let spoofed = [
        ("X-MS-CLIENT-PRINCIPAL", "ZXZpbA=="),
        ("x-ms-client-principal-id", "evil"),
        ("X_MS_CLIENT_PRINCIPAL_NAME", "mallory"),
        ("X-Ms-Token-Aad-Id-Token", "evil"),
        ("x_sso_assertion", "evil"),
        ("X-SSO-Assertion", "evil.token.value"),
        ("Proxy-SSO-Assertion", "1"),
        ("X-Forwarded-For", "1.2.3.4"),
        ("X-Forwarded-Host", "evil.example"),
        ("Forwarded", "for=1.2.3.4"),
    ];
    let (status, seen) = p.headers_seen(&jar, &spoofed).await;
    assert_eq!(status, 200);
    let h = &seen["headers"];
    assert_eq!(h["x-ms-client-principal-id"], "b0b00000-0000-4000-8000-000000000b0b");
    assert_eq!(h["x-ms-client-principal-name"], "bob@dev.example");
    assert_eq!(h["x-ms-client-principal-idp"], "aad");
    assert_eq!(h["x-sso-assertion"], session.as_str(), "the app gets the session to verify");
    let principal: Value =
        serde_json::from_slice(&STANDARD.decode(h["x-ms-client-principal"].as_str().unwrap()).unwrap()).unwrap();
    assert!(principal["claims"].as_array().unwrap().contains(&json!({"typ": "roles", "val": "Admin"})));
    for name in
        ["x_ms_client_principal_name", "x-ms-token-aad-id-token", "x_sso_assertion", "proxy-sso-assertion", "forwarded"]
    {
        assert!(h.get(name).is_none(), "{name} reached the app: {h}");
    }
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "an untrusted client's X-Forwarded-For is replaced");
    assert_eq!(h["x-forwarded-host"], p.addr.to_string());
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["host"], p.addr.to_string(), "Host is preserved");
    assert_eq!(seen["path"], "/headers?x=1");

    // The answer comes back without the app's hop-by-hop headers.
    let r = client().get(format!("{}/headers", p.base)).header("cookie", jar.header()).send().await.unwrap();
    assert!(r.headers().get("x-hop").is_none());
}

#[tokio::test]
async fn easy_auth_me_keys_and_health_and_no_token_for_scripts() {
    let p = TestProxy::start(&[], |_| {}).await;
    let mut jar = Jar::default();
    p.sign_in(&mut jar, "alice", "/").await;
    let session = jar.get("__Host-sso-session").unwrap().to_owned();
    let r = client().get(format!("{}/.auth/me", p.base)).header("cookie", jar.header()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(&session), "/.auth/me never hands out the session");
    let me: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(me[0]["provider_name"], "aad");
    assert_eq!(me[0]["user_id"], "alice@dev.example");
    assert!(me[0]["user_claims"].as_array().unwrap().iter().any(|c| c["typ"] == "name"));
    assert!(me[0].get("access_token").is_none() && me[0].get("id_token").is_none());

    let d = get_json(&format!("{}/.auth/.well-known/openid-configuration", p.base)).await;
    assert_eq!(d["issuer"], "https://app.example.test/.auth");
    assert_eq!(d["jwks_uri"], "https://app.example.test/.auth/jwks");
    let jwks = get_json(&format!("{}/.auth/jwks", p.base)).await;
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert_eq!(client().get(format!("{}/.auth/health", p.base)).send().await.unwrap().status(), 200);
    for path in ["/.auth/unknown", "/.auth/%6de", "/.auth/auth", "/api/auth"] {
        let r = client().get(format!("{}{path}", p.base)).header("cookie", jar.header()).send().await.unwrap();
        assert!(r.headers().get("x-sso-assertion").is_none(), "{path}");
        if path.starts_with("/.") {
            assert_eq!(r.status(), 404, "{path}: own routes are never forwarded");
        }
    }
    // `/.auth` in any case is the proxy's own, and the core's routes match ignoring case and a
    // trailing slash as the Functions host's do: these are Easy Auth's `/.auth/me`, answered here.
    for path in ["/.AUTH/me", "/.auth/Me/"] {
        let r = client().get(format!("{}{path}", p.base)).header("cookie", jar.header()).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()[0]["user_id"], "alice@dev.example", "{path}");
    }
    let before = p.seen.requests.load(Ordering::SeqCst);
    assert_eq!(before, 1, "only /api/auth, an app path, reached the app");

    // Sign-out at Easy Auth's path, with its parameter.
    let r = client()
        .get(format!("{}/.auth/logout?post_logout_redirect_uri=/bye", p.base))
        .header("cookie", jar.header())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    jar.absorb(r.headers());
    assert_eq!(
        client().get(format!("{}/.auth/me", p.base)).header("cookie", jar.header()).send().await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn path_tricks_neither_bypass_the_gate_nor_reach_another_route() {
    let p = TestProxy::start(&[], |s| {
        s.public_paths = vec!["/static".into()];
        s.rules = vec![PathRule { prefix: "/admin".into(), roles: vec!["Admin".into()], groups: vec![] }];
    })
    .await;
    let mut alice = Jar::default();
    p.sign_in(&mut alice, "alice", "/").await;
    for path in [
        "/static/..%2fadmin",
        "/static/%2e%2e/admin",
        "/static/../admin",
        "/.auth/..%2fadmin",
        "//admin",
        "/static//admin",
        "/static/%5c..%5cadmin",
        "/a%00b",
    ] {
        let reply = p.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{path}: {reply}");
    }
    // Rules match the decoded path without regard to case.
    for path in ["/admin", "/ADMIN/x", "/%61dmin"] {
        let r = client().get(format!("{}{path}", p.base)).header("cookie", alice.header()).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}: alice is no Admin");
    }
    let mut bob = Jar::default();
    p.sign_in(&mut bob, "bob", "/").await;
    assert_eq!(
        client().get(format!("{}/admin/x", p.base)).header("cookie", bob.header()).send().await.unwrap().status(),
        200
    );
    assert_eq!(p.seen.requests.load(Ordering::SeqCst), 1, "only bob's request reached the app");
    // Public paths pass without a session, and get no identity.
    let r = client().get(format!("{}/static/app.css", p.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert!(seen["headers"].get("x-ms-client-principal").is_none());
    assert_eq!(
        client().get(format!("{}/staticx", p.base)).send().await.unwrap().status(),
        401,
        "a prefix is a path segment"
    );
}

#[tokio::test]
async fn not_an_open_proxy_and_no_smuggling() {
    let p = TestProxy::start(&[], |s| s.unauthenticated = Unauthenticated::AllowAnonymous).await;
    let cases: [(&str, &[u8]); 5] = [
        ("absolute-form", b"GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"),
        ("CONNECT", b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n"),
        (
            "two Content-Lengths",
            b"POST /headers HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\nConnection: close\r\n\r\nabcdGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        ("obs-fold", b"GET /headers HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\nConnection: close\r\n\r\n"),
        (
            "huge head",
            &[b"GET /headers HTTP/1.1\r\nHost: x\r\nX-Big: ".as_slice(), &[b'a'; 70_000], b"\r\n\r\n"].concat(),
        ),
    ];
    for (what, request) in cases {
        let reply = p.raw(request).await;
        assert!(reply.starts_with("HTTP/1.1 400") || reply.starts_with("HTTP/1.1 431"), "{what}: {reply:.200}");
    }
    // Transfer-Encoding and Content-Length together: the body is read chunked, and what follows
    // the chunked body is not a second request forwarded to the app.
    let reply = p
        .raw(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert!(reply.starts_with("HTTP/1.1 "), "{reply}");
    let paths = p.seen.paths.lock().unwrap().clone();
    assert!(!paths.iter().any(|path| path == "/smuggled"), "a smuggled request reached the app: {paths:?}");
    assert!(p.seen.uploaded.load(Ordering::SeqCst) <= 3, "the app saw no more than the chunked body");
}

#[tokio::test]
async fn upgrades_need_a_session_and_are_tunnelled() {
    let p = TestProxy::start(&[], |_| {}).await;
    let upgrade = |cookie: String| {
        format!(
            "GET /echo-upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nCookie: {cookie}\r\n\r\n"
        )
    };
    let reply = p.raw(upgrade(String::new()).as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 401"), "an upgrade without a session: {reply}");
    assert_eq!(p.seen.requests.load(Ordering::SeqCst), 0);

    let mut jar = Jar::default();
    p.sign_in(&mut jar, "alice", "/").await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(upgrade(jar.header()).as_bytes()).await.unwrap();
    let mut head = vec![0u8; 1024];
    let n = s.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"), "{head}");
    s.write_all(b"ping through the tunnel").await.unwrap();
    let mut echoed = vec![0u8; 23];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut echoed)).await.unwrap().unwrap();
    assert_eq!(&echoed, b"ping through the tunnel");
}

#[tokio::test]
async fn events_stream_through_and_uploads_are_not_buffered() {
    let p = TestProxy::start(&[], |_| {}).await;
    let mut jar = Jar::default();
    p.sign_in(&mut jar, "alice", "/").await;
    let started = std::time::Instant::now();
    let mut r = client().get(format!("{}/sse", p.base)).header("cookie", jar.header()).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let first = r.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: event 0\n\n");
    assert!(started.elapsed() < Duration::from_millis(550), "the first event came before the stream ended");
    let mut rest = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(String::from_utf8(rest).unwrap(), "data: event 1\n\ndata: event 2\n\n");

    let body = vec![7u8; 20 * 1024 * 1024];
    let r = client().post(format!("{}/upload", p.base)).header("cookie", jar.header()).body(body).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), (20 * 1024 * 1024).to_string());
}

#[tokio::test]
async fn app_down_slow_or_refusing_policy_each_answer_precisely() {
    let p = TestProxy::start(&[], |s| s.upstream_timeout = Duration::from_secs(1)).await;
    let mut jar = Jar::default();
    p.sign_in(&mut jar, "alice", "/").await;
    let (status, code) =
        error_code(client().get(format!("{}/slow", p.base)).header("cookie", jar.header()).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (504, "upstream_timeout"));

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let down = TestProxy::start(&[], |s| s.upstream = closed.to_string()).await;
    let mut jar = Jar::default();
    down.sign_in(&mut jar, "alice", "/").await;
    let r = client()
        .get(format!("{}/page", down.base))
        .header("cookie", jar.header())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    assert!(page.contains("upstream_unavailable") && page.contains("Request id"), "{page}");
    assert!(page.contains("/.auth/login/aad"), "the try-again link is the proxy's own sign-in");
}

#[tokio::test]
async fn an_app_breaking_off_mid_answer_and_a_client_leaving_mid_upload_harm_nothing() {
    // An app that promises 100 bytes, sends 7 and closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let breaking = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial").await;
        }
    });
    let p = TestProxy::start(&[], |s| s.unauthenticated = Unauthenticated::AllowAnonymous).await;
    let broken = TestProxy::start(&[], |s| {
        s.unauthenticated = Unauthenticated::AllowAnonymous;
        s.upstream = breaking.to_string();
    })
    .await;
    let r = client().get(format!("{}/page", broken.base)).send().await.unwrap();
    assert_eq!(r.status(), 200, "the head had arrived");
    assert!(r.bytes().await.is_err(), "the client sees the answer cut off, not a complete short body");
    assert_eq!(client().get(format!("{}/.auth/health", broken.base)).send().await.unwrap().status(), 200);

    // A client that announces 1 MB, sends 10 KB and leaves.
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n").await.unwrap();
    s.write_all(&[1u8; 10 * 1024]).await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(p.seen.uploaded.load(Ordering::SeqCst) <= 10 * 1024, "the app got no more than was sent");
    let r = client().post(format!("{}/upload", p.base)).body(vec![2u8; 1000]).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1000", "the proxy serves on");
}

/// The headers the app saw for a raw request sent to `p` (its JSON echo).
async fn seen_raw(p: &TestProxy, request: &str) -> Value {
    let reply = p.raw(request.as_bytes()).await;
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not the app's echo: {reply}"))
}

#[tokio::test]
async fn only_websocket_is_tunnelled_never_h2c() {
    let p = TestProxy::start(&[], |s| s.unauthenticated = Unauthenticated::AllowAnonymous).await;
    // h2c: forwarded as a plain request, without the upgrade or its settings.
    let seen = seen_raw(
        &p,
        "GET /static/x HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    )
    .await;
    for name in ["upgrade", "http2-settings"] {
        assert!(seen["headers"].get(name).is_none(), "{name} reached the app: {seen}");
    }
    // An app that switches a WebSocket request to another protocol is not joined to the client.
    let reply =
        p.raw(b"GET /switch-to-h2c HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 502"), "{reply}");
}

#[tokio::test]
async fn rules_hold_for_lenient_servers_and_win_over_public_prefixes() {
    let p = TestProxy::start(&[], |s| {
        s.public_paths = vec!["/static".into(), "/api".into()];
        s.rules = vec![
            PathRule { prefix: "/admin".into(), roles: vec!["Admin".into()], groups: vec![] },
            PathRule { prefix: "/api/admin".into(), roles: vec!["Admin".into()], groups: vec![] },
        ];
    })
    .await;
    let mut alice = Jar::default();
    p.sign_in(&mut alice, "alice", "/").await;
    for path in ["/admin;x/secret", "/admin;/secret", "/admin.", "/admin%20", "/ADMIN./x"] {
        let r = client().get(format!("{}{path}", p.base)).header("cookie", alice.header()).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}: a lenient server reads /admin");
    }
    for path in ["/static/..;/admin", "/static/.;/admin"] {
        let reply = p.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{path}: {reply}");
    }
    let anonymous = client().get(format!("{}/api/admin/users", p.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "a rule wins over the public /api");
    let r = client().get(format!("{}/api/admin/users", p.base)).header("cookie", alice.header()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(client().get(format!("{}/api/items", p.base)).send().await.unwrap().status(), 200, "/api is public");
    let one_reading = client().get(format!("{}/static;x/a", p.base)).send().await.unwrap();
    assert_eq!(one_reading.status(), 401, "public only when the path as written is public too");
    assert_eq!(p.seen.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_groups_of_path_rules_join_the_groups_sessions_keep() {
    let alice_group = entra_sso::dev_idp::users::find("alice").unwrap().groups[0];
    let listed = "1a2b3c4d-0000-4000-8000-000000000001";
    let p = TestProxy::start(&[("SSO_SESSION_GROUPS", listed)], |s| {
        s.rules =
            vec![PathRule { prefix: "/team".into(), roles: vec![], groups: vec![alice_group.to_ascii_uppercase()] }];
    })
    .await;
    let mut alice = Jar::default();
    assert_eq!(p.sign_in(&mut alice, "alice", "/").await.status(), 302);
    let r = client().get(format!("{}/team/headers", p.base)).header("cookie", alice.header()).send().await.unwrap();
    assert_eq!(r.status(), 200, "the rule's group is kept, so the rule can match");
    let seen: Value = r.json().await.unwrap();
    let principal: Value =
        serde_json::from_slice(&STANDARD.decode(seen["headers"]["x-ms-client-principal"].as_str().unwrap()).unwrap())
            .unwrap();
    assert!(principal["claims"].as_array().unwrap().contains(&json!({"typ": "groups", "val": alice_group})));
}

#[tokio::test]
async fn forwarding_headers_framing_and_host_as_the_app_needs_them() {
    let p = TestProxy::start(&[], |s| {
        s.unauthenticated = Unauthenticated::AllowAnonymous;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // A trusted proxy's every X-Forwarded-For line counts, and its protocol's case does not.
    let seen = seen_raw(
        &p,
        "GET /headers HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: HTTPS\r\nX-Original-URL: /admin\r\nConnection: close, host\r\n\r\n",
    )
    .await;
    let h = &seen["headers"];
    assert_eq!(h["x-forwarded-for"], "6.6.6.6, 203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["host"], "app", "Connection cannot remove Host");
    assert!(h.get("x-original-url").is_none(), "a target rewrite header never reaches the app");
    // The framing the client used: a Content-Length of 0 stays, a chunked body stays chunked.
    let seen =
        seen_raw(&p, "POST /headers HTTP/1.1\r\nHost: app\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert_eq!(seen["headers"]["content-length"], "0");
    let seen = seen_raw(
        &p,
        "GET /headers HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(seen["headers"]["transfer-encoding"], "chunked");
    // One Host, as HTTP/1.1 requires.
    let reply = p.raw(b"GET /headers HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");

    // Untrusted: forwarding headers that frameworks believe are removed.
    let untrusted = TestProxy::start(&[], |s| s.unauthenticated = Unauthenticated::AllowAnonymous).await;
    let seen = seen_raw(
        &untrusted,
        "GET /headers HTTP/1.1\r\nHost: app\r\nX-Forwarded-Ssl: on\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /x\r\nTrue-Client-IP: 1.2.3.4\r\nConnection: close\r\n\r\n",
    )
    .await;
    for name in ["x-forwarded-ssl", "x-forwarded-port", "x-forwarded-prefix", "true-client-ip"] {
        assert!(seen["headers"].get(name).is_none(), "{name} from an untrusted client reached the app");
    }
}

#[tokio::test]
async fn any_deep_link_signs_in_and_easy_auth_absolute_return_urls_work() {
    let p = TestProxy::start(&[], |_| {}).await;
    let long = format!("/page?q={}", "a".repeat(2100));
    for target in [long.as_str(), "/page?q={%22a%22:1}"] {
        let r = client().get(format!("{}{target}", p.base)).header("sec-fetch-mode", "navigate").send().await.unwrap();
        assert_eq!(r.status(), 302, "{target:.40}");
        assert!(location(&r).starts_with("https://app.example.test/.auth/login/aad"), "{}", location(&r));
    }
    let mut jar = Jar::default();
    let r = p.sign_in(&mut jar, "alice", "https://app.example.test/reports?x=1").await;
    assert_eq!(location(&r), "https://app.example.test/reports?x=1", "Easy Auth takes an absolute URL on the site");
}

/// A session of `p`'s deployment for alice, with the given times.
fn proxy_session(p: &TestProxy, auth_time: u64, iat: u64, exp: u64) -> String {
    use entra_sso::tokens::jws::Deployment;
    let secret = entra_sso::tokens::secret::SigningSecret::parse(SECRET_A).unwrap();
    let deployment = Deployment { client_id: CLIENT_ID, authority: &p._idp.authority, redirect_uri: PROXY_REDIRECT };
    let keys = entra_sso::tokens::session_keys::SessionKeys::derive(&secret.into(), deployment);
    let sessions =
        entra_sso::tokens::session::Sessions::new(keys, "https://app.example.test/.auth".into(), CLIENT_ID.into(), 0);
    let mut claims: entra_sso::tokens::session::SessionClaims = serde_json::from_value(serde_json::json!({
        "iss": "", "aud": "", "sub": "alice-sub", "idp": p._idp.authority, "preferred_username": "alice@dev.example",
        "iat": iat, "exp": exp, "auth_time": auth_time,
    }))
    .unwrap();
    sessions.mint(&mut claims, &entra_sso::idp::policy::Policy::default()).unwrap()
}

#[tokio::test]
async fn a_session_to_renew_sends_navigations_to_renewal_and_tells_scripts() {
    let p = TestProxy::start(&[], |_| {}).await;
    let now = entra_sso::support::time::now();
    let jar = Jar { cookies: vec![("__Host-sso-session".into(), proxy_session(&p, now - 7200, now - 7200, now - 60))] };
    let navigation = client().get(format!("{}/page?x=1", p.base)).header("sec-fetch-mode", "navigate");
    let r = navigation.header("cookie", jar.header()).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        location(&r),
        "https://app.example.test/.auth/login/aad?return_to=%2Fpage%3Fx%3D1&prompt=none&login_hint=alice%40dev.example"
    );
    let (status, body) = p.headers_seen(&jar, &[("accept", "application/json")]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("session_expired")));
    assert_eq!(body["renew_url"], "https://app.example.test/.auth/login/aad?return_to=%2Fheaders%3Fx%3D1&prompt=none&login_hint=alice%40dev.example");
    // In its early window a session still serves scripts, and sends navigations to renew.
    let due =
        Jar { cookies: vec![("__Host-sso-session".into(), proxy_session(&p, now - 3500, now - 3500, now + 100))] };
    assert_eq!(p.headers_seen(&due, &[]).await.0, 200);
    let (status, _) = p.headers_seen(&due, &[("sec-fetch-mode", "navigate")]).await;
    assert_eq!(status, 302);
    assert_eq!(p.seen.requests.load(Ordering::SeqCst), 1, "only the script's request reached the app");
}

#[tokio::test]
async fn a_bearer_caller_is_forwarded_with_identity_and_its_authorization_header() {
    let p = TestProxy::start(&[], |s| {
        s.rules = vec![PathRule { prefix: "/admin".into(), roles: vec!["Admin".into()], groups: vec![] }];
        s.public_paths = vec!["/static".into()];
    })
    .await;
    let token = crate::bearer::daemon_token(&p._idp.authority).await;
    let oid = crate::bearer::payload(&token)["oid"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let (status, seen) =
        p.headers_seen(&Jar::default(), &[("authorization", &bearer), ("x-ms-client-principal-id", "evil")]).await;
    assert_eq!(status, 200);
    let h = &seen["headers"];
    assert_eq!(h["x-ms-client-principal-id"], oid.as_str(), "the service principal, not the spoofed id");
    assert_eq!(h["authorization"], bearer.as_str(), "the app gets the Authorization header unchanged");
    let principal: Value =
        serde_json::from_slice(&STANDARD.decode(h["x-ms-client-principal"].as_str().unwrap()).unwrap()).unwrap();
    assert!(principal["claims"].as_array().unwrap().iter().any(|c| c["typ"] == "idtyp" && c["val"] == "app"));
    let assertion = crate::bearer::payload(h["x-sso-assertion"].as_str().unwrap());
    assert_eq!(
        (assertion["iss"].as_str(), assertion["idtyp"].as_str()),
        (Some("https://app.example.test/.auth"), Some("app"))
    );

    // A bad token is refused before the app, even for a navigation; on a public path it is
    // forwarded without identity, as a bad cookie would be.
    let before = p.seen.requests.load(Ordering::SeqCst);
    let bad = format!("{token}x");
    let r = client()
        .get(format!("{}/page", p.base))
        .bearer_auth(&bad)
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    crate::bearer::refused(r, "token_signature_invalid", &bad).await;
    assert_eq!(p.seen.requests.load(Ordering::SeqCst), before, "nothing reached the app");
    let r = client().get(format!("{}/static/app.js", p.base)).bearer_auth(&bad).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert!(seen["headers"].get("x-ms-client-principal-id").is_none(), "no identity on a public path");
    // Path rules hold for tokens: the daemon has no Admin role.
    let r = client().get(format!("{}/admin/x", p.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_code(r).await, (403, "access_denied_by_policy".to_owned()));
}

/// The counters are served on the metrics listener only: they count each sign-in outcome, and
/// `/metrics` on the public address is the app's own path, forwarded like any other.
#[tokio::test]
async fn sign_ins_are_counted_on_the_metrics_listener_only() {
    let p = TestProxy::start(&[], |_| {}).await;
    let mut jar = Jar::default();
    assert!(matches!(p.sign_in(&mut jar, "alice", "/x").await.status().as_u16(), 302 | 303));
    let failed = get(&format!("{}/.auth/login/aad/callback?code=abc", p.base), &mut Jar::default()).await;
    assert_eq!(failed.status(), 400);
    let r = client().get(format!("{}/metrics", p.metrics)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    assert!(text.contains("entra_sso_sign_ins_total{outcome=\"success\"} 1"), "{text}");
    assert!(text.contains("entra_sso_sign_ins_total{outcome=\"state_missing\"} 1"), "{text}");
    assert!(text.contains("entra_sso_idp_round_trip_seconds_count 1"), "{text}");
    assert_eq!(client().get(format!("{}/other", p.metrics)).send().await.unwrap().status(), 404);
    let public = client().get(format!("{}/metrics", p.base)).header("cookie", jar.header()).send().await.unwrap();
    let body = public.text().await.unwrap();
    assert!(!body.contains("entra_sso_sign_ins_total"), "counters on the public listener: {body}");
    assert!(body.contains("\"path\":\"/metrics\""), "forwarded to the app: {body}");
}
