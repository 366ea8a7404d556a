//! Strict cookie reading and the `Set-Cookie` values this service sends.
//!
//! Cookies are split on `;` only and names compared byte for byte; a name that appears twice is
//! treated as absent, because an attacker who can set a cookie for a sibling domain can add a
//! second one but cannot remove ours.

use http::HeaderMap;

/// Name of the session cookie when it is host-only (the default).
pub const SESSION_COOKIE: &str = "__Host-sso-session";

/// Name of the session cookie when `SSO_COOKIE_DOMAIN` shares it with sibling subdomains: the
/// `__Host-` prefix forbids `Domain`, `__Secure-` still forbids a plain-http origin setting it.
pub const SHARED_SESSION_COOKIE: &str = "__Secure-sso-session";

/// Most `Cookie` header bytes read. Bounded by bytes, not by pairs: browsers send the newest
/// cookies last, so a pair count would let a site's ordinary cookies push ours out of reach.
/// The core refuses larger header sections before this is reached; the bound keeps the parser
/// safe on its own.
pub const MAX_COOKIE_BYTES: usize = 32 * 1024;

/// The `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level cross-site GET navigations (the query-mode callback).
    Lax,
    /// Sent on cross-site POSTs as well (needed by `form_post`).
    None,
}

/// Every `name=value` pair of the request's `Cookie` headers, in order.
pub fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    let mut budget = MAX_COOKIE_BYTES;
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .take_while(move |v| {
            let fits = v.len() <= budget;
            budget = budget.saturating_sub(v.len());
            fits
        })
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim_matches([' ', '\t']), value.trim_matches([' ', '\t'])))
        })
}

/// The value of cookie `name`, or `None` if it is absent or present more than once.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for (n, v) in pairs(headers) {
        if n.as_bytes() == name.as_bytes() {
            if found.is_some() {
                return None;
            }
            found = Some(v);
        }
    }
    found
}

/// A `Set-Cookie` value for a host-only, secure, HTTP-only cookie.
pub fn set(name: &str, value: &str, max_age_secs: u64, same_site: SameSite) -> String {
    format!("{name}={value}{}", attributes(max_age_secs, same_site))
}

/// The attributes [`set`] puts after `name=value`, from the leading `; ` on: fixed per setting,
/// so the sign-in path computes them once.
pub fn attributes(max_age_secs: u64, same_site: SameSite) -> String {
    let ss = match same_site {
        SameSite::Lax => "Lax",
        SameSite::None => "None",
    };
    format!("; Path=/; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite={ss}")
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn expire(name: &str) -> String {
    set(name, "", 0, SameSite::Lax)
}

/// The session cookie of a deployment: host-only under `__Host-`, or shared with a parent
/// domain under `__Secure-`. Every place that sets, reads or clears it goes through here, so
/// the name and `Domain` never disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    name: &'static str,
    /// `; Domain=…` or empty.
    domain: String,
}

impl SessionCookie {
    /// The session cookie for `SSO_COOKIE_DOMAIN` (`None`: host-only).
    pub fn new(domain: Option<&str>) -> Self {
        match domain {
            None => Self { name: SESSION_COOKIE, domain: String::new() },
            Some(d) => Self { name: SHARED_SESSION_COOKIE, domain: format!("; Domain={d}") },
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The session token the request carries, if exactly one.
    pub fn get<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        get(headers, self.name)
    }

    /// A `Set-Cookie` value carrying `token` for `max_age_secs`.
    pub fn set(&self, token: &str, max_age_secs: u64) -> String {
        format!("{}{}", set(self.name, token, max_age_secs, SameSite::Lax), self.domain)
    }

    /// A `Set-Cookie` value that deletes the cookie, with `same_site` as the context requires.
    pub fn expire(&self, same_site: SameSite) -> String {
        format!("{}{}", set(self.name, "", 0, same_site), self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn reads_across_headers_and_trims() {
        let h = headers(&["a=1; b=2", "c=3"]);
        assert_eq!(get(&h, "b"), Some("2"));
        assert_eq!(get(&h, "c"), Some("3"));
        assert_eq!(get(&h, "B"), None);
    }

    #[test]
    fn duplicates_count_as_absent() {
        assert_eq!(get(&headers(&["a=1; a=2"]), "a"), None);
        assert_eq!(get(&headers(&["a=1", "a=1"]), "a"), None);
    }

    #[test]
    fn only_semicolons_separate() {
        assert_eq!(get(&headers(&["a=1, b=2"]), "a"), Some("1, b=2"));
        assert_eq!(get(&headers(&["a=1, b=2"]), "b"), None);
    }

    #[test]
    fn ours_are_found_behind_many_site_cookies() {
        let site: Vec<String> = (0..200).map(|i| format!("site{i}=v")).collect();
        let h = headers(&[&site.join("; "), "__Host-sso-session=mine"]);
        assert_eq!(get(&h, SESSION_COOKIE), Some("mine"));
        let h = headers(&[&format!("{}; __Host-sso-session=mine", site.join("; "))]);
        assert_eq!(get(&h, SESSION_COOKIE), Some("mine"));
    }

    #[test]
    fn reading_stops_at_the_byte_bound() {
        let filler = format!("f={}", "x".repeat(MAX_COOKIE_BYTES - 2));
        assert_eq!(get(&headers(&[&filler, "a=1"]), "a"), None);
        assert_eq!(get(&headers(&[&filler]), "f").map(str::len), Some(MAX_COOKIE_BYTES - 2));
    }

    #[test]
    fn set_cookie_attributes() {
        let c = set(SESSION_COOKIE, "v", 60, SameSite::Lax);
        assert_eq!(c, "__Host-sso-session=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax");
        assert!(expire("x").contains("Max-Age=0"));
    }

    #[test]
    fn shared_session_cookie_names_its_domain() {
        let host_only = SessionCookie::new(None);
        assert_eq!(host_only.set("v", 60), set(SESSION_COOKIE, "v", 60, SameSite::Lax));
        let shared = SessionCookie::new(Some("example.com"));
        assert_eq!(
            shared.set("v", 60),
            "__Secure-sso-session=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax; Domain=example.com"
        );
        assert!(shared
            .expire(SameSite::None)
            .ends_with("Max-Age=0; HttpOnly; Secure; SameSite=None; Domain=example.com"));
        assert_eq!(shared.get(&headers(&["__Host-sso-session=a; __Secure-sso-session=b"])), Some("b"));
    }
}
