//! The signed-in user's endpoints: `GET /api/me`, `GET|POST /api/logout`, and the dev start
//! page on `/` (only under `entra-sso dev`).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::app::App;
use crate::config::{LogoutMode, Mount};
use std::sync::Arc;

use crate::endpoints::renewal::{self, Renewal};
use crate::idp::access_token::{AccessTokenError, ApiCaller};
use crate::idp::policy::{PolicyError, Subject};
use crate::tokens::session::{SessionClaims, SessionError, Standing};
use crate::web::cookies::SameSite;
use crate::web::errors::{ErrorCode, Failure};
use crate::web::pages;
use crate::web::params::Params;
use crate::web::url::public_path;

/// Why a request has no usable session (or, for [`current_caller`], no usable bearer token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSession {
    /// No session cookie, or one that does not verify, was revoked or is past its absolute limit.
    SignedOut,
    /// A genuine session past its renewal lifetime (`exp`) but before its absolute limit: never
    /// identity, but renewable without a page ([`crate::endpoints::renewal`]).
    Expired(Renewal),
    /// A genuine session whose user the tenant list or policy no longer admits.
    Denied(crate::idp::policy::PolicyError),
    /// An `Authorization: Bearer` token that was refused: answered `401` with its own code,
    /// never replaced by the cookie, never turned into a sign-in.
    Token(AccessTokenError),
}

/// Who is calling: a browser with a session cookie, or a client with an access token.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in browser.
    Session(Arc<SessionClaims>),
    /// An API client with an Entra access token for this app.
    Bearer(Arc<ApiCaller>),
}

impl Caller {
    /// The identity in a session's shape, which the route rules and identity headers read.
    pub fn claims(&self) -> &SessionClaims {
        match self {
            Caller::Session(s) => s,
            Caller::Bearer(b) => &b.claims,
        }
    }

    /// Delegated scopes: a token's `scp`; none for a session or an app-only caller.
    pub fn scopes(&self) -> &[String] {
        match self {
            Caller::Session(_) => &[],
            Caller::Bearer(b) => &b.scopes,
        }
    }

    /// What `X-SSO-Assertion` carries: the session token itself, or for a bearer caller an
    /// assertion minted from its token (docs/design.md §2.10).
    pub fn assertion<'a, B>(&'a self, app: &'a App, req: &'a Request<B>) -> Option<&'a str> {
        match self {
            Caller::Session(_) => app.session_cookie.get(req.headers()),
            Caller::Bearer(b) => b.assertion(&app.sessions, &app.settings.policy),
        }
    }
}

/// The one answer to "who is calling": an `Authorization: Bearer` header decides when there is
/// one (a bad token is refused, never replaced by the cookie); other `Authorization` schemes are
/// ignored and the session cookie decides ([`current_session`]). Either way today's tenant list
/// and policy apply.
pub async fn current_caller<B>(app: &App, req: &Request<B>) -> Result<Caller, NoSession> {
    let Some(token) = bearer_token(req.headers()).map_err(NoSession::Token)? else {
        return current_session(app, req).map(Caller::Session);
    };
    let now = crate::support::time::now();
    let caller = app.access_tokens.verify(token, &app.provider, now).await.map_err(|e| {
        tracing::debug!(reason = %e, "bearer token not accepted");
        NoSession::Token(e)
    })?;
    let caller = resolve_overage(app, token, caller).await.map_err(NoSession::Token)?;
    let mut subject = Subject::from(&caller.claims);
    // A lookup answered for every group a rule names, even if other groups stay unknown.
    subject.groups_overage &= !caller.groups_looked_up;
    match app.settings.policy.check(subject) {
        Ok(()) => Ok(Caller::Bearer(caller)),
        Err(PolicyError::Tenant(tid)) => Err(NoSession::Token(AccessTokenError::Tenant(tid))),
        Err(PolicyError::NoTenant) => Err(NoSession::Token(AccessTokenError::Tenant("(none)".into()))),
        Err(why) => {
            tracing::info!(reason = %why, "bearer caller refused by the policy");
            Err(NoSession::Denied(why))
        }
    }
}

