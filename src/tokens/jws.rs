//! Compact JWS for this service's own tokens: HS256 keys for the tokens only this service
//! reads (the state), and the parsing every token shares. The session, which other apps
//! verify, is ES256 ([`crate::tokens::session_keys`]).
//!
//! Each token type has its own keys, derived from every `SSO_SECRET` entry with HKDF-SHA256.
//! The HKDF `info` names the purpose and the [`Deployment`] (client id, authority, redirect URI),
//! so a token minted by another deployment that shares the secret (staging and production on
//! one app registration, say) does not verify here. The `kid` is a fingerprint of
//! the derived key. Headers are constant per key, so signing assembles the token directly and
//! verification recognises a header by comparing it with the expected ones: no JSON is parsed
//! for the header unless it is unknown.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::tokens::secret::SigningSecrets;

type HmacSha256 = Hmac<Sha256>;

/// What a token is for; each purpose has its own keys and `typ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The OAuth `state` parameter.
    State,
    /// The session cookie (ES256, see [`crate::tokens::session_keys`]).
    Session,
}

impl Purpose {
    /// The purpose's name in HKDF `info` strings.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Purpose::State => "state",
            Purpose::Session => "session",
        }
    }

    /// The JOSE `typ` header of this purpose's tokens.
    pub fn typ(self) -> &'static str {
        match self {
            Purpose::State => "entra-sso-state+jwt",
            Purpose::Session => "entra-sso-session+jwt",
        }
    }
}

/// Why a token did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not a compact JWS of acceptable size and alphabet.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// A well-formed header of this token type naming a key this instance does not hold.
    #[error("signed with a key this instance does not hold")]
    KeyUnknown,
    /// Wrong header, algorithm, type or signature.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
}

struct TokenKey {
    kid: String,
    mac: HmacSha256,
    /// `mac` after absorbing `header_b64` and the dot: every token of this key starts so.
    mac_after_header: HmacSha256,
    header_b64: String,
}

/// The keys of one token purpose: the first signs, all verify.
pub struct TokenKeys {
    purpose: Purpose,
    keys: Vec<TokenKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("TokenKeys").field("purpose", &self.purpose).field("kids", &kids).finish()
    }
}

/// What a deployment is, for key derivation: two deployments differing in any of these never
/// accept each other's tokens, even with the same `SSO_SECRET`.
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'a> {
    /// `SSO_CLIENT_ID`.
    pub client_id: &'a str,
    /// The authority URL.
    pub authority: &'a str,
    /// `SSO_REDIRECT_URI`: where this deployment's sign-ins end, so where its sessions live.
    pub redirect_uri: &'a str,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: String,
    #[allow(dead_code)]
    kid: String,
}

impl TokenKeys {
    /// Derives the keys of `purpose` for `deployment`.
    pub fn derive(secrets: &SigningSecrets, purpose: Purpose, deployment: Deployment<'_>) -> Self {
        let Deployment { client_id, authority, redirect_uri } = deployment;
        let info = format!("entra-sso/v2/{}\0{client_id}\0{authority}\0{redirect_uri}", purpose.label());
        let keys = secrets
            .iter()
            .map(|secret| {
                let mut okm = [0u8; 32];
                Hkdf::<Sha256>::new(Some(b"entra-sso"), secret.expose())
                    .expand(info.as_bytes(), &mut okm)
                    .expect("32 bytes is a valid HKDF-SHA256 output length");
                let kid = fingerprint(&okm);
                let header = format!(r#"{{"alg":"HS256","typ":"{}","kid":"{kid}"}}"#, purpose.typ());
                let header_b64 = URL_SAFE_NO_PAD.encode(header);
                let mac = HmacSha256::new_from_slice(&okm).expect("HMAC takes any key length");
                let mut mac_after_header = mac.clone();
                mac_after_header.update(header_b64.as_bytes());
                mac_after_header.update(b".");
                TokenKey { header_b64, mac, mac_after_header, kid }
            })
            .collect();
        Self { purpose, keys }
    }

    /// Signs `payload` (JSON bytes) with the first key.
    pub fn sign(&self, payload: &[u8]) -> String {
        let mut token = String::with_capacity(self.signed_len(payload.len()));
        self.sign_into(payload, &mut token);
        token
    }

    /// Length of the token [`TokenKeys::sign`] makes from a payload of `payload_len` bytes.
    pub fn signed_len(&self, payload_len: usize) -> usize {
        self.keys[0].header_b64.len() + 1 + (payload_len * 4).div_ceil(3) + 1 + 43
    }

    /// Appends the token for `payload` to `out`, so a caller building a URL copies nothing.
    pub fn sign_into(&self, payload: &[u8], out: &mut String) {
        let key = &self.keys[0];
        out.push_str(&key.header_b64);
        out.push('.');
        let payload_start = out.len();
        URL_SAFE_NO_PAD.encode_string(payload, out);
        let mut mac = key.mac_after_header.clone();
        mac.update(&out.as_bytes()[payload_start..]);
        let tag = mac.finalize().into_bytes();
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, out);
    }

