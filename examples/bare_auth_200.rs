//! A bare warp 0.4 server that answers every request with the same `200` and an empty body,
//! carrying the identity headers of a forward-auth answer: the ceiling for `/api/auth` in
//! `bench/run.sh`. No routing, no cookie parsing, no verification, no allocation beyond what warp
//! and hyper do for any response.
//!
//! usage: bare_auth_200 PORT [--headers FILE] [--via-adapter]
//!
//! With `--headers FILE` (the output of `curl -si` for a real `/api/auth` answer) every header of
//! that answer is sent again byte for byte, except those hyper writes itself (`content-length`,
//! `date`, `transfer-encoding`, `connection`): `bench/run.sh` signs in, captures the real answer
//! and passes it, so both servers put the same bytes on the wire. Without it the answer carries
//! built-in values of realistic size for the dev user `alice`: `X-MS-CLIENT-PRINCIPAL` (base64 of
//! App Service Authentication's JSON with her claims), `X-MS-CLIENT-PRINCIPAL-ID`, `-NAME`,
//! `-IDP`, an `X-SSO-Assertion` as long as her ES256 session token, and the three constant
//! headers every entra-sso answer carries.
//!
//! With `--via-adapter` the same constant answer comes from a trivial handler served by
//! entra-sso's own HTTP adapter (`entra_sso::adapters::server::run`): the difference to plain warp
//! is the adapter's cost; the difference to `/api/auth` is the handler's.
//!
//! Runtime: tokio's multi-thread runtime with one worker, as `entra-sso serve` runs with
//! `TOKIO_WORKER_THREADS=1` in the benchmark.

use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use warp::Filter;

/// Length of a session token for the dev user `alice` (compact ES256 JWS with her claims), as
/// `bench/run.sh` measured it.
const ASSERTION_LEN: usize = 949;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let via_adapter = args.iter().any(|a| a == "--via-adapter");
    args.retain(|a| a != "--via-adapter");
    let headers_file = args.iter().position(|a| a == "--headers").map(|i| {
        let file = args.get(i + 1).cloned().expect("--headers FILE");
        args.drain(i..i + 2);
        file
    });
    let port: u16 = args.first().map_or(7080, |v| v.parse().expect("a port number"));

    let headers = match &headers_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            replayed(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
        }
        None => built_in(),
    };
    let answer = Constant { headers };

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!(
            "bare_auth_200 listening on 127.0.0.1:{port} ({} headers{}{})",
            answer.headers.len(),
            headers_file.map(|f| format!(" from {f}")).unwrap_or_default(),
            if via_adapter { ", via entra-sso's adapter" } else { "" }
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
    headers: HeaderMap,
}

impl Constant {
    fn response(&self) -> Response<Bytes> {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::OK;
        // A clone of the map: as many header values as the handler inserts, each a reference count.
        *r.headers_mut() = self.headers.clone();
        r
    }
}

impl entra_sso::app::Handler for Constant {
    fn handle(&self, _req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send {
        std::future::ready(self.response())
    }
}

/// The headers of a `curl -si` answer, without those hyper writes itself.
fn replayed(text: &str) -> Result<HeaderMap, String> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let status = lines.next().ok_or("empty file")?;
    if status.split(' ').nth(1) != Some("200") {
        return Err(format!("not a 200 answer: {status}"));
    }
    let mut headers = HeaderMap::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("not a header line: {line}"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| format!("{name}: {e}"))?;
        if [header::CONTENT_LENGTH, header::DATE, header::TRANSFER_ENCODING, header::CONNECTION].contains(&name) {
            continue;
        }
        let value = HeaderValue::from_str(value.trim()).map_err(|e| format!("{name}: {e}"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Realistic headers for the dev user `alice`, in the format `/api/auth` answers with.
fn built_in() -> HeaderMap {
    const OID: &str = "a11ce000-0000-4000-8000-00000000a11c";
    const TID: &str = "00000000-de00-4000-8000-00000000de00";
    let claim = |typ: &str, val: &str| serde_json::json!({ "typ": typ, "val": val });
    let principal = serde_json::json!({
        "auth_typ": "aad",
        "claims": [
            claim("iss", &format!("https://login.microsoftonline.com/{TID}/v2.0")),
            claim("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "pX3l4mGjH0cQ8bUu2m5kY8w7rZ1sT9vN4eA6dF0hJkL"),
            claim("http://schemas.microsoft.com/identity/claims/objectidentifier", OID),
            claim("http://schemas.microsoft.com/identity/claims/tenantid", TID),
            claim("name", "Alice Example"),
            claim("preferred_username", "alice@dev.example"),
            claim("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "alice@dev.example"),
            claim("groups", "0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e"),
        ],
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    });
    let principal = base64::engine::general_purpose::STANDARD.encode(principal.to_string());
    let assertion = padded("eyJhbGciOiJFUzI1NiIsInR5cCI6ImVudHJhLXNzby1zZXNzaW9uK2p3dCIsImtpZCI6Ii", ASSERTION_LEN);

    let mut h = HeaderMap::new();
    // Typed names where http has them, as entra-sso's answers use.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let mut put = |name: &'static str, value: String| {
        h.insert(HeaderName::from_static(name), HeaderValue::from_str(&value).expect("a header value"));
    };
    put("x-ms-client-principal", principal);
    put("x-ms-client-principal-id", OID.to_owned());
    put("x-ms-client-principal-name", "alice@dev.example".to_owned());
    put("x-ms-client-principal-idp", "aad".to_owned());
    put("x-sso-assertion", assertion);
    h
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