/// A user token with groups overage, when groups matter: the groups of the deployment's rules
/// the user is in, from Microsoft Graph within `SSO_REQUEST_TIMEOUT`, remembered with the
/// token's verification for its lifetime (docs/design.md §7.4a).
async fn resolve_overage(app: &App, token: &str, caller: Arc<ApiCaller>) -> Result<Arc<ApiCaller>, AccessTokenError> {
    let relevant = app.settings.policy.relevant_groups();
    if !caller.claims.groups_overage || caller.groups_looked_up || caller.app_only || relevant.is_empty() {
        return Ok(caller);
    }
    let oid = caller.claims.oid.as_deref().unwrap_or("");
    match app.provider.member_groups(oid, relevant, app.settings.request_timeout).await {
        Ok(Some(found)) => {
            let complete = app.settings.policy.kept_groups.only_these();
            Ok(app.access_tokens.resolve_groups(token, &caller, found, complete))
        }
        Ok(None) => Ok(caller),
        Err(e) => Err(AccessTokenError::Groups { fault: e.fault(), detail: e.to_string() }),
    }
}

/// The token of the request's `Authorization: Bearer` header (scheme case-insensitive), `None`
/// without one or with another scheme. A repeated header, or one naming Bearer without a
/// token, is refused: which one would decide is not for a server to guess.
fn bearer_token(headers: &http::HeaderMap) -> Result<Option<&str>, AccessTokenError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let is_bearer = |v: &http::HeaderValue| v.as_bytes().get(..7).is_some_and(|s| s.eq_ignore_ascii_case(b"bearer "));
    let scheme_only = |v: &http::HeaderValue| v.as_bytes().eq_ignore_ascii_case(b"bearer");
    if values.next().is_some() {
        let any_bearer = headers.get_all(http::header::AUTHORIZATION).iter().any(|v| is_bearer(v) || scheme_only(v));
        return if any_bearer {
            Err(AccessTokenError::Malformed("more than one Authorization header"))
        } else {
            Ok(None)
        };
    }
    if scheme_only(first) {
        return Err(AccessTokenError::Malformed("Bearer without a token"));
    }
    if !is_bearer(first) {
        return Ok(None);
    }
    let token = first.to_str().map_err(|_| AccessTokenError::Malformed("not ASCII"))?[7..].trim();
    if token.is_empty() {
        return Err(AccessTokenError::Malformed("Bearer without a token"));
    }
    Ok(Some(token))
}

/// The current session: a cookie that verifies, is within its renewal lifetime, and whose user
/// this deployment's tenant list and policy admit now, not only when it was issued. A session
/// in its early window is current too ([`crate::endpoints::renewal::due`] tells a navigation
/// to renew it); one past `exp` but renewable is [`NoSession::Expired`].
pub fn current_session<B>(app: &App, req: &Request<B>) -> Result<Arc<SessionClaims>, NoSession> {
    let (claims, standing) = session_standing(app, req).ok_or(NoSession::SignedOut)?;
    let settings = &app.settings;
    settings.policy.check(&*claims).map_err(|why| {
        tracing::info!(reason = %why, "session refused by the current tenant list or policy");
        NoSession::Denied(why)
    })?;
    match standing {
        Standing::Expired => Err(NoSession::Expired(Renewal::of(&claims))),
        Standing::Valid | Standing::RenewalDue => Ok(claims),
    }
}

/// The session cookie's claims and where they stand, if its signature, issuer, audience and
/// revocation check pass and it is before its absolute limit.
fn session_standing<B>(app: &App, req: &Request<B>) -> Option<(Arc<SessionClaims>, Standing)> {
    let token = app.session_cookie.get(req.headers())?;
    let now = crate::support::time::now();
    app.sessions.standing(token, now, app.settings.session_lifetimes()).map_err(not_accepted).ok()
}

/// The session cookie's claims if its signature, issuer, audience, lifetime and revocation
/// check pass.
fn verified_session<B>(app: &App, req: &Request<B>) -> Option<Arc<SessionClaims>> {
    let token = app.session_cookie.get(req.headers())?;
    app.sessions.verify(token, crate::support::time::now()).map_err(not_accepted).ok()
}

/// Logs why a session cookie was not accepted.
fn not_accepted(e: SessionError) {
    match e {
        // An operator acted; seeing it take effect matters more than the noise.
        SessionError::Revoked => tracing::info!(reason = %e, "session cookie not accepted"),
        _ => tracing::debug!(reason = %e, "session cookie not accepted"),
    }
}

