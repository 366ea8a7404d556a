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

/// The parent domains of `domain` up to and including its registrable domain (the public
/// suffix and one label more), nearest first: empty when `domain` is registrable itself. Every
/// host under the registrable domain may set a cookie for any of them, so a host outside
/// `domain` can plant a cookie that the browser sends to `domain` (cookie tossing).
pub fn parents_to_registrable(domain: &str) -> Vec<&str> {
    let Some(registrable) = psl::domain_str(domain) else { return Vec::new() };
    let mut parents = Vec::new();
    let mut rest = domain;
    while rest.len() > registrable.len() {
        let Some((_, parent)) = rest.split_once('.') else { break };
        parents.push(parent);
        rest = parent;
    }
    parents
}

/// The session cookie of a deployment: host-only under `__Host-`, or shared with a parent
/// domain under `__Secure-`. Every place that sets, reads or clears it goes through here, so
/// the name and `Domain` never disagree.
///
/// A shared cookie can be planted by hosts outside `SSO_COOKIE_DOMAIN` but under the same
/// registrable domain, for a parent of it; the browser then sends two cookies of the name
/// (read as none, [`get`]) or only theirs. Setting and clearing the session therefore first
/// expires the name at each parent up to the registrable domain. A `__Host-` cookie cannot be
/// planted from another host at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    name: &'static str,
    /// `; Domain=…` or empty.
    domain: String,
    /// `; Domain=<parent>` for each parent of the cookie domain up to its registrable domain.
    parents: Vec<String>,
}

impl SessionCookie {
    /// The session cookie for `SSO_COOKIE_DOMAIN` (`None`: host-only).
    pub fn new(domain: Option<&str>) -> Self {
        match domain {
            None => Self { name: SESSION_COOKIE, domain: String::new(), parents: Vec::new() },
            Some(d) => Self {
                name: SHARED_SESSION_COOKIE,
                domain: format!("; Domain={d}"),
                parents: parents_to_registrable(d).into_iter().map(|p| format!("; Domain={p}")).collect(),
            },
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

    /// The `Set-Cookie` values that carry `token` for `max_age_secs`: the expiries at the parent
    /// domains first, then the cookie itself.
    pub fn set(&self, token: &str, max_age_secs: u64) -> Vec<String> {
        let mut values = self.parent_expiries(SameSite::Lax);
        values.push(format!("{}{}", set(self.name, token, max_age_secs, SameSite::Lax), self.domain));
        values
    }

    /// The `Set-Cookie` values that delete the cookie, and any of its name planted at the parent
    /// domains, with `same_site` as the context requires.
    pub fn expire(&self, same_site: SameSite) -> Vec<String> {
        let mut values = self.parent_expiries(same_site);
        values.push(format!("{}{}", set(self.name, "", 0, same_site), self.domain));
        values
    }

    fn parent_expiries(&self, same_site: SameSite) -> Vec<String> {
        self.parents.iter().map(|domain| format!("{}{domain}", set(self.name, "", 0, same_site))).collect()
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
        assert_eq!(host_only.set("v", 60), [set(SESSION_COOKIE, "v", 60, SameSite::Lax)]);
        assert_eq!(host_only.expire(SameSite::Lax), [expire(SESSION_COOKIE)]);
        let shared = SessionCookie::new(Some("example.com"));
        assert_eq!(
            shared.set("v", 60),
            ["__Secure-sso-session=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax; Domain=example.com"]
        );
        assert_eq!(
            shared.expire(SameSite::None),
            ["__Secure-sso-session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None; Domain=example.com"]
        );
        assert_eq!(shared.get(&headers(&["__Host-sso-session=a; __Secure-sso-session=b"])), Some("b"));
    }

    #[test]
    fn parents_stop_at_the_registrable_domain() {
        assert_eq!(parents_to_registrable("a.b.contoso.com"), ["b.contoso.com", "contoso.com"]);
        assert_eq!(parents_to_registrable("apps.contoso.co.uk"), ["contoso.co.uk"]);
        assert_eq!(parents_to_registrable("contoso.com"), Vec::<&str>::new());
        assert_eq!(parents_to_registrable("my-app.azurewebsites.net"), Vec::<&str>::new(), "a PSL entry is the limit");
        assert_eq!(parents_to_registrable("com"), Vec::<&str>::new());
    }

    #[test]
    fn a_shared_session_cookie_is_first_expired_at_each_parent() {
        let shared = SessionCookie::new(Some("eu.apps.contoso.com"));
        let expiry = |domain: &str, same_site: &str| {
            format!("__Secure-sso-session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite={same_site}; Domain={domain}")
        };
        assert_eq!(
            shared.set("v", 60),
            [
                expiry("apps.contoso.com", "Lax"),
                expiry("contoso.com", "Lax"),
                "__Secure-sso-session=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax; Domain=eu.apps.contoso.com"
                    .to_owned(),
            ]
        );
        assert_eq!(
            shared.expire(SameSite::None),
            [expiry("apps.contoso.com", "None"), expiry("contoso.com", "None"), expiry("eu.apps.contoso.com", "None")]
        );
    }
}
