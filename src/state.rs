//! The OAuth `state` parameter: a signed, expiring token that carries everything the callback
//! needs, so no server keeps flow state.
//!
//! It is readable by anyone who sees the URL and holds no secret: the flow id (`jti`), the
//! redirect URI it was minted for (`aud`), the return path (`rt`) and the hash of the browser's
//! flow secret (`vh`, equal to the PKCE `code_challenge`).

use serde::{Deserialize, Serialize};

use crate::jws::{JwsError, TokenKeys};

/// Longest `state` accepted at the callback.
pub const MAX_STATE_LEN: usize = 4096;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of a state token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateClaims {
    /// Flow id; also names the flow cookie.
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// The redirect URI the flow was started for.
    pub aud: String,
    /// Where to send the browser after sign-in.
    pub rt: String,
    /// `BASE64URL(SHA-256(flow secret))`: binds the state to the flow cookie.
    pub vh: String,
}

/// Why a `state` was refused; each maps to one public error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// No `state` parameter.
    #[error("no state parameter")]
    Missing,
    /// Not a token of the expected shape (also repeated or comma-joined values).
    #[error("malformed state: {0}")]
    Malformed(&'static str),
    /// Signed with a key this instance does not hold.
    #[error("state signed with an unknown key")]
    KeyUnknown,
    /// Bad signature or claims.
    #[error("invalid state: {0}")]
    Invalid(&'static str),
    /// Genuine but past its lifetime; carries its return path for a fresh start.
    #[error("state expired")]
    Expired {
        /// The expired flow's `return_to`.
        return_to: String,
    },
}

impl From<JwsError> for StateError {
    fn from(e: JwsError) -> Self {
        match e {
            JwsError::Malformed(m) => StateError::Malformed(m),
            JwsError::KeyUnknown => StateError::KeyUnknown,
            JwsError::Invalid(m) => StateError::Invalid(m),
        }
    }
}

/// Signs a state token.
pub fn mint(keys: &TokenKeys, claims: &StateClaims) -> String {
    let payload = serde_json::to_vec(claims).expect("state claims serialise");
    keys.sign(&payload)
}

/// Verifies a state token for `redirect_uri` at time `now`: signature first, then claims, then
/// expiry (so an expired forgery is reported as a forgery).
pub fn verify(keys: &TokenKeys, token: &str, redirect_uri: &str, now: u64) -> Result<StateClaims, StateError> {
    let payload = keys.verify(token, MAX_STATE_LEN)?;
    let claims: StateClaims = serde_json::from_slice(&payload).map_err(|_| StateError::Invalid("claims"))?;
    if claims.aud != redirect_uri {
        return Err(StateError::Invalid("aud is not this redirect URI"));
    }
    if claims.iat > now + LEEWAY_SECS || claims.exp < claims.iat {
        return Err(StateError::Invalid("iat/exp"));
    }
    if !crate::flow::is_flow_id(&claims.jti) || !crate::flow::is_flow_secret(&claims.vh) {
        return Err(StateError::Invalid("jti/vh"));
    }
    if now > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(StateError::Expired { return_to: claims.rt });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::Purpose;
    use crate::secret::SecretString;

    fn keys() -> TokenKeys {
        TokenKeys::derive(&[SecretString::new("k".repeat(32))], Purpose::State, "c", "https://a/v2.0")
    }

    fn claims(iat: u64) -> StateClaims {
        StateClaims {
            jti: "A".repeat(22),
            iat,
            exp: iat + 600,
            aud: "https://app/api/callback".into(),
            rt: "/".into(),
            vh: "B".repeat(43),
        }
    }

    #[test]
    fn round_trip() {
        let t = mint(&keys(), &claims(1000));
        assert_eq!(verify(&keys(), &t, "https://app/api/callback", 1000).unwrap(), claims(1000));
    }

    #[test]
    fn expiry_wrong_audience_and_future_iat() {
        let t = mint(&keys(), &claims(1000));
        assert_eq!(
            verify(&keys(), &t, "https://app/api/callback", 1000 + 600 + LEEWAY_SECS + 1),
            Err(StateError::Expired { return_to: "/".into() })
        );
        assert!(matches!(verify(&keys(), &t, "https://other/api/callback", 1000), Err(StateError::Invalid(_))));
        assert!(matches!(verify(&keys(), &t, "https://app/api/callback", 900), Err(StateError::Invalid(_))));
    }

    #[test]
    fn an_expiry_at_the_end_of_time_does_not_overflow() {
        let mut c = claims(1000);
        c.exp = u64::MAX;
        let t = mint(&keys(), &c);
        assert_eq!(verify(&keys(), &t, "https://app/api/callback", 2000).unwrap(), c);
    }

    #[test]
    fn unknown_claims_are_refused() {
        let payload = br#"{"jti":"AAAAAAAAAAAAAAAAAAAAAA","iat":1,"exp":2,"aud":"x","rt":"/","vh":"v","extra":1}"#;
        let t = keys().sign(payload);
        assert_eq!(verify(&keys(), &t, "x", 1), Err(StateError::Invalid("claims")));
    }
}