    /// Verifies `token` and returns its payload bytes. `max_len` caps the accepted size.
    pub fn verify(&self, token: &str, max_len: usize) -> Result<Vec<u8>, JwsError> {
        let parts = Parts::split(token, max_len)?;
        let key = match self.keys.iter().find(|k| k.header_b64 == parts.header) {
            Some(key) => key,
            None => return Err(classify_unknown_header(parts.header, "HS256", self.purpose)),
        };
        let tag = parts.signature()?;
        let mut mac = key.mac.clone();
        mac.update(parts.signing_input.as_bytes());
        mac.verify_slice(&tag).map_err(|_| JwsError::Invalid("bad signature"))?;
        parts.payload()
    }
}

/// The three parts of a compact JWS, checked for size and alphabet only.
pub(crate) struct Parts<'a> {
    /// The base64url header, compared as is with the expected ones.
    pub header: &'a str,
    /// `header.payload`: what the signature covers.
    pub signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> Parts<'a> {
    /// Splits `token` into its parts; refuses anything longer than `max_len`, with other than
    /// three non-empty parts, or outside the base64url alphabet.
    pub(crate) fn split(token: &'a str, max_len: usize) -> Result<Self, JwsError> {
        if token.len() > max_len {
            return Err(JwsError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed("not three dot-separated parts"));
        };
        if [header, payload, signature].iter().any(|p| p.is_empty() || !p.bytes().all(super::is_base64url)) {
            return Err(JwsError::Malformed("not base64url"));
        }
        let signing_input = &token[..header.len() + 1 + payload.len()];
        Ok(Parts { header, signing_input, payload, signature })
    }

    /// The decoded signature.
    pub(crate) fn signature(&self) -> Result<Vec<u8>, JwsError> {
        URL_SAFE_NO_PAD.decode(self.signature).map_err(|_| JwsError::Malformed("signature is not base64url"))
    }

    /// The decoded payload.
    pub(crate) fn payload(&self) -> Result<Vec<u8>, JwsError> {
        URL_SAFE_NO_PAD.decode(self.payload).map_err(|_| JwsError::Malformed("payload is not base64url"))
    }
}

/// A header that is none of ours: an unknown key of our algorithm and token type, or something
/// else (another algorithm, another token type, garbage).
pub(crate) fn classify_unknown_header(header_b64: &str, alg: &str, purpose: Purpose) -> JwsError {
    if header_b64.len() > 512 {
        return JwsError::Invalid("header");
    }
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(header_b64) else {
        return JwsError::Malformed("header is not base64url");
    };
    match serde_json::from_slice::<Header>(&bytes) {
        Ok(h) if h.alg == alg && h.typ == purpose.typ() => JwsError::KeyUnknown,
        Ok(h) if h.alg != alg => JwsError::Invalid("algorithm not allowed"),
        Ok(_) => JwsError::Invalid("wrong token type"),
        Err(_) => JwsError::Invalid("header"),
    }
}

