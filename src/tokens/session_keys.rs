//! The session's ES256 keys: derived from `SSO_SECRET`, so every instance holds the same ones
//! with no key distribution, and published as a JWKS, so any app verifies a session with a
//! stock JWT library and no secret.
//!
//! Each `SSO_SECRET` value yields one P-256 key through HKDF bound to the [`Deployment`]; the
//! first value's key signs and every key verifies and is published, so rotation works by list
//! order as it does for the state. The `kid` is the key's RFC 7638 thumbprint, which any JOSE
//! library can recompute from the published key. Signing and verification use *ring*; the
//! scalar-to-point step that *ring* does not expose runs once per key at start-up, in `p256`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING};
use sha2::{Digest, Sha256};

use crate::tokens::jws::{classify_unknown_header, Deployment, JwsError, Parts, Purpose};
use crate::tokens::secret::{SigningSecret, SigningSecrets};

/// The JOSE algorithm of sessions.
pub const ALG: &str = "ES256";

/// Length of an ES256 signature (r ‖ s).
const SIGNATURE_LEN: usize = 64;

struct SessionKey {
    kid: String,
    header_b64: String,
    signing: EcdsaKeyPair,
    /// The uncompressed point (0x04 ‖ x ‖ y).
    public: Vec<u8>,
}

/// The session keys of one deployment: the first signs, all verify and are published.
pub struct SessionKeys {
    keys: Vec<SessionKey>,
    rng: SystemRandom,
    jwks: String,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("SessionKeys").field("kids", &kids).finish()
    }
}

impl SessionKeys {
    /// Derives one key per secret for `deployment`.
    pub fn derive(secrets: &SigningSecrets, deployment: Deployment<'_>) -> Self {
        let rng = SystemRandom::new();
        let keys: Vec<SessionKey> = secrets.iter().map(|s| SessionKey::derive(s, deployment, &rng)).collect();
        let jwks = serde_json::json!({ "keys": keys.iter().map(SessionKey::jwk).collect::<Vec<_>>() }).to_string();
        Self { keys, rng, jwks }
    }

    /// The public keys as a JWK Set (RFC 7517), serialised once.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The `kid` of the signing key.
    pub fn signing_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// Length of the token [`SessionKeys::sign`] makes from a payload of `payload_len` bytes.
    pub fn signed_len(&self, payload_len: usize) -> usize {
        self.keys[0].header_b64.len() + 1 + (payload_len * 4).div_ceil(3) + 1 + (SIGNATURE_LEN * 4).div_ceil(3)
    }

