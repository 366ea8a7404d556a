//! The route table and dispatch. [`ROUTES`] is the contract with the Azure Functions layout: a
//! test holds every `function.json` to it and back.

use bytes::Bytes;
use http::{Method, Request, Response};

use crate::app::App;
use crate::errors::{ErrorCode, Failure};
use crate::pages;

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
    if req.body().len() > crate::app::MAX_BODY_BYTES {
        return Err(Failure::new(ErrorCode::PayloadTooLarge, format!("body of {} bytes", req.body().len())));
    }
    Ok(())
}

/// Routes `req` to its endpoint.
pub async fn dispatch(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    check_limits(req)?;
    let path = req.uri().path();
    if path == "/" {
        return match *req.method() {
            Method::GET | Method::HEAD if app.settings.dev_pages => Ok(crate::account::dev_home(app, req)),
            Method::GET | Method::HEAD => Ok(pages::text(http::StatusCode::OK, "ok")),
            _ => Err(Failure::new(ErrorCode::MethodNotAllowed, "GET")),
        };
    }
    let Some(route) = ROUTES.iter().find(|r| r.path == path) else {
        return Err(Failure::new(ErrorCode::NotFound, format!("no route {}", crate::provider::cap(path, 128))));
    };
    if !route.methods.contains(&req.method().as_str()) {
        return Err(Failure::new(ErrorCode::MethodNotAllowed, route.methods.join(", ")));
    }
    match route.path {
        "/api/login" => crate::login::login(app, req).await,
        "/api/callback" => crate::callback::callback(app, req).await,
        "/api/me" => Ok(crate::account::me(app, req)),
        "/api/logout" => crate::account::logout(app, req).await,
        "/api/logout/frontchannel" => crate::account::frontchannel_logout(app, req).await,
        _ => Ok(pages::json(http::StatusCode::OK, &serde_json::json!({"status": "ok"}))),
    }
}
