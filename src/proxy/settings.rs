//! The settings only `entra-sso proxy` reads: the upstream, where to listen, what happens to a
//! signed-out request, public paths, per-path requirements, and whose `X-Forwarded-*` to
//! believe. Validated once at start-up, every refusal at once, each one line naming its variable.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::config::{parse_ttl, ConfigError, ConfigErrors, Findings};
use crate::idp::policy::Policy;

/// What a request without a session gets (App Service Authentication's
/// `unauthenticatedClientAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// Navigations are sent to sign in; other requests get `401` with the login URL.
    RedirectToLoginPage,
    /// Every request gets `401` with the login URL.
    Return401,
    /// Forwarded without identity headers; the app decides.
    AllowAnonymous,
}

/// A path prefix and what it requires, from `SSO_PATH_RULES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    /// Where it applies: this path and everything below it (lower-case; matched without regard
    /// to case, so a case-insensitive app cannot be reached around it).
    pub prefix: String,
    /// Every one of these app roles.
    pub roles: Vec<String>,
    /// One of these groups.
    pub groups: Vec<String>,
}

/// `entra-sso proxy`'s settings.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// `SSO_UPSTREAM`: the app's `host:port`, reached over plain HTTP/1.1.
    pub upstream: String,
    /// `--listen`, else `0.0.0.0:$PORT`, else `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// `SSO_UNAUTHENTICATED_ACTION`.
    pub unauthenticated: Unauthenticated,
    /// `SSO_PUBLIC_PATHS`: path prefixes forwarded without a session (and without identity).
    pub public_paths: Vec<String>,
    /// `SSO_PATH_RULES`, in order: the first whose prefix matches applies.
    pub rules: Vec<PathRule>,
    /// `SSO_TRUSTED_PROXIES`: peers whose `X-Forwarded-For`, `-Proto` and `-Host` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `SSO_UPSTREAM_TIMEOUT`: how long the app may take to start its answer (default 100 s).
    pub upstream_timeout: Duration,
    /// `SSO_METRICS_LISTEN`: where `GET /metrics` is served, never the public address; unset,
    /// nowhere.
    pub metrics_listen: Option<SocketAddr>,
}

impl ProxySettings {
    /// Reads the settings through `get`; `listen` is the `--listen` flag, if given. Every faulty
    /// setting is reported, one [`ConfigError`] each, in the order of the table in
    /// docs/design.md §6.1. Role and group rules pass `policy`'s tenant gate, as
    /// `SSO_REQUIRED_ROLES` does; with no policy (the handler's settings are faulty) that gate is
    /// left to the next reading.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        listen: Option<&str>,
        policy: Option<&Policy>,
    ) -> Result<Self, ConfigErrors> {
        let mut found = Findings::default();
        let upstream = found.ok(parse_upstream(get("SSO_UPSTREAM")));
        let listen = found.ok(parse_listen(listen, get("PORT")));
        let unauthenticated = found.ok(match get("SSO_UNAUTHENTICATED_ACTION").as_deref() {
            None | Some("RedirectToLoginPage") => Ok(Unauthenticated::RedirectToLoginPage),
            Some("Return401") => Ok(Unauthenticated::Return401),
            Some("AllowAnonymous") => Ok(Unauthenticated::AllowAnonymous),
            Some(_) => Err(ConfigError::new(
                "SSO_UNAUTHENTICATED_ACTION",
                "must be RedirectToLoginPage (default), Return401 or AllowAnonymous",
            )),
        });
        let public_paths = found.ok(parse_public_paths(get("SSO_PUBLIC_PATHS")));
        let rules = found.ok(parse_rules(get("SSO_PATH_RULES")).and_then(|rules| match policy {
            Some(policy) if rules.iter().any(|r| !r.roles.is_empty() || !r.groups.is_empty()) => policy
                .trust_roles_and_groups("a role or group path rule")
                .map(|()| rules)
                .map_err(|e| ConfigError::new("SSO_PATH_RULES", e)),
            _ => Ok(rules),
        }));
        let trusted_proxies = found.ok(parse_trusted(get("SSO_TRUSTED_PROXIES")));
        let upstream_timeout = found.ok(parse_ttl("SSO_UPSTREAM_TIMEOUT", get("SSO_UPSTREAM_TIMEOUT"), 100));
        let metrics_listen = found.ok(parse_metrics_listen(get("SSO_METRICS_LISTEN"), listen));
        if let Some(errors) = ConfigErrors::new(found.errors) {
            return Err(errors);
        }
        let (
            Some(upstream),
            Some(listen),
            Some(unauthenticated),
            Some(public_paths),
            Some(rules),
            Some(trusted_proxies),
            Some(upstream_timeout),
            Some(metrics_listen),
        ) = (upstream, listen, unauthenticated, public_paths, rules, trusted_proxies, upstream_timeout, metrics_listen)
        else {
            unreachable!("a setting that was not read has its error");
        };
        Ok(Self {
            upstream,
            listen,
            unauthenticated,
            public_paths,
            rules,
            trusted_proxies,
            upstream_timeout,
            metrics_listen,
        })
    }

    /// Whether `peer`'s forwarding headers are believed.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

