//! The OpenID Provider an instance signs in against, and what can be known about it without a
//! network call.
//!
//! Entra authorities have the shape `https://<host>/<tenant>/v2.0`, and their authorize, token,
//! keys and logout endpoints follow fixed paths below `https://<host>/<tenant>`. For those the
//! login path computes the authorize URL and never waits on discovery. Any other issuer is used
//! through its discovery document.

use url::{Host, Url};

use crate::web::url::{is_loopback, parse_public_url, UrlError};

/// The tenant of personal Microsoft accounts.
pub const PERSONAL_ACCOUNTS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The placeholder Entra's multi-tenant discovery documents put in `issuer`.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Why `SSO_TENANT_ID` or `SSO_AUTHORITY` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    /// Not a URL this service may use.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A query or user info, which no authority has.
    #[error("must not carry a query or user info")]
    QueryOrUserInfo,
    /// `SSO_TENANT_ID` is no tenant name.
    #[error("must be a tenant GUID, a domain like contoso.onmicrosoft.com, `common`, `organizations` or `consumers`")]
    TenantName,
}

/// Microsoft's sign-in hosts: public cloud, US Government, China (21Vianet).
const MICROSOFT_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
];

/// Tenant names that accept accounts from many tenants.
const MULTI_TENANT: &[&str] = &["common", "organizations"];

/// A validated authority URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The authority without a trailing slash.
    url: String,
    /// The tenant segment when the authority has Entra's shape.
    entra_tenant: Option<String>,
}

/// Endpoints of an Entra-shaped authority, computed from its URL.
#[derive(Debug, Clone)]
pub struct EntraEndpoints {
    /// `/<tenant>/oauth2/v2.0/authorize`.
    pub authorize: String,
    /// `/<tenant>/oauth2/v2.0/token`.
    pub token: String,
    /// `/<tenant>/discovery/v2.0/keys`.
    pub jwks: String,
    /// `/<tenant>/oauth2/v2.0/logout`.
    pub end_session: String,
}

impl Authority {
    /// `https://login.microsoftonline.com/<tenant>/v2.0` for `SSO_TENANT_ID`.
    pub fn for_tenant(tenant: &str) -> Result<Self, AuthorityError> {
        if !is_tenant_name(tenant) {
            return Err(AuthorityError::TenantName);
        }
        Self::parse(&format!("https://login.microsoftonline.com/{}/v2.0", tenant.to_ascii_lowercase()))
    }

    /// Parses `SSO_AUTHORITY`: `https://`, or `http://` on a loopback host only.
    pub fn parse(value: &str) -> Result<Self, AuthorityError> {
        let url = parse_public_url(value.trim_end_matches('/'))?;
        if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(AuthorityError::QueryOrUserInfo);
        }
        let trimmed = url.as_str().trim_end_matches('/').to_owned();
        let segments: Vec<&str> =
            url.path_segments().map(|s| s.filter(|p| !p.is_empty()).collect()).unwrap_or_default();
        let entra_tenant = match segments.as_slice() {
            [tenant, "v2.0"] if is_entra_host(&url) && is_tenant_name(tenant) => Some(tenant.to_ascii_lowercase()),
            _ => None,
        };
        Ok(Self { url: trimmed, entra_tenant })
    }

    /// The authority URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Whether the authority is on this host's loopback interface (`localhost`, `127.0.0.0/8`,
    /// `[::1]`), as the dev identity provider's is.
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.url).is_ok_and(|u| is_loopback(&u))
    }

    /// `<authority>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.url)
    }

    /// The tenant segment of an Entra-shaped authority.
    pub fn entra_tenant(&self) -> Option<&str> {
        self.entra_tenant.as_deref()
    }

    /// `common` or `organizations`: the issuer is a `{tenantid}` template and tenants must be
    /// restricted by policy.
    pub fn is_multi_tenant(&self) -> bool {
        self.entra_tenant.as_deref().is_some_and(|t| MULTI_TENANT.contains(&t))
    }

    /// Whether personal Microsoft accounts may sign in through this authority: `common` and
    /// `consumers`, or a fixed tenant that is the personal-accounts tenant itself.
    pub fn admits_personal_accounts(&self) -> bool {
        match self.entra_tenant.as_deref() {
            Some(t) => ["common", "consumers", PERSONAL_ACCOUNTS_TENANT].contains(&t),
            None => true,
        }
    }

    /// Computed endpoints when the authority has Entra's shape.
    pub fn entra_endpoints(&self) -> Option<EntraEndpoints> {
        self.entra_tenant.as_ref()?;
        let base = self.url.strip_suffix("/v2.0")?;
        Some(EntraEndpoints {
            authorize: format!("{base}/oauth2/v2.0/authorize"),
            token: format!("{base}/oauth2/v2.0/token"),
            jwks: format!("{base}/discovery/v2.0/keys"),
            end_session: format!("{base}/oauth2/v2.0/logout"),
        })
    }
}

