//! Validation of `return_to`, the only user-chosen redirect target: a same-site path, or an
//! absolute URL whose origin is listed in `SSO_RETURN_ORIGINS`. Anything else is refused rather
//! than repaired, because every repair rule is a parser differential waiting to happen.

use std::borrow::Cow;
use std::sync::LazyLock;

use url::{Position, Url};

use crate::web::params::Params;

/// The placeholder base a relative `return_to` is resolved against, parsed once.
static BASE: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://return-to.invalid/").expect("constant base URL parses"));

/// Longest `return_to` accepted.
pub const MAX_RETURN_TO_LEN: usize = 2048;

/// Why a `return_to` was refused (for the operator's log; the user sees `return_to_rejected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("return_to {0}")]
pub struct ReturnToError(pub &'static str);

/// Checks `raw` and returns the value to redirect to later (`raw` itself when it needs no
/// normalisation), or why it was refused.
pub fn validate<'a>(raw: &'a str, allowed_origins: &[String]) -> Result<Cow<'a, str>, ReturnToError> {
    check(raw, allowed_origins).map_err(ReturnToError)
}

/// The request's `return_to` parameter validated (else `alias`, App Service Authentication's
/// `post_login_redirect_uri` or `post_logout_redirect_uri`, where the route has one), `home`
/// when absent (`/`, or the site's root behind a path prefix); repeated is refused.
pub fn from_params<'a>(
    params: &'a Params<'_>,
    allowed_origins: &[String],
    home: &'a str,
    alias: Option<&str>,
) -> Result<Cow<'a, str>, ReturnToError> {
    let mut raw = params.single("return_to").map_err(|_| ReturnToError("repeated"))?;
    if let (None, Some(alias)) = (raw, alias) {
        raw = params.single(alias).map_err(|_| ReturnToError("repeated"))?;
    }
    validate(raw.unwrap_or(home), allowed_origins)
}

fn check<'a>(raw: &'a str, allowed_origins: &[String]) -> Result<Cow<'a, str>, &'static str> {
    if raw.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    if raw.len() > MAX_RETURN_TO_LEN {
        return Err("longer than 2048 bytes");
    }
    // Only printable ASCII: controls, spaces, backslashes and non-ASCII look-alikes are where
    // browsers and parsers disagree.
    if !raw.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\') {
        return Err("contains control, space, backslash or non-ASCII characters");
    }
    let valid = if raw.starts_with('/') { same_site_path(raw)? } else { absolute_url(raw, allowed_origins)? };
    // Normalisation percent-encodes some characters (`"` becomes `%22`): the cap holds for what
    // is kept, so a state carrying it stays under its own size cap.
    if valid.len() > MAX_RETURN_TO_LEN {
        return Err("longer than 2048 bytes once normalised");
    }
    Ok(valid)
}