/// `GET /api/me`: the caller's claims (a bearer caller's with its `idtyp`, `azp` and `scp`); 401
/// `not_signed_in` with the login URL; a refused bearer token's own 401; or 403
/// `access_denied_by_policy` for a caller the current policy no longer admits.
pub async fn me(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    Ok(match current_caller(app, req).await {
        Ok(caller) if app.settings.mount == Mount::EasyAuth => {
            pages::json(StatusCode::OK, &crate::web::principal::easy_auth_me(caller.claims()))
        }
        Ok(Caller::Bearer(b)) => {
            let mut claims = serde_json::to_value(&b.claims).unwrap_or_default();
            if let Some(map) = claims.as_object_mut() {
                map.extend(b.token_claims());
            }
            pages::json(StatusCode::OK, &claims)
        }
        Ok(Caller::Session(claims)) => pages::json(StatusCode::OK, &serde_json::to_value(&*claims).unwrap_or_default()),
        Err(NoSession::Token(e)) => return Err(e.into()),
        Err(NoSession::SignedOut) => pages::json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": ErrorCode::NotSignedIn.as_str(), "login_url": public_path(req, app.settings.mount.login_path())}),
        ),
        Err(NoSession::Expired(renewal)) => {
            // A script asks: it cannot know the page, so the SPA adds its own `return_to`.
            let login = public_path(req, app.settings.mount.login_path());
            renewal::expired_json(&login, &renewal.url(&login, None))
        }
        Err(NoSession::Denied(_)) => pages::json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({"error": ErrorCode::AccessDeniedByPolicy.as_str(), "logout_url": public_path(req, app.settings.mount.logout_path())}),
        ),
    })
}

