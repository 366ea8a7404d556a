//! Responses: the headers every answer carries, redirects, JSON, and the few HTML pages (error
//! pages, the logout confirmation, the dev start page). All user-influenced text is escaped.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::tokens::session::SessionClaims;
use crate::web::errors::Failure;

/// Content-Security-Policy of every HTML page: nothing loads, nothing frames it.
// No form-action: browsers apply it to the redirect after a form POST, and logout redirects to the IdP.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}\
h1{font-size:1.4rem}code{background:#f3f3f3;padding:0 .2rem}.meta{color:#666;font-size:.85rem}\
.box{border-left:4px solid #c50f1f;padding:.2rem 1rem;background:#fdf3f4}a.button,button{display:inline-block;\
background:#0f6cbd;color:#fff;border:0;border-radius:4px;padding:.5rem 1rem;text-decoration:none;font:inherit;cursor:pointer}";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-parameter value.
pub fn encode_query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn base(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Bytes> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !content_type.is_empty() {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    r
}

/// An HTML page with the strict CSP.
pub fn html(status: StatusCode, title: &str, body: &str) -> Response<Bytes> {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut r = base(status, "text/html; charset=utf-8", Bytes::from(page));
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    r.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// A JSON answer.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    json_text(status, value.to_string())
}

/// A JSON answer already serialised.
pub fn json_text(status: StatusCode, body: String) -> Response<Bytes> {
    base(status, "application/json", Bytes::from(body))
}

/// An answer with no body and the common headers (`no-store` among them).
pub fn empty(status: StatusCode) -> Response<Bytes> {
    base(status, "", Bytes::new())
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: &'static str) -> Response<Bytes> {
    base(status, "text/plain; charset=utf-8", Bytes::from_static(body.as_bytes()))
}

/// A redirect with `Set-Cookie` headers. `location` must already be a safe, encoded URL. The
/// strings become header values without being copied.
pub fn redirect(status: StatusCode, location: String, cookies: Vec<String>) -> Response<Bytes> {
    let mut r = base(status, "", Bytes::new());
    let h = r.headers_mut();
    let location = HeaderValue::from_maybe_shared(Bytes::from(location));
    h.insert(header::LOCATION, location.unwrap_or_else(|_| HeaderValue::from_static("/")));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(c)) {
            h.append(header::SET_COOKIE, v);
        }
    }
    r
}

/// Adds `Set-Cookie` headers to a response.
pub fn with_cookies(mut r: Response<Bytes>, cookies: &[String]) -> Response<Bytes> {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// Whether the client prefers JSON to HTML (API clients, `fetch` with `Accept: application/json`).
pub fn wants_json(headers: &http::HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    match (accept.find("application/json"), accept.find("text/html")) {
        (Some(_), None) => true,
        (Some(j), Some(h)) => j < h,
        _ => false,
    }
}

/// `<login>?return_to=…` for a validated return path; `login` is the sign-in route as the
/// browser must ask for it (`/api/login`, `/.auth/login/aad`, behind any path prefix).
pub fn login_url(login: &str, return_to: Option<&str>) -> String {
    match return_to {
        Some(rt) => format!("{login}?return_to={}", encode_query_value(rt)),
        None => login.to_owned(),
    }
}

/// The answer to a failed request: JSON or an HTML page, never the operator's detail. Its
/// "try again" link goes to `login` (see [`login_url`]) with the failure's `return_to`.
pub fn error(failure: &Failure, as_json: bool, request_id: &str, login: &str) -> Response<Bytes> {
    let code = failure.code;
    let retry = login_url(login, failure.retry.as_deref());
    if as_json {
        let mut v = serde_json::json!({
            "error": code.as_str(),
            "message": code.title(),
            "hint": code.hint(),
            "request_id": request_id,
            "login_url": retry,
        });
        if let Some(shown) = &failure.shown {
            v["detail"] = serde_json::Value::String(shown.clone());
        }
        return json(code.status(), &v);
    }
    let shown =
        failure.shown.as_deref().map(|s| format!("<div class=\"box\"><p>{}</p></div>", escape(s))).unwrap_or_default();
    let body = format!(
        "<h1>{}</h1>{shown}<p>{}</p><p><a class=\"button\" href=\"{}\">Try signing in again</a></p>\
<p class=\"meta\">Error code: <code>{}</code> · Request id: <code>{}</code></p>",
        escape(code.title()),
        escape(code.hint()),
        escape(&retry),
        code.as_str(),
        escape(request_id),
    );
    html(code.status(), code.title(), &body)
}

/// RFC 6750's challenge for a refused bearer token: `Bearer error="invalid_token",
/// error_description="…"`, the description being the text the client may see (or the code's
/// title), reduced to what a quoted header string can carry. `None` for other failures.
pub fn bearer_challenge(failure: &Failure) -> Option<HeaderValue> {
    if !failure.code.is_token_refusal() {
        return None;
    }
    let text = failure.shown.as_deref().unwrap_or(failure.code.title());
    let description: String =
        text.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { ' ' }).collect();
    HeaderValue::from_str(&format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")).ok()
}

/// The confirmation page for a logout that cannot be proven same-origin.
pub fn logout_confirm(action: &str) -> Response<Bytes> {
    let body = format!(
        "<h1>Sign out?</h1><p>A page asked to sign you out of this app.</p>\
<form method=\"post\" action=\"{}\"><button type=\"submit\">Sign out</button></form>",
        escape(action)
    );
    html(StatusCode::OK, "Sign out?", &body)
}

/// The dev start page: who is signed in, or a sign-in link.
pub fn dev_home(session: Option<&SessionClaims>) -> Response<Bytes> {
    let body = match session {
        Some(s) => {
            let claims = serde_json::to_string_pretty(s).unwrap_or_default();
            format!(
                "<h1>entra-sso dev</h1><p id=\"who\">Signed in as <strong>{}</strong> ({})</p>\
<p>Claims of this session, as <a href=\"/api/me\">/api/me</a> returns them:</p><pre>{}</pre>\
<form id=\"sign-out\" method=\"post\" action=\"/api/logout?return_to=/\"><button type=\"submit\">Sign out</button></form>",
                escape(s.name.as_deref().unwrap_or("(no name)")),
                escape(s.preferred_username.as_deref().unwrap_or(&s.sub)),
                escape(&claims),
            )
        }
        None => "<h1>entra-sso dev</h1><p>Not signed in.</p>\
<p><a id=\"sign-in\" class=\"button\" href=\"/api/login?return_to=/\">Sign in with Microsoft (dev)</a></p>"
            .to_owned(),
    };
    html(StatusCode::OK, "entra-sso dev", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(escape("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
    }

    #[test]
    fn every_error_code_has_a_complete_page_and_json() {
        use crate::web::errors::{ErrorCode, Failure};
        for &code in ErrorCode::ALL {
            let failure = Failure::new(code, "operator-only detail").retry(Some("/back?x=1".into()));
            let page = error(&failure, false, "req123", "/api/login");
            assert_eq!(page.status(), code.status());
            let body = std::str::from_utf8(page.body()).unwrap();
            assert!(body.contains(&format!("<code>{}</code>", code.as_str())), "{code:?}");
            assert!(body.contains(&escape(code.title())) && body.contains(&escape(code.hint())), "{code:?}");
            assert!(body.contains("/api/login?return_to=%2Fback%3Fx%3D1"), "{code:?}: try again keeps return_to");
            assert!(body.contains("req123") && !body.contains("operator-only"), "{code:?}");
            assert!(page.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"));
            let json: serde_json::Value =
                serde_json::from_slice(error(&failure, true, "req123", "/api/login").body()).unwrap();
            assert_eq!(json["error"], code.as_str());
            assert!(json["hint"].as_str().is_some_and(|h| h.len() > 10));
            assert!(!json.to_string().contains("operator-only"));
        }
    }

    #[test]
    fn json_preference() {
        let mut h = http::HeaderMap::new();
        assert!(!wants_json(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(wants_json(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html,application/json;q=0.9"));
        assert!(!wants_json(&h));
    }
}
