//! The OAuth `state` parameter: a signed, expiring token that carries everything the callback
//! needs, so no server keeps flow state.
//!
//! It is readable by anyone who sees the URL and holds no secret: the flow id (`jti`), the
//! redirect URI it was minted for (`aud`), the return path (`rt`) and the hash of the browser's
//! flow secret (`vh`, equal to the PKCE `code_challenge`). A silent flow (`prompt=none`) adds
//! `pn`, and the `auth_time` of the session it renews (`at`) when the browser held one.

use serde::{Deserialize, Serialize};

use crate::tokens::jws::{JwsError, TokenKeys};

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
    /// The flow asked for no page (`prompt=none`): a refusal that needs one falls back to an
    /// interactive sign-in.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pn: bool,
    /// The `auth_time` of the genuine session this silent flow renews, so the new session
    /// keeps it (only a verified session supplies it, never the query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
}

/// Whether a flag is off, so it is left out of the token.
fn is_false(flag: &bool) -> bool {
    !*flag
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

/// The claims of a state about to be minted, borrowed from the request being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewState<'a> {
    /// Flow id.
    pub jti: &'a str,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// The redirect URI the flow is started for.
    pub aud: &'a str,
    /// Where to send the browser after sign-in.
    pub rt: &'a str,
    /// `BASE64URL(SHA-256(flow secret))`.
    pub vh: &'a str,
    /// A silent flow (`prompt=none`).
    pub pn: bool,
    /// The renewed session's `auth_time`, on a silent flow.
    pub at: Option<u64>,
}

impl StateClaims {
    /// These claims, borrowed for minting.
    pub fn as_new(&self) -> NewState<'_> {
        NewState {
            jti: &self.jti,
            iat: self.iat,
            exp: self.exp,
            aud: &self.aud,
            rt: &self.rt,
            vh: &self.vh,
            pn: self.pn,
            at: self.at,
        }
    }
}

/// Signs a state token.
pub fn mint(keys: &TokenKeys, claims: &StateClaims) -> String {
    let mut token = String::new();
    mint_into(keys, &claims.as_new(), &mut token);
    token
}

/// Appends a signed state token for `claims` to `out` (the authorize URL being built).
pub fn mint_into(keys: &TokenKeys, claims: &NewState<'_>, out: &mut String) {
    let payload = payload_json(claims);
    out.reserve(keys.signed_len(payload.len()));
    keys.sign_into(&payload, out);
}

/// The claims as compact JSON, in declaration order: byte for byte what `serde_json` writes for
/// [`StateClaims`] (a test holds the two together), without its per-field machinery on the
/// sign-in hot path.
fn payload_json(c: &NewState<'_>) -> Vec<u8> {
    let mut j = Vec::with_capacity(80 + c.jti.len() + c.aud.len() + c.rt.len() + c.vh.len());
    j.extend_from_slice(b"{\"jti\":");
    json_str(&mut j, c.jti);
    j.extend_from_slice(b",\"iat\":");
    json_u64(&mut j, c.iat);
    j.extend_from_slice(b",\"exp\":");
    json_u64(&mut j, c.exp);
    j.extend_from_slice(b",\"aud\":");
    json_str(&mut j, c.aud);
    j.extend_from_slice(b",\"rt\":");
    json_str(&mut j, c.rt);
    j.extend_from_slice(b",\"vh\":");
    json_str(&mut j, c.vh);
    if c.pn {
        j.extend_from_slice(b",\"pn\":true");
    }
    if let Some(at) = c.at {
        j.extend_from_slice(b",\"at\":");
        json_u64(&mut j, at);
    }
    j.push(b'}');
    j
}

/// A JSON string literal, escaped as `serde_json` escapes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Almost always nothing needs escaping: one scan (written to vectorise), one copy.
    if !bytes.iter().fold(false, |seen, &b| seen | (b < 0x20) | (b == b'"') | (b == b'\\')) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn json_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
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
    if !crate::tokens::flow::is_flow_id(&claims.jti) || !crate::tokens::flow::is_flow_secret(&claims.vh) {
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
    use crate::tokens::jws::{Deployment, Purpose};
    use crate::tokens::secret::SigningSecret;

    fn keys() -> TokenKeys {
        let secret = SigningSecret::parse("pEZM-K7ulA8aIeKXDjcF_EBQqEGFDYhIlJt2I6qd7ZE").unwrap();
        let deployment =
            Deployment { client_id: "c", authority: "https://a/v2.0", redirect_uri: "https://app/api/callback" };
        TokenKeys::derive(&secret.into(), Purpose::State, deployment)
    }

    fn claims(iat: u64) -> StateClaims {
        StateClaims {
            jti: "A".repeat(22),
            iat,
            exp: iat + 600,
            aud: "https://app/api/callback".into(),
            rt: "/".into(),
            vh: "B".repeat(43),
            pn: false,
            at: None,
        }
    }

    #[test]
    fn a_silent_flow_carries_its_flag_and_auth_time() {
        let silent = StateClaims { pn: true, at: Some(777), ..claims(1000) };
        let t = mint(&keys(), &silent);
        assert_eq!(verify(&keys(), &t, "https://app/api/callback", 1000).unwrap(), silent);
        for c in [silent.clone(), StateClaims { at: None, ..silent }, claims(5)] {
            assert_eq!(payload_json(&c.as_new()), serde_json::to_vec(&c).unwrap());
        }
        // A state without them (minted before they existed) still verifies, as interactive.
        let plain = mint(&keys(), &claims(1000));
        assert!(!plain.is_empty());
        let back = verify(&keys(), &plain, "https://app/api/callback", 1000).unwrap();
        assert_eq!((back.pn, back.at), (false, None));
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
    fn payload_json_is_what_serde_writes() {
        let tricky = ["", "/", "/a\"b\\c", "/\u{0}\u{1f}\u{7f}\n\r\t\u{8}\u{c}", "/é/日本/\u{1F600}", "\"\"\\\\"];
        for rt in tricky {
            for iat in [0, 7, 1_795_776_436, u64::MAX - 1] {
                let c = StateClaims {
                    iat,
                    exp: iat.saturating_add(600),
                    rt: rt.to_owned(),
                    aud: format!("https://app{rt}"),
                    ..claims(0)
                };
                assert_eq!(payload_json(&c.as_new()), serde_json::to_vec(&c).unwrap(), "rt {rt:?}, iat {iat}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn payload_json_matches_serde_for_any_text(rt in "\\PC*|[\\x00-\\x7f]*", aud in "\\PC*", iat: u64) {
            let c = StateClaims { rt, aud, iat, exp: iat, pn: iat % 2 == 0, at: (iat % 3 == 0).then_some(iat / 2), ..claims(0) };
            proptest::prop_assert_eq!(payload_json(&c.as_new()), serde_json::to_vec(&c).unwrap());
        }
    }

    #[test]
    fn unknown_claims_are_refused() {
        let payload = br#"{"jti":"AAAAAAAAAAAAAAAAAAAAAA","iat":1,"exp":2,"aud":"x","rt":"/","vh":"v","extra":1}"#;
        let t = keys().sign(payload);
        assert_eq!(verify(&keys(), &t, "x", 1), Err(StateError::Invalid("claims")));
    }
}
