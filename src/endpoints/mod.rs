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
pub mod renewal;

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};

use crate::app::{App, Handler, MAX_BODY_BYTES};
use crate::config::Mount;
use crate::support::text::cap;
use crate::web::errors::{ErrorCode, Failure};
use crate::web::pages;
use crate::web::url::public_path;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Starts a sign-in ([`login::login`]).
    Login,
    /// Finishes one ([`callback::callback`]).
    Callback,
    /// The session's claims ([`account::me`]).
    Me,
    /// Signs out ([`account::logout`]).
    Logout,
    /// The IdP's front-channel logout ([`account::frontchannel_logout`]).
    FrontchannelLogout,
    /// Liveness.
    Health,
    /// `/`: the host's ping (`ok`), or the dev home page under `entra-sso dev`.
    Home,
    /// Forward authentication for reverse proxies ([`forward_auth::auth`]).
    Auth,
    /// The session keys ([`published::jwks`]).
    Jwks,
    /// The issuer's discovery document ([`published::discovery`]).
    Discovery,
}

/// A route served by the handler.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The path, including the `/api` (or `/.auth`) prefix.
    pub path: &'static str,
    /// Accepted methods, upper-case.
    pub methods: &'static [&'static str],
    /// What it does.
    pub endpoint: Endpoint,
}

const fn route(path: &'static str, methods: &'static [&'static str], endpoint: Endpoint) -> Route {
    Route { path, methods, endpoint }
}

/// `/`, under either mount: not a function (the Functions host pings it), so in neither list.
pub const HOME: Route = route("/", &["GET", "HEAD"], Endpoint::Home);

/// Every function route under [`Mount::Api`] (the host's ping on `/` is not a function and is
/// not listed).
pub const ROUTES: &[Route] = &[
    route("/api/login", &["GET"], Endpoint::Login),
    route("/api/callback", &["GET", "POST"], Endpoint::Callback),
    route("/api/me", &["GET"], Endpoint::Me),
    route("/api/logout", &["GET", "POST"], Endpoint::Logout),
    route("/api/logout/frontchannel", &["GET"], Endpoint::FrontchannelLogout),
    route("/api/health", &["GET"], Endpoint::Health),
    // Proxies ask with the protected request's own method (nginx's subrequests inherit it).
    route("/api/auth", &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], Endpoint::Auth),
    route("/api/jwks", &["GET"], Endpoint::Jwks),
    route("/api/.well-known/openid-configuration", &["GET"], Endpoint::Discovery),
];

/// The routes under [`Mount::EasyAuth`]: App Service Authentication's paths, and this project's
/// keys, discovery and health beside them. No forward auth: there the proxy itself is the gate.
pub const EASY_AUTH_ROUTES: &[Route] = &[
    route("/.auth/login/aad", &["GET"], Endpoint::Login),
    route("/.auth/login/aad/callback", &["GET", "POST"], Endpoint::Callback),
    route("/.auth/me", &["GET"], Endpoint::Me),
    route("/.auth/logout", &["GET", "POST"], Endpoint::Logout),
    route("/.auth/logout/frontchannel", &["GET"], Endpoint::FrontchannelLogout),
    route("/.auth/health", &["GET"], Endpoint::Health),
    route("/.auth/jwks", &["GET"], Endpoint::Jwks),
    route("/.auth/.well-known/openid-configuration", &["GET"], Endpoint::Discovery),
];

/// The routes of `mount`.
pub fn routes(mount: Mount) -> &'static [Route] {
    match mount {
        Mount::Api => ROUTES,
        Mount::EasyAuth => EASY_AUTH_ROUTES,
    }
}

/// The route `path` names under `mount` ([`HOME`] included), matched the way the Azure Functions
/// host matches function routes, so that every path the host forwards reaches its endpoint:
/// ASCII case-insensitively (`/api/Login`), and with one trailing slash tolerated
/// (`/api/login/`). Nothing else is tolerated: `/api/login//` and `/api/loginx` name no route,
/// and `/` is only `/`. The one place this rule lives; endpoints build their links from the
/// route table, never from the path as the client spelled it.
pub fn find_route(mount: Mount, path: &str) -> Option<&'static Route> {
    // One slash off the end, unless that leaves nothing or another slash: `//` is not `/`.
    let path = path.strip_suffix('/').filter(|rest| !rest.is_empty() && !rest.ends_with('/')).unwrap_or(path);
    std::iter::once(&HOME).chain(routes(mount)).find(|r| r.path.eq_ignore_ascii_case(path))
}

/// Longest path and query accepted.
pub const MAX_URI_BYTES: usize = 16 * 1024;

/// Most header bytes (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Most header fields accepted.
pub const MAX_HEADERS: usize = 100;