/// Microsoft Graph for an authority's cloud: where its API lives and the scope of an app-only
/// token for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphResource {
    /// The API root, without a trailing slash (`https://graph.microsoft.com`); requests go to
    /// `<base>/v1.0/…`.
    pub base: String,
    /// The client-credentials scope (`https://graph.microsoft.com/.default`).
    pub scope: String,
}

/// Sign-in hosts and the Graph of their cloud: global, US Government, China (21Vianet).
const GRAPH_OF_CLOUD: &[(&str, &str)] = &[
    ("login.microsoftonline.com", "https://graph.microsoft.com"),
    ("login.microsoft.com", "https://graph.microsoft.com"),
    ("login.microsoftonline.us", "https://graph.microsoft.us"),
    ("login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn"),
];

impl Authority {
    /// Microsoft Graph of the authority's cloud: the global one for `login.microsoftonline.com`
    /// and External ID (`*.ciamlogin.com`), `graph.microsoft.us` for US Government,
    /// `microsoftgraph.chinacloudapi.cn` for China. A loopback authority (the dev identity
    /// provider, a test's fake) serves its emulation at `<authority without /v2.0>/graph`, with
    /// the global scope. `None` for any other provider, which has no Graph.
    pub fn graph(&self) -> Option<GraphResource> {
        let url = Url::parse(&self.url).ok()?;
        let host = url.host_str()?.to_ascii_lowercase();
        let global = "https://graph.microsoft.com";
        let base = if is_loopback(&url) {
            format!("{}/graph", self.url.strip_suffix("/v2.0").unwrap_or(&self.url))
        } else if self.entra_tenant.is_none() {
            return None;
        } else if host.ends_with(".ciamlogin.com") {
            global.to_owned()
        } else {
            GRAPH_OF_CLOUD.iter().find(|(h, _)| *h == host)?.1.to_owned()
        };
        let scope_root = GRAPH_OF_CLOUD.iter().map(|(_, g)| *g).find(|g| base == *g).unwrap_or(global);
        Some(GraphResource { scope: format!("{scope_root}/.default"), base })
    }
}

/// Microsoft's hosts, External ID (`*.ciamlogin.com`), and loopback hosts (the dev identity
/// provider mirrors Entra's paths).
fn is_entra_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            MICROSOFT_HOSTS.contains(&d.as_str()) || d.ends_with(".ciamlogin.com") || d == "localhost"
        }
        _ => is_loopback(url),
    }
}

