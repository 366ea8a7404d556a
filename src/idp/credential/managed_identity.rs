//! Managed identity on App Service / Azure Functions: a token from `IDENTITY_ENDPOINT`, used as
//! the client assertion (an [`super::AssertionSource`]).
//!
//! The platform sets `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` when an identity is enabled on
//! the app. A `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<audience>[&client_id=…]`
//! with the header `X-IDENTITY-HEADER: {IDENTITY_HEADER}` answers with JSON carrying
//! `access_token` and `expires_on` (Unix seconds, as a string or a number). The `resource` is the
//! token-exchange audience of the cloud the authority belongs to ([`token_exchange_audience`]);
//! the app registration's federated credential must name the identity as subject and that
//! audience.

use url::Url;

use super::{jwt_expiry, platform_client, Assertion, AssertionFuture, AssertionSource, CredentialError, Unusable};
use crate::idp::outbound::Outbound;
use crate::support::text::cap;
use crate::tokens::secret::SecretString;

/// The App Service / Functions identity endpoint's API version.
pub const API_VERSION: &str = "2019-08-01";

/// Entra's token-exchange audience for the public cloud.
pub const AUDIENCE_PUBLIC: &str = "api://AzureADTokenExchange";
/// Entra's token-exchange audience for the US Government cloud (`login.microsoftonline.us`).
pub const AUDIENCE_US_GOV: &str = "api://AzureADTokenExchangeUSGov";
/// Entra's token-exchange audience for Azure operated by 21Vianet (China).
pub const AUDIENCE_CHINA: &str = "api://AzureADTokenExchangeChina";

/// The token-exchange audience (the `resource` asked of the identity endpoint, and the `aud`
/// the federated credential expects) for the cloud of `authority`, chosen by its host:
/// `login.microsoftonline.us` is US Government, `login.chinacloudapi.cn` and
/// `login.partner.microsoftonline.cn` are China, anything else the public cloud.
pub fn token_exchange_audience(authority: &str) -> &'static str {
    let host = Url::parse(authority).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    match host.as_deref() {
        Some("login.microsoftonline.us") => AUDIENCE_US_GOV,
        Some("login.chinacloudapi.cn" | "login.partner.microsoftonline.cn") => AUDIENCE_CHINA,
        _ => AUDIENCE_PUBLIC,
    }
}

/// A managed identity's token, fetched from the platform's identity endpoint.
#[derive(Debug)]
pub struct ManagedIdentity {
    /// `IDENTITY_ENDPOINT`, without query.
    endpoint: Url,
    /// `IDENTITY_HEADER`, sent as `X-IDENTITY-HEADER`.
    header: SecretString,
    /// `SSO_MANAGED_IDENTITY_CLIENT_ID`: a user-assigned identity; `None` for the system-assigned.
    client_id: Option<String>,
    /// The `resource` asked for: the token-exchange audience.
    resource: &'static str,
    /// Time-outs, no redirects, capped answers.
    http: Outbound,
}

impl ManagedIdentity {
    /// A source for `endpoint` (`IDENTITY_ENDPOINT`) and `header` (`IDENTITY_HEADER`); the
    /// user-assigned identity `client_id`, or the system-assigned one when `None`.
    pub fn new(
        endpoint: &str,
        header: SecretString,
        client_id: Option<String>,
        resource: &'static str,
    ) -> Result<Self, CredentialError> {
        let endpoint = parse_endpoint(endpoint)?;
        if header.expose().is_empty() {
            return Err(not_enabled("IDENTITY_HEADER"));
        }
        if let Some(id) = &client_id {
            if !crate::idp::authority::is_guid(id) {
                return Err(CredentialError::Setting {
                    setting: "SSO_MANAGED_IDENTITY_CLIENT_ID",
                    reason: "must be the user-assigned identity's Client ID, a GUID (see the identity's Overview page \
                             or `az identity show --query clientId`)"
                        .into(),
                });
            }
        }
        Ok(Self { endpoint, header, client_id, resource, http: platform_client() })
    }

