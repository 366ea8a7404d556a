//! The way to the app: one fixed upstream over a pooled HTTP/1.1 client, bodies streamed both
//! ways, hop-by-hop headers dropped, identity headers that only the gate may set, `X-Forwarded-*`
//! set (a client's own believed only from a trusted proxy), and WebSocket (any `Upgrade`)
//! tunnelled once the app agrees.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::proxy::settings::ProxySettings;
use crate::web::errors::{ErrorCode, Failure};

/// The body of every answer the proxy sends: the app's, streamed, or one made here.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// How long a connection to the app may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Most WebSocket tunnels open at once; more get `502 upstream_unavailable` until one ends.
const MAX_TUNNELS: usize = 4096;

/// A tunnel with no byte in either direction for this long is closed.
const TUNNEL_IDLE: Duration = Duration::from_secs(600);

/// Forwarding and rewrite headers that frameworks believe (Rack, Werkzeug's ProxyFix, IIS, old
/// Symfony and Zend): removed unless the peer is a trusted proxy.
const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-forwarded-prefix",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-arr-ssl",
];

/// Headers that rewrite the request target in some frameworks: never forwarded, whoever sent
/// them, because the gate judged the target it saw.
const TARGET_REWRITES: &[&str] = &["x-original-url", "x-rewrite-url"];

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1), plus the
/// proxy-only ones; dropped in both directions (an upgrade keeps `Connection` and `Upgrade`).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The app behind the proxy.
pub struct Upstream {
    client: Client<HttpConnector, Incoming>,
    authority: String,
    timeout: Duration,
    tunnels: Arc<Semaphore>,
}

impl Upstream {
    /// A pooled client for `settings.upstream`.
    pub fn new(settings: &ProxySettings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(connector);
        Self {
            client,
            authority: settings.upstream.clone(),
            timeout: settings.upstream_timeout,
            tunnels: Arc::new(Semaphore::new(MAX_TUNNELS)),
        }
    }

    /// Sends `req` to the app with `identity` (the gate's headers; empty for anonymous) and
    /// returns its answer, streamed. An upgrade request is tunnelled when the app switches.
    pub async fn forward(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        trusted_peer: bool,
        identity: HeaderMap,
    ) -> Result<Response<ProxyBody>, Failure> {
        let upgrade = upgrade_protocol(req.headers());
        prepare(&mut req, peer, trusted_peer, identity, upgrade.as_ref())?;
        let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
        let cannot = |_| Failure::new(ErrorCode::BadRequest, "request target cannot be forwarded");
        let response = match upgrade {
            // A connection of its own sends the target as it is: origin-form, as apps expect.
            Some(_) => {
                *req.uri_mut() = path.parse().map_err(cannot)?;
                self.tunnel(req).await?
            }
            None => {
                // The pooled client finds the connection from the absolute form, and sends the
                // origin-form.
                *req.uri_mut() = format!("http://{}{path}", self.authority).parse().map_err(cannot)?;
                let sent = tokio::time::timeout(self.timeout, self.client.request(req)).await;
                sent.map_err(|_| timed_out(self.timeout))?.map_err(|e| unavailable(&e))?
            }
        };
        Ok(answer(response))
    }

    /// A WebSocket upgrade on a connection of its own: once the app answers `101` with
    /// `Upgrade: websocket`, both upgraded connections are joined and copied until either side
    /// closes or both are idle for [`TUNNEL_IDLE`]. At most [`MAX_TUNNELS`] at once.
    async fn tunnel(&self, mut req: Request<Incoming>) -> Result<Response<Incoming>, Failure> {
        let permit = Arc::clone(&self.tunnels).try_acquire_owned().map_err(|_| {
            Failure::new(ErrorCode::UpstreamUnavailable, format!("{MAX_TUNNELS} WebSocket tunnels are open already"))
        })?;
        let client_side = hyper::upgrade::on(&mut req);
        let connect = tokio::net::TcpStream::connect(&self.authority);
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| timed_out(CONNECT_TIMEOUT))?
            .map_err(|e| Failure::new(ErrorCode::UpstreamUnavailable, format!("connect to the app: {e}")))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unavailable(&e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "upgraded connection to the app ended with an error");
            }
        });
        let sent = tokio::time::timeout(self.timeout, sender.send_request(req)).await;
        let mut response = sent.map_err(|_| timed_out(self.timeout))?.map_err(|e| unavailable(&e))?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // Only the protocol asked for: an app that switches to anything else (h2c, or a
            // `101` that switches nothing) would take requests the gate never saw.
            if !is_websocket(response.headers()) {
                return Err(Failure::new(
                    ErrorCode::UpstreamUnavailable,
                    "the app switched to a protocol other than websocket",
                ));
            }
            let app_side = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                let _permit = permit;
                let (Ok(client), Ok(app)) = tokio::join!(client_side, app_side) else { return };
                let (mut client, mut app) = (TokioIo::new(client), TokioIo::new(app));
                splice(&mut client, &mut app).await;
            });
        }
        Ok(response)
    }
}

