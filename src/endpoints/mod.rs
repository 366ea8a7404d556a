//! The endpoints, and the core handler that routes to them: [`App`] answers every request
//! through [`Handler`], whatever adapter delivered it. [`ROUTES`] is the contract with the Azure
//! Functions layout: a test holds every `function.json` to it and back.
//!
//! Each handler returns `Result<Response, Failure>`; lower layers' errors become failures by
//! `From` (the `failures` module), and the failure becomes the error page here, with its log line.

pub mod account;
pub mod callback;
mod failures;
pub mod forward_auth;
pub mod login;
pub mod published;

use std::future::Future;

use bytes::Bytes;
use http::{Method, Request, Response};

use crate::app::{App, Handler, MAX_BODY_BYTES};
use crate::web::errors::{cap, ErrorCode, Failure};
use crate::web::pages;
use crate::web::url::public_path;

/// A route served by the handler.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The path, including the `/api` prefix.
    pub path: &'static str,
    /// Accepted methods, upper-case.
    pub methods: &'static [&'static str],
}

/// Every function route (the host's ping on `/` is not a function and is not listed).
pub const ROUTES: &[Route] = &[
    Route { path: "/api/login", methods: &["GET"] },
    Route { path: "/api/callback", methods: &["GET", "POST"] },
    Route { path: "/api/me", methods: &["GET"] },
    Route { path: "/api/logout", methods: &["GET", "POST"] },
    Route { path: "/api/logout/frontchannel", methods: &["GET"] },
    Route { path: "/api/health", methods: &["GET"] },
    // Proxies ask with the protected request's own method (nginx's subrequests inherit it).
    Route { path: "/api/auth", methods: &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] },
    Route { path: "/api/jwks", methods: &["GET"] },
    Route { path: "/api/.well-known/openid-configuration", methods: &["GET"] },
];

/// Longest path and query accepted.
pub const MAX_URI_BYTES: usize = 16 * 1024;

/// Most header bytes (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Most header fields accepted.
pub const MAX_HEADERS: usize = 100;

/// Refuses requests past the size limits, whatever adapter delivered them.
fn check_limits(req: &Request<Bytes>) -> Result<(), Failure> {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(Failure::new(ErrorCode::UriTooLong, format!("request target of {uri_len} bytes")));
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(Failure::new(ErrorCode::HeadersTooLarge, format!("{} headers, {bytes} bytes", headers.len())));
    }
    if req.body().len() > MAX_BODY_BYTES {
        return Err(Failure::new(ErrorCode::PayloadTooLarge, format!("body of {} bytes", req.body().len())));
    }
    Ok(())
}

impl Handler for App {
    fn handle(&self, req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send {
        handle(self, req)
    }
}

/// Answers one request: the endpoint's response, or the error page of its failure.
async fn handle(app: &App, req: Request<Bytes>) -> Response<Bytes> {
    // The path only: queries carry codes and states, which never reach logs. Captured only
    // when debug logging is on, to keep the hot path free of allocations for it.
    let access = tracing::enabled!(tracing::Level::DEBUG).then(|| (req.method().clone(), cap(req.uri().path(), 128)));
    let response = match dispatch(app, &req).await {
        Ok(response) => response,
        Err(failure) => error_page(&failure, &req),
    };
    if let Some((method, path)) = access {
        tracing::debug!(%method, path, status = response.status().as_u16(), "request");
    }
    response
}

/// The failure's page (HTML or JSON, as the client prefers), logged with a request id the page
/// shows too.
fn error_page(failure: &Failure, req: &Request<Bytes>) -> Response<Bytes> {
    let request_id = request_id();
    tracing::warn!(
        request_id = %request_id,
        code = failure.code.as_str(),
        status = failure.code.status().as_u16(),
        detail = %failure.detail,
        "request failed"
    );
    let prefix = public_path(req, "");
    let mut response = pages::error(failure, pages::wants_json(req.headers()), &request_id, &prefix);
    if let Some(v) = failure.allow.as_deref().and_then(|a| http::HeaderValue::from_str(a).ok()) {
        response.headers_mut().insert(http::header::ALLOW, v);
    }
    response
}

/// A short random id that ties an error page to its log line.
fn request_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Routes `req` to its endpoint.
async fn dispatch(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    check_limits(req)?;
    let path = req.uri().path();
    if path == "/" {
        return match *req.method() {
            Method::GET | Method::HEAD if app.settings.dev_pages => Ok(account::dev_home(app, req)),
            Method::GET | Method::HEAD => Ok(pages::text(http::StatusCode::OK, "ok")),
            _ => Err(Failure::method_not_allowed(&["GET"])),
        };
    }
    let Some(route) = ROUTES.iter().find(|r| r.path == path) else {
        return Err(Failure::new(ErrorCode::NotFound, format!("no route {}", cap(path, 128))));
    };
    if !route.methods.contains(&req.method().as_str()) {
        return Err(Failure::method_not_allowed(route.methods));
    }
    match route.path {
        "/api/login" => login::login(app, req).await,
        "/api/callback" => callback::callback(app, req).await,
        "/api/me" => Ok(account::me(app, req)),
        "/api/logout" => account::logout(app, req).await,
        "/api/logout/frontchannel" => account::frontchannel_logout(app, req).await,
        "/api/auth" => forward_auth::auth(app, req),
        "/api/jwks" => Ok(published::jwks(app)),
        "/api/.well-known/openid-configuration" => Ok(published::discovery(app)),
        _ => Ok(pages::json(http::StatusCode::OK, &serde_json::json!({"status": "ok"}))),
    }
}
