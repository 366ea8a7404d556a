//! `GET /api/auth`: forward authentication for reverse proxies (nginx `auth_request`, Traefik
//! `forwardAuth`, Caddy `forward_auth`). The proxy asks before every request it protects; the
//! answer is the verdict, and on success the identity in App Service Authentication's headers
//! plus the session token itself, for apps that verify rather than trust headers.
//!
//! - signed in and admitted: `200`, empty, with the identity headers, and the session token
//!   when the proxy marks the check as its own (`Proxy-SSO-Assertion: 1`, which no page script
//!   can send);
//! - not signed in: `401` with the login URL in `X-SSO-Login-Url` and the JSON body; with
//!   `?redirect=1` a navigation gets `302` to that URL instead (for proxies that hand the
//!   answer to the browser);
//! - signed in but refused by the policy or by this route's `?role=` / `?group=` / `?scope=`:
//!   `403`;
//! - a session to renew ([`crate::endpoints::renewal`]): a navigation in the session's early
//!   window or past its `exp` is told the renewal URL (`302` with `?redirect=1`, else `401` with
//!   it in `X-SSO-Login-Url`); a script with an expired session gets `401 session_expired`;
//! - an `Authorization: Bearer` token decides instead of the cookie (see
//!   [`crate::endpoints::account::current_caller`]): a valid one is the caller, a refused one is
//!   `401` with its `token_*` code, never a redirect, never a renewal.
//!
//! The page to return to comes from `X-Forwarded-Uri` or `X-Original-URI` (and
//! `X-Forwarded-Proto` / `-Host`), and is validated exactly like `return_to`: another origin
//! becomes a redirect target only when it is in `SSO_RETURN_ORIGINS`.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};

use crate::app::App;
use crate::endpoints::account::{current_caller, Caller, NoSession};
use crate::endpoints::renewal::{self, Renewal};
use crate::tokens::session::SessionClaims;
use crate::web::errors::{ErrorCode, Failure};
use crate::web::pages::{self, encode_query_value};
use crate::web::params::Params;
use crate::web::principal;
use crate::web::return_to::{self, ReturnToError};

/// The header that carries the session token on a `200`, to a check that asked for it.
pub const ASSERTION: &str = "x-sso-assertion";

/// The request header by which a proxy asks for [`ASSERTION`]. Browsers refuse to let page
/// scripts set any `Proxy-` header (Fetch's forbidden request-header names), so a same-origin
/// `fetch('/api/auth')` can never obtain the HttpOnly session this way.
pub const WANT_ASSERTION: &str = "proxy-sso-assertion";

/// The header that carries the login URL on a `401`.
pub const LOGIN_URL: &str = "x-sso-login-url";

/// Most `role`, `group` and `scope` requirements one request may name.
const MAX_REQUIREMENTS: usize = 16;

/// What a route asks: roles the user must all hold, groups of which the user must be in one,
/// and whether a navigation should be redirected to sign in. From `/api/auth`'s query, or from
/// `entra-sso proxy`'s path rules.
#[derive(Debug, Default)]
pub struct Requirements<'a> {
    /// Every one of these app roles.
    pub roles: Vec<&'a str>,
    /// One of these group object ids (compared case-insensitively).
    pub groups: Vec<&'a str>,
    /// Every one of these delegated scopes (a bearer token's `scp`; a session has none).
    pub scopes: Vec<&'a str>,
    /// A signed-out navigation is redirected to sign in rather than answered `401`.
    pub redirect: bool,
}

/// Answers one forward-auth check.
pub async fn auth(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    let params = Params::parse(req.uri().query().unwrap_or("").as_bytes())
        .map_err(|_| Failure::new(ErrorCode::InvalidParameter, "auth query too large"))?;
    let wanted = requirements(&params)?;
    match current_caller(app, req).await {
        Ok(caller) => {
            caller_meets(app, &caller, &wanted)?;
            if let (Caller::Session(session), true) = (&caller, is_navigation(req)) {
                if let Some(renewal) = renewal::due(app, session) {
                    return renew(app, true, original_url(app, req.headers()), wanted.redirect, &renewal);
                }
            }
            let token = asked_for_assertion(req).then(|| caller.assertion(app, req)).flatten();
            let mut r = pages::empty(StatusCode::OK);
            r.headers_mut().extend(caller_headers(&caller, token));
            Ok(r)
        }
        Err(NoSession::Denied(why)) => Err(why.into()),
        Err(NoSession::Expired(renewal)) => {
            renew(app, is_navigation(req), original_url(app, req.headers()), wanted.redirect, &renewal)
        }
        Err(NoSession::Token(e)) => Err(e.into()),
        Err(NoSession::SignedOut) => {
            let return_to = original_url(app, req.headers());
            signed_out(app, is_navigation(req), return_to, wanted.redirect)
        }
    }
}

