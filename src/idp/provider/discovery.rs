//! Discovery: the provider's metadata document, fetched once (single flight) and kept for the
//! life of the process.

use std::sync::Arc;

use serde::Deserialize;

use super::{FetchError, Provider, FAILED_FETCH_PAUSE};
use crate::support::text::cap;
use crate::web::url::parse_public_url;

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

impl Provider {
    /// The cached metadata, if it has been fetched.
    pub fn cached_metadata(&self) -> Option<Arc<Metadata>> {
        self.metadata.read().expect("metadata lock").clone()
    }

    /// The discovery metadata, fetched once.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, FetchError> {
        if let Some(m) = self.cached_metadata() {
            return Ok(m);
        }
        let paused = || FetchError::Paused { what: "discovery document" };
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
        let body = self.get("discovery document", &self.config.authority.discovery_url()).await?;
        self.read_metadata(&body)
    }

    /// Reads and checks a discovery document.
    pub(super) fn read_metadata(&self, body: &[u8]) -> Result<Metadata, FetchError> {
        let metadata: Metadata = serde_json::from_slice(body)
            .map_err(|e| FetchError::Invalid { what: "discovery document", reason: cap(&e.to_string(), 200) })?;
        self.check_metadata(&metadata)?;
        Ok(metadata)
    }

    fn check_metadata(&self, m: &Metadata) -> Result<(), FetchError> {
        let invalid = |reason: String| FetchError::Invalid { what: "discovery document", reason };
        if !self.config.authority.admits_issuer(&m.issuer) {
            return Err(FetchError::Misconfigured(format!(
                "the provider's issuer {} is not the configured authority {}",
                cap(&m.issuer, 200),
                self.config.authority.as_str()
            )));
        }
        for (name, url) in [("token_endpoint", &m.token_endpoint), ("jwks_uri", &m.jwks_uri)] {
            parse_public_url(url).map_err(|e| invalid(format!("{name}: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::authority::Authority;

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
}