impl Authority {
    /// Whether the provider's published `issuer` belongs to this authority: the one rule for
    /// the start-up fetch and doctor. Another provider's issuer is the authority itself (OIDC
    /// Discovery §4.3). Entra's is a `/v2.0` issuer on the authority's host (External ID: on a
    /// `ciamlogin.com` host, which names the tenant by its id), and, when the authority names
    /// its tenant by id, that tenant's own issuer or the `{tenantid}` template.
    pub fn admits_issuer(&self, issuer: &str) -> bool {
        let Some(tenant) = self.entra_tenant() else {
            return issuer.trim_end_matches('/') == self.url;
        };
        let host = |u: &str| {
            Url::parse(u).ok().and_then(|u| Some((u.scheme().to_owned(), u.host_str()?.to_ascii_lowercase(), u.port())))
        };
        let (Some(ours), Some(theirs)) = (host(&self.url), host(issuer)) else {
            return false;
        };
        let ciam = |h: &str| h.ends_with(".ciamlogin.com");
        let same_host = ours == theirs || (ours.0 == theirs.0 && ciam(&ours.1) && ciam(&theirs.1));
        if !same_host || !issuer.ends_with("/v2.0") {
            return false;
        }
        !is_guid(tenant)
            || issuer.to_ascii_lowercase().contains(&tenant.to_ascii_lowercase())
            || issuer.contains(TENANT_PLACEHOLDER)
    }
}

/// A canonical GUID (8-4-4-4-12 hex digits, either case): the one test for tenant and object ids.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// The issuer of tenant `tid`'s tokens under the provider's `issuer`: `issuer` itself, or Entra's
/// `{tenantid}` template filled with `tid`. `None` when the template needs a tenant and `tid` is
/// absent or not a GUID (so it cannot smuggle a path into the issuer).
pub fn issuer_for(issuer: &str, tid: Option<&str>) -> Option<String> {
    if !issuer.contains(TENANT_PLACEHOLDER) {
        return Some(issuer.to_owned());
    }
    tid.filter(|t| is_guid(t)).map(|t| issuer.replace(TENANT_PLACEHOLDER, t))
}

/// Whether `actual` is an issuer the provider's `expected` stands for: `expected` itself, or its
/// `{tenantid}` template filled with some GUID (the RFC 9207 `iss` parameter and front-channel
/// logout name no tenant of their own to check against).
pub fn issuer_matches(expected: &str, actual: &str) -> bool {
    let Some((head, tail)) = expected.split_once(TENANT_PLACEHOLDER) else {
        return expected == actual;
    };
    let tid = actual.strip_prefix(head).and_then(|rest| rest.strip_suffix(tail));
    tid.is_some_and(|tid| issuer_for(expected, Some(tid)).as_deref() == Some(actual))
}

/// Which of Entra's two access-token formats a token is in (its `ver` claim): v1 tokens come from
/// the `sts` issuers, v2 tokens from the same `/v2.0` issuer as ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVersion {
    /// `ver: "1.0"`: issuer `https://sts.windows.net/{tid}/` (or the cloud's equivalent).
    V1,
    /// `ver: "2.0"`: issuer `https://login.microsoftonline.com/{tid}/v2.0` (or the cloud's).
    V2,
}

/// The host of v1 issuers for each Microsoft sign-in host: the public cloud and US Government
/// (both `sts.windows.net`), China operated by 21Vianet (`sts.chinacloudapi.cn`). External ID
/// (`ciamlogin.com`) issues v2 tokens only.
const V1_ISSUER_HOSTS: &[(&str, &str)] = &[
    ("login.microsoftonline.com", "https://sts.windows.net"),
    ("login.microsoft.com", "https://sts.windows.net"),
    ("login.microsoftonline.us", "https://sts.windows.net"),
    ("login.partner.microsoftonline.cn", "https://sts.chinacloudapi.cn"),
];