/// Refuses requests past the size limits, whatever adapter delivered them.
fn check_limits(req: &Request<Bytes>) -> Result<(), Failure> {
    check_head(req)?;
    if req.body().len() > MAX_BODY_BYTES {
        return Err(Failure::new(ErrorCode::PayloadTooLarge, format!("body of {} bytes", req.body().len())));
    }
    Ok(())
}

/// Refuses a request whose target or headers are past the size limits (`entra-sso proxy`
/// applies them to every request it forwards too).
pub fn check_head<B>(req: &Request<B>) -> Result<(), Failure> {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(Failure::new(ErrorCode::UriTooLong, format!("request target of {uri_len} bytes")));
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(Failure::new(ErrorCode::HeadersTooLarge, format!("{} headers, {bytes} bytes", headers.len())));
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
        Err(failure) => error_page(app, &failure, &req),
    };
    if let Some((method, path)) = access {
        tracing::debug!(%method, path, status = response.status().as_u16(), "request");
    }
    response
}

/// The failure's page (HTML or JSON, as the client prefers), logged with a request id the page
/// shows too.
fn error_page(app: &App, failure: &Failure, req: &Request<Bytes>) -> Response<Bytes> {
    let login = public_path(req, app.settings.mount.login_path());
    failure_page(failure, pages::wants_json(req.headers()), &login)
}

/// The page of `failure` (JSON when `as_json`), its "try again" link to `login`, logged with a
/// request id the page shows too. For every failure of the core and of `entra-sso proxy`.
pub fn failure_page(failure: &Failure, as_json: bool, login: &str) -> Response<Bytes> {
    let request_id = request_id();
    tracing::warn!(
        request_id = %request_id,
        code = failure.code.as_str(),
        status = failure.code.status().as_u16(),
        detail = %failure.detail,
        "request failed"
    );
    // A refused bearer token is an API client's problem: JSON, whatever it accepts.
    let mut response = pages::error(failure, as_json || failure.code.is_token_refusal(), &request_id, login);
    if let Some(v) = failure.allow.as_deref().and_then(|a| http::HeaderValue::from_str(a).ok()) {
        response.headers_mut().insert(http::header::ALLOW, v);
    }
    if let Some(v) = pages::bearer_challenge(failure) {
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
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
    let Some(route) = find_route(app.settings.mount, path) else {
        return Err(Failure::new(ErrorCode::NotFound, format!("no route {}", cap(path, 128))));
    };
    if !route.methods.contains(&req.method().as_str()) {
        return Err(Failure::method_not_allowed(route.methods));
    }
    match route.endpoint {
        Endpoint::Login => login::login(app, req).await,
        Endpoint::Callback => callback::callback(app, req).await,
        Endpoint::Me => account::me(app, req).await,
        Endpoint::Logout => account::logout(app, req).await,
        Endpoint::FrontchannelLogout => account::frontchannel_logout(app, req).await,
        Endpoint::Auth => forward_auth::auth(app, req).await,
        Endpoint::Jwks => Ok(published::jwks(app)),
        Endpoint::Discovery => Ok(published::discovery(app)),
        Endpoint::Health => Ok(pages::json(http::StatusCode::OK, &serde_json::json!({"status": "ok"}))),
        Endpoint::Home if app.settings.dev_pages => Ok(account::dev_home(app, req)),
        Endpoint::Home => Ok(pages::text(http::StatusCode::OK, "ok")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(mount: Mount, path: &str) -> Option<&'static str> {
        find_route(mount, path).map(|r| r.path)
    }

    #[test]
    fn routes_match_ignoring_ascii_case_and_one_trailing_slash() {
        for (path, route) in [
            ("/api/login", "/api/login"),
            ("/api/Login", "/api/login"),
            ("/API/HEALTH", "/api/health"),
            ("/api/login/", "/api/login"),
            ("/api/Logout/FrontChannel/", "/api/logout/frontchannel"),
            ("/api/.well-known/OpenID-Configuration", "/api/.well-known/openid-configuration"),
            ("/", "/"),
        ] {
            assert_eq!(found(Mount::Api, path), Some(route), "{path}");
        }
        assert_eq!(found(Mount::EasyAuth, "/.AUTH/Login/AAD/Callback/"), Some("/.auth/login/aad/callback"));
    }

    #[test]
    fn nothing_else_is_tolerated() {
        for path in [
            "/api/login//",
            "/api/loginx",
            "/api/logi",
            "//",
            "",
            "/api",
            "/api/",
            "/api//login",
            "/api/login/x",
            "/api/callback%00",
            // Not ASCII case folding: the Kelvin sign is not `k`, nor a dotless ı an `i`.
            "/api/logın",
            "/api/jw\u{212a}s",
        ] {
            assert_eq!(found(Mount::Api, path), None, "{path:?}");
        }
        // Each mount serves its own paths only.
        assert_eq!(found(Mount::Api, "/.auth/me"), None);
        assert_eq!(found(Mount::EasyAuth, "/api/me"), None);
    }
}
