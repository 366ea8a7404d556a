//! Who may pass: the request path read the way the app will read it, public paths, per-path
//! requirements, and the caller (session or bearer token) checked exactly as `/api/auth` checks
//! it (policy included).
//! The verdict is to forward (with or without identity) or to answer here.

use http::{HeaderMap, Request};

use crate::app::App;
use crate::endpoints::account::{current_caller, Caller, NoSession};
use crate::endpoints::forward_auth::{self, Requirements};
use crate::proxy::settings::{PathRule, ProxySettings, Unauthenticated};
use crate::web::errors::{ErrorCode, Failure};

/// What the gate decided for one request.
#[derive(Debug)]
pub enum Verdict {
    /// Forward, with these identity headers (none for an anonymous request).
    Forward(HeaderMap),
    /// Answer here instead: sign in, or an error.
    Answer(http::Response<bytes::Bytes>),
    /// Answer with this failure's page.
    Refuse(Failure),
}

/// The request path percent-decoded, for matching rules, or why it is refused: a path that
/// could name one thing to the rules and another to the app (encoded slashes or backslashes,
/// dot segments in any spelling, `//`, NUL or other controls) never passes.
pub fn decoded_path(raw: &str) -> Result<String, &'static str> {
    if !raw.starts_with('/') {
        return Err("the path does not start with /");
    }
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || raw.contains('\\') {
        return Err("an encoded slash or a backslash in the path");
    }
    if !escapes_are_whole(raw.as_bytes()) {
        return Err("a broken percent-escape in the path");
    }
    let path = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| "the path is not UTF-8")?;
    if path.chars().any(char::is_control) {
        return Err("a control character in the path");
    }
    if path.contains("//") || path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err("an empty or dot segment in the path");
    }
    Ok(path.into_owned())
}

/// Whether every `%` starts an escape of two hex digits (`percent_decode` passes broken ones
/// through as text, which the app might read otherwise).
fn escapes_are_whole(input: &[u8]) -> bool {
    input
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'%')
        .all(|(i, _)| input.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)))
}

/// The decoded path as the most lenient servers read it: each segment without its `;`
/// parameters (Tomcat, Jetty: `/admin;x` is `/admin`) and without trailing dots and spaces
/// (IIS: `/admin.` is `/admin`). Rules must hold for this reading too. `None` when it has a dot
/// segment (`/static/..;/admin`), which such a server would resolve.
pub fn lenient_reading(path: &str) -> Option<String> {
    let bare: Vec<&str> = path.split('/').map(|seg| seg.split(';').next().unwrap_or("")).collect();
    if bare.iter().any(|seg| *seg == "." || *seg == "..") {
        return None;
    }
    Some(bare.iter().map(|seg| seg.trim_end_matches(['.', ' '])).collect::<Vec<_>>().join("/"))
}

/// Whether `path` is `prefix` or below it (segment-wise: `/admin` covers `/admin/x`, not
/// `/administrator`).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether a decoded path belongs to the sign-in routes (`/.auth` in any case): those are
/// answered here and never forwarded, whether or not a route exists.
pub fn is_own(path: &str) -> bool {
    under(&path.to_ascii_lowercase(), "/.auth")
}