/// A short, non-reversible name for a derived key.
fn fingerprint(key: &[u8; 32]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"kid");
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..9])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::secret::SigningSecret;

    const DEPLOYMENT: Deployment<'static> = Deployment {
        client_id: "client",
        authority: "https://login.microsoftonline.com/t/v2.0",
        redirect_uri: "https://app.example.com/api/callback",
    };

    fn keys(secrets: &[&str], purpose: Purpose) -> TokenKeys {
        let s: Vec<_> = secrets.iter().map(|s| SigningSecret::parse(s).unwrap()).collect();
        TokenKeys::derive(&SigningSecrets::new(s[0].clone(), s[1..].to_vec()), purpose, DEPLOYMENT)
    }

    const A: &str = "gUrxJrzLgD7GKCzNf43jrhMfxNohhw6tSQs0t8JEaNg";
    const B: &str = "iBsCU8uhzuZ3UV3N8pnuhBhA7xFuNMFBdl4w5BfcVEk";

    #[test]
    fn round_trip_and_rotation() {
        let old = keys(&[A], Purpose::State);
        let token = old.sign(br#"{"x":1}"#);
        assert_eq!(old.verify(&token, 4096).unwrap(), br#"{"x":1}"#);
        let rotated = keys(&[B, A], Purpose::State);
        assert_eq!(rotated.verify(&token, 4096).unwrap(), br#"{"x":1}"#);
        assert_eq!(keys(&[B], Purpose::State).verify(&token, 4096), Err(JwsError::KeyUnknown));
    }

    #[test]
    fn sign_into_appends_a_token_of_the_announced_length() {
        let k = keys(&[A], Purpose::State);
        // An empty payload is not a token `verify` accepts; the length rule holds for it too.
        assert_eq!(keys(&[A], Purpose::State).sign(b"").len(), keys(&[A], Purpose::State).signed_len(0));
        for len in 1..70 {
            let payload = vec![b'x'; len];
            let mut out = String::from("https://idp/authorize?state=");
            let before = out.len();
            k.sign_into(&payload, &mut out);
            assert_eq!(out.len() - before, k.signed_len(len), "payload of {len} bytes");
            assert_eq!(k.verify(&out[before..], 4096).unwrap(), payload);
            assert_eq!(&out[before..], k.sign(&payload));
        }
    }

    #[test]
    fn purposes_and_deployments_do_not_cross() {
        let token = keys(&[A], Purpose::State).sign(b"{}");
        assert_eq!(keys(&[A], Purpose::Session).verify(&token, 4096), Err(JwsError::Invalid("wrong token type")));
        let secret = SigningSecrets::from(SigningSecret::parse(A).unwrap());
        let other_authority = Deployment { authority: "https://other/v2.0", ..DEPLOYMENT };
        let other_redirect = Deployment { redirect_uri: "https://staging.example.com/api/callback", ..DEPLOYMENT };
        for other in [other_authority, other_redirect] {
            let other = TokenKeys::derive(&secret, Purpose::State, other);
            assert_eq!(other.verify(&token, 4096), Err(JwsError::KeyUnknown), "{other:?}");
        }
    }

    #[test]
    fn tampering_is_rejected() {
        let k = keys(&[A], Purpose::State);
        let token = k.sign(br#"{"x":1}"#);
        let (head, sig) = token.rsplit_once('.').unwrap();
        assert!(k.verify(head, 4096).is_err());
        assert!(k.verify(&format!("{head}."), 4096).is_err());
        let forged_payload = format!("{}.{}.{sig}", k.keys[0].header_b64, URL_SAFE_NO_PAD.encode(br#"{"x":2}"#));
        assert_eq!(k.verify(&forged_payload, 4096), Err(JwsError::Invalid("bad signature")));
        assert_eq!(k.verify(&token, 10), Err(JwsError::Malformed("too long")));
        assert!(k.verify(&format!("{token},{token}"), 4096).is_err());
    }

    #[test]
    fn kid_is_a_fingerprint_not_an_index() {
        let k = keys(&[A, B], Purpose::State);
        assert_ne!(k.keys[0].kid, "0");
        assert_eq!(k.keys[0].kid.len(), 12);
        assert_ne!(k.keys[0].kid, k.keys[1].kid);
    }
}
