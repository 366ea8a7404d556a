//! A bare hyper 1 HTTP/1.1 server that answers every request with the same small `200`: the app
//! behind the reverse proxies compared in `bench/run.sh` (section 8: nginx `proxy_pass`,
//! `entra-sso proxy`, nginx `auth_request` + `entra-sso serve`). No framework, no routing beyond
//! two diagnostic paths, keep-alive connections, no allocation beyond what hyper does for any
//! response.
//!
//! usage: bare_upstream_200 PORT
//!
//! Listens on 127.0.0.1:PORT. Every request gets `200`, `content-type: text/plain` and the
//! 13-byte body `hello, world\n` (hyper adds `content-length` and `date`), except two paths
//! that `bench/run.sh` reads and the measured requests never take (checking for them is one
//! comparison of the path):
//!
//! - `/.bench/headers` answers one line `name length` per request header it received, in order:
//!   read through each proxy, it shows what reaches the app (the identity headers
//!   `X-MS-CLIENT-PRINCIPAL*` and `X-SSO-Assertion` behind `entra-sso proxy` and behind
//!   `auth_request`, none behind plain `proxy_pass`) and how many bytes of headers each proxy
//!   adds;
//! - `/.bench/connections` answers the number of connections accepted since start: read directly
//!   before and after a run, it shows whether a proxy kept its upstream connections alive or
//!   opened new ones during the run.
//!
//! Runtime: tokio's multi-thread runtime with one worker, as `entra-sso serve` and `entra-sso
//! proxy` run with `TOKIO_WORKER_THREADS=1` in the benchmark.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// The answer's body.
const BODY: &[u8] = b"hello, world\n";

/// The path that lists the request's headers instead.
const HEADERS_PATH: &str = "/.bench/headers";

/// The path that answers the number of connections accepted.
const CONNECTIONS_PATH: &str = "/.bench/connections";

/// Connections accepted since start.
static ACCEPTED: AtomicU64 = AtomicU64::new(0);

fn main() {
    let port: u16 = std::env::args().nth(1).map_or(7090, |v| v.parse().expect("a port number"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!("bare_upstream_200 listening on 127.0.0.1:{port}");
        let http = hyper::server::conn::http1::Builder::new();
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: keep serving the connections we have.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
            let _ = stream.set_nodelay(true);
            let connection = http.serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer));
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    });
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.uri().path() {
        HEADERS_PATH => {
            let mut listing = String::new();
            for (name, value) in req.headers() {
                listing.push_str(&format!("{} {}\n", name.as_str(), value.len()));
            }
            Bytes::from(listing)
        }
        CONNECTIONS_PATH => Bytes::from(format!("{}\n", ACCEPTED.load(Ordering::Relaxed))),
        _ => Bytes::from_static(BODY),
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}