/// The gate for one forwarded request whose decoded path is `path`. A path rule covers the path
/// as written and as lenient servers read it ([`lenient_reading`]); a rule wins over a public
/// prefix that also covers the path; a path is public only when both readings are.
pub async fn check<B>(app: &App, settings: &ProxySettings, req: &Request<B>, path: &str) -> Verdict {
    let Some(lenient) = lenient_reading(path) else {
        return Verdict::Refuse(Failure::new(ErrorCode::BadRequest, "a dot segment behind path parameters"));
    };
    let readings = [path.to_ascii_lowercase(), lenient.to_ascii_lowercase()];
    let rule: Option<&PathRule> = settings.rules.iter().find(|r| readings.iter().any(|p| under(p, &r.prefix)));
    let public = rule.is_none()
        && settings.public_paths.iter().any(|p| under(path, p))
        && settings.public_paths.iter().any(|p| under(&lenient, p));
    let anonymous_ok = public || (settings.unauthenticated == Unauthenticated::AllowAnonymous && rule.is_none());
    // Renewal sends navigations to sign in; `Return401` never redirects, and public paths are
    // served as they are.
    let renew_navigations =
        !public && settings.unauthenticated != Unauthenticated::Return401 && forward_auth::is_navigation(req);
    match current_caller(app, req).await {
        Ok(caller) => {
            if let Some(rule) = rule {
                let wanted = Requirements {
                    roles: rule.roles.iter().map(String::as_str).collect(),
                    groups: rule.groups.iter().map(String::as_str).collect(),
                    ..Requirements::default()
                };
                if let Err(failure) = forward_auth::meets(app, caller.claims(), &wanted) {
                    return Verdict::Refuse(failure);
                }
            }
            if let (Caller::Session(session), true) = (&caller, renew_navigations) {
                if let Some(renewal) = crate::endpoints::renewal::due(app, session) {
                    return answer(forward_auth::renew(app, true, this_page(app, req), true, &renewal));
                }
            }
            let token = caller.assertion(app, req);
            Verdict::Forward(forward_auth::caller_headers(&caller, token))
        }
        Err(NoSession::Expired(renewal)) if renew_navigations => {
            answer(forward_auth::renew(app, true, this_page(app, req), true, &renewal))
        }
        // Where no identity is needed, a refused token is forwarded anonymously, as a bad
        // cookie is (never with the cookie's identity instead): the app may read its own tokens.
        Err(_) if anonymous_ok => Verdict::Forward(HeaderMap::new()),
        Err(NoSession::Token(e)) => Verdict::Refuse(e.into()),
        Err(NoSession::Denied(why)) => Verdict::Refuse(why.into()),
        Err(NoSession::Expired(renewal)) => {
            let navigation = forward_auth::is_navigation(req);
            answer(forward_auth::renew(app, navigation, this_page(app, req), false, &renewal))
        }
        Err(NoSession::SignedOut) => {
            let redirect = settings.unauthenticated == Unauthenticated::RedirectToLoginPage;
            let navigation = forward_auth::is_navigation(req);
            answer(forward_auth::signed_out(app, navigation, this_page(app, req), redirect))
        }
    }
}

/// The requested page as a `return_to`. A page that cannot be one (too long, odd characters)
/// is left out, so its sign-in still happens, coming back to the site's root.
fn this_page<'a, B>(
    app: &App,
    req: &'a Request<B>,
) -> Option<Result<std::borrow::Cow<'a, str>, crate::web::return_to::ReturnToError>> {
    let here = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    crate::web::return_to::validate(here, &app.settings().return_origins).ok().map(Ok)
}

/// The gate's verdict for an answer of its own, or for the failure building it.
fn answer(built: Result<http::Response<bytes::Bytes>, Failure>) -> Verdict {
    match built {
        Ok(answer) => Verdict::Answer(answer),
        Err(failure) => Verdict::Refuse(failure),
    }
}

/// A request the proxy refuses to forward at all, before any gate.
pub fn refuse_target<B>(req: &Request<B>) -> Option<Failure> {
    let bad = |why: &str| Some(Failure::new(ErrorCode::BadRequest, why.to_owned()));
    if req.method() == http::Method::CONNECT {
        return bad("CONNECT: entra-sso proxy is not an open proxy");
    }
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        return bad("absolute-form request target: entra-sso proxy is not an open proxy");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_mean_two_things_are_refused() {
        for bad in [
            "/.auth/..%2fme",
            "/a/%2e%2e/admin",
            "/a/%2E/b",
            "/a/../admin",
            "//admin",
            "/a//b",
            "/a%5cb",
            "/a\\b",
            "/a%00",
            "/%zz",
            "/%ff",
            "relative",
            "/a/.",
        ] {
            assert!(decoded_path(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(decoded_path("/%61dmin/x%20y").unwrap(), "/admin/x y");
        assert_eq!(decoded_path("/.well-known/x").unwrap(), "/.well-known/x");
    }

    #[test]
    fn lenient_readings() {
        assert_eq!(lenient_reading("/admin;x/secret").as_deref(), Some("/admin/secret"));
        assert_eq!(lenient_reading("/admin./x ").as_deref(), Some("/admin/x"));
        assert_eq!(lenient_reading("/a;jsessionid=1").as_deref(), Some("/a"));
        assert_eq!(lenient_reading("/static/..;/admin"), None);
        assert_eq!(lenient_reading("/static/.;/admin"), None);
    }

    #[test]
    fn own_routes_and_prefixes() {
        assert!(is_own("/.auth") && is_own("/.auth/me") && is_own("/.AUTH/login/aad"));
        assert!(!is_own("/.authx") && !is_own("/x/.auth"));
        assert!(under("/admin", "/admin") && under("/admin/x", "/admin") && !under("/administrator", "/admin"));
        assert!(under("/anything", ""), "a rule for / covers every path");
    }
}
