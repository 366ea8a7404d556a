//! `/<tenant>/oauth2/v2.0/authorize`: the sign-in page (GET) and the user's choice (POST).
//!
//! Automation contract: the page's form POSTs back to this URL with the original parameters
//! plus `user=<dev user id>` or `action=cancel`; the answer is the redirect (or, for
//! `response_mode=form_post`, the auto-submitted form) to the redirect URI, and a successful
//! sign-in sets the dev IdP's own session cookie.
//!
//! `prompt=none` answers as Entra does, without a page: a code for the user of the dev IdP's
//! session when `login_hint` is absent or names that user; `login_required` (AADSTS50058)
//! without a session or for another user; `interaction_required` (AADSTS50057) for a disabled
//! user. An interactive sign-in of a disabled user ends on the error page Entra shows.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};

use super::{dev_page, random_token, users, DevIdp, Grant};
use crate::web::pages::{self, escape};

/// How long an authorization code can be redeemed.
const CODE_LIFETIME: Duration = Duration::from_secs(300);

/// The parameters the form carries back.
const FORWARDED: &[&str] = &[
    "client_id",
    "response_type",
    "redirect_uri",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "login_hint",
    "domain_hint",
];

#[derive(Clone)]
struct AuthzRequest {
    params: Vec<(String, String)>,
    redirect_uri: String,
    response_mode: String,
    state: Option<String>,
}

enum Refusal {
    /// Cannot redirect (unknown client or redirect URI): show a page, as Entra does.
    Page(&'static str, String),
    /// Redirect back with `error=`.
    Redirect(Box<AuthzRequest>, &'static str, String),
}

impl AuthzRequest {
    fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl DevIdp {
    pub(super) fn authorize_page(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let raw = req.uri().query().unwrap_or("").as_bytes();
        match self.check(raw) {
            Err(refusal) => self.refuse(refusal),
            Ok(authz) if authz.get("prompt") == Some("none") => self.silent(authz, req),
            Ok(authz) => self.sign_in_page(&authz),
        }
    }

    /// `prompt=none`: the dev IdP's session answers, or the reason a page would be needed.
    fn silent(&self, authz: AuthzRequest, req: &Request<Bytes>) -> Response<Bytes> {
        let refuse = |error: &'static str, code: &str, text: &str| {
            self.refuse(Refusal::Redirect(Box::new(authz.clone()), error, entra_description(code, text)))
        };
        let Some(user) = self.session_user(req) else {
            return refuse(
                "login_required",
                "AADSTS50058",
                "A silent sign-in request was sent but no user is signed in.",
            );
        };
        let hint = authz.get("login_hint");
        if hint.is_some_and(|h| !user.is_named_by(h)) {
            return refuse(
                "login_required",
                "AADSTS50058",
                "A silent sign-in request was sent but none of the currently signed in user(s) match the requested login hint.",
            );
        }
        if self.is_disabled(user.id) {
            return refuse("interaction_required", "AADSTS50057", DISABLED);
        }
        self.issue_code(&authz, user)
    }

    pub(super) fn authorize_decision(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let body = req.body().as_ref();
        let authz = match self.check(body) {
            Ok(a) => a,
            Err(refusal) => return self.refuse(refusal),
        };
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let chosen = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if chosen("action") == Some("cancel") {
            let d = entra_description("AADSTS65004", "User declined to consent to access the app.");
            return self.refuse(Refusal::Redirect(Box::new(authz), "access_denied", d));
        }
        let Some(user) = chosen("user").and_then(users::find) else {
            return self.sign_in_page(&authz);
        };
        if self.is_disabled(user.id) {
            // Entra shows its own page for a disabled account; the app never hears of it.
            return self.refuse(Refusal::Page("AADSTS50057", DISABLED.into()));
        }
        self.issue_code(&authz, user)
    }

    /// A code for `user`, delivered to the redirect URI, with the dev IdP's session set.
    fn issue_code(&self, authz: &AuthzRequest, user: &'static users::DevUser) -> Response<Bytes> {
        let code = format!("0.dev.{}", random_token(32));
        let grant = Grant {
            client_id: self.client.client_id.clone(),
            redirect_uri: authz.redirect_uri.clone(),
            code_challenge: authz.get("code_challenge").unwrap_or_default().to_owned(),
            nonce: authz.get("nonce").map(str::to_owned),
            user,
            scope: authz.get("scope").unwrap_or_default().to_owned(),
            expires: Instant::now() + CODE_LIFETIME,
        };
        let mut grants = self.grants.lock().expect("grants lock");
        grants.retain(|_, g| g.expires > Instant::now());
        grants.insert(code.clone(), grant);
        drop(grants);
        pages::with_cookies(deliver(authz, &[("code", code.as_str())]), &[self.session_cookie(Some(user))])
    }

    /// Validates an authorize request the way Entra does.
    fn check(&self, raw: &[u8]) -> Result<AuthzRequest, Refusal> {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(raw).into_owned().filter(|(k, _)| FORWARDED.contains(&k.as_str())).collect();
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if get("client_id").as_deref() != Some(self.client.client_id.as_str()) {
            return Err(Refusal::Page(
                "AADSTS700016",
                "Application with the given identifier was not found in the directory.".into(),
            ));
        }
        if get("redirect_uri").as_deref() != Some(self.client.redirect_uri.as_str()) {
            return Err(Refusal::Page(
                "AADSTS50011",
                "The redirect URI specified in the request does not match the redirect URIs configured for the application.".into(),
            ));
        }
        let authz = AuthzRequest {
            redirect_uri: self.client.redirect_uri.clone(),
            response_mode: get("response_mode").unwrap_or_else(|| "query".into()),
            state: get("state"),
            params,
        };
        let problem = if authz.get("response_type") != Some("code") {
            Some((
                "unsupported_response_type",
                "AADSTS70005",
                "The response_type is not supported (this provider issues codes only).",
            ))
        } else if !authz.get("scope").unwrap_or_default().split(' ').any(|s| s == "openid") {
            Some((
                "invalid_request",
                "AADSTS900144",
                "The request body must contain the following parameter: 'scope' with openid.",
            ))
        } else if authz.get("code_challenge_method") != Some("S256")
            || authz.get("code_challenge").is_none_or(|c| c.len() != 43)
        {
            Some(("invalid_request", "AADSTS9002325", "Proof Key for Code Exchange (S256) is required."))
        } else if !["query", "form_post"].contains(&authz.response_mode.as_str()) {
            Some(("invalid_request", "AADSTS900148", "The response_mode is not supported."))
        } else {
            None
        };
        match problem {
            Some((error, code, text)) => Err(Refusal::Redirect(Box::new(authz), error, entra_description(code, text))),
            None => Ok(authz),
        }
    }

    fn refuse(&self, refusal: Refusal) -> Response<Bytes> {
        match refusal {
            Refusal::Page(code, text) => dev_page(
                StatusCode::BAD_REQUEST,
                "Sign-in error",
                &format!(
                    "<h1>Sorry, but we're having trouble signing you in.</h1><p><code>{code}</code>: {}</p>",
                    escape(&text)
                ),
            ),
            Refusal::Redirect(authz, error, description) => {
                deliver(&authz, &[("error", error), ("error_description", description.as_str())])
            }
        }
    }

    fn sign_in_page(&self, authz: &AuthzRequest) -> Response<Bytes> {
        let hidden: String = authz
            .params
            .iter()
            .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)))
            .collect();
        let buttons: String = users::USERS
            .iter()
            .map(|u| {
                format!(
                    "<p><button type=\"submit\" name=\"user\" value=\"{}\">{}</button> {} — {}{}</p>",
                    u.id,
                    escape(u.name),
                    escape(u.username),
                    escape(u.description),
                    if self.is_disabled(u.id) { " <strong>(disabled)</strong>" } else { "" }
                )
            })
            .collect();
        // Administrator controls: disabling a user is what renewal must notice (docs/design.md §8.5).
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&authz.params).finish();
        let back = format!("/{}/oauth2/v2.0/authorize?{query}", self.tenant);
        let controls: String = users::USERS
            .iter()
            .map(|u| {
                let disabled = self.is_disabled(u.id);
                format!(
                    "<form method=\"post\" action=\"/{}/dev/users/{}/disabled\"><input type=\"hidden\" name=\"disabled\" value=\"{}\">\
<input type=\"hidden\" name=\"back\" value=\"{}\"><button type=\"submit\" class=\"admin\" name=\"admin\" value=\"{}\">{} {}</button></form>",
                    self.tenant,
                    u.id,
                    !disabled,
                    escape(&back),
                    u.id,
                    if disabled { "Enable" } else { "Disable" },
                    escape(u.name),
                )
            })
            .collect();
        let body = format!(
            "<h1>Sign in</h1><p>Choose a dev user to sign in to <code>{}</code>.</p>\
<form method=\"post\" action=\"/{}/oauth2/v2.0/authorize\">{hidden}{buttons}\
<p><button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button></p></form>\
<h2>Administrator</h2><p>A disabled user cannot sign in, and a silent renewal of her session fails.</p>{controls}",
            escape(&self.client.client_id),
            self.tenant
        );
        dev_page(StatusCode::OK, "Sign in (dev)", &body)
    }
}