/// Reads `role`, `group` and `redirect`; anything else is a configuration mistake worth a 400.
fn requirements<'a>(params: &'a Params<'_>) -> Result<Requirements<'a>, Failure> {
    let invalid = |why: String| Failure::new(ErrorCode::InvalidParameter, why);
    let mut wanted = Requirements::default();
    for (name, value) in params.iter() {
        let ok_value = !value.is_empty() && value.len() <= 256 && !value.chars().any(char::is_control);
        match name {
            "role" | "group" | "scope" if !ok_value => {
                return Err(invalid(format!("{name} must be 1 to 256 printable characters")))
            }
            "role" => wanted.roles.push(value),
            "group" => wanted.groups.push(value),
            "scope" => wanted.scopes.push(value),
            "redirect" if value == "1" || value == "true" => wanted.redirect = true,
            "redirect" if value == "0" || value == "false" => {}
            "redirect" => return Err(invalid("redirect must be 1 or 0".into())),
            _ => return Err(invalid(format!("unknown auth parameter `{}`", crate::support::text::cap(name, 64)))),
        }
    }
    if wanted.roles.len() + wanted.groups.len() + wanted.scopes.len() > MAX_REQUIREMENTS {
        return Err(invalid(format!("more than {MAX_REQUIREMENTS} role, group and scope requirements")));
    }
    Ok(wanted)
}

/// Whether the session meets this route's requirements: every role, and one of the groups.
/// A role or group requirement while every tenant may sign in fails closed for everyone, as
/// `SSO_REQUIRED_ROLES` does at start-up, and so does a group sessions do not keep
/// (`SSO_SESSION_GROUPS`): both `500 misconfigured`, the fix in the log.
pub fn meets(app: &App, s: &SessionClaims, wanted: &Requirements<'_>) -> Result<(), Failure> {
    if !wanted.roles.is_empty() {
        app.settings.policy.trust_roles_and_groups("a ?role= requirement")?;
    }
    if !wanted.groups.is_empty() {
        app.settings.policy.trust_roles_and_groups("a ?group= requirement")?;
        for group in &wanted.groups {
            app.settings.policy.group_requirement_kept(group)?;
        }
    }
    let denied = |why: String| Failure::new(ErrorCode::AccessDeniedByPolicy, why);
    if let Some(missing) = wanted.roles.iter().find(|r| !s.roles.iter().any(|held| held == *r)) {
        return Err(denied(format!("route requires role {missing}")));
    }
    if !wanted.groups.is_empty() && !wanted.groups.iter().any(|g| s.groups.iter().any(|m| m.eq_ignore_ascii_case(g))) {
        return Err(denied(if s.groups_overage {
            "route requires a group, and the session does not list the user's groups (overage)".into()
        } else {
            "route requires one of its groups".into()
        }));
    }
    Ok(())
}

/// Whether the caller meets this route's requirements: those of [`meets`], and every `?scope=`
/// among a bearer token's delegated scopes (a session, or an app-only token, has none).
pub fn caller_meets(app: &App, caller: &Caller, wanted: &Requirements<'_>) -> Result<(), Failure> {
    meets(app, caller.claims(), wanted)?;
    if let Some(missing) = wanted.scopes.iter().find(|s| !caller.scopes().iter().any(|held| held == *s)) {
        let who = match caller {
            Caller::Session(_) => "a session carries no scopes (only a delegated access token does)",
            Caller::Bearer(b) if b.app_only => "an app-only token carries no scopes",
            Caller::Bearer(_) => "the token's scp lacks it",
        };
        return Err(Failure::new(ErrorCode::AccessDeniedByPolicy, format!("route requires scope {missing}: {who}")));
    }
    Ok(())
}

/// The identity headers of a caller: those of [`identity_headers`], with a bearer caller's
/// `scp`, client id and `idtyp` added to `X-MS-CLIENT-PRINCIPAL` as App Service adds them.
pub fn caller_headers(caller: &Caller, token: Option<&str>) -> HeaderMap {
    match caller {
        Caller::Session(s) => identity_headers(s, token),
        Caller::Bearer(b) => {
            let scopes = b.scopes.join(" ");
            let extra = principal::token_claims(&scopes, b.client.as_deref(), b.identity_type());
            headers_with(&b.claims, principal::encode_with(&b.claims, &extra), token)
        }
    }
}

/// Whether the proxy marked this check as its own and asked for the session token.
fn asked_for_assertion(req: &Request<Bytes>) -> bool {
    req.headers().get(WANT_ASSERTION).is_some_and(|v| v.as_bytes() == b"1")
}

/// App Service Authentication's identity headers for a session, and the session token in
/// [`ASSERTION`] when `token` is given.
pub fn identity_headers(s: &SessionClaims, token: Option<&str>) -> HeaderMap {
    headers_with(s, principal::encode(s), token)
}

