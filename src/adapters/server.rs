//! The HTTP adapter: any [`Handler`] served over HTTP/1.1 on an injected listener, with a bounded
//! body, time limits on every phase of a connection, and graceful shutdown with a deadline. Tests
//! bind `127.0.0.1:0` and pass the listener in.
//!
//! The request is taken apart by a warp filter; connections are served by hyper directly
//! (`warp::serve` has no time limits), each socket wrapped in a `TimedStream`, which knows from
//! the service whether a request is being answered and applies [`ServerLimits`] in between.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use http::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use warp::Filter;

use crate::app::{Handler, MAX_BODY_BYTES};

/// Time limits of the HTTP adapter. A connection that exceeds one is closed (a slow body is
/// answered `408 request_timeout` first), so a client cannot hold a connection, or delay
/// shutdown, by sending slowly or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// From a request's first byte (on a new connection: from the accept) until its whole head
    /// has arrived. Default 10 s: a head is at most a few tens of KB.
    pub header_read: Duration,
    /// From the start of a request's body until all of it has arrived. Default 10 s: bodies are at
    /// most 16 KB ([`MAX_BODY_BYTES`]).
    pub body_read: Duration,
    /// How long a kept-alive connection may wait for its next request. Default 60 s: idle
    /// connections cost little, and a browser that comes back from Microsoft's sign-in page within
    /// a minute reuses its connection for the callback.
    pub idle: Duration,
    /// After shutdown is signalled, how long requests in flight may take to finish before the
    /// remaining connections are dropped. Default 10 s, the outbound request timeout: enough for a
    /// callback waiting on the code redemption.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Pause after a failed `accept` other than a client's reset (e.g. out of file descriptors),
/// so the loop does not spin while nothing can be accepted.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Serves `handler` on `listener` with the default [`ServerLimits`] until `shutdown` completes.
pub async fn run<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    run_with(listener, handler, shutdown, ServerLimits::default()).await;
}

/// Serves `handler` on `listener` until `shutdown` completes, then stops accepting, lets requests
/// in flight finish for up to `limits.shutdown_grace`, drops the connections still open, and
/// returns.
pub async fn run_with<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServerLimits,
) {
    let route = route(handler, limits.body_read);
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's own header timeout allocates a timer per request; TimedStream keeps one per connection.
    http.header_read_timeout(None);
    accept_loop(listener, shutdown, limits.shutdown_grace, move |stream, _peer, drain| {
        let conn = Arc::new(ConnState::new());
        let io = TokioIo::new(TimedStream::new(stream, Arc::clone(&conn), limits));
        let service = TowerToHyperService::new(warp::service(route.clone()));
        let service = hyper::service::service_fn(move |req| {
            conn.set(Phase::Answering);
            let conn = Arc::clone(&conn);
            let answer = hyper::service::Service::call(&service, req);
            async move {
                let response = answer.await;
                if conn.answered() {
                    // Polled again, hyper reads the socket, which starts the idle wait.
                    std::future::poll_fn(|cx| {
                        cx.waker().wake_by_ref();
                        Poll::Ready(())
                    })
                    .await;
                }
                response
            }
        });
        let connection = drain.watch(http.serve_connection(io, service));
        async move {
            // Clients that vanish or dawdle end here too: not worth more than debug.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        }
    })
    .await;
}

/// How a connection learns that the server is shutting down: a hyper connection is handed to
/// [`Drain::watch`]; one that hyper-util cannot watch (an upgradeable one) waits for
/// [`Drain::signalled`] and shuts itself down.
pub struct Drain {
    graceful: GracefulShutdown,
    signal: tokio::sync::watch::Receiver<bool>,
}

impl Drain {
    /// `connection`, shut down gracefully when the server is.
    pub fn watch<C: hyper_util::server::graceful::GracefulConnection>(
        &self,
        connection: C,
    ) -> impl Future<Output = C::Output> {
        self.graceful.watch(connection)
    }

    /// Completes when shutdown is signalled.
    pub fn signalled(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut signal = self.signal.clone();
        async move {
            let _ = signal.wait_for(|&stop| stop).await;
        }
    }
}

/// Accepts connections on `listener` until `shutdown` completes, running what `serve` makes of
/// each (a connection served by hyper and watched through the [`Drain`] it is given) on its own
/// task. Then stops accepting, lets requests in flight finish for up to `grace`, drops the
/// connections still open, and returns. The one accept loop of `serve` and `proxy`.
pub async fn accept_loop<F, C>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    mut serve: F,
) where
    F: FnMut(TcpStream, std::net::SocketAddr, &Drain) -> C,
    C: Future<Output = ()> + Send + 'static,
{
    let (stop, signal) = tokio::sync::watch::channel(false);
    let drain = Drain { graceful: GracefulShutdown::new(), signal };
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                if ended.is_err_and(|e| e.is_panic()) {
                    tracing::error!("a connection's task panicked");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve(stream, peer, &drain));
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; pausing");
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                    }
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = async {
        drain.graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!(
            connections = connections.len(),
            grace_ms = grace.as_millis() as u64,
            "shutdown grace period over; closing the remaining connections"
        );
        connections.shutdown().await;
    }
}