    /// Signs `payload` (JSON bytes) with the first key.
    pub fn sign(&self, payload: &[u8]) -> String {
        let key = &self.keys[0];
        let mut token = String::with_capacity(self.signed_len(payload.len()));
        token.push_str(&key.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = key.signing.sign(&self.rng, token.as_bytes()).expect("P-256 signing does not fail");
        let mut signature: [u8; SIGNATURE_LEN] = signature.as_ref().try_into().expect("ES256 signatures are r ‖ s");
        normalize_s(&mut signature);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }

    /// Verifies `token` and returns its payload bytes. `max_len` caps the accepted size.
    pub fn verify(&self, token: &str, max_len: usize) -> Result<Vec<u8>, JwsError> {
        let parts = Parts::split(token, max_len)?;
        let Some(key) = self.keys.iter().find(|k| k.header_b64 == parts.header) else {
            return Err(classify_unknown_header(parts.header, ALG, Purpose::Session));
        };
        let signature = parts.signature()?;
        if signature.len() != SIGNATURE_LEN {
            return Err(JwsError::Invalid("signature length"));
        }
        if !s_is_low(&signature[32..]) {
            return Err(JwsError::Invalid("high-s signature (only the low-s encoding is issued)"));
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key.public)
            .verify(parts.signing_input.as_bytes(), &signature)
            .map_err(|_| JwsError::Invalid("bad signature"))?;
        parts.payload()
    }
}

impl SessionKey {
    fn derive(secret: &SigningSecret, deployment: Deployment<'_>, rng: &SystemRandom) -> Self {
        let scalar = derive_scalar(secret, deployment);
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let secret = p256::SecretKey::from_bytes(&scalar.into()).expect("derive_scalar returns a valid scalar");
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let signing =
            EcdsaKeyPair::from_private_key_and_public_key(&ECDSA_P256_SHA256_FIXED_SIGNING, &scalar, &public, rng)
                .expect("a key pair derived from a valid scalar");
        let (x, y) = coordinates(&public);
        let kid = thumbprint(&x, &y);
        let header = format!(r#"{{"alg":"{ALG}","typ":"{}","kid":"{kid}"}}"#, Purpose::Session.typ());
        SessionKey { header_b64: URL_SAFE_NO_PAD.encode(header), kid, signing, public }
    }

    fn jwk(&self) -> serde_json::Value {
        let (x, y) = coordinates(&self.public);
        serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": self.kid, "alg": ALG, "use": "sig"})
    }
}

/// Replaces `s` by `n − s` when it is in the upper half. ECDSA accepts both (r, s) and
/// (r, n − s); issuing only the low one, and accepting only it, gives every session exactly one
/// encoding, so a token string can key a cache or a deny-list.
fn normalize_s(signature: &mut [u8; SIGNATURE_LEN]) {
    use p256::elliptic_curve::scalar::IsHigh;
    use p256::elliptic_curve::PrimeField;
    let bytes: [u8; 32] = signature[32..].try_into().expect("32-byte s");
    let Some(s) = Option::<p256::Scalar>::from(p256::Scalar::from_repr(bytes.into())) else { return };
    if bool::from(s.is_high()) {
        signature[32..].copy_from_slice(&(-s).to_repr());
    }
}

/// Whether `s` (32 big-endian bytes) is a scalar in the lower half, `1 ≤ s ≤ (n − 1) / 2`.
fn s_is_low(s: &[u8]) -> bool {
    use p256::elliptic_curve::scalar::IsHigh;
    use p256::elliptic_curve::PrimeField;
    let Ok(bytes) = <[u8; 32]>::try_from(s) else { return false };
    Option::<p256::Scalar>::from(p256::Scalar::from_repr(bytes.into())).is_some_and(|s| !bool::from(s.is_high()))
}

/// A P-256 private scalar from HKDF: 32 bytes out, taken if they are a valid scalar (in
/// [1, n-1]), else the next counter's output. The first output fails with probability about
/// 2⁻³², so the counter almost never moves; it is there so no secret can fail to yield a key.
fn derive_scalar(secret: &SigningSecret, deployment: Deployment<'_>) -> [u8; 32] {
    let Deployment { client_id, authority, redirect_uri } = deployment;
    let hkdf = Hkdf::<Sha256>::new(Some(b"entra-sso"), secret.expose());
    for counter in 0u8.. {
        let info = format!(
            "entra-sso/v2/{}-es256/{counter}\0{client_id}\0{authority}\0{redirect_uri}",
            Purpose::Session.label()
        );
        let mut okm = [0u8; 32];
        hkdf.expand(info.as_bytes(), &mut okm).expect("32 bytes is a valid HKDF-SHA256 output length");
        if p256::SecretKey::from_bytes(&okm.into()).is_ok() {
            return okm;
        }
    }
    unreachable!("256 consecutive HKDF outputs outside the P-256 scalar range")
}

/// The base64url x and y coordinates of an uncompressed point.
fn coordinates(public: &[u8]) -> (String, String) {
    (URL_SAFE_NO_PAD.encode(&public[1..33]), URL_SAFE_NO_PAD.encode(&public[33..65]))
}

/// The RFC 7638 thumbprint of an EC public key: SHA-256 of its required members in
/// lexicographic order, no whitespace.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::jws::TokenKeys;

    const DEPLOYMENT: Deployment<'static> = Deployment {
        client_id: "client",
        authority: "https://login.microsoftonline.com/t/v2.0",
        redirect_uri: "https://app.example.com/api/callback",
    };
    const A: &str = "gUrxJrzLgD7GKCzNf43jrhMfxNohhw6tSQs0t8JEaNg";
    const B: &str = "iBsCU8uhzuZ3UV3N8pnuhBhA7xFuNMFBdl4w5BfcVEk";

    fn keys(secrets: &[&str]) -> SessionKeys {
        let s: Vec<_> = secrets.iter().map(|s| SigningSecret::parse(s).unwrap()).collect();
        SessionKeys::derive(&SigningSecrets::new(s[0].clone(), s[1..].to_vec()), DEPLOYMENT)
    }

