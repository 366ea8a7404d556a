//! The signed-in user's endpoints: `GET /api/me`, `GET|POST /api/logout`, and the dev start
//! page on `/` (only under `entra-sso dev`).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::app::{now, App};
use crate::config::LogoutMode;
use crate::cookies::{self, SESSION_COOKIE};
use crate::errors::{ErrorCode, Failure};
use crate::pages;
use crate::params::Params;
use crate::session::{self, SessionClaims};

/// The current session, if the request carries a valid one.
pub fn current_session(app: &App, req: &Request<Bytes>) -> Option<SessionClaims> {
    let token = cookies::get(req.headers(), SESSION_COOKIE)?;
    match session::verify(&app.session_keys, token, &app.settings.client_id, app.settings.session_not_before, now()) {
        Ok(claims) => Some(claims),
        Err(e) => {
            tracing::debug!(reason = %e, "session cookie not accepted");
            None
        }
    }
}

/// `GET /api/me`: the session's claims, or 401 `not_signed_in` with the login URL.
pub fn me(app: &App, req: &Request<Bytes>) -> Response<Bytes> {
    match current_session(app, req) {
        Some(claims) => pages::json(StatusCode::OK, &serde_json::to_value(&claims).unwrap_or_default()),
        None => pages::json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": ErrorCode::NotSignedIn.as_str(), "login_url": pages::LOGIN_PATH}),
        ),
    }
}

/// `GET|POST /api/logout?return_to=…`: clears the session and signs out at the IdP (or only
/// locally). A GET that may come from another site gets a confirmation page instead.
pub async fn logout(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    let query = req.uri().query().unwrap_or("");
    let params = Params::parse(query.as_bytes())
        .map_err(|_| Failure::new(ErrorCode::InvalidParameter, "logout query too large"))?;
    let raw_rt = params
        .single("return_to")
        .map_err(|_| Failure::new(ErrorCode::ReturnToRejected, "return_to repeated"))?
        .unwrap_or("/");
    let return_to = crate::return_to::validate(raw_rt, &app.settings.return_origins)
        .map_err(|why| Failure::new(ErrorCode::ReturnToRejected, format!("logout return_to {why}")))?
        .into_owned();

    if req.method() == Method::GET && !same_origin_navigation(req) {
        return Ok(pages::logout_confirm(&format!("/api/logout?return_to={}", pages::encode_query_value(&return_to))));
    }
    let session = current_session(app, req);
    let target = match app.settings.logout_mode {
        LogoutMode::Local => return_to,
        LogoutMode::Idp => idp_logout_url(app, session.as_ref()).await.unwrap_or(return_to),
    };
    let status = if req.method() == Method::POST { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    Ok(pages::redirect(status, target, vec![cookies::expire(SESSION_COOKIE)]))
}

/// `Sec-Fetch-Site: same-origin` or `none` (typed or bookmarked by the user).
fn same_origin_navigation(req: &Request<Bytes>) -> bool {
    matches!(req.headers().get("sec-fetch-site").map(|v| v.as_bytes()), Some(b"same-origin") | Some(b"none"))
}

/// The IdP's end-session URL with `post_logout_redirect_uri`, `client_id` and `logout_hint`.
async fn idp_logout_url(app: &App, session: Option<&SessionClaims>) -> Option<String> {
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
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Some(format!("{endpoint}{sep}{}", query.finish()))
}

/// `GET /api/logout/frontchannel`: the app registration's front-channel logout URL, which the
/// IdP loads in a hidden iframe when the user signs out elsewhere. Browsers send no
/// `SameSite=Lax` cookie into a cross-site frame and may refuse cookies set there, so the
/// deletion is best effort (see docs/decisions.md); the answer is always 200.
pub fn frontchannel_logout(app: &App) -> Response<Bytes> {
    let expire = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None");
    let mut r = pages::with_cookies(pages::html(StatusCode::OK, "Signed out", "<p>Signed out.</p>"), &[expire]);
    // The IdP frames this page, so it alone may; everything else stays as strict as elsewhere.
    let idp_origin = url::Url::parse(app.settings.authority.as_str()).map(|u| u.origin().ascii_serialization());
    let csp = format!("default-src 'none'; frame-ancestors {}", idp_origin.unwrap_or_else(|_| "'none'".into()));
    let headers = r.headers_mut();
    headers.remove(http::header::X_FRAME_OPTIONS);
    if let Ok(v) = http::HeaderValue::from_str(&csp) {
        headers.insert(http::header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// `GET /` under `entra-sso dev`.
pub fn dev_home(app: &App, req: &Request<Bytes>) -> Response<Bytes> {
    pages::dev_home(current_session(app, req).as_ref())
}