/// `SSO_UPSTREAM`: `http://host:port`, nothing after the authority. Fixed, so the proxy can never
/// be pointed elsewhere by a request.
fn parse_upstream(value: Option<String>) -> Result<String, ConfigError> {
    let err = |why: &str| ConfigError::new("SSO_UPSTREAM", why);
    let value = value.ok_or_else(|| err("required: the app's address, e.g. http://127.0.0.1:8000"))?;
    let url = url::Url::parse(&value).map_err(|_| err("not a URL; e.g. http://127.0.0.1:8000"))?;
    if url.scheme() != "http" {
        return Err(err("only http:// is supported: the app listens next to the proxy (127.0.0.1 or a sidecar)"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(err("only http://host:port, without a path, query or credentials"));
    }
    let host = url.host_str().ok_or_else(|| err("no host"))?;
    Ok(format!("{host}:{}", url.port_or_known_default().unwrap_or(80)))
}

/// `SSO_METRICS_LISTEN`: an address and port other than the public listener's (same port on
/// any address would collide, or share the public socket).
fn parse_metrics_listen(value: Option<String>, public: Option<SocketAddr>) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    let addr: SocketAddr = value
        .trim()
        .parse()
        .map_err(|_| ConfigError::new("SSO_METRICS_LISTEN", "an address and port, e.g. 127.0.0.1:9464"))?;
    if public.is_some_and(|p| p.port() == addr.port()) {
        return Err(ConfigError::new(
            "SSO_METRICS_LISTEN",
            "must not share the public listener's port: metrics are never served to the public",
        ));
    }
    Ok(Some(addr))
}

fn parse_listen(flag: Option<&str>, port: Option<String>) -> Result<SocketAddr, ConfigError> {
    if let Some(flag) = flag {
        return flag.parse().map_err(|_| ConfigError::new("--listen", "an address and port, e.g. 0.0.0.0:8080"));
    }
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| ConfigError::new("PORT", "a port number"))?,
        None => 8080,
    };
    Ok(SocketAddr::from(([0, 0, 0, 0], port)))
}

/// A path prefix as written in a setting: starts with `/`, printable ASCII, no dot segments,
/// no `%`, `?` or `#` (rules match decoded paths, so an encoded prefix could never match).
fn parse_prefix(variable: &'static str, raw: &str) -> Result<String, ConfigError> {
    let p = raw.trim();
    let ok = p.starts_with('/')
        && p.len() <= 256
        && p.bytes().all(|b| b.is_ascii_graphic() && !b"%?#\\,;=".contains(&b))
        && !p.contains("//")
        && !p.split('/').any(|seg| seg == "." || seg == "..");
    if !ok {
        return Err(ConfigError::new(
            variable,
            format!(
                "`{}` is not a path prefix: start with /, no //, dot segments, %, ? or #",
                crate::support::text::cap(p, 64)
            ),
        ));
    }
    Ok(p.trim_end_matches('/').to_owned())
}

