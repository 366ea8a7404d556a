//! `GET /api/login`: validate `return_to`, start a flow (state, flow cookie, PKCE, nonce) and
//! redirect to the authorize endpoint. No outbound call for Entra authorities, one random draw,
//! no per-request URL building beyond appending the flow's values.

use bytes::Bytes;
use http::{HeaderName, Request, Response, StatusCode};

use crate::app::App;
use crate::tokens::flow::{self, Flow, FLOW_COOKIE_PREFIX, MAX_LIVE_FLOWS};
use crate::tokens::state::{self, NewState};
use crate::web::cookies;
use crate::web::errors::{ErrorCode, Failure};
use crate::web::pages;
use crate::web::params::Params;

/// A typed name, so the lookup does not parse the name on every request.
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

/// Starts a sign-in.
pub async fn login(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    // A flow cookie set by a script's fetch would be one the user never navigates with.
    if let Some(mode) = req.headers().get(&SEC_FETCH_MODE) {
        if mode.as_bytes() != b"navigate" {
            return Err(Failure::new(ErrorCode::NotANavigation, "Sec-Fetch-Mode is not navigate"));
        }
    }
    let query = req.uri().query().unwrap_or("");
    let params = Params::parse(query.as_bytes())
        .map_err(|e| Failure::new(ErrorCode::InvalidParameter, format!("query: {e:?}")))?;
    let home = crate::web::url::public_path(req, "/");
    let return_to = crate::web::return_to::from_params(&params, &app.settings.return_origins, &home, alias(app))?;
    let extras = passthrough(&params)?;
    // A silent flow renews the browser's session: it carries that session's `auth_time`, so
    // the absolute limit stays where the interactive sign-in put it.
    let silent = params.single("prompt") == Ok(Some("none"));
    let carried = if silent { crate::endpoints::renewal::carried_auth_time(app, req) } else { None };
    let prefix = app.authorize_prefix().await?;

    let flow = Flow::new();
    let (id, verifier) = (flow.id(), flow.verifier());
    let challenge = flow::challenge(verifier);
    let challenge = challenge.as_str();
    let issued = crate::support::time::now();
    let ttl = app.settings.state_ttl.as_secs();
    let claims = NewState {
        jti: id,
        iat: issued,
        exp: issued + ttl,
        aud: &app.redirect_uri,
        rt: &return_to,
        vh: challenge,
        pn: silent,
        at: carried,
    };
    // One buffer for the whole URL (the capacity is a generous estimate, not a limit); base64url
    // values need no percent-encoding in a query.
    let estimate = prefix.len() + 512 + 2 * (claims.aud.len() + claims.rt.len()) + extras.len();
    let mut location = String::with_capacity(estimate);
    location.push_str(prefix);
    location.push_str("&state=");
    state::mint_into(&app.state_keys, &claims, &mut location);
    location.push_str("&nonce=");
    location.push_str(flow::nonce(verifier).as_str());
    location.push_str("&code_challenge=");
    location.push_str(challenge);
    location.push_str(&extras);

    let mut set_cookies = expire_oldest_flows(req);
    set_cookies.push(flow_cookie(app, id, verifier));
    Ok(pages::redirect(StatusCode::FOUND, location, set_cookies))
}

/// `Set-Cookie` for the new flow: `__Host-sso-flow-<id>=<verifier>` and the attributes the
/// settings fix once.
fn flow_cookie(app: &App, id: &str, verifier: &str) -> String {
    let attributes = app.flow_cookie_attributes();
    let mut c = String::with_capacity(FLOW_COOKIE_PREFIX.len() + id.len() + 1 + verifier.len() + attributes.len());
    c.push_str(FLOW_COOKIE_PREFIX);
    c.push_str(id);
    c.push('=');
    c.push_str(verifier);
    c.push_str(attributes);
    c
}

/// Deletions for the oldest flow cookies, so that with the new one at most
/// [`MAX_LIVE_FLOWS`] remain. Browsers send cookies of equal path oldest first.
fn expire_oldest_flows(req: &Request<Bytes>) -> Vec<String> {
    let live: Vec<&str> = cookies::pairs(req.headers())
        .map(|(name, _)| name)
        .filter(|name| name.starts_with(FLOW_COOKIE_PREFIX) && flow::is_flow_id(&name[FLOW_COOKIE_PREFIX.len()..]))
        .collect();
    let excess = (live.len() + 1).saturating_sub(MAX_LIVE_FLOWS);
    live.into_iter().take(excess).map(cookies::expire).collect()
}

/// App Service Authentication's name for the page to return to, under its paths.
fn alias(app: &App) -> Option<&'static str> {
    (app.settings.mount == crate::config::Mount::EasyAuth).then_some("post_login_redirect_uri")
}

/// Whether `hint` may be sent as `login_hint`: 1 to 256 bytes without control characters.
pub(crate) fn is_login_hint(hint: &str) -> bool {
    !hint.is_empty() && hint.len() <= 256 && !hint.chars().any(char::is_control)
}

/// The optional `prompt`, `login_hint` and `domain_hint`, validated and encoded.
fn passthrough(params: &Params<'_>) -> Result<String, Failure> {
    let mut out = String::new();
    let invalid = |what: &str| Failure::new(ErrorCode::InvalidParameter, what.to_owned());
    if let Some(p) = params.single("prompt").map_err(|_| invalid("prompt repeated"))? {
        if !["login", "none", "consent", "select_account", "create"].contains(&p) {
            return Err(invalid("prompt is not a known value"));
        }
        out.push_str("&prompt=");
        out.push_str(p);
    }
    if let Some(h) = params.single("login_hint").map_err(|_| invalid("login_hint repeated"))? {
        if !is_login_hint(h) {
            return Err(invalid("login_hint is empty, longer than 256 bytes or has control characters"));
        }
        out.push_str("&login_hint=");
        out.push_str(&pages::encode_query_value(h));
    }
    if let Some(d) = params.single("domain_hint").map_err(|_| invalid("domain_hint repeated"))? {
        if d.is_empty() || d.len() > 253 || !d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
            return Err(invalid("domain_hint is not a domain name"));
        }
        out.push_str("&domain_hint=");
        out.push_str(d);
    }
    Ok(out)
}
