//! Validation of `return_to`, the only user-chosen redirect target: a same-site path, or an
//! absolute URL whose origin is listed in `SSO_RETURN_ORIGINS`. Anything else is refused rather
//! than repaired, because every repair rule is a parser differential waiting to happen.

use std::sync::LazyLock;

use url::Url;

/// The placeholder base a relative `return_to` is resolved against, parsed once.
static BASE: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://return-to.invalid/").expect("constant base URL parses"));

/// Longest `return_to` accepted.
pub const MAX_RETURN_TO_LEN: usize = 2048;

/// Checks `raw` and returns the value to redirect to later, or why it was refused.
pub fn validate(raw: &str, allowed_origins: &[String]) -> Result<String, &'static str> {
    if raw.is_empty() {
        return Ok("/".to_owned());
    }
    if raw.len() > MAX_RETURN_TO_LEN {
        return Err("longer than 2048 bytes");
    }
    // Only printable ASCII: controls, spaces, backslashes and non-ASCII look-alikes are where
    // browsers and parsers disagree.
    if !raw.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\') {
        return Err("contains control, space, backslash or non-ASCII characters");
    }
    if raw.starts_with('/') {
        return same_site_path(raw);
    }
    absolute_url(raw, allowed_origins)
}

fn same_site_path(raw: &str) -> Result<String, &'static str> {
    if raw.starts_with("//") || starts_with_encoded_slash(&raw[1..]) {
        return Err("starts with two slashes (a protocol-relative URL)");
    }
    let url = BASE.join(raw).map_err(|_| "not a valid path")?;
    if url.origin() != BASE.origin() {
        return Err("leaves the site");
    }
    let path = url.path();
    // Dot segments can collapse into `//host`, or bring an encoded slash to the front
    // (`/x/../%2F/evil`), after normalisation: the same rules hold for the result.
    if path.starts_with("//") || starts_with_encoded_slash(&path[1..]) {
        return Err("normalises to a protocol-relative URL");
    }
    let mut out = path.to_owned();
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = url.fragment() {
        out.push('#');
        out.push_str(f);
    }
    Ok(out)
}

/// `%2F` or `%5C` right after the leading slash: a later decoding step would produce `//`.
fn starts_with_encoded_slash(rest: &str) -> bool {
    let lower = rest.get(..3).map(str::to_ascii_lowercase);
    matches!(lower.as_deref(), Some("%2f") | Some("%5c"))
}

fn absolute_url(raw: &str, allowed_origins: &[String]) -> Result<String, &'static str> {
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
    Ok(url.into())
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