/// The issuer a token of `version` carries where the v2 issuer is `v2_issuer` (filled or a
/// `{tenantid}` template): `v2_issuer` itself, or the same cloud's v1 form for the same tenant
/// (`https://login.microsoftonline.us/{tid}/v2.0` → `https://sts.windows.net/{tid}/`). A loopback
/// issuer (the dev identity provider) has the v1 form `<origin>/{tid}/`. `None` for a v1 token
/// where the issuer has no v1 form (External ID, other providers).
pub fn issuer_in_version(v2_issuer: &str, version: TokenVersion) -> Option<String> {
    if version == TokenVersion::V2 {
        return Some(v2_issuer.to_owned());
    }
    let (origin, tenant) = v2_issuer.strip_suffix("/v2.0")?.rsplit_once('/')?;
    let host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"))?;
    if tenant.is_empty() || host.contains('/') {
        return None;
    }
    let v1_origin = match V1_ISSUER_HOSTS.iter().find(|(login, _)| host.eq_ignore_ascii_case(login)) {
        Some((_, sts)) if origin.starts_with("https://") => (*sts).to_owned(),
        Some(_) => return None,
        None if Url::parse(origin).is_ok_and(|u| is_loopback(&u)) => origin.to_owned(),
        None => return None,
    };
    Some(format!("{v1_origin}/{tenant}/"))
}

/// The tenant a fixed (non-template) Entra v2 issuer names: `https://<host>/<tenant>/v2.0` →
/// `<tenant>`. `None` for a template or another shape.
pub fn issuer_tenant(v2_issuer: &str) -> Option<&str> {
    let tenant = v2_issuer.strip_suffix("/v2.0")?.rsplit_once('/')?.1;
    (is_guid(tenant)).then_some(tenant)
}

