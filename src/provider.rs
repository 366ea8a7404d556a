//! Everything this service asks of the OpenID Provider: discovery metadata, signing keys (JWKS)
//! and code redemption. All calls have connect and total time-outs, follow no redirects and read
//! at most [`MAX_RESPONSE_BYTES`].
//!
//! Metadata and keys are cached for the life of the process and prefetched at start-up; an
//! unknown `kid` triggers one refetch, rate-limited, with concurrent callers waiting on the same
//! fetch rather than starting their own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::{Mutex, Semaphore};

use crate::authority::Authority;
use crate::config::Settings;
use crate::secret::SecretString;

/// Largest response body read from the IdP.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// How long fetching pauses after a failed metadata or JWKS fetch, so an outage costs each
/// caller one quick error rather than a queue of time-outs.
pub const FAILED_FETCH_PAUSE: Duration = Duration::from_secs(1);

/// Most token-endpoint calls in flight at once per instance.
pub const MAX_CONCURRENT_REDEMPTIONS: usize = 64;

/// The subset of the discovery document this service uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// `issuer`; for Entra's `common`/`organizations` a `{tenantid}` template.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `end_session_endpoint`, when the IdP supports RP-initiated logout.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// RFC 9207: the provider promises an `iss` parameter in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// One signing key from the JWKS.
pub struct VerifyKey {
    /// The RSA public key.
    pub key: DecodingKey,
    /// Entra's per-key `issuer` (possibly a `{tenantid}` template): the key may only sign
    /// tokens of that issuer.
    pub issuer: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
}

/// A failed metadata or key fetch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Network error or time-out.
    #[error("{what} unreachable: {reason}")]
    Unreachable {
        /// What was fetched.
        what: &'static str,
        /// The transport error.
        reason: String,
    },
    /// A response that is not what the protocol requires.
    #[error("{what} unusable: {reason}")]
    Invalid {
        /// What was fetched.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The provider answers, but not as the configured authority: a setting to fix, not an
    /// outage to wait out.
    #[error("SSO_AUTHORITY does not match the provider: {0}")]
    Misconfigured(String),
}

