//! A bare warp 0.4 server that answers every request with the same `302`: the ceiling for
//! `/api/login` in `bench/run.sh`. No routing, no parsing, no crypto, no allocation beyond what
//! warp and hyper do for any response.
//!
//! usage: bare_302 PORT [LOCATION_LEN SET_COOKIE_LEN] [--via-adapter]
//!
//! With `--via-adapter` the same constant answer comes from a trivial handler served by
//! entra-sso's own HTTP adapter (`entra_sso::adapters::server::run`: the warp filter chain that rebuilds an
//! `http::Request` with cloned headers, the collected body and the re-parsed URI): the difference
//! to plain warp is the adapter's cost; the difference to `/api/login` is the handler's.
//!
//! The `Location` and `Set-Cookie` values have the given lengths; the defaults are those of a real
//! `/api/login` answer (`entra-sso serve`, an Entra tenant GUID authority, no `return_to`), measured
//! with `curl -si`; `bench/run.sh` measures them again and passes them. The three constant headers
//! every entra-sso answer carries (`cache-control`, `referrer-policy`, `x-content-type-options`) are
//! sent too, so both servers put the same bytes on the wire.
//!
//! Runtime: tokio's multi-thread runtime with one worker, as `entra-sso serve` runs with
//! `TOKIO_WORKER_THREADS=1` in the benchmark.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use warp::Filter;

/// Length of `Location` in a real `/api/login` answer (authorize URL with state, nonce, challenge).
const LOCATION_LEN: usize = 756;
/// Length of `Set-Cookie` in a real `/api/login` answer (the `__Host-sso-flow-<id>` cookie).
const SET_COOKIE_LEN: usize = 135;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let via_adapter = args.iter().any(|a| a == "--via-adapter");
    args.retain(|a| a != "--via-adapter");
    let arg = |i: usize, default: usize| args.get(i).map(|v| v.parse::<usize>().expect("a number")).unwrap_or(default);
    let port = arg(0, 7080) as u16;
    let (location_len, cookie_len) = (arg(1, LOCATION_LEN), arg(2, SET_COOKIE_LEN));

    let location = padded("https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/oauth2/v2.0/authorize?client_id=6cb04018-a3f5-46a7-b995-940c78f5aef3&state=", location_len);
    let cookie = {
        let tail = "; Path=/; Max-Age=660; HttpOnly; Secure; SameSite=Lax";
        let mut c = padded("__Host-sso-flow-cdgp6rF-TGE1TGWie_xgLA=", cookie_len.saturating_sub(tail.len()));
        c.push_str(tail);
        c
    };
    assert_eq!((location.len(), cookie.len()), (location_len, cookie_len));
    let location = HeaderValue::from_str(&location).unwrap();
    let cookie = HeaderValue::from_str(&cookie).unwrap();

    let answer = Constant { location, cookie };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!(
            "bare_302 listening on 127.0.0.1:{port}{}",
            if via_adapter { " (via entra-sso's adapter)" } else { "" }
        );
        if via_adapter {
            entra_sso::adapters::server::run(listener, Arc::new(answer), std::future::pending()).await;
        } else {
            let route = warp::any().map(move || answer.response());
            warp::serve(route).incoming(listener).run().await;
        }
    });
}

/// The constant answer.
#[derive(Clone)]
struct Constant {
    location: HeaderValue,
    cookie: HeaderValue,
}

impl Constant {
    fn response(&self) -> Response<Bytes> {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::FOUND;
        let h = r.headers_mut();
        // Typed names, as entra-sso's pages use: a name given as text is parsed on every insert.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::LOCATION, self.location.clone());
        h.append(header::SET_COOKIE, self.cookie.clone());
        r
    }
}

impl entra_sso::app::Handler for Constant {
    fn handle(&self, _req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send {
        std::future::ready(self.response())
    }
}

/// `prefix` followed by base64url-looking filler up to `len` bytes.
fn padded(prefix: &str, len: usize) -> String {
    let filler = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let mut s = String::with_capacity(len);
    s.push_str(&prefix[..prefix.len().min(len)]);
    let mut i = 0;
    while s.len() < len {
        s.push(filler[i % filler.len()] as char);
        i += 1;
    }
    s
}