    /// A source from the platform's variables read through `var` (`IDENTITY_ENDPOINT`,
    /// `IDENTITY_HEADER`), for the cloud of `authority`.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        client_id: Option<String>,
        authority: &str,
    ) -> Result<Self, CredentialError> {
        let get = |name: &'static str| var(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| not_enabled(name));
        let endpoint = get("IDENTITY_ENDPOINT")?;
        let header = SecretString::new(get("IDENTITY_HEADER")?);
        let client_id = client_id.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
        Self::new(&endpoint, header, client_id, token_exchange_audience(authority))
    }

    /// The `resource` (audience) this source asks for.
    pub fn resource(&self) -> &'static str {
        self.resource
    }

    /// The full request URL.
    fn request_url(&self) -> Url {
        let mut url = self.endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", API_VERSION).append_pair("resource", self.resource);
            if let Some(id) = &self.client_id {
                q.append_pair("client_id", id);
            }
        }
        url
    }

    async fn fetch_now(&self) -> Result<Assertion, CredentialError> {
        let origin = self.describe();
        let answer = self
            .http
            .get_json(self.request_url().as_str(), &[("X-IDENTITY-HEADER", self.header.expose())])
            .await
            .map_err(|e| CredentialError::Unreachable { origin: origin.clone(), reason: e.to_string() })?;
        if !answer.is_success() {
            let reason = self.refusal(answer.status, &answer.body);
            return Err(CredentialError::Refused { origin, status: answer.status, reason });
        }
        parse_token_response(&answer.body, crate::support::time::now())
            .map_err(|unusable| CredentialError::Invalid { origin, reason: unusable.to_string() })
    }

    /// The endpoint's own message and the likely fix.
    fn refusal(&self, status: u16, body: &[u8]) -> String {
        let message = error_message(body);
        let lower = message.to_ascii_lowercase();
        let fix = if status == 401 || status == 403 {
            "the endpoint refused X-IDENTITY-HEADER: IDENTITY_HEADER must be the value the platform set for this \
             process (it rotates; never copy it into app settings) — restart the app"
                .to_owned()
        } else if (status == 400 || status == 404) && lower.contains("identity") {
            match &self.client_id {
                Some(id) => format!(
                    "SSO_MANAGED_IDENTITY_CLIENT_ID {id} is no identity assigned to this app: assign that user-assigned \
                     identity to the app (Identity → User assigned), or set the identity's Client ID (not its Object \
                     or Principal ID)"
                ),
                None => "no system-assigned identity is on: turn it on (Identity → System assigned) or set \
                         SSO_MANAGED_IDENTITY_CLIENT_ID to a user-assigned identity's Client ID"
                    .to_owned(),
            }
        } else if status == 400 && lower.contains("resource") {
            format!("the endpoint refused resource {}: check SSO_AUTHORITY's cloud", self.resource)
        } else {
            "the identity endpoint failed; the fetch is retried at the next renewal".to_owned()
        };
        if message.is_empty() {
            fix
        } else {
            format!("{message} — {fix}")
        }
    }
}

impl AssertionSource for ManagedIdentity {
    fn fetch(&self) -> AssertionFuture<'_> {
        Box::pin(self.fetch_now())
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "managed identity at {}://{}{} (resource {}",
            self.endpoint.scheme(),
            self.endpoint.host_str().unwrap_or(""),
            self.endpoint.port().map(|p| format!(":{p}")).unwrap_or_default() + self.endpoint.path(),
            self.resource
        );
        match &self.client_id {
            Some(id) => s.push_str(&format!(", user-assigned client id {id})")),
            None => s.push_str(", system-assigned)"),
        }
        s
    }
}

fn not_enabled(setting: &'static str) -> CredentialError {
    CredentialError::Setting {
        setting,
        reason: "not set: managed identity is not enabled on this app — turn on a system-assigned or add a \
                 user-assigned identity (Identity in the portal, or `az webapp identity assign` / `az functionapp \
                 identity assign`), or choose another SSO_CLIENT_CREDENTIAL"
            .into(),
    }
}

fn parse_endpoint(value: &str) -> Result<Url, CredentialError> {
    let bad = |reason: &str| CredentialError::Setting {
        setting: "IDENTITY_ENDPOINT",
        reason: format!("{reason}; it is set by the platform — remove any app setting that overrides it"),
    };
    let url = Url::parse(value.trim()).map_err(|_| bad("is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("is not an http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a query, fragment or user info"));
    }
    if url.scheme() == "http" && !on_this_host_or_link(&url) {
        return Err(CredentialError::Setting {
            setting: "IDENTITY_ENDPOINT",
            reason: format!(
                "is plain http to {}, neither loopback nor link-local: X-IDENTITY-HEADER would cross the network in \
                 clear; the platform sets it (App Service: http://localhost:8081, http://127.0.0.1:41741 or a \
                 169.254.x.x address), so remove any app setting that overrides it, or use an https endpoint",
                url.host_str().unwrap_or("")
            ),
        });
    }
    Ok(url)
}

/// Whether plain http to the URL's host stays on this machine or its link: loopback
/// (`localhost`, `127.0.0.0/8`, `[::1]`) or link-local (`169.254.0.0/16`, `fe80::/10`), where
/// the platforms put their identity endpoints.
fn on_this_host_or_link(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xffc0) == 0xfe80,
        _ => crate::web::url::is_loopback(url),
    }
}

