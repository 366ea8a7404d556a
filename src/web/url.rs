//! Absolute URLs this service is configured with or sends browsers to: which ones it accepts,
//! and how a query is added to one.

use url::{Host, Url};

/// The path the public URL puts in front of this service's routes, such as `/prod` for an API
/// Gateway REST stage: the adapter that removed it from the request leaves it here (a request
/// extension), so links and redirects to this service's own routes keep it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathPrefix(pub String);

impl PathPrefix {
    /// The prefix `public` carries in front of `routed` (`/prod/api/me` in front of
    /// `/api/me` is `/prod`), when `public` is longer and ends with `routed`.
    pub fn between(public: &str, routed: &str) -> Option<Self> {
        let prefix = public.strip_suffix(routed)?;
        let plain = prefix.starts_with('/') && !prefix.ends_with('/') && !prefix.contains("//");
        (plain && routed.starts_with('/')).then(|| Self(prefix.to_owned()))
    }
}

/// `path` (one of this service's routes, or `/`) as the browser must ask for it: behind the
/// request's [`PathPrefix`], if it has one.
pub fn public_path<B>(req: &http::Request<B>, path: &str) -> String {
    match req.extensions().get::<PathPrefix>() {
        Some(PathPrefix(prefix)) => format!("{prefix}{path}"),
        None => path.to_owned(),
    }
}

/// Why a configured URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute URL at all.
    #[error("not an absolute URL ({0})")]
    NotAbsolute(String),
    /// Carries a `#fragment`, which never reaches a server.
    #[error("must not have a #fragment")]
    Fragment,
    /// `http://` on a host that is not loopback.
    #[error("http:// is accepted only for loopback hosts; use https://")]
    PlainHttp,
    /// Neither `https` nor `http`.
    #[error("scheme `{0}` is not http(s)")]
    Scheme(String),
}

/// An absolute `https` URL, or `http` on a loopback host (local development), without fragment.
pub fn parse_public_url(value: &str) -> Result<Url, UrlError> {
    let url = Url::parse(value).map_err(|e| UrlError::NotAbsolute(e.to_string()))?;
    if url.fragment().is_some() {
        return Err(UrlError::Fragment);
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(UrlError::PlainHttp),
        other => Err(UrlError::Scheme(other.to_owned())),
    }
}

/// Whether the URL's host is `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether the URL's host is a name reserved for testing and documentation, which no public
/// deployment can have: under the top-level names `test`, `example`, `invalid` (RFC 2606) or
/// `localhost` (RFC 6761).
pub fn is_reserved_for_testing(url: &Url) -> bool {
    let Some(Host::Domain(d)) = url.host() else { return false };
    let tld = d.trim_end_matches('.').rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    ["test", "example", "invalid", "localhost"].contains(&tld.as_str())
}

/// `base` with the already-encoded `query` appended: after `?`, or after `&` when `base` has a
/// query of its own (the IdP's endpoints and registered redirect URIs may).
pub fn with_query(base: &str, query: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        assert!(parse_public_url("https://app.example.com/api/callback").is_ok());
        assert!(parse_public_url("http://localhost:7071/api/callback").is_ok());
        assert!(parse_public_url("http://127.0.0.2/").is_ok());
        assert_eq!(parse_public_url("http://app.example.com/"), Err(UrlError::PlainHttp));
        assert_eq!(parse_public_url("https://a/#x"), Err(UrlError::Fragment));
        assert_eq!(parse_public_url("ftp://a/"), Err(UrlError::Scheme("ftp".into())));
        assert!(matches!(parse_public_url("/relative"), Err(UrlError::NotAbsolute(_))));
    }

    #[test]
    fn names_reserved_for_testing() {
        for reserved in
            ["https://app.example.test/", "https://SSO.Example/", "https://a.invalid./", "https://x.localhost/"]
        {
            assert!(is_reserved_for_testing(&Url::parse(reserved).unwrap()), "{reserved}");
        }
        for public in ["https://example.com/", "https://test.contoso.com/", "https://10.0.0.1/", "https://[::1]/"] {
            assert!(!is_reserved_for_testing(&Url::parse(public).unwrap()), "{public}");
        }
    }

    #[test]
    fn queries_join_either_way() {
        assert_eq!(with_query("https://a/p", "x=1"), "https://a/p?x=1");
        assert_eq!(with_query("https://a/p?t=2", "x=1"), "https://a/p?t=2&x=1");
    }
}
