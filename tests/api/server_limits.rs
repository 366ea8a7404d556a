//! The HTTP adapter's time limits, over raw TCP: a request head that does not arrive in time, an
//! idle kept-alive connection, a stalled request body, and shutdown with a slow client still
//! connected. The limits are short here (300 ms); the tests only bound how long things take.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use entra_sso::adapters::server::{self, ServerLimits};
use http::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::settings;

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(60);
/// How long a test waits for something that the limits should cause within [`SHORT`].
const BOUND: Duration = Duration::from_secs(3);

/// Generous limits, each test shortening the one it exercises.
fn limits() -> ServerLimits {
    ServerLimits { header_read: LONG, body_read: LONG, idle: LONG, shutdown_grace: LONG }
}

/// A server under test: its address, the shutdown trigger and the task running `run_with`.
struct Server {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start<H: entra_sso::app::Handler>(handler: Arc<H>, limits: ServerLimits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run_with(
            listener,
            handler,
            async move {
                let _ = rx.await;
            },
            limits,
        ));
        Server { addr, stop: Some(tx), task }
    }

    async fn app(limits: ServerLimits) -> Server {
        Server::start(entra_sso::App::new(settings("http://127.0.0.1:9/t/v2.0", &[])), limits).await
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    fn shut_down(&mut self) {
        let _ = self.stop.take().unwrap().send(());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads until the server closes the connection; returns how long that took, or fails after
/// [`BOUND`]. Whatever the server sends before closing is returned too.
async fn closed_within(stream: &mut TcpStream, what: &str) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut seen = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    if tokio::time::timeout(BOUND, read_all).await.is_err() {
        panic!("{what}: the connection was still open after {BOUND:?}");
    }
    (start.elapsed(), seen)
}

/// Reads one response (head and `Content-Length` body); fails after [`BOUND`].
async fn response(stream: &mut TcpStream) -> (u16, String, String) {
    let read = async {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(data[..end].to_vec()).unwrap();
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .map_or(0, |v| v.parse::<usize>().unwrap());
                if data.len() >= end + 4 + length {
                    let body = String::from_utf8(data[end + 4..end + 4 + length].to_vec()).unwrap();
                    let status = head[9..12].parse().unwrap();
                    return (status, head, body);
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before a whole response: {:?}", String::from_utf8_lossy(&data));
            data.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(BOUND, read).await.expect("a response in time")
}

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[tokio::test]
async fn a_request_head_that_does_not_arrive_in_time_is_cut_off() {
    let server = Server::app(ServerLimits { header_read: SHORT, ..limits() }).await;

    // Connected, nothing sent.
    let mut silent = server.connect().await;
    let (after, sent) = closed_within(&mut silent, "silent client").await;
    assert!(after >= SHORT / 2 && sent.is_empty(), "closed after {after:?}, sent {sent:?}");

    // Part of a request line and headers, then nothing.
    let mut partial = server.connect().await;
    partial.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let (after, _) = closed_within(&mut partial, "partial head").await;
    assert!(after >= SHORT / 2, "closed after {after:?}");

    // A byte every 50 ms: trickling does not extend the deadline.
    let mut trickle = server.connect().await;
    let start = Instant::now();
    let mut closed = false;
    for b in b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ".iter().chain([b'a'; 200].iter()) {
        if trickle.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let mut one = [0u8; 1];
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(50), trickle.read(&mut one)).await {
            assert!(matches!(read, Ok(0) | Err(_)), "the server answered a request it never fully received");
            closed = true;
            break;
        }
        assert!(start.elapsed() < BOUND, "trickling client still connected after {BOUND:?}");
    }
    assert!(closed, "trickling client was never cut off");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server = Server::app(ServerLimits { idle: SHORT, ..limits() }).await;
    let mut stream = server.connect().await;
    stream.write_all(HEALTH).await.unwrap();
    let (status, _, _) = response(&mut stream).await;
    assert_eq!(status, 200);
    let (after, sent) = closed_within(&mut stream, "idle connection").await;
    assert!(sent.is_empty(), "nothing more is sent: {sent:?}");
    assert!(after >= SHORT / 2, "closed after {after:?}");

    // A request followed by the first byte of another, then silence.
    let mut stream = server.connect().await;
    stream.write_all(&[HEALTH, b"G"].concat()).await.unwrap();
    assert_eq!(response(&mut stream).await.0, 200);
    closed_within(&mut stream, "connection with a started second request").await;
}

#[tokio::test]
async fn a_kept_alive_connection_serves_several_requests_with_pauses_between_them() {
    // The header timeout starts with a request's first byte, not while the connection is idle.
    let server = Server::app(ServerLimits { header_read: SHORT, ..limits() }).await;
    let mut stream = server.connect().await;
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(SHORT * 2).await;
        }
        stream.write_all(HEALTH).await.unwrap();
        let (status, head, body) = response(&mut stream).await;
        assert_eq!(status, 200, "request {i}: {head}");
        assert!(body.contains("ok"), "request {i}: {body}");
    }
    // Several requests in one write (pipelined) are answered in order too.
    stream.write_all(&[HEALTH, HEALTH].concat()).await.unwrap();
    assert_eq!(response(&mut stream).await.0, 200);
    assert_eq!(response(&mut stream).await.0, 200);
}