fn is_tenant_name(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 253
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !t.starts_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_gives_entra_endpoints() {
        let a = Authority::for_tenant("contoso.onmicrosoft.com").unwrap();
        assert_eq!(a.as_str(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0");
        let e = a.entra_endpoints().unwrap();
        assert_eq!(e.authorize, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize");
        assert_eq!(e.jwks, "https://login.microsoftonline.com/contoso.onmicrosoft.com/discovery/v2.0/keys");
        assert!(!a.is_multi_tenant());
        assert!(Authority::for_tenant("common").unwrap().is_multi_tenant());
    }

    #[test]
    fn other_issuers_use_discovery() {
        let a = Authority::parse("https://accounts.example.com/").unwrap();
        assert!(a.entra_endpoints().is_none());
        assert_eq!(a.discovery_url(), "https://accounts.example.com/.well-known/openid-configuration");
    }

    #[test]
    fn graph_of_each_cloud() {
        let graph = |a: &str| Authority::parse(a).unwrap().graph().map(|g| (g.base, g.scope));
        let pair = |b: &str, s: &str| Some((b.to_owned(), s.to_owned()));
        let global = pair("https://graph.microsoft.com", "https://graph.microsoft.com/.default");
        assert_eq!(graph("https://login.microsoftonline.com/t1/v2.0"), global);
        assert_eq!(graph("https://login.microsoft.com/t1/v2.0"), global);
        assert_eq!(graph("https://contoso.ciamlogin.com/t1/v2.0"), global, "External ID uses the global Graph");
        assert_eq!(
            graph("https://login.microsoftonline.us/t1/v2.0"),
            pair("https://graph.microsoft.us", "https://graph.microsoft.us/.default")
        );
        assert_eq!(
            graph("https://login.partner.microsoftonline.cn/t1/v2.0"),
            pair("https://microsoftgraph.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/.default")
        );
        assert_eq!(
            graph("http://127.0.0.1:7072/00000000-de00-4000-8000-00000000de00/v2.0"),
            pair(
                "http://127.0.0.1:7072/00000000-de00-4000-8000-00000000de00/graph",
                "https://graph.microsoft.com/.default"
            ),
            "a loopback authority serves its own emulation"
        );
        assert_eq!(graph("https://accounts.example.com"), None, "another provider has no Graph");
    }

    #[test]
    fn national_clouds_and_external_id_are_entra_shaped() {
        for a in [
            "https://login.microsoftonline.us/t1/v2.0",
            "https://login.partner.microsoftonline.cn/t1/v2.0",
            "https://contoso.ciamlogin.com/t1/v2.0",
            "http://127.0.0.1:7072/t1/v2.0",
        ] {
            assert!(Authority::parse(a).unwrap().entra_endpoints().is_some(), "{a}");
        }
    }

    #[test]
    fn template_issuers_take_a_guid_tenant_only() {
        let t = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let tid = "b9419818-09af-49c2-b0c3-653adc1f376e";
        let filled = format!("https://login.microsoftonline.com/{tid}/v2.0");
        assert_eq!(issuer_for(t, Some(tid)).as_deref(), Some(filled.as_str()));
        assert_eq!(issuer_for(t, None), None);
        assert_eq!(issuer_for(t, Some("../evil")), None);
        assert_eq!(issuer_for(t, Some("b9419818x09af-49c2-b0c3-653adc1f376e")), None);
        assert_eq!(issuer_for("https://x/v2.0", None).as_deref(), Some("https://x/v2.0"));
        assert!(issuer_matches(t, &filled));
        assert!(!issuer_matches(t, "https://evil.example/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0"));
        assert!(!issuer_matches(t, "https://login.microsoftonline.com/x/y/v2.0"));
        assert!(issuer_matches("https://a/v2.0", "https://a/v2.0"));
        assert!(is_guid(PERSONAL_ACCOUNTS_TENANT) && is_guid(&PERSONAL_ACCOUNTS_TENANT.to_ascii_uppercase()));
        assert!(!is_guid("9188040d6c674c5bb11236a304b66dad0000"));
    }

    #[test]
    fn v1_issuers_of_each_cloud() {
        let tid = "b9419818-09af-49c2-b0c3-653adc1f376e";
        let v1 = |v2: &str| issuer_in_version(&v2.replace("{t}", tid), TokenVersion::V1);
        let sts = format!("https://sts.windows.net/{tid}/");
        assert_eq!(v1("https://login.microsoftonline.com/{t}/v2.0"), Some(sts.clone()), "public cloud");
        assert_eq!(v1("https://login.microsoft.com/{t}/v2.0"), Some(sts.clone()), "public cloud, other host");
        assert_eq!(v1("https://login.microsoftonline.us/{t}/v2.0"), Some(sts), "US Government");
        assert_eq!(
            v1("https://login.partner.microsoftonline.cn/{t}/v2.0"),
            Some(format!("https://sts.chinacloudapi.cn/{tid}/")),
            "China (21Vianet)"
        );
        assert_eq!(v1("http://127.0.0.1:7072/{t}/v2.0"), Some(format!("http://127.0.0.1:7072/{tid}/")), "dev IdP");
        assert_eq!(v1("https://contoso.ciamlogin.com/{t}/v2.0"), None, "External ID has no v1 tokens");
        assert_eq!(v1("https://accounts.example.com/{t}/v2.0"), None);
        assert_eq!(v1("http://login.microsoftonline.com/{t}/v2.0"), None, "plain http is no Microsoft issuer");
        assert_eq!(v1("https://login.microsoftonline.com/{t}"), None, "not a v2 issuer");
        // The template maps to the template, so the key's issuer binding fills it alike.
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert_eq!(
            issuer_in_version(template, TokenVersion::V1).as_deref(),
            Some("https://sts.windows.net/{tenantid}/")
        );
        assert_eq!(issuer_in_version(template, TokenVersion::V2).as_deref(), Some(template));
        assert_eq!(issuer_tenant(&format!("https://login.microsoftonline.us/{tid}/v2.0")), Some(tid));
        assert_eq!(issuer_tenant(template), None);
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        assert!(Authority::parse("http://127.0.0.1:7072/t/v2.0").unwrap().is_loopback());
        assert!(Authority::parse("http://localhost:7072").unwrap().is_loopback());
        assert!(!Authority::for_tenant("common").unwrap().is_loopback());
        assert!(Authority::parse("http://login.example.com/t/v2.0").is_err());
        assert!(Authority::for_tenant("bad/tenant").is_err());
    }
}