fn same_site_path(raw: &str) -> Result<Cow<'_, str>, &'static str> {
    if is_plain_path(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    if raw.starts_with("//") || starts_with_encoded_slash(&raw[1..]) {
        return Err("starts with two slashes (a protocol-relative URL)");
    }
    let url = BASE.join(raw).map_err(|_| "not a valid path")?;
    // The serialisation starts with the base's origin and `/` exactly when the origin is the
    // base's: another host, a port or user info would all change this prefix.
    if !url.as_str().starts_with(BASE.as_str()) {
        return Err("leaves the site");
    }
    let path = url.path();
    // Dot segments can collapse into `//host`, or bring an encoded slash to the front
    // (`/x/../%2F/evil`), after normalisation: the same rules hold for the result.
    if path.starts_with("//") || starts_with_encoded_slash(&path[1..]) {
        return Err("normalises to a protocol-relative URL");
    }
    // Path, query and fragment: the URL without its (placeholder) origin.
    Ok(Cow::Owned(url[Position::BeforePath..].to_owned()))
}

/// A path the URL parser would return unchanged, so parsing can be skipped: `/` then unreserved
/// characters and single slashes, no dot segment (nothing starts with `.` after a slash), no
/// percent sign, and at most a simple `?key=value&…` query. A test holds this to the parser.
fn is_plain_path(raw: &str) -> bool {
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    path.starts_with('/')
        && !path.contains("//")
        && !path.contains("/.")
        && path.bytes().all(|b| unreserved(b) || b == b'/')
        && query.bytes().all(|b| unreserved(b) || matches!(b, b'=' | b'&'))
}

/// `%2F` or `%5C` right after the leading slash: a later decoding step would produce `//`.
fn starts_with_encoded_slash(rest: &str) -> bool {
    let lower = rest.get(..3).map(str::to_ascii_lowercase);
    matches!(lower.as_deref(), Some("%2f") | Some("%5c"))
}

fn absolute_url(raw: &str, allowed_origins: &[String]) -> Result<Cow<'static, str>, &'static str> {
    let url = Url::parse(raw).map_err(|_| "neither a path starting with / nor an absolute URL")?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("scheme is not http(s)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries user info");
    }
    let origin = url.origin().ascii_serialization();
    if !allowed_origins.contains(&origin) {
        return Err("origin is not listed in SSO_RETURN_ORIGINS");
    }
    Ok(Cow::Owned(url.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_queries_are_kept() {
        assert_eq!(validate("/", &[]).unwrap(), "/");
        assert_eq!(validate("", &[]).unwrap(), "/");
        assert_eq!(validate("/app/page?x=1&y=%20#frag", &[]).unwrap(), "/app/page?x=1&y=%20#frag");
        assert_eq!(validate("/a/../b", &[]).unwrap(), "/b");
    }

    /// What the URL parser makes of a same-site path, bypassing the plain-path shortcut.
    fn parsed(raw: &str) -> Option<String> {
        Some(BASE.join(raw).ok()?[Position::BeforePath..].to_owned())
    }

    #[test]
    fn plain_paths_are_exactly_what_the_parser_returns() {
        for raw in ["/", "/a", "/app/page", "/a.b/c-d_e~f", "/x?y=1&z=", "/x?", "/a/b?c=d&e=f&", "/x?a.b=~"] {
            assert!(is_plain_path(raw), "{raw}");
            assert_eq!(parsed(raw).as_deref(), Some(raw));
        }
        for raw in ["/.", "/..", "/a/./b", "/a/../b", "//x", "/a//b", "/%2e", "/a#b", "/a?b c", "/a?b?c", "a"] {
            assert!(!is_plain_path(raw), "{raw}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_plain_path_shortcut_agrees_with_the_parser(raw in "/[a-z./~_?=&%#-]{0,24}") {
            if is_plain_path(&raw) {
                let by_parser = parsed(&raw);
                proptest::prop_assert_eq!(by_parser.as_deref(), Some(raw.as_str()));
                let validated = validate(&raw, &[]);
                proptest::prop_assert_eq!(validated.as_deref(), Ok(raw.as_str()));
            }
        }
    }

    #[test]
    fn listed_origins_only() {
        let allowed = vec!["https://app.example.com".to_owned()];
        assert_eq!(validate("https://app.example.com/x?y", &allowed).unwrap(), "https://app.example.com/x?y");
        assert!(validate("https://app.example.com.evil.com/", &allowed).is_err());
        assert!(validate("https://user@app.example.com/", &allowed).is_err());
        assert!(validate("http://app.example.com/", &allowed).is_err());
    }

    #[test]
    fn protocol_relative_tricks_are_refused() {
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "/%2F/evil.com",
            "/%5cevil.com",
            "/..//evil.com",
            "/./..//evil.com",
            "/\t/evil.com",
            "/x/../%2F/evil.com",
            "/a/./../%5c/evil.com",
        ] {
            assert!(validate(bad, &[]).is_err(), "{bad}");
        }
    }
}