/// Sends the authorization response to the redirect URI, by redirect or auto-posted form.
fn deliver(authz: &AuthzRequest, values: &[(&str, &str)]) -> Response<Bytes> {
    let mut fields: Vec<(&str, &str)> = values.to_vec();
    if let Some(state) = authz.state.as_deref() {
        fields.push(("state", state));
    }
    if authz.response_mode == "form_post" {
        return form_post(&authz.redirect_uri, &fields);
    }
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
    pages::redirect(StatusCode::FOUND, crate::web::url::with_query(&authz.redirect_uri, &query), Vec::new())
}

/// The `form_post` response: a form that submits itself (script allowed by a per-page nonce).
fn form_post(action: &str, fields: &[(&str, &str)]) -> Response<Bytes> {
    let nonce = random_token(16);
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)))
        .collect();
    let body = format!(
        "<form method=\"post\" action=\"{}\">{inputs}<noscript><button type=\"submit\">Continue</button></noscript></form>\
<script nonce=\"{nonce}\">document.forms[0].submit()</script>",
        escape(action)
    );
    let mut r = pages::html(StatusCode::OK, "Signing in", &body);
    let csp =
        format!("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// Entra's words for a disabled account.
const DISABLED: &str = "User account is disabled. The account has been disabled by an administrator.";

/// An Entra-style `error_description`: `AADSTS…: text Trace ID: … Correlation ID: … Timestamp: …`.
pub(super) fn entra_description(code: &str, text: &str) -> String {
    format!(
        "{code}: {text} Trace ID: {} Correlation ID: {} Timestamp: {}",
        crate::support::text::guid(),
        crate::support::text::guid(),
        crate::support::time::format_timestamp(crate::support::time::now())
    )
}