/// Reads the identity endpoint's answer: a JWT in `access_token`, and `expires_on` (Unix seconds,
/// string or number), or else the token's own `exp`. Never puts the token into the error.
fn parse_token_response(body: &[u8], now: u64) -> Result<Assertion, Unusable> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| Unusable::NotJson)?;
    let token = value
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or(Unusable::Missing("access_token"))?;
    let token_exp = jwt_expiry(token).ok_or(Unusable::NotAJwt("access_token"))?;
    let expires_on = match value.get("expires_on") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    let expires_at = expires_on.map_or(token_exp, |e| e.min(token_exp));
    if expires_at <= now {
        return Err(Unusable::Expired { expires_at, now });
    }
    Ok(Assertion { token: SecretString::new(token), expires_at })
}

/// `message`, `error_description` or `error` from a JSON error body, or the body's start as
/// text: one line, printable, at most 300 characters.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["message", "error_description", "Message", "error"] {
            let found = v.get(key).or_else(|| v.get("error").and_then(|e| e.get(key)));
            if let Some(s) = found.and_then(|m| m.as_str()) {
                return cap(s, 300);
            }
        }
    }
    cap(&String::from_utf8_lossy(body), 300)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    fn jwt(exp: u64) -> String {
        format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#)))
    }

    fn source(client_id: Option<&str>) -> ManagedIdentity {
        ManagedIdentity::new(
            "http://127.0.0.1:41000/msi/token",
            SecretString::new("h"),
            client_id.map(str::to_owned),
            AUDIENCE_PUBLIC,
        )
        .unwrap()
    }

    #[test]
    fn audience_follows_the_authority_cloud() {
        assert_eq!(token_exchange_audience("https://login.microsoftonline.com/t/v2.0"), AUDIENCE_PUBLIC);
        assert_eq!(token_exchange_audience("https://login.microsoftonline.us/t/v2.0"), AUDIENCE_US_GOV);
        assert_eq!(token_exchange_audience("https://LOGIN.microsoftonline.US/t/v2.0"), AUDIENCE_US_GOV);
        assert_eq!(token_exchange_audience("https://login.chinacloudapi.cn/t/v2.0"), AUDIENCE_CHINA);
        assert_eq!(token_exchange_audience("https://login.partner.microsoftonline.cn/t/v2.0"), AUDIENCE_CHINA);
        assert_eq!(token_exchange_audience("http://127.0.0.1:9/t/v2.0"), AUDIENCE_PUBLIC);
        assert_eq!(token_exchange_audience("not a url"), AUDIENCE_PUBLIC);
    }

    #[test]
    fn request_carries_version_resource_and_client_id() {
        let id = "7d3f0c1e-1111-4222-8333-944455556666";
        let url = source(Some(id)).request_url();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("api-version".into(), API_VERSION.into()),
                ("resource".into(), AUDIENCE_PUBLIC.into()),
                ("client_id".into(), id.into())
            ]
        );
        assert!(!source(None).request_url().as_str().contains("client_id"));
    }

    #[test]
    fn missing_variables_say_identity_is_not_enabled() {
        let none = |_: &str| None;
        let err = ManagedIdentity::from_env(none, None, "https://login.microsoftonline.com/t/v2.0").unwrap_err();
        assert!(matches!(err, CredentialError::Setting { setting: "IDENTITY_ENDPOINT", .. }), "{err}");
        assert!(err.to_string().contains("managed identity is not enabled"), "{err}");
        let only_endpoint = |n: &str| (n == "IDENTITY_ENDPOINT").then(|| "http://127.0.0.1:1/msi/token".to_owned());
        let err =
            ManagedIdentity::from_env(only_endpoint, None, "https://login.microsoftonline.com/t/v2.0").unwrap_err();
        assert!(matches!(err, CredentialError::Setting { setting: "IDENTITY_HEADER", .. }), "{err}");
        // An empty SSO_MANAGED_IDENTITY_CLIENT_ID means the system-assigned identity.
        let both = |n: &str| match n {
            "IDENTITY_ENDPOINT" => Some("http://127.0.0.1:1/msi/token".to_owned()),
            "IDENTITY_HEADER" => Some("h".to_owned()),
            _ => None,
        };
        let s = ManagedIdentity::from_env(both, Some(" ".into()), "https://login.microsoftonline.com/t/v2.0").unwrap();
        assert!(s.describe().contains("system-assigned"), "{}", s.describe());
    }

    #[test]
    fn bad_endpoint_and_client_id_are_refused() {
        for bad in ["", "msi/token", "ftp://h/x", "http://h/x?a=1", "http://u:p@h/x"] {
            let err = ManagedIdentity::new(bad, SecretString::new("h"), None, AUDIENCE_PUBLIC).unwrap_err();
            assert!(matches!(err, CredentialError::Setting { setting: "IDENTITY_ENDPOINT", .. }), "{bad}: {err}");
        }
        let err = ManagedIdentity::new(
            "http://127.0.0.1:1/x",
            SecretString::new("h"),
            Some("my-identity".into()),
            AUDIENCE_PUBLIC,
        )
        .unwrap_err();
        assert!(err.to_string().contains("SSO_MANAGED_IDENTITY_CLIENT_ID"), "{err}");
    }

    #[test]
    fn plain_http_only_to_loopback_and_link_local() {
        let new = |endpoint: &str| ManagedIdentity::new(endpoint, SecretString::new("h"), None, AUDIENCE_PUBLIC);
        for refused in [
            "http://10.0.0.5/msi/token",
            "http://example.com/msi/token",
            "http://192.168.1.5:8081/msi/token",
            "http://169.255.1.1:8081/msi/token",
            "http://localhost.example.com:8081/msi/token",
            "http://[fec0::1]:8081/msi/token",
            "http://[2001:db8::1]/msi/token",
        ] {
            let Err(err) = new(refused) else { panic!("{refused}: X-IDENTITY-HEADER would be sent in clear") };
            assert!(matches!(err, CredentialError::Setting { setting: "IDENTITY_ENDPOINT", .. }), "{refused}: {err}");
            let text = err.to_string();
            assert!(text.contains("X-IDENTITY-HEADER") && text.contains("https"), "{text}");
        }
        for accepted in [
            "http://127.0.0.1:41741/MSI/token/",
            "http://127.0.0.2:8081/msi/token",
            "http://localhost:8081/msi/token",
            "http://169.254.129.2:8081/msi/token",
            "http://[::1]:8081/msi/token",
            "http://[fe80::1]:8081/msi/token",
            "https://anything.example.com/msi/token",
            "https://10.0.0.4:2377/metadata/identity/oauth2/token",
        ] {
            assert!(new(accepted).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn token_response_expiry_as_string_number_or_exp() {
        let now = 1_800_000_000;
        let t = jwt(now + 3600);
        let a =
            parse_token_response(format!(r#"{{"access_token":"{t}","expires_on":"{}"}}"#, now + 600).as_bytes(), now)
                .unwrap();
        assert_eq!(a.expires_at, now + 600);
        let a = parse_token_response(format!(r#"{{"access_token":"{t}","expires_on":{}}}"#, now + 900).as_bytes(), now)
            .unwrap();
        assert_eq!(a.expires_at, now + 900);
        // An expires_on beyond the token's own exp, or unreadable, yields to exp.
        let a =
            parse_token_response(format!(r#"{{"access_token":"{t}","expires_on":"{}"}}"#, now + 9999).as_bytes(), now)
                .unwrap();
        assert_eq!(a.expires_at, now + 3600);
        let a = parse_token_response(format!(r#"{{"access_token":"{t}","expires_on":"09/14/2030"}}"#).as_bytes(), now)
            .unwrap();
        assert_eq!(a.expires_at, now + 3600);
        assert_eq!(a.token.expose(), t);
    }

    #[test]
    fn unusable_token_responses_never_echo_the_token() {
        let now = 1_800_000_000;
        for body in [
            "not json".to_owned(),
            r#"{"expires_on":"1"}"#.to_owned(),
            r#"{"access_token":"opaque-secret-value"}"#.to_owned(),
            format!(r#"{{"access_token":"{}"}}"#, jwt(now - 1)),
        ] {
            let err = parse_token_response(body.as_bytes(), now).unwrap_err().to_string();
            assert!(!err.contains("opaque-secret-value") && !err.contains("eyJ"), "{err}");
        }
    }

    #[test]
    fn refusals_name_the_fix() {
        let id = "7d3f0c1e-1111-4222-8333-944455556666";
        let body = br#"{"statusCode":400,"message":"Identity not found","correlationId":"c"}"#;
        let r = source(Some(id)).refusal(400, body);
        assert!(r.contains("Identity not found") && r.contains(id) && r.contains("Client ID"), "{r}");
        let r = source(None).refusal(400, br#"{"message":"Unable to load the proper Managed Identity."}"#);
        assert!(r.contains("System assigned"), "{r}");
        let r = source(None).refusal(401, b"");
        assert!(r.contains("IDENTITY_HEADER"), "{r}");
        let r = source(None).refusal(500, b"<html>\n\x07boom</html>");
        assert!(r.contains("<html> boom</html>") && r.contains("retried"), "{r}");
    }

    #[test]
    fn describe_and_debug_hide_the_header() {
        let s = source(Some("7d3f0c1e-1111-4222-8333-944455556666"));
        let d = s.describe();
        assert!(d.contains("http://127.0.0.1:41000/msi/token") && d.contains("user-assigned"), "{d}");
        let s = ManagedIdentity::new("http://127.0.0.1:1/x", SecretString::new("header-secret"), None, AUDIENCE_PUBLIC)
            .unwrap();
        assert!(!format!("{s:?}").contains("header-secret"));
        assert!(!s.describe().contains("header-secret"));
    }
}
