//! The per-flow browser secret: it is the PKCE `code_verifier`, it lives only in the flow
//! cookie, and its hash in the state binds state, cookie and authorization code together.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::secret::SecretString;

/// Prefix of every flow cookie's name; the flow id follows.
pub const FLOW_COOKIE_PREFIX: &str = "__Host-sso-flow-";

/// Most flow cookies kept live at once; starting another expires the oldest.
pub const MAX_LIVE_FLOWS: usize = 3;

/// A new flow: its public id and its secret verifier.
pub struct Flow {
    /// 128-bit random flow id (base64url, 22 characters): the state's `jti`.
    pub id: String,
    /// 256-bit random secret (base64url, 43 characters): the PKCE `code_verifier`.
    pub verifier: SecretString,
}

/// Draws a new flow with one call to the operating system's random generator.
pub fn new_flow() -> Flow {
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).expect("the operating system's random generator is available");
    Flow { id: URL_SAFE_NO_PAD.encode(&bytes[..16]), verifier: SecretString::new(URL_SAFE_NO_PAD.encode(&bytes[16..])) }
}

/// PKCE S256: `BASE64URL(SHA-256(verifier))`.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The OIDC nonce of a flow, derived from its secret so the ID token is tied to the browser
/// that holds it, without carrying another value in the state.
pub fn nonce(verifier: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"entra-sso nonce\0");
    h.update(verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(&h.finalize()[..24])
}

/// The flow cookie's name for flow `id`.
pub fn cookie_name(id: &str) -> String {
    format!("{FLOW_COOKIE_PREFIX}{id}")
}

/// A 22-character base64url flow id.
pub fn is_flow_id(s: &str) -> bool {
    s.len() == 22 && s.bytes().all(is_b64url)
}

/// A 43-character base64url value: a flow secret or its hash.
pub fn is_flow_secret(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(is_b64url)
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_fresh_and_well_formed() {
        let a = new_flow();
        let b = new_flow();
        assert!(is_flow_id(&a.id) && is_flow_secret(a.verifier.expose()));
        assert_ne!(a.id, b.id);
        assert_ne!(a.verifier.expose(), b.verifier.expose());
    }

    #[test]
    fn rfc7636_appendix_b_challenge() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn nonce_differs_from_challenge() {
        let f = new_flow();
        assert_ne!(nonce(f.verifier.expose()), challenge(f.verifier.expose()));
    }
}
