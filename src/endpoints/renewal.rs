//! Silent renewal: where a session stands in its lifetimes decides what each caller sees.
//!
//! A session is valid until `exp` (the renewal lifetime, `SSO_SESSION_TTL`), renewable until
//! its absolute limit (`auth_time` + `SSO_SESSION_MAX_AGE`), and then over. A navigation with a
//! session in its early window, or past `exp` but before the limit, is sent to the renewal URL:
//! `/api/login?return_to=<page>&prompt=none&login_hint=<user>`. The identity provider answers
//! without a page while the user's own session there lasts, and the callback mints a fresh
//! session that keeps the old `auth_time`; when the provider needs a page, the callback falls
//! back to the interactive sign-in. A script's request with an expired session is told
//! `401 session_expired` with the renewal URL, for a top-level navigation of its own.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use crate::app::App;
use crate::tokens::session::{SessionClaims, Standing};
use crate::web::errors::ErrorCode;
use crate::web::pages::{self, encode_query_value};

/// What a renewal needs from the session it renews: the user to name to the identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// The session's `login_hint`, else its `preferred_username`, when one can be sent.
    pub login_hint: Option<String>,
}

impl Renewal {
    /// The renewal of `session`.
    pub fn of(session: &SessionClaims) -> Self {
        let usable = |h: &&String| crate::endpoints::login::is_login_hint(h);
        let login_hint =
            session.login_hint.as_ref().filter(usable).or(session.preferred_username.as_ref().filter(usable));
        Self { login_hint: login_hint.cloned() }
    }

    /// The renewal URL on the sign-in route `login` (absolute or a path), returning to
    /// `return_to` (already validated) when given.
    pub fn url(&self, login: &str, return_to: Option<&str>) -> String {
        let mut url = String::from(login);
        url.push('?');
        if let Some(rt) = return_to {
            url.push_str("return_to=");
            url.push_str(&encode_query_value(rt));
            url.push('&');
        }
        url.push_str("prompt=none");
        if let Some(hint) = &self.login_hint {
            url.push_str("&login_hint=");
            url.push_str(&encode_query_value(hint));
        }
        url
    }
}

/// The renewal of a session that is still valid but in its early window, if it is: a navigation
/// is then sent to renew it, any other request accepts it as it is.
pub fn due(app: &App, session: &SessionClaims) -> Option<Renewal> {
    let standing = app.settings.session_lifetimes().standing(session, crate::support::time::now());
    (standing == Ok(Standing::RenewalDue)).then(|| Renewal::of(session))
}

/// The `auth_time` a silent sign-in carries into its state: the one of the genuine session the
/// browser holds (valid, expired or past its absolute limit, so that the callback can refuse to
/// extend the last), never anything the query says.
pub fn carried_auth_time<B>(app: &App, req: &Request<B>) -> Option<u64> {
    let token = app.session_cookie.get(req.headers())?;
    app.sessions.genuine(token).ok().map(|claims: Arc<SessionClaims>| claims.auth_time())
}

/// The `401 session_expired` JSON for a script whose session needs renewing: the plain sign-in
/// URL and the renewal URL.
pub fn expired_json(login_url: &str, renew_url: &str) -> Response<Bytes> {
    pages::json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": ErrorCode::SessionExpired.as_str(), "login_url": login_url, "renew_url": renew_url}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(login_hint: Option<&str>, username: Option<&str>) -> SessionClaims {
        SessionClaims {
            iss: String::new(),
            aud: String::new(),
            sub: "s".into(),
            idp: "i".into(),
            oid: None,
            tid: None,
            name: None,
            preferred_username: username.map(str::to_owned),
            email: None,
            roles: vec![],
            groups: vec![],
            groups_overage: false,
            login_hint: login_hint.map(str::to_owned),
            sid: None,
            iat: 0,
            exp: 1,
            auth_time: None,
        }
    }

    #[test]
    fn the_renewal_url_names_the_page_and_the_user() {
        let r = Renewal::of(&session(Some("O.opaque hint"), Some("alice@dev.example")));
        assert_eq!(
            r.url("/api/login", Some("/a?b=1")),
            "/api/login?return_to=%2Fa%3Fb%3D1&prompt=none&login_hint=O.opaque+hint"
        );
        let r = Renewal::of(&session(Some(&"x".repeat(600)), Some("alice@dev.example")));
        assert_eq!(r.login_hint.as_deref(), Some("alice@dev.example"), "a hint too long to send gives way");
        let r = Renewal::of(&session(None, None));
        assert_eq!(r.url("https://app/.auth/login/aad", None), "https://app/.auth/login/aad?prompt=none");
    }
}
