//! Signing keys: the provider's JWKS, cached by `kid`, refetched once for an unknown `kid`
//! (single flight), never more often than the refetch interval allows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use super::{FetchError, Provider, FAILED_FETCH_PAUSE};

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

/// The keys of one JWKS fetch by `kid`, and when it happened.
#[derive(Default)]
pub(super) struct KeyCache {
    keys: HashMap<String, Arc<VerifyKey>>,
    pub(super) fetched_at: Option<Instant>,
}

impl Provider {
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
            self.keys_pause.pause(self.config.jwks_refetch_interval);
        }
        Ok(found)
    }

    /// Fetches the JWKS unless another caller did since `seen`; concurrent callers wait for one
    /// fetch. A failed fetch keeps the last good keys and pauses fetching briefly.
    pub(super) async fn refresh_keys(&self, seen: Option<Instant>) -> Result<(), FetchError> {
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
    fn jwks_without_rsa_keys_is_refused() {
        assert!(parse_jwks(br#"{"keys":[{"kty":"oct","kid":"a","k":"AAAA"}]}"#).is_err());
        assert!(parse_jwks(b"<html>").is_err());
    }
}