/// A reset or abort reported by `accept` concerns one client, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// The warp filter that rebuilds an `http::Request<Bytes>` and hands it to `handler`.
fn route<H: Handler>(
    handler: Arc<H>,
    body_read: Duration,
) -> impl Filter<Extract = (Response<Bytes>,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(move |method, path: warp::path::FullPath, query: String, headers, body| {
            let handler = Arc::clone(&handler);
            async move {
                let body = match tokio::time::timeout(body_read, read_body(body)).await {
                    Ok(Ok(b)) => b,
                    Ok(Err(status)) => return plain(status),
                    Err(_) => return plain(http::StatusCode::REQUEST_TIMEOUT),
                };
                let uri =
                    if query.is_empty() { path.as_str().to_owned() } else { format!("{}?{query}", path.as_str()) };
                let mut req = Request::new(body);
                *req.method_mut() = method;
                *req.headers_mut() = headers;
                match uri.parse() {
                    Ok(u) => *req.uri_mut() = u,
                    Err(_) => return plain(http::StatusCode::BAD_REQUEST),
                }
                handler.handle(req).await
            }
        })
}

/// Reads at most [`MAX_BODY_BYTES`]; a larger body is refused with 413 without reading it all.
async fn read_body<S, B>(body: S) -> Result<Bytes, http::StatusCode>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| http::StatusCode::BAD_REQUEST)?;
        if out.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(http::StatusCode::PAYLOAD_TOO_LARGE);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(out.freeze())
}

/// The answer to a request the adapter refuses before the core sees it.
fn plain(status: http::StatusCode) -> Response<Bytes> {
    use crate::web::errors::ErrorCode;
    let code = match status {
        http::StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        http::StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        _ => ErrorCode::BadRequest,
    };
    tracing::warn!(code = code.as_str(), status = status.as_u16(), "request refused by the adapter");
    let mut r = crate::web::pages::error(
        &crate::web::errors::Failure::new(code, ""),
        false,
        "-",
        crate::config::Mount::Api.login_path(),
    );
    *r.status_mut() = status;
    if code == ErrorCode::RequestTimeout {
        // The rest of the body may still be on its way: the connection cannot carry another request.
        r.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    r
}

/// Where a connection is in its request cycle; written by the service and by [`TimedStream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Waiting for the rest of a request head (a new connection starts here).
    Head,
    /// A request is being answered: its body is bounded by `body_read`, the rest by the handler.
    Answering,
    /// Answering, and the socket's timer is set to wake the connection within `idle`.
    Watched,
    /// The answer is out; the wait for the next request counts from [`ConnState::answered_at`].
    Answered,
    /// Waiting for the first byte of the next request.
    Idle,
}

/// A connection's [`Phase`] and when its last answer was produced, shared by its service and its
/// socket. Both run in the connection's task, so relaxed atomics suffice.
struct ConnState {
    phase: AtomicU8,
    /// Nanoseconds from `opened` to the last answer.
    answered: AtomicU64,
    opened: Instant,
}

impl ConnState {
    fn new() -> Self {
        Self { phase: AtomicU8::new(Phase::Head as u8), answered: AtomicU64::new(0), opened: Instant::now() }
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Head,
            1 => Phase::Answering,
            2 => Phase::Watched,
            3 => Phase::Answered,
            _ => Phase::Idle,
        }
    }

    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// Records that an answer was produced. Returns whether the socket has no timer to wake the
    /// connection (hyper read nothing while answering), in which case the caller must wake it.
    fn answered(&self) -> bool {
        let nanos = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.answered.store(nanos, Ordering::Relaxed);
        self.phase.swap(Phase::Answered as u8, Ordering::Relaxed) == Phase::Answering as u8
    }

    fn answered_at(&self) -> Instant {
        self.opened + Duration::from_nanos(self.answered.load(Ordering::Relaxed))
    }
}

/// A client socket whose reads fail with `TimedOut` when a request head or the next request does
/// not arrive in time, which makes hyper close the connection.
///
/// hyper reads the socket only while it expects bytes, and not at all once an answer is written,
/// so while a request is answered the timer is set to wake the connection within `idle`; the
/// wake-up reads the socket, which then starts (or ends) the idle wait. One timer per connection,
/// moved in place (tokio re-files it only when it moves earlier): requests add no allocation.
struct TimedStream {
    stream: TcpStream,
    conn: Arc<ConnState>,
    limits: ServerLimits,
    /// Whether `deadline` belongs to the current request head.
    head_armed: bool,
    deadline: Pin<Box<Sleep>>,
}

impl TimedStream {
    fn new(stream: TcpStream, conn: Arc<ConnState>, limits: ServerLimits) -> Self {
        // The first request's head is due within `header_read` of the accept.
        let deadline = Box::pin(tokio::time::sleep(limits.header_read));
        Self { stream, conn, limits, head_armed: true, deadline }
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut phase = this.conn.phase();
        if phase == Phase::Answered {
            this.deadline.as_mut().reset(this.conn.answered_at() + this.limits.idle);
            this.conn.set(Phase::Idle);
            phase = Phase::Idle;
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        match phase {
            Phase::Answering | Phase::Watched => {
                if read.is_pending() {
                    if phase == Phase::Answering || this.deadline.is_elapsed() {
                        this.deadline.as_mut().reset(Instant::now() + this.limits.idle);
                        this.conn.set(Phase::Watched);
                    }
                    // Only to be woken: a request is not timed out while it is answered.
                    let _ = this.deadline.as_mut().poll(cx);
                }
                return read;
            }
            Phase::Idle if read.is_ready() => {
                if buf.filled().len() > before {
                    this.conn.set(Phase::Head);
                    this.head_armed = false;
                }
                return read;
            }
            Phase::Head if read.is_pending() && !this.head_armed => {
                this.deadline.as_mut().reset(Instant::now() + this.limits.header_read);
                this.head_armed = true;
            }
            _ if read.is_ready() => return read,
            _ => {}
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                if phase == Phase::Head { "request head not received in time" } else { "idle connection" },
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Completes on SIGINT or SIGTERM (how the Functions host and Lambda stop a process).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
