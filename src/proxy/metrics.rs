//! `GET /metrics` on `SSO_METRICS_LISTEN`, a listener of its own: the instance's sign-in
//! counters in the OpenMetrics text format, for Prometheus to scrape. The public listener never
//! serves them (`/metrics` there is the app's own path, forwarded like any other).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};

use crate::app::{App, Handler};
use crate::telemetry::metrics::CONTENT_TYPE;

/// The metrics listener's only route.
pub const METRICS_PATH: &str = "/metrics";

/// Answers the metrics listener: `GET /metrics`, `404` for anything else.
pub struct MetricsEndpoint {
    app: Arc<App>,
}

impl MetricsEndpoint {
    /// The endpoint for `app`'s counters.
    pub fn new(app: Arc<App>) -> Arc<Self> {
        Arc::new(MetricsEndpoint { app })
    }

    fn answer(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let (status, content_type, body) = if req.uri().path() != METRICS_PATH {
            (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", Bytes::from_static(b"not found\n"))
        } else if req.method() != Method::GET && req.method() != Method::HEAD {
            (StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", Bytes::from_static(b"GET only\n"))
        } else {
            (StatusCode::OK, CONTENT_TYPE, Bytes::from(self.app.telemetry.metrics().encode()))
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
        response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        response
    }
}

impl Handler for MetricsEndpoint {
    fn handle(&self, req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send {
        std::future::ready(self.answer(&req))
    }
}