/// The identity headers with `encoded` as `X-MS-CLIENT-PRINCIPAL`.
fn headers_with(s: &SessionClaims, encoded: String, token: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let h = &mut headers;
    put(h, principal::PRINCIPAL, encoded.into_bytes());
    put(h, principal::PRINCIPAL_ID, principal::id(s).as_bytes().to_vec());
    if let Some(name) = principal::name(s) {
        put(h, principal::PRINCIPAL_NAME, name.as_bytes().to_vec());
    }
    h.insert(HeaderName::from_static(principal::PRINCIPAL_IDP), HeaderValue::from_static("aad"));
    if let Some(token) = token {
        put(h, ASSERTION, token.as_bytes().to_vec());
    }
    headers
}

/// Adds a header whose value came from claims; UTF-8 names pass as bytes, and a value no
/// header can carry (a control character) is left out rather than mangled.
fn put(h: &mut HeaderMap, name: &'static str, value: Vec<u8>) {
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// The answer to a signed-out request: `401` with the login URL (and `return_to` where it
/// passed validation), or for `redirect` and a navigation, `302` to it.
pub fn signed_out(
    app: &App,
    navigation: bool,
    return_to: Option<Result<Cow<'_, str>, ReturnToError>>,
    redirect: bool,
) -> Result<Response<Bytes>, Failure> {
    if redirect && navigation {
        let return_to = return_to.transpose().map_err(Failure::from)?;
        return Ok(pages::redirect(StatusCode::FOUND, login_url(app, return_to.as_deref()), Vec::new()));
    }
    // A hint only: a page that cannot be returned to still gets the plain login URL.
    let login = login_url(app, return_to.and_then(Result::ok).as_deref());
    let body = serde_json::json!({"error": ErrorCode::NotSignedIn.as_str(), "login_url": login});
    let mut r = pages::json(StatusCode::UNAUTHORIZED, &body);
    put(r.headers_mut(), LOGIN_URL, login.into_bytes());
    Ok(r)
}

/// The answer to a request whose session is to be renewed (in its early window on a navigation,
/// or expired): for `redirect` and a navigation, `302` to the renewal URL; otherwise `401`
/// `session_expired` with the renewal URL in [`LOGIN_URL`] (what nginx's `error_page 401`
/// follows) and in the JSON's `renew_url`, beside the plain `login_url`.
pub fn renew(
    app: &App,
    navigation: bool,
    return_to: Option<Result<Cow<'_, str>, ReturnToError>>,
    redirect: bool,
    renewal: &Renewal,
) -> Result<Response<Bytes>, Failure> {
    let base = app.settings.login_url();
    if redirect && navigation {
        let return_to = return_to.transpose().map_err(Failure::from)?;
        return Ok(pages::redirect(StatusCode::FOUND, renewal.url(&base, return_to.as_deref()), Vec::new()));
    }
    let return_to = return_to.and_then(Result::ok);
    let renew_url = renewal.url(&base, return_to.as_deref());
    let mut r = renewal::expired_json(&login_url(app, return_to.as_deref()), &renew_url);
    put(r.headers_mut(), LOGIN_URL, renew_url.into_bytes());
    Ok(r)
}

/// The absolute `/api/login` URL of this deployment, with a validated `return_to`.
fn login_url(app: &App, return_to: Option<&str>) -> String {
    let base = app.settings.login_url();
    match return_to {
        Some(rt) => format!("{base}?return_to={}", encode_query_value(rt)),
        None => base,
    }
}

/// Whether the protected request was a page load, which a redirect serves; a script's fetch
/// is better told `401`.
pub fn is_navigation<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    let method = h.get("x-forwarded-method").map_or(req.method().as_str().as_bytes(), HeaderValue::as_bytes);
    let method_ok = matches!(method, b"GET" | b"HEAD");
    let navigate = match h.get("sec-fetch-mode") {
        Some(mode) => mode.as_bytes() == b"navigate",
        None => h.get(http::header::ACCEPT).is_some_and(|a| a.to_str().is_ok_and(|a| a.contains("text/html"))),
    };
    method_ok && navigate
}

/// The page the proxy was asked for, as a `return_to`: the path alone on this deployment's own
/// origin, else `proto://host/path` validated against `SSO_RETURN_ORIGINS`. `None` when the
/// proxy sent no original URI.
fn original_url<'a>(app: &App, h: &'a HeaderMap) -> Option<Result<Cow<'a, str>, ReturnToError>> {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    let uri = text("x-forwarded-uri").or_else(|| text("x-original-uri"))?;
    let own = &app.settings.redirect_uri;
    let own_host = own.host_str().map(|host| match own.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    });
    let origins = &app.settings.return_origins;
    Some(match text("x-forwarded-host") {
        Some(host) if !own_host.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(host)) => {
            let proto = text("x-forwarded-proto").unwrap_or("https");
            if !uri.starts_with('/') || !matches!(proto, "https" | "http") {
                return Some(Err(ReturnToError("forwarded URI is not a path")));
            }
            return_to::validate(&format!("{proto}://{host}{uri}"), origins).map(|v| Cow::Owned(v.into_owned()))
        }
        _ => return_to::validate(uri, origins),
    })
}