/// `GET|POST /api/logout?return_to=…`: clears the session and signs out at the IdP (or only
/// locally). A request not proven to come from this app, GET or POST, gets a confirmation page
/// instead: a cross-site form could otherwise sign the user out (and, with `SSO_LOGOUT=idp`, out
/// of Microsoft too).
pub async fn logout(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    let query = req.uri().query().unwrap_or("");
    let params = Params::parse(query.as_bytes())
        .map_err(|_| Failure::new(ErrorCode::InvalidParameter, "logout query too large"))?;
    let home = public_path(req, "/");
    let logout_alias = (app.settings.mount == Mount::EasyAuth).then_some("post_logout_redirect_uri");
    let return_to =
        crate::web::return_to::from_params(&params, &app.settings.return_origins, &home, logout_alias)?.into_owned();

    if !from_this_app(app, req) {
        let action = public_path(req, app.settings.mount.logout_path());
        return Ok(pages::logout_confirm(&format!("{action}?return_to={}", pages::encode_query_value(&return_to))));
    }
    let session = verified_session(app, req);
    let target = match app.settings.logout_mode {
        LogoutMode::Local => return_to,
        LogoutMode::Idp => idp_logout_url(app, session.as_ref()).await.unwrap_or(return_to),
    };
    let status = if req.method() == Method::POST { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    Ok(pages::redirect(status, target, app.session_cookie.expire(SameSite::Lax)))
}

/// Whether the request comes from this app: `Sec-Fetch-Site: same-origin` (or `none` for a
/// GET the user typed or bookmarked), else an `Origin` that is this deployment's or one listed
/// in `SSO_RETURN_ORIGINS` (browsers without Fetch Metadata, apps on a sibling origin).
fn from_this_app(app: &App, req: &Request<Bytes>) -> bool {
    match req.headers().get("sec-fetch-site").map(|v| v.as_bytes()) {
        Some(b"same-origin") => return true,
        Some(b"none") if req.method() == Method::GET => return true,
        _ => {}
    }
    let Some(origin) = req.headers().get(http::header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    let settings = &app.settings;
    origin == settings.redirect_uri.origin().ascii_serialization()
        || settings.return_origins.iter().any(|o| o == origin)
}

/// The IdP's end-session URL with `post_logout_redirect_uri`, `client_id` and `logout_hint`.
async fn idp_logout_url(app: &App, session: Option<&Arc<SessionClaims>>) -> Option<String> {
    let endpoint = match app.settings.authority.entra_endpoints() {
        Some(e) => e.end_session,
        None => app.provider.metadata().await.ok()?.end_session_endpoint.clone()?,
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", &app.settings.client_id);
    if let Some(uri) = &app.settings.post_logout_redirect_uri {
        query.append_pair("post_logout_redirect_uri", uri.as_str());
    }
    if let Some(hint) = session.and_then(|s| s.login_hint.as_deref()) {
        query.append_pair("logout_hint", hint);
    }
    Some(crate::web::url::with_query(&endpoint, &query.finish()))
}

/// `GET /api/logout/frontchannel`: the app registration's front-channel logout URL, which the
/// IdP loads in a hidden iframe when the user signs out elsewhere. Browsers send no
/// `SameSite=Lax` cookie into a cross-site frame and may refuse cookies set there, so the
/// deletion is best effort (see docs/decisions.md).
///
/// Accepted only as a frame (`Sec-Fetch-Dest`, where the browser sends it), so a link cannot
/// sign anyone out. The session is cleared only when the request names it: a `sid` equal to the
/// session's own (Entra sends `sid` and no `iss`), and an `iss`, if sent, that is the provider's.
/// Any other page can frame this URL, and the deletion needs no cookie to be sent, so a blind
/// clear would let every site sign users out.
pub async fn frontchannel_logout(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    if req.headers().get("sec-fetch-dest").is_some_and(|d| !matches!(d.as_bytes(), b"iframe" | b"frame")) {
        return Err(Failure::new(ErrorCode::NotAFrame, "front-channel logout opened outside a frame"));
    }
    let params = Params::parse(req.uri().query().unwrap_or("").as_bytes())
        .map_err(|_| Failure::new(ErrorCode::InvalidParameter, "front-channel logout query too large"))?;
    let single = |name: &str| {
        params.single(name).map_err(|_| Failure::new(ErrorCode::InvalidParameter, format!("{name} repeated")))
    };
    let (iss, sid) = (single("iss")?, single("sid")?);
    if let Some(iss) = iss {
        let metadata = app.provider.metadata().await?;
        if !crate::idp::authority::issuer_matches(&metadata.issuer, iss) {
            return Err(Failure::new(ErrorCode::InvalidParameter, "front-channel logout iss is not the provider's"));
        }
    }
    let session = verified_session(app, req);
    let names_this_session = match (sid, session.as_ref().and_then(|s| s.sid.as_deref())) {
        (Some(sent), Some(ours)) => crate::support::ct_eq(sent.as_bytes(), ours.as_bytes()),
        _ => false,
    };
    let page = pages::html(StatusCode::OK, "Signed out", "<p>Signed out.</p>");
    let mut r =
        if names_this_session { pages::with_cookies(page, &app.session_cookie.expire(SameSite::None)) } else { page };
    // The IdP frames this page, so it alone may; everything else stays as strict as elsewhere.
    let idp_origin = url::Url::parse(app.settings.authority.as_str()).map(|u| u.origin().ascii_serialization());
    let csp = format!("default-src 'none'; frame-ancestors {}", idp_origin.unwrap_or_else(|_| "'none'".into()));
    let headers = r.headers_mut();
    headers.remove(http::header::X_FRAME_OPTIONS);
    if let Ok(v) = http::HeaderValue::from_str(&csp) {
        headers.insert(http::header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(r)
}

/// `GET /` under `entra-sso dev`; a navigation whose session is due or expired renews it first.
pub fn dev_home(app: &App, req: &Request<Bytes>) -> Response<Bytes> {
    let session = current_session(app, req);
    let renewal = match &session {
        Ok(claims) => renewal::due(app, claims),
        Err(NoSession::Expired(renewal)) => Some(renewal.clone()),
        Err(_) => None,
    };
    match renewal {
        Some(renewal) if crate::endpoints::forward_auth::is_navigation(req) => {
            let login = public_path(req, app.settings.mount.login_path());
            let home = public_path(req, "/");
            pages::redirect(StatusCode::FOUND, renewal.url(&login, Some(&home)), Vec::new())
        }
        _ => pages::dev_home(session.ok().as_deref()),
    }
}