/// Copies both ways until either side closes, or neither has sent a byte for [`TUNNEL_IDLE`].
async fn splice<A, B>(a: &mut A, b: &mut B)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut a_read, mut a_write) = tokio::io::split(a);
    let (mut b_read, mut b_write) = tokio::io::split(b);
    let (mut up, mut down) = ([0u8; 8192], [0u8; 8192]);
    loop {
        let moved = tokio::time::timeout(TUNNEL_IDLE, async {
            tokio::select! {
                n = a_read.read(&mut up) => match n {
                    Ok(n) if n > 0 => b_write.write_all(&up[..n]).await.is_ok(),
                    _ => false,
                },
                n = b_read.read(&mut down) => match n {
                    Ok(n) if n > 0 => a_write.write_all(&down[..n]).await.is_ok(),
                    _ => false,
                },
            }
        })
        .await;
        if moved != Ok(true) {
            let _ = a_write.shutdown().await;
            let _ = b_write.shutdown().await;
            return;
        }
    }
}

/// Whether headers say `Upgrade: websocket`.
fn is_websocket(h: &HeaderMap) -> bool {
    h.get(header::UPGRADE).is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// The upgrade a request asks for, when it is the one the proxy tunnels: `Connection: upgrade`
/// with `Upgrade: websocket`. Any other `Upgrade` (h2c above all, which would hand the client an
/// HTTP/2 connection to the app past the gate) is dropped, and the request goes as a plain one.
fn upgrade_protocol(h: &HeaderMap) -> Option<HeaderValue> {
    let asks = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    (asks && is_websocket(h)).then(|| h.get(header::UPGRADE).cloned()).flatten()
}

/// The request's headers as the app gets them.
fn prepare(
    req: &mut Request<Incoming>,
    peer: SocketAddr,
    trusted_peer: bool,
    identity: HeaderMap,
    upgrade: Option<&HeaderValue>,
) -> Result<(), Failure> {
    let headers = req.headers_mut();
    check_host(headers)?;
    let chunked = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("chunked")));
    drop_hop_by_hop(headers);
    // The framing the client used goes on (hyper has checked it): a chunked body stays chunked,
    // without the Content-Length it overrides, so the app reads exactly what the proxy read.
    if chunked {
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    }
    headers.remove("http2-settings");
    for name in TARGET_REWRITES {
        headers.remove(*name);
    }
    drop_identity(headers);
    set_forwarded(headers, peer, trusted_peer)?;
    headers.extend(identity);
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    Ok(())
}

/// One `Host`, as HTTP/1.1 requires (RFC 9112 §3.2): the app routes and builds links on it.
fn check_host(headers: &HeaderMap) -> Result<(), Failure> {
    match headers.get_all(header::HOST).iter().count() {
        1 => Ok(()),
        0 => Err(Failure::new(ErrorCode::BadRequest, "no Host header")),
        _ => Err(Failure::new(ErrorCode::BadRequest, "several Host headers")),
    }
}

/// Removes hop-by-hop headers, and any header `Connection` names (but `Host`, which names the
/// site and is no hop's own).
fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|name| name != header::HOST)
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter().map(|n| HeaderName::from_static(n)).collect::<Vec<_>>().iter()) {
        headers.remove(name);
    }
}

/// Whether a header name is one that only the gate may set: App Service's identity and token
/// headers and the session assertion, in any casing and with `_` for `-` (which CGI, WSGI and
/// many frameworks read as the same variable).
pub fn is_identity_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('_', "-");
    n.starts_with("x-ms-client-principal")
        || n.starts_with("x-ms-token-")
        || n == "x-sso-assertion"
        || n == "proxy-sso-assertion"
}

