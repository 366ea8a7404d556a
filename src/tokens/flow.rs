//! The per-flow browser secret: it is the PKCE `code_verifier`, it lives only in the flow
//! cookie, and its hash in the state binds state, cookie and authorization code together.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Prefix of every flow cookie's name; the flow id follows.
pub const FLOW_COOKIE_PREFIX: &str = "__Host-sso-flow-";

/// Most flow cookies kept live at once; starting another expires the oldest.
pub const MAX_LIVE_FLOWS: usize = 3;

/// Extra seconds a flow cookie outlives its state, so the state expires first and the user sees
/// `state_expired` rather than `flow_cookie_missing`.
pub const FLOW_COOKIE_LEEWAY_SECS: u64 = 60;

/// Domain separation for the nonce hash. Short enough that prefix and verifier fit in one
/// SHA-256 block (55 bytes at most).
const NONCE_LABEL: &[u8; 12] = b"entra-sso/n\0";
const _: () = assert!(NONCE_LABEL.len() + 43 <= 55);

/// A short base64url value held on the stack (flow id, verifier, challenge, nonce), so starting a
/// flow allocates nothing for them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Encoded<const N: usize>([u8; N]);

impl<const N: usize> Encoded<N> {
    fn of(raw: &[u8]) -> Self {
        let mut out = [0u8; N];
        let n = URL_SAFE_NO_PAD.encode_slice(raw, &mut out).expect("the output holds the encoding");
        debug_assert_eq!(n, N);
        Encoded(out)
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("base64url is ASCII")
    }
}

impl<const N: usize> fmt::Debug for Encoded<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new flow: its public id and its secret verifier.
pub struct Flow {
    /// 128-bit random flow id (base64url, 22 characters): the state's `jti`.
    id: Encoded<22>,
    /// 256-bit random secret (base64url, 43 characters): the PKCE `code_verifier`.
    verifier: Encoded<43>,
}

impl Flow {
    /// Draws a new flow from the operating system's generator (see [`crate::tokens::random`]).
    pub fn new() -> Self {
        let mut raw = [0u8; 48];
        crate::tokens::random::fill(&mut raw);
        let flow = Flow { id: Encoded::of(&raw[..16]), verifier: Encoded::of(&raw[16..]) };
        raw.fill(0);
        flow
    }

    /// The flow id: the state's `jti` and the flow cookie's name suffix.
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The secret verifier. Only the flow cookie and the token request carry it.
    pub fn verifier(&self) -> &str {
        self.verifier.as_str()
    }
}

impl Default for Flow {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.verifier.0.fill(0);
    }
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow").field("id", &self.id).field("verifier", &"[redacted]").finish()
    }
}

/// PKCE S256: `BASE64URL(SHA-256(verifier))`.
pub fn challenge(verifier: &str) -> Encoded<43> {
    Encoded::of(&Sha256::digest(verifier.as_bytes()))
}

/// The OIDC nonce of a flow, derived from its secret so the ID token is tied to the browser
/// that holds it, without carrying another value in the state.
pub fn nonce(verifier: &str) -> Encoded<32> {
    let mut h = Sha256::new();
    h.update(NONCE_LABEL);
    h.update(verifier.as_bytes());
    Encoded::of(&h.finalize()[..24])
}

/// The flow cookie's name for flow `id`.
pub fn cookie_name(id: &str) -> String {
    format!("{FLOW_COOKIE_PREFIX}{id}")
}

/// A 22-character base64url flow id.
pub fn is_flow_id(s: &str) -> bool {
    s.len() == 22 && s.bytes().all(super::is_base64url)
}

/// A 43-character base64url value: a flow secret or its hash.
pub fn is_flow_secret(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(super::is_base64url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_fresh_and_well_formed() {
        let a = Flow::new();
        let b = Flow::new();
        assert!(is_flow_id(a.id()) && is_flow_secret(a.verifier()));
        assert_ne!(a.id(), b.id());
        assert_ne!(a.verifier(), b.verifier());
        assert!(!format!("{a:?}").contains(a.verifier()));
    }

    #[test]
    fn rfc7636_appendix_b_challenge() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn nonce_differs_from_challenge() {
        let f = Flow::new();
        assert_ne!(nonce(f.verifier()).as_str(), &challenge(f.verifier()).as_str()[..32]);
        assert!(nonce(f.verifier()).as_str().bytes().all(crate::tokens::is_base64url));
    }
}
