//! This service's own tokens and the secrets behind them: the signing secrets and their HKDF
//! keys ([`secret`], [`jws`]), the OAuth `state` ([`state`]), the per-flow secret that is also
//! the PKCE verifier and the nonce's source ([`flow`], drawn from [`random`]), and the session
//! ([`session`], signed with the published ES256 keys of [`session_keys`]). Nothing here knows
//! about HTTP or the identity provider.

pub mod crypto;
pub mod flow;
pub mod jws;
pub mod random;
pub mod secret;
pub mod session;
pub mod session_keys;
pub mod state;

/// Whether `b` is in the base64url alphabet (no padding): the one rule for every token part,
/// flow id and flow secret this service reads.
pub fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}