fn drop_identity(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers.keys().filter(|k| is_identity_header(k.as_str())).cloned().collect();
    for name in spoofed {
        headers.remove(&name);
    }
}

/// `X-Forwarded-For`, `-Proto` and `-Host`: appended to a trusted proxy's, else this hop's
/// own (the client's copies removed, with `Forwarded` and `X-Real-IP`).
fn set_forwarded(headers: &mut HeaderMap, peer: SocketAddr, trusted_peer: bool) -> Result<(), Failure> {
    let text = |h: &HeaderMap, name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Every line of a list header, in order (a proxy may add its own line instead of appending).
    let list = |h: &HeaderMap, name: &str| {
        let lines: Vec<&str> = h.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        (!lines.is_empty()).then(|| lines.join(", "))
    };
    let (prior_for, proto, host) = if trusted_peer {
        // The trusted proxy's own word is the last element.
        let proto = list(headers, "x-forwarded-proto")
            .and_then(|p| p.rsplit(',').next().map(|p| p.trim().to_ascii_lowercase()))
            .filter(|p| p == "https" || p == "http");
        (list(headers, "x-forwarded-for"), proto, text(headers, "x-forwarded-host"))
    } else {
        (None, None, None)
    };
    for name in FORWARDING {
        if !trusted_peer || ["forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"].contains(name) {
            headers.remove(*name);
        }
    }
    let peer_ip = peer.ip().to_canonical();
    let for_value = match prior_for {
        Some(prior) => format!("{prior}, {peer_ip}"),
        None => peer_ip.to_string(),
    };
    let host = host.or_else(|| text(headers, "host"));
    let bad = |what: &str| Failure::new(ErrorCode::BadRequest, format!("{what} cannot be forwarded"));
    headers.insert("x-forwarded-for", HeaderValue::from_str(&for_value).map_err(|_| bad("X-Forwarded-For"))?);
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_str(proto.as_deref().unwrap_or("http")).map_err(|_| bad("X-Forwarded-Proto"))?,
    );
    if let Some(host) = host {
        headers.insert("x-forwarded-host", HeaderValue::from_str(&host).map_err(|_| bad("X-Forwarded-Host"))?);
    }
    Ok(())
}

/// The app's answer for the client: hop-by-hop headers dropped (a `101` keeps its upgrade).
fn answer(mut response: Response<Incoming>) -> Response<ProxyBody> {
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        drop_hop_by_hop(response.headers_mut());
    }
    response.map(BodyExt::boxed)
}

fn timed_out(after: Duration) -> Failure {
    Failure::new(ErrorCode::UpstreamTimeout, format!("the app did not answer within {} s", after.as_secs()))
}

fn unavailable(e: &dyn std::error::Error) -> Failure {
    let mut why = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    Failure::new(ErrorCode::UpstreamUnavailable, format!("the app: {why}"))
}

/// A body made here (a page of the core), in the proxy's body type.
pub fn full(body: Bytes) -> ProxyBody {
    http_body_util::Full::new(body).map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_in_every_spelling() {
        for name in [
            "x-ms-client-principal",
            "X-MS-CLIENT-PRINCIPAL-NAME",
            "x_ms_client_principal_id",
            "X-Ms-Token-Aad-Id-Token",
            "x_ms_token_aad_access_token",
            "X-SSO-Assertion",
            "x_sso_assertion",
            "proxy-sso-assertion",
        ] {
            assert!(is_identity_header(name), "{name}");
        }
        assert!(!is_identity_header("x-ms-request-id") && !is_identity_header("x-sso-other"));
    }

    #[test]
    fn connection_named_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        drop_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(HeaderName::as_str).collect::<Vec<_>>(), ["x-kept"]);
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_replaced() {
        let peer: SocketAddr = "203.0.113.7:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("app.example.com"));
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4"));
        let mut untrusted = h.clone();
        set_forwarded(&mut untrusted, peer, false).unwrap();
        assert_eq!(untrusted["x-forwarded-for"], "203.0.113.7");
        assert_eq!(untrusted["x-forwarded-proto"], "http");
        assert_eq!(untrusted["x-forwarded-host"], "app.example.com");
        assert!(untrusted.get("forwarded").is_none());
        set_forwarded(&mut h, peer, true).unwrap();
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 203.0.113.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "evil.example");
    }
}