#[tokio::test]
async fn a_stalled_request_body_is_answered_408_and_the_connection_closed() {
    let server = Server::app(ServerLimits { body_read: SHORT, ..limits() }).await;
    let mut stream = server.connect().await;
    stream
        .write_all(
            b"POST /api/callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
Content-Length: 100\r\n\r\ncode=abc&s",
        )
        .await
        .unwrap();
    let (status, head, body) = response(&mut stream).await;
    assert_eq!(status, 408, "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("connection: close"), "{head}");
    assert!(head.contains("cache-control: no-store") && head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(body.contains("<code>request_timeout</code>"), "{body}");
    closed_within(&mut stream, "after the 408").await;
}

#[tokio::test]
async fn shutdown_returns_within_the_grace_period_while_a_slow_client_is_connected() {
    let mut server = Server::app(ServerLimits { shutdown_grace: SHORT, ..limits() }).await;
    // Holds a connection with a request head that never completes (the header limit is long).
    let mut slow = server.connect().await;
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let start = Instant::now();
    server.shut_down();
    let task = &mut server.task;
    tokio::time::timeout(BOUND, task)
        .await
        .unwrap_or_else(|_| panic!("run_with had not returned {BOUND:?} after shutdown was signalled"))
        .unwrap();
    assert!(start.elapsed() >= SHORT / 2, "it waited for the slow client first: {:?}", start.elapsed());
    closed_within(&mut slow, "the slow client after the grace period").await;
    assert!(TcpStream::connect(server.addr).await.is_err(), "the listener is closed");
}

/// Answers after a pause, to have a request in flight when shutdown starts.
struct Slow;

impl entra_sso::app::Handler for Slow {
    async fn handle(&self, _req: Request<Bytes>) -> Response<Bytes> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Response::new(Bytes::from_static(b"done"))
    }
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut server =
        Server::start(Arc::new(Slow), ServerLimits { shutdown_grace: Duration::from_secs(5), ..limits() }).await;
    let mut idle = server.connect().await;
    let mut busy = server.connect().await;
    busy.write_all(HEALTH).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shut_down();
    let (status, _, body) = response(&mut busy).await;
    assert_eq!((status, body.as_str()), (200, "done"));
    let task = &mut server.task;
    tokio::time::timeout(BOUND, task).await.expect("run_with returns once the request is answered").unwrap();
    closed_within(&mut idle, "an idle connection at shutdown").await;
}

/// What hyper answers by itself to a request it cannot parse, before any of our code runs: a bare
/// status with no body and no security headers (hyper has no hook to add them), then a close.
#[tokio::test]
async fn requests_hyper_cannot_parse_get_its_bare_answer_and_a_close() {
    let server = Server::app(limits()).await;
    let many_headers: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases = [
        ("not HTTP", "GARBAGE\r\n\r\n".to_owned(), "400 Bad Request"),
        ("a space in a header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n".to_owned(), "400 Bad Request"),
        (
            "101 header fields",
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"),
            "431 Request Header Fields Too Large",
        ),
        (
            "a 70 KB request target",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)),
            "414 URI Too Long",
        ),
    ];
    for (what, request, status) in cases {
        let mut stream = server.connect().await;
        stream.write_all(request.as_bytes()).await.unwrap();
        let (_, sent) = closed_within(&mut stream, what).await;
        let sent = String::from_utf8(sent).unwrap().to_ascii_lowercase();
        assert!(sent.starts_with(&format!("http/1.1 {}\r\n", status.to_ascii_lowercase())), "{what}: {sent}");
        assert!(sent.contains("\r\ncontent-length: 0\r\n") && sent.ends_with("\r\n\r\n"), "{what}: {sent}");
        assert!(!sent.contains("content-type"), "{what}: no body, so nothing to sniff or render: {sent}");
    }
}