    #[test]
    fn round_trip_rotation_and_publication() {
        let old = keys(&[A]);
        let token = old.sign(br#"{"x":1}"#);
        assert_eq!(token.len(), old.signed_len(7));
        assert_eq!(old.verify(&token, 4096).unwrap(), br#"{"x":1}"#);
        let rotated = keys(&[B, A]);
        assert_eq!(rotated.verify(&token, 4096).unwrap(), br#"{"x":1}"#);
        assert_eq!(keys(&[B]).verify(&token, 4096), Err(JwsError::KeyUnknown));
        let jwks: serde_json::Value = serde_json::from_str(rotated.jwks()).unwrap();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, [rotated.signing_kid(), old.signing_kid()]);
    }

    /// Finding 10 of the second review: (r, n − s) is a second valid ECDSA encoding of every
    /// session. Only the low-s one is issued, and the other is refused.
    #[test]
    fn signatures_are_low_s_and_the_high_s_twin_is_refused() {
        use p256::elliptic_curve::PrimeField;
        let k = keys(&[A]);
        for i in 0..64 {
            let payload = format!(r#"{{"i":{i}}}"#);
            let token = k.sign(payload.as_bytes());
            let (head, sig) = token.rsplit_once('.').unwrap();
            let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
            assert!(s_is_low(&sig[32..]), "token {i} was issued with a high s");
            let s = p256::Scalar::from_repr(<[u8; 32]>::try_from(&sig[32..]).unwrap().into()).unwrap();
            sig[32..].copy_from_slice(&(-s).to_repr());
            let twin = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&sig));
            assert_eq!(
                k.verify(&twin, 4096),
                Err(JwsError::Invalid("high-s signature (only the low-s encoding is issued)"))
            );
            assert_eq!(k.verify(&token, 4096).unwrap(), payload.as_bytes());
        }
    }

    #[test]
    fn derivation_is_deterministic_and_bound_to_the_deployment() {
        assert_eq!(keys(&[A]).jwks(), keys(&[A]).jwks());
        let secret = SigningSecrets::from(SigningSecret::parse(A).unwrap());
        let staging = Deployment { redirect_uri: "https://staging.example.com/api/callback", ..DEPLOYMENT };
        let other = SessionKeys::derive(&secret, staging);
        assert_ne!(other.signing_kid(), keys(&[A]).signing_kid());
        assert_eq!(other.verify(&keys(&[A]).sign(b"{}"), 4096), Err(JwsError::KeyUnknown));
    }

    /// Pins the derivation: a change here would sign every user out and break every consumer's
    /// cached JWKS, so it must be deliberate. The value was computed independently with Python's
    /// `cryptography` (HKDF-SHA256, then the P-256 public key, then the RFC 7638 thumbprint).
    #[test]
    fn derivation_test_vector() {
        let jwk: serde_json::Value = serde_json::from_str(keys(&[A]).jwks()).unwrap();
        let k = &jwk["keys"][0];
        assert_eq!(
            (k["kty"].as_str(), k["crv"].as_str(), k["alg"].as_str(), k["use"].as_str()),
            (Some("EC"), Some("P-256"), Some("ES256"), Some("sig"))
        );
        assert_eq!(k["kid"], thumbprint(k["x"].as_str().unwrap(), k["y"].as_str().unwrap()));
        assert_eq!(k["kid"], "_XgzPIbaTqBPQNZutVSWikomNwizWg8yn6odIQ-ALss");
    }

    /// RFC 7638's own example is an RSA key; this checks the EC member order and form against a
    /// thumbprint computed independently (Python, `json.dumps` with sorted keys) for a fixed key.
    #[test]
    fn thumbprint_follows_rfc_7638() {
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        assert_eq!(thumbprint(x, y), "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
    }

    #[test]
    fn states_ids_and_tampering_are_refused() {
        let k = keys(&[A]);
        let token = k.sign(br#"{"x":1}"#);
        let secret = SigningSecrets::from(SigningSecret::parse(A).unwrap());
        let state = TokenKeys::derive(&secret, Purpose::State, DEPLOYMENT).sign(br#"{"x":1}"#);
        assert_eq!(k.verify(&state, 4096), Err(JwsError::Invalid("algorithm not allowed")));
        let (head, sig) = token.rsplit_once('.').unwrap();
        let (header, _) = head.split_once('.').unwrap();
        let forged = format!("{header}.{}.{sig}", URL_SAFE_NO_PAD.encode(br#"{"x":2}"#));
        assert_eq!(k.verify(&forged, 4096), Err(JwsError::Invalid("bad signature")));
        assert_eq!(k.verify(&format!("{head}.AAAA"), 4096), Err(JwsError::Invalid("signature length")));
        let wrong_typ = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{}"}}"#, k.signing_kid()));
        assert_eq!(k.verify(&format!("{wrong_typ}.e30.{sig}"), 4096), Err(JwsError::Invalid("wrong token type")));
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"entra-sso-session+jwt","kid":"x"}"#);
        assert_eq!(k.verify(&format!("{none}.e30.{sig}"), 4096), Err(JwsError::Invalid("algorithm not allowed")));
        assert_eq!(k.verify(&token, 100), Err(JwsError::Malformed("too long")));
    }
}
