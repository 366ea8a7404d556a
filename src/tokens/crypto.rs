//! The `jsonwebtoken` crypto provider: RustCrypto for everything, except RS256 verification,
//! which *ring* does about ten times faster (the `rsa` crate rebuilds a big-integer key and
//! runs generic arithmetic on every check). ID-token verification is the callback's costliest
//! step, so this keeps the callback's CPU small without a second backend feature.

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider, JwkUtils, JwtVerifier};
use jsonwebtoken::errors::Result;
use jsonwebtoken::{Algorithm, DecodingKey};

/// RS256 (PKCS#1 v1.5, SHA-256) verification with *ring*, keys of 2048 to 8192 bits.
struct RingRs256 {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl signature::Verifier<Vec<u8>> for RingRs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let key = ring::signature::RsaPublicKeyComponents { n: &self.n, e: &self.e };
        key.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, msg, sig).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingRs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match (algorithm, key.kind()) {
        (Algorithm::RS256, jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, e }) => {
            Ok(Box::new(RingRs256 { n: n.clone(), e: e.clone() }))
        }
        _ => (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key),
    }
}

/// The provider [`install`] selects.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |algorithm, key| (rust_crypto::DEFAULT_PROVIDER.signer_factory)(algorithm, key),
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Selects [`PROVIDER`] for the process. Call once at start-up, before any token is signed or
/// verified; later calls are harmless.
pub fn install() {
    let _ = PROVIDER.install_default();
}

#[cfg(all(test, feature = "dev-idp"))]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn ring_rs256_accepts_genuine_and_refuses_altered_signatures() {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        let signer = (rust_crypto::DEFAULT_PROVIDER.signer_factory)(
            &Algorithm::RS256,
            &jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
        )
        .unwrap();
        let msg = b"header.payload";
        let sig: Vec<u8> = signature::Signer::sign(signer.as_ref(), msg);
        let key = DecodingKey::from_rsa_raw_components(&private.n().to_bytes_be(), &private.e().to_bytes_be());
        let verifier = new_verifier(&Algorithm::RS256, &key).unwrap();
        assert!(verifier.verify(msg, &sig).is_ok());
        assert!(verifier.verify(b"header.payloaD", &sig).is_err());
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert!(verifier.verify(msg, &bad).is_err());
        // Other algorithms still get RustCrypto's verifiers, which refuse an RSA key for HMAC.
        assert!(
            new_verifier(&Algorithm::HS256, &key).is_err()
                || new_verifier(&Algorithm::HS256, &key).unwrap().verify(msg, &sig).is_err()
        );
    }
}
