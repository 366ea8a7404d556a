//! The warp adapter: any [`Handler`] served over HTTP/1.1 on an injected listener, with a
//! bounded body and graceful shutdown. Tests bind `127.0.0.1:0` and pass the listener in.

use std::future::Future;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use http::{Request, Response};
use tokio::net::TcpListener;
use warp::Filter;

use crate::app::{App, MAX_BODY_BYTES};

/// Something that answers requests: the sign-in core, or the dev identity provider.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send;
}

impl Handler for App {
    fn handle(&self, req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send {
        App::handle(self, req)
    }
}

/// Serves `handler` on `listener` until `shutdown` completes, then drains open requests.
pub async fn run<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let route = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(move |method, path: warp::path::FullPath, query: String, headers, body| {
            let handler = Arc::clone(&handler);
            async move {
                let body = match read_body(body).await {
                    Ok(b) => b,
                    Err(status) => return plain(status),
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
        });
    warp::serve(route).incoming(listener).graceful(shutdown).run().await;
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
    let code = if status == http::StatusCode::PAYLOAD_TOO_LARGE {
        crate::errors::ErrorCode::PayloadTooLarge
    } else {
        crate::errors::ErrorCode::BadRequest
    };
    tracing::warn!(code = code.as_str(), status = status.as_u16(), "request refused by the adapter");
    let mut r = crate::pages::error(&crate::errors::Failure::new(code, ""), false, "-");
    *r.status_mut() = status;
    r
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
