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

/// A JWKS document (RFC 7517 §5): the provider's, or a federated issuer's the dev IdP reads.
#[derive(Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// One key of a [`Jwks`], with the members an RSA signing key has.
#[derive(Deserialize)]
pub struct Jwk {
    /// `kty`.
    pub kty: String,
    /// `kid`.
    #[serde(default)]
    pub kid: Option<String>,
    /// `use`.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// `n`, base64url.
    #[serde(default)]
    pub n: Option<String>,
    /// `e`, base64url.
    #[serde(default)]
    pub e: Option<String>,
    /// Entra's per-key `issuer`.
    #[serde(default)]
    pub issuer: Option<String>,
}

impl Jwks {
    /// The RSA signing keys (`use` absent or `sig`) with their `kid` and base64url `n` and `e`.
    pub fn rsa_signing_keys(self) -> impl Iterator<Item = (Option<String>, String, String, Option<String>)> {
        self.keys.into_iter().filter_map(|jwk| {
            let signing = jwk.use_.as_deref().is_none_or(|u| u == "sig");
            match (jwk.kty.as_str(), jwk.n, jwk.e) {
                ("RSA", Some(n), Some(e)) if signing => Some((jwk.kid, n, e, jwk.issuer)),
                _ => None,
            }
        })
    }
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
            return Err(FetchError::Paused { what: "JWKS" });
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

pub(super) fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<VerifyKey>>, FetchError> {
    let invalid = |reason: String| FetchError::Invalid { what: "JWKS", reason };
    let jwks: Jwks =
        serde_json::from_slice(body).map_err(|e| invalid(crate::support::text::cap(&e.to_string(), 200)))?;
    let mut keys = HashMap::new();
    // Only RSA signing keys with a kid: Entra signs ID tokens with RS256.
    for (kid, n, e, issuer) in jwks.rsa_signing_keys() {
        let (Some(kid), Ok(key)) = (kid, DecodingKey::from_rsa_components(&n, &e)) else {
            continue;
        };
        keys.insert(kid, Arc::new(VerifyKey { key, issuer }));
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