/// The token endpoint's refusal or failure.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Every permit stayed taken for the whole wait.
    #[error("too many concurrent token requests: no permit within {0:?}")]
    Busy(Duration),
    /// Network error or time-out.
    #[error("token endpoint unreachable: {0}")]
    Unreachable(String),
    /// An OAuth error response.
    #[error("token endpoint refused (HTTP {status}): {error} {description} trace_id={trace_id} correlation_id={correlation_id}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// OAuth `error`.
        error: String,
        /// `error_description`, capped.
        description: String,
        /// Entra's `trace_id`.
        trace_id: String,
        /// Entra's `correlation_id`.
        correlation_id: String,
    },
    /// Not a usable token response.
    #[error("token endpoint answered HTTP {status} with an unusable body: {reason}")]
    Invalid {
        /// HTTP status.
        status: u16,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// A "not before" instant for the next fetch attempt.
#[derive(Default)]
struct Pause(std::sync::Mutex<Option<Instant>>);

impl Pause {
    fn active(&self) -> bool {
        self.0.lock().expect("pause lock").is_some_and(|until| Instant::now() < until)
    }

    fn pause(&self, d: Duration) {
        *self.0.lock().expect("pause lock") = Some(Instant::now() + d);
    }
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, Arc<VerifyKey>>,
    fetched_at: Option<Instant>,
}

/// The OpenID Provider client, shared by all requests of an instance.
pub struct Provider {
    authority: Authority,
    client_id: String,
    client_secret: Option<SecretString>,
    redirect_uri: String,
    http: reqwest::Client,
    metadata: RwLock<Option<Arc<Metadata>>>,
    metadata_fetch: Mutex<()>,
    keys: RwLock<Arc<KeyCache>>,
    keys_fetch: Mutex<()>,
    keys_pause: Pause,
    metadata_pause: Pause,
    refetch_interval: Duration,
    /// Token calls in flight; callers queue in order, so a flood of callbacks delays a genuine
    /// one by at most the time its predecessors take, never refuses it outright.
    redemptions: Semaphore,
    redemption_wait: Duration,
}

impl Provider {
    /// Builds the client; makes no network call.
    pub fn new(settings: &Settings) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("entra-sso/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is valid");
        Self {
            authority: settings.authority.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            redirect_uri: settings.redirect_uri.to_string(),
            http,
            metadata: RwLock::new(None),
            metadata_fetch: Mutex::new(()),
            keys: RwLock::new(Arc::default()),
            keys_fetch: Mutex::new(()),
            keys_pause: Pause::default(),
            metadata_pause: Pause::default(),
            refetch_interval: settings.jwks_refetch_interval,
            redemptions: Semaphore::new(MAX_CONCURRENT_REDEMPTIONS),
            redemption_wait: settings.redemption_wait,
        }
    }

    /// Fetches metadata and keys in the background so the first callback does not wait.
    pub fn prefetch(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            match this.metadata().await {
                Ok(_) => {
                    if let Err(e) = this.refresh_keys(None).await {
                        tracing::warn!(error = %e, "prefetch of signing keys failed; will retry at the first callback");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "prefetch of discovery metadata failed; will retry at the first callback")
                }
            }
        });
    }

    /// The cached metadata, if it has been fetched.
    pub fn cached_metadata(&self) -> Option<Arc<Metadata>> {
        self.metadata.read().expect("metadata lock").clone()
    }

    /// The discovery metadata, fetched once.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, FetchError> {
        if let Some(m) = self.cached_metadata() {
            return Ok(m);
        }
        let paused =
            || FetchError::Unreachable { what: "discovery document", reason: "a fetch failed moments ago".into() };
        if self.metadata_pause.active() {
            return Err(paused());
        }
        let _guard = self.metadata_fetch.lock().await;
        if let Some(m) = self.cached_metadata() {
            return Ok(m);
        }
        if self.metadata_pause.active() {
            return Err(paused());
        }
        let metadata = self.fetch_metadata().await.inspect_err(|_| self.metadata_pause.pause(FAILED_FETCH_PAUSE))?;
        let metadata = Arc::new(metadata);
        *self.metadata.write().expect("metadata lock") = Some(Arc::clone(&metadata));
        tracing::info!(issuer = %metadata.issuer, "discovery metadata loaded");
        Ok(metadata)
    }

    async fn fetch_metadata(&self) -> Result<Metadata, FetchError> {
        let body = self.get("discovery document", &self.authority.discovery_url()).await?;
        let metadata: Metadata = serde_json::from_slice(&body)
            .map_err(|e| FetchError::Invalid { what: "discovery document", reason: e.to_string() })?;
        self.check_metadata(&metadata)?;
        Ok(metadata)
    }

    fn check_metadata(&self, m: &Metadata) -> Result<(), FetchError> {
        let invalid = |reason: String| FetchError::Invalid { what: "discovery document", reason };
        // OIDC Discovery §4.3: the issuer must be the authority it was fetched from. Entra
        // authorities publish a tenant-specific or templated issuer instead.
        if self.authority.entra_endpoints().is_none() && m.issuer.trim_end_matches('/') != self.authority.as_str() {
            return Err(FetchError::Misconfigured(format!(
                "the discovery document's issuer {} is not the configured authority",
                cap(&m.issuer, 200)
            )));
        }
        for (name, url) in [("token_endpoint", &m.token_endpoint), ("jwks_uri", &m.jwks_uri)] {
            crate::config::parse_public_url(url).map_err(|e| invalid(format!("{name}: {e}")))?;
        }
        Ok(())
    }

    /// The key named `kid`. An unknown `kid` causes one JWKS refetch; if the fresh set does not
    /// have it either, no refetch happens for the refetch interval, so random `kid`s cannot make
    /// this instance hammer the provider.
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<VerifyKey>>, FetchError> {
        let cache = self.keys.read().expect("keys lock").clone();
        if let Some(k) = cache.keys.get(kid) {
            return Ok(Some(Arc::clone(k)));
        }
        if !self.keys_pause.active() {
            self.refresh_keys(cache.fetched_at).await?;
        }
        let cache = self.keys.read().expect("keys lock").clone();
        if cache.keys.is_empty() {
            return Err(FetchError::Unreachable { what: "JWKS", reason: "a fetch failed moments ago".into() });
        }
        let found = cache.keys.get(kid).cloned();
        if found.is_none() {
            self.keys_pause.pause(self.refetch_interval);
        }
        Ok(found)
    }

    /// Fetches the JWKS unless another caller did since `seen`; concurrent callers wait for one
    /// fetch. A failed fetch keeps the last good keys and pauses fetching briefly.
    async fn refresh_keys(&self, seen: Option<Instant>) -> Result<(), FetchError> {
        let _guard = self.keys_fetch.lock().await;
        if self.keys.read().expect("keys lock").fetched_at != seen || self.keys_pause.active() {
            return Ok(()); // another caller fetched, or failed, while we waited
        }
        let metadata = self.metadata().await?;
        let keys = match self.get("JWKS", &metadata.jwks_uri).await.and_then(|b| parse_jwks(&b)) {
            Ok(keys) => keys,
            Err(e) => {
                self.keys_pause.pause(FAILED_FETCH_PAUSE);
                return Err(e);
            }
        };
        tracing::info!(count = keys.len(), "signing keys loaded");
        *self.keys.write().expect("keys lock") = Arc::new(KeyCache { keys, fetched_at: Some(Instant::now()) });
        Ok(())
    }

    /// Redeems an authorization code with the PKCE verifier; returns the ID token.
    pub async fn redeem(&self, code: &str, verifier: &SecretString) -> Result<String, TokenError> {
        let busy = TokenError::Busy(self.redemption_wait);
        let _permit = match tokio::time::timeout(self.redemption_wait, self.redemptions.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(busy),
        };
        let token_endpoint = match self.authority.entra_endpoints() {
            Some(e) => e.token,
            None => self.metadata().await.map_err(|e| TokenError::Unreachable(e.to_string()))?.token_endpoint.clone(),
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", verifier.expose()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose()));
        }
        let body = serde_urlencoded::to_string(&form).expect("form fields serialise");
        let response = self
            .http
            .post(&token_endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| TokenError::Unreachable(describe(&e)))?;
        let status = response.status().as_u16();
        let bytes = read_capped(response).await.map_err(TokenError::Unreachable)?;
        let parsed: TokenBody =
            serde_json::from_slice(&bytes).map_err(|_| TokenError::Invalid { status, reason: "not JSON".into() })?;
        match (status, parsed) {
            (200, TokenBody { id_token: Some(t), .. }) => Ok(t),
            (_, TokenBody { error: Some(error), error_description, trace_id, correlation_id, .. }) => {
                Err(TokenError::Refused {
                    status,
                    error: cap(&error, 64),
                    description: cap(error_description.as_deref().unwrap_or(""), 512),
                    trace_id: cap(trace_id.as_deref().unwrap_or(""), 64),
                    correlation_id: cap(correlation_id.as_deref().unwrap_or(""), 64),
                })
            }
            _ => Err(TokenError::Invalid { status, reason: "no id_token and no error".into() }),
        }
    }

    async fn get(&self, what: &'static str, url: &str) -> Result<Vec<u8>, FetchError> {
        let unreachable = |reason: String| FetchError::Unreachable { what, reason };
        let response = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        if !response.status().is_success() {
            return Err(FetchError::Invalid { what, reason: format!("HTTP {}", response.status().as_u16()) });
        }
        read_capped(response).await.map_err(unreachable)
    }
}

fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<VerifyKey>>, FetchError> {
    let invalid = |reason: String| FetchError::Invalid { what: "JWKS", reason };
    let jwks: Jwks = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    let mut keys = HashMap::new();
    for jwk in jwks.keys {
        // Only RSA signing keys with a kid: Entra signs ID tokens with RS256.
        let (Some(kid), "RSA", Some(n), Some(e)) = (jwk.kid, jwk.kty.as_str(), jwk.n, jwk.e) else {
            continue;
        };
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let Ok(key) = DecodingKey::from_rsa_components(&n, &e) else {
            continue;
        };
        keys.insert(kid, Arc::new(VerifyKey { key, issuer: jwk.issuer }));
    }
    if keys.is_empty() {
        return Err(invalid("no usable RSA signing key".into()));
    }
    Ok(keys)
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|l| l > MAX_RESPONSE_BYTES as u64) {
        return Err("response larger than 1 MiB".into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err("response larger than 1 MiB".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error without the URL's query (which may carry a code).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    };
    match e.url() {
        Some(u) => format!("{kind} ({}://{}{})", u.scheme(), u.host_str().unwrap_or(""), u.path()),
        None => kind.to_owned(),
    }
}

/// At most `max` characters of `s`, without control characters.
pub fn cap(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_jwks_fixtures_parse_with_their_issuers() {
        for name in ["common", "organizations"] {
            let path = format!("{}/tests/fixtures/entra/{name}.keys.json", env!("CARGO_MANIFEST_DIR"));
            let Ok(body) = std::fs::read(&path) else {
                panic!("fixture {path} missing");
            };
            let keys = parse_jwks(&body).unwrap();
            assert!(keys.len() >= 3, "{name}: {} keys", keys.len());
            assert!(keys.values().all(|k| k.issuer.is_some()));
        }
    }

    #[test]
    fn microsoft_discovery_fixtures_parse() {
        let read = |name: &str| {
            let path = format!("{}/tests/fixtures/entra/{name}.openid-configuration.json", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_slice::<Metadata>(&std::fs::read(path).unwrap()).unwrap()
        };
        for multi in ["common", "organizations"] {
            let m = read(multi);
            assert_eq!(m.issuer, "https://login.microsoftonline.com/{tenantid}/v2.0", "{multi}");
            assert!(m.end_session_endpoint.is_some());
        }
        let tenant = read("tenant");
        assert!(!tenant.issuer.contains('{') && tenant.issuer.ends_with("/v2.0"));
        // The computed endpoints of an Entra authority are the ones Microsoft publishes.
        let computed = Authority::for_tenant("common").unwrap().entra_endpoints().unwrap();
        let published = read("common");
        assert_eq!(computed.authorize, published.authorization_endpoint);
        assert_eq!(computed.token, published.token_endpoint);
        assert_eq!(computed.jwks, published.jwks_uri);
        assert_eq!(Some(computed.end_session), published.end_session_endpoint);
    }

    #[test]
    fn jwks_without_rsa_keys_is_refused() {
        assert!(parse_jwks(br#"{"keys":[{"kty":"oct","kid":"a","k":"AAAA"}]}"#).is_err());
        assert!(parse_jwks(b"<html>").is_err());
    }
}
