//! The dev identity provider's RS256 signing key, made fresh at each start (or shared between
//! the many providers a test suite starts: generating RSA keys is slow).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

/// A 2048-bit RSA private key for a dev identity provider.
#[derive(Clone)]
pub struct DevKey(rsa::RsaPrivateKey);

impl DevKey {
    /// A new random key (a few hundred milliseconds of CPU).
    pub fn generate() -> Self {
        Self(rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generation"))
    }
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevKey([redacted])")
    }
}

pub(super) struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    n: String,
    e: String,
    issuer: String,
}

impl SigningKey {
    /// `key`, published with a JWK that names `issuer`, as Entra's keys do.
    pub(super) fn new(key: &DevKey, issuer: &str) -> Self {
        let private = &key.0;
        let der = private.to_pkcs1_der().expect("PKCS#1 encoding");
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(n.as_bytes())[..15]);
        let decoding = DecodingKey::from_rsa_components(&n, &e).expect("the key's own components");
        Self { encoding: EncodingKey::from_rsa_der(der.as_bytes()), decoding, kid, n, e, issuer: issuer.to_owned() }
    }

    /// The JWKS document.
    pub(super) fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": self.n, "e": self.e, "issuer": self.issuer,
        }]})
    }

    /// The claims of an RS256 JWT this key signed for `audience`, unexpired; `None` otherwise.
    pub(super) fn verify(&self, token: &str, audience: &str) -> Option<serde_json::Value> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&self.issuer]);
        jsonwebtoken::decode::<serde_json::Value>(token, &self.decoding, &validation).ok().map(|t| t.claims)
    }

    /// Signs `claims` as an RS256 JWT.
    pub(super) fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing")
    }
}