fn parse_public_paths(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    value.split(',').filter(|p| !p.trim().is_empty()).map(|p| parse_prefix("SSO_PUBLIC_PATHS", p)).collect()
}

/// `SSO_PATH_RULES`: `;`-separated `prefix=requirement,requirement`, each requirement
/// `role:<app role>` or `group:<object id>`. E.g. `/admin=role:Admin;/reports=group:<id>`.
fn parse_rules(value: Option<String>) -> Result<Vec<PathRule>, ConfigError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let err = |why: String| ConfigError::new("SSO_PATH_RULES", why);
    let mut rules = Vec::new();
    for entry in value.split(';').filter(|e| !e.trim().is_empty()) {
        let (prefix, wants) = entry.split_once('=').ok_or_else(|| {
            err(format!("`{}`: expected /path=role:Name", crate::support::text::cap(entry.trim(), 64)))
        })?;
        let mut rule = PathRule {
            prefix: parse_prefix("SSO_PATH_RULES", prefix)?.to_ascii_lowercase(),
            roles: Vec::new(),
            groups: Vec::new(),
        };
        for want in wants.split(',').map(str::trim) {
            let (kind, value) = want.split_once(':').unwrap_or(("", ""));
            if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
                return Err(err(format!(
                    "`{}`: each requirement is role:<name> or group:<object id>",
                    crate::support::text::cap(want, 64)
                )));
            }
            match kind {
                "role" => rule.roles.push(value.to_owned()),
                "group" => rule.groups.push(value.to_owned()),
                _ => {
                    return Err(err(format!(
                        "`{}`: each requirement is role:<name> or group:<object id>",
                        crate::support::text::cap(want, 64)
                    )))
                }
            }
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn parse_trusted(value: Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<IpNet>().or_else(|_| v.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                ConfigError::new(
                    "SSO_TRUSTED_PROXIES",
                    format!("`{}` is not an IP address or CIDR range", crate::support::text::cap(v, 64)),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::policy::TenantPolicy;

    /// Every error of a reading of `vars` (with an upstream unless they set one).
    fn read_all(vars: &[(&str, &str)]) -> Result<ProxySettings, ConfigErrors> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let with_upstream = |k: &str| {
            vars.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .or_else(|| (k == "SSO_UPSTREAM").then(|| "http://127.0.0.1:8000".to_owned()))
        };
        ProxySettings::from_lookup(with_upstream, None, Some(&Policy::default()))
    }

    /// A reading of `vars` with at most one faulty setting: its error.
    fn read(vars: &[(&str, &str)]) -> Result<ProxySettings, ConfigError> {
        read_all(vars).map_err(|errors| {
            assert_eq!(errors.len(), 1, "one error, not:\n{errors}");
            errors.into_iter().next().unwrap()
        })
    }

    #[test]
    fn defaults_and_listen() {
        let s = read(&[]).unwrap();
        assert_eq!(s.upstream, "127.0.0.1:8000");
        assert_eq!(s.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.unauthenticated, Unauthenticated::RedirectToLoginPage);
        assert_eq!(s.upstream_timeout, Duration::from_secs(100));
        assert_eq!(read(&[("PORT", "8000")]).unwrap().listen, "0.0.0.0:8000".parse().unwrap());
    }

    #[test]
    fn upstream_is_one_plain_http_origin() {
        for bad in ["https://app:443", "http://app:80/x", "http://u:p@app", "app:80", "ftp://x"] {
            let e = read(&[("SSO_UPSTREAM", bad)]).unwrap_err();
            assert_eq!(e.variable, "SSO_UPSTREAM", "{bad}");
        }
        assert_eq!(read(&[("SSO_UPSTREAM", "http://localhost")]).unwrap().upstream, "localhost:80");
    }

    #[test]
    fn rules_and_public_paths() {
        let s = read(&[
            ("SSO_PATH_RULES", "/Admin/=role:Admin,role:Ops; /reports=group:G1"),
            ("SSO_PUBLIC_PATHS", "/health,/static/"),
        ])
        .unwrap();
        assert_eq!(
            s.rules[0],
            PathRule { prefix: "/admin".into(), roles: vec!["Admin".into(), "Ops".into()], groups: vec![] }
        );
        assert_eq!(s.rules[1].groups, ["G1"]);
        assert_eq!(s.public_paths, ["/health", "/static"]);
        for bad in ["/admin", "admin=role:A", "/a=role:", "/a=owner:x", "/a/../b=role:A", "/a%2f=role:A"] {
            assert_eq!(read(&[("SSO_PATH_RULES", bad)]).unwrap_err().variable, "SSO_PATH_RULES", "{bad}");
        }
        for bad in ["static", "/a//b", "/./x", "/%61"] {
            assert_eq!(read(&[("SSO_PUBLIC_PATHS", bad)]).unwrap_err().variable, "SSO_PUBLIC_PATHS", "{bad}");
        }
    }

    #[test]
    fn role_rules_need_a_tenant_restriction() {
        let open = Policy { tenants: TenantPolicy::Any, tenant_scoped: false, ..Default::default() };
        let get = |k: &str| match k {
            "SSO_UPSTREAM" => Some("http://127.0.0.1:8000".to_owned()),
            "SSO_PATH_RULES" => Some("/admin=role:Admin".to_owned()),
            _ => None,
        };
        let e = ProxySettings::from_lookup(get, None, Some(&open)).unwrap_err();
        assert_eq!(e.len(), 1, "{e}");
        assert_eq!(e[0].variable, "SSO_PATH_RULES");
        assert!(e[0].problem.contains("SSO_ALLOWED_TENANTS"), "{e}");
        // Without the handler's policy (its settings are faulty) the gate waits for the next reading.
        assert!(ProxySettings::from_lookup(get, None, None).is_ok());
    }

    #[test]
    fn every_faulty_setting_is_reported_in_table_order() {
        let errors = read_all(&[
            ("SSO_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("SSO_UPSTREAM", "https://app:443"),
            ("PORT", "http"),
            ("SSO_UNAUTHENTICATED_ACTION", "Deny"),
            ("SSO_PUBLIC_PATHS", "static"),
            ("SSO_PATH_RULES", "/admin"),
            ("SSO_UPSTREAM_TIMEOUT", "1"),
        ])
        .unwrap_err();
        let named: Vec<&str> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(
            named,
            [
                "SSO_UPSTREAM",
                "PORT",
                "SSO_UNAUTHENTICATED_ACTION",
                "SSO_PUBLIC_PATHS",
                "SSO_PATH_RULES",
                "SSO_TRUSTED_PROXIES",
                "SSO_UPSTREAM_TIMEOUT"
            ]
        );
        assert_eq!(errors.to_string().lines().count(), 7, "{errors}");
    }

    #[test]
    fn trusted_proxies() {
        let s = read(&[("SSO_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1, ::1")]).unwrap();
        assert!(s.trusts("10.1.2.3".parse().unwrap()));
        assert!(s.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!s.trusts("192.168.1.1".parse().unwrap()));
        assert!(!read(&[]).unwrap().trusts("127.0.0.1".parse().unwrap()), "no one by default");
        assert_eq!(read(&[("SSO_TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err().variable, "SSO_TRUSTED_PROXIES");
    }

    #[test]
    fn the_metrics_listener_is_optional_and_never_the_public_port() {
        let read = |metrics: Option<&str>| {
            let get = |k: &str| match k {
                "SSO_UPSTREAM" => Some("http://127.0.0.1:3000".to_owned()),
                "SSO_METRICS_LISTEN" => metrics.map(str::to_owned),
                _ => None,
            };
            ProxySettings::from_lookup(get, Some("0.0.0.0:8080"), None)
        };
        assert_eq!(read(None).unwrap().metrics_listen, None);
        assert_eq!(read(Some("127.0.0.1:9464")).unwrap().metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        for bad in ["127.0.0.1:8080", "9464", "localhost:9464"] {
            let errors = read(Some(bad)).unwrap_err().to_string();
            assert!(errors.contains("SSO_METRICS_LISTEN"), "{bad}: {errors}");
        }
    }
}
