//! ID-token validation: RS256 only, key from the provider's JWKS, `aud`, `exp`/`nbf`/`iat` with
//! bounded leeway, nonce, and an issuer rule that understands Entra's `{tenantid}` template.

use jsonwebtoken::{errors::ErrorKind, Algorithm, Validation};
use serde::Deserialize;

use crate::idp::authority::issuer_for;
use crate::idp::provider::VerifyKey;
use crate::support::text::cap;
use crate::tokens::session::SessionClaims;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 300;

/// Longest ID token accepted.
pub const MAX_ID_TOKEN_LEN: usize = 32 * 1024;

/// The claims this service reads from an ID token.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// Subject (pairwise per app in Entra).
    pub sub: String,
    /// Audience: one client id, or an array of them.
    #[serde(default)]
    pub aud: Audience,
    /// Expiry (Unix seconds).
    pub exp: u64,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Nonce echoed from the authorize request.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Entra object id of the user.
    #[serde(default)]
    pub oid: Option<String>,
    /// Entra tenant id.
    #[serde(default)]
    pub tid: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Sign-in name (mutable; not an identifier).
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// E-mail address (not verified across tenants; never an identifier).
    #[serde(default)]
    pub email: Option<String>,
    /// App roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Group ids, unless the user has too many (overage).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Distributed-claims names: `groups` here means overage.
    #[serde(default, rename = "_claim_names")]
    pub claim_names: Option<serde_json::Map<String, serde_json::Value>>,
    /// Implicit-flow overage indicator.
    #[serde(default)]
    pub hasgroups: Option<bool>,
    /// Hint for RP-initiated logout (optional claim).
    #[serde(default)]
    pub login_hint: Option<String>,
    /// The IdP's session id, named again by its front-channel logout.
    #[serde(default)]
    pub sid: Option<String>,
    /// Set when a Graph lookup answered only for some groups (the kept set was not exclusive):
    /// the session then still says overage, since other groups remain unknown.
    #[serde(skip)]
    groups_partial: bool,
}

/// The `aud` claim, which OIDC allows as a string or an array.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// No `aud` (refused: it is a required claim).
    #[default]
    Missing,
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether every audience the token names is one of `allowed` (and it names one): an access
    /// token is for one resource, which must be this API under one of its names.
    pub fn is_among(&self, allowed: &[String]) -> bool {
        let ok = |a: &String| allowed.iter().any(|x| x == a);
        match self {
            Audience::Missing => false,
            Audience::One(a) => ok(a),
            Audience::Many(list) => !list.is_empty() && list.iter().all(ok),
        }
    }

    /// The audiences the token names.
    pub fn values(&self) -> &[String] {
        match self {
            Audience::Missing => &[],
            Audience::One(a) => std::slice::from_ref(a),
            Audience::Many(list) => list,
        }
    }

    /// OIDC Core 3.1.3.7: the client must be an audience, and there may be no audience the
    /// client does not trust. This client trusts only itself.
    pub fn is_only(&self, client_id: &str) -> bool {
        match self {
            Audience::Missing => false,
            Audience::One(a) => a == client_id,
            Audience::Many(list) => !list.is_empty() && list.iter().all(|a| a == client_id),
        }
    }
}

impl IdClaims {
    /// The session for this validated token, issued at `now` for `ttl_secs`, as an interactive
    /// sign-in (`auth_time` = `now`; a renewal then sets its own). Minting sets the deployment's
    /// `iss` and `aud` and caps the claims to fit a cookie.
    pub fn into_session(self, now: u64, ttl_secs: u64) -> SessionClaims {
        let overage = self.groups_overage();
        let partial = self.groups_partial;
        SessionClaims {
            iss: String::new(),
            aud: String::new(),
            idp: self.iss,
            sub: self.sub,
            oid: self.oid,
            tid: self.tid,
            name: self.name,
            preferred_username: self.preferred_username,
            email: self.email,
            roles: self.roles,
            groups: if overage { Vec::new() } else { self.groups },
            groups_overage: overage || partial,
            login_hint: self.login_hint,
            sid: self.sid,
            iat: now,
            exp: now + ttl_secs,
            auth_time: Some(now),
        }
    }

    /// Records the groups a Microsoft Graph lookup found for a token with groups overage: the
    /// ones among those the deployment asked about that the user is in. The overage is then
    /// resolved: the groups listed are all the relevant ones, so a rule finds a non-member
    /// "not in the group" rather than "groups unknown".
    ///
    /// `complete` is false when the groups asked about are not the only ones a session keeps
    /// (`SSO_SESSION_GROUPS` unset): the rules are then decided on the answer, but the session
    /// keeps `groups_overage`, so a later `?group=` outside the set is never read as "not a
    /// member".
    pub fn resolve_groups(&mut self, groups: Vec<String>, complete: bool) {
        self.groups = groups;
        self.groups_partial = !complete;
        self.hasgroups = None;
        if let Some(names) = self.claim_names.as_mut() {
            names.remove("groups");
        }
    }

    /// Whether the token says the user's groups did not fit (groups overage).
    pub fn groups_overage(&self) -> bool {
        self.hasgroups == Some(true) || self.claim_names.as_ref().is_some_and(|m| m.contains_key("groups"))
    }
}

/// Which check an ID token failed (logged for the operator; the user sees `id_token_invalid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a JWT, or too large.
    #[error("malformed ID token")]
    Malformed,
    /// `alg` other than RS256 (including `none` and HMAC).
    #[error("algorithm {0} not allowed")]
    Algorithm(String),
    /// No `kid` header.
    #[error("no kid in the header")]
    NoKid,
    /// `kid` not in the provider's JWKS, even after a refetch.
    #[error("kid {0} is not in the provider's keys")]
    UnknownKid(String),
    /// Signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `iss` is not the expected issuer.
    #[error("issuer {0} is not the expected issuer")]
    Issuer(String),
    /// The key is published for another issuer.
    #[error("key published for issuer {key_issuer} signed a token of issuer {token_issuer}")]
    KeyIssuer {
        /// The key's `issuer`.
        key_issuer: String,
        /// The token's `iss`.
        token_issuer: String,
    },
    /// `aud` is not this client, or names other audiences too.
    #[error("audience is not this client alone")]
    Audience,
    /// Past `exp` (with leeway).
    #[error("expired")]
    Expired,
    /// Before `nbf` or `iat` (with leeway).
    #[error("not yet valid")]
    NotYetValid,
    /// `nonce` missing or not this flow's.
    #[error("nonce does not match this flow")]
    Nonce,
    /// A required claim is missing.
    #[error("required claim missing: {0}")]
    MissingClaim(&'static str),
    /// An identifier claim is empty or longer than any real one.
    #[error("claim {0} is empty or too long")]
    ClaimSize(&'static str),
}

/// The `kid` of an RS256 token, after the algorithm allow-list check.
pub fn rs256_kid(token: &str) -> Result<String, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_LEN {
        return Err(IdTokenError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
        ErrorKind::InvalidAlgorithmName => IdTokenError::Algorithm("unknown".into()),
        _ => IdTokenError::Malformed,
    })?;
    if header.alg != Algorithm::RS256 {
        return Err(IdTokenError::Algorithm(format!("{:?}", header.alg)));
    }
    header.kid.ok_or(IdTokenError::NoKid)
}

/// RS256 only, `exp` and `nbf` checked with [`LEEWAY_SECS`], `required` claims present: the
/// validation of every token the provider signs (ID tokens, access tokens).
pub(crate) fn rs256_validation(required: &[&str]) -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.validate_exp = true;
    validation.set_required_spec_claims(required);
    validation
}

/// Validates ID tokens for one client; built once per instance. Who may sign in (tenants, roles,
/// groups) is [`crate::idp::policy`]'s concern, applied after this.
pub struct IdTokenVerifier {
    client_id: String,
    validation: Validation,
}

impl IdTokenVerifier {
    /// A verifier for tokens addressed to `client_id` alone.
    pub fn new(client_id: &str) -> Self {
        let mut validation = rs256_validation(&["exp", "aud", "iss", "sub"]);
        validation.set_audience(&[client_id]);
        Self { client_id: client_id.to_owned(), validation }
    }

    /// Verifies `token` signed by `key` for the metadata issuer `issuer` (exact, or a
    /// `{tenantid}` template), expecting `nonce`, at time `now`.
    pub fn verify(
        &self,
        token: &str,
        key: &VerifyKey,
        issuer: &str,
        nonce: &str,
        now: u64,
    ) -> Result<IdClaims, IdTokenError> {
        let data = jsonwebtoken::decode::<IdClaims>(token, &key.key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => IdTokenError::Signature,
            ErrorKind::ExpiredSignature => IdTokenError::Expired,
            ErrorKind::ImmatureSignature => IdTokenError::NotYetValid,
            ErrorKind::InvalidAudience => IdTokenError::Audience,
            ErrorKind::InvalidAlgorithm => IdTokenError::Algorithm("mismatch".into()),
            ErrorKind::MissingRequiredClaim(c) => IdTokenError::MissingClaim(match c.as_str() {
                "exp" => "exp",
                "aud" => "aud",
                "iss" => "iss",
                _ => "sub",
            }),
            _ => IdTokenError::Malformed,
        })?;
        let mut claims = data.claims;
        if !claims.aud.is_only(&self.client_id) {
            return Err(IdTokenError::Audience);
        }
        // GUIDs compare case-insensitively; every later comparison sees one spelling.
        for id in [&mut claims.tid, &mut claims.oid].into_iter().flatten() {
            id.make_ascii_lowercase();
        }
        check_sizes(&claims)?;
        if claims.iat > now + LEEWAY_SECS {
            return Err(IdTokenError::NotYetValid);
        }
        let expected_iss = expected_issuer(issuer, claims.tid.as_deref())?;
        if claims.iss != expected_iss {
            return Err(IdTokenError::Issuer(claims.iss));
        }
        if let Some(key_issuer) = &key.issuer {
            if expected_issuer(key_issuer, claims.tid.as_deref())? != claims.iss {
                return Err(IdTokenError::KeyIssuer { key_issuer: key_issuer.clone(), token_issuer: claims.iss });
            }
        }
        let token_nonce = claims.nonce.as_deref().ok_or(IdTokenError::Nonce)?;
        if !crate::support::ct_eq(token_nonce.as_bytes(), nonce.as_bytes()) {
            return Err(IdTokenError::Nonce);
        }
        Ok(claims)
    }
}

/// Identifiers are short in every real token (OIDC caps `sub` at 255 ASCII characters; `oid` and
/// `tid` are GUIDs): longer ones are refused so they cannot crowd the session cookie.
fn check_sizes(c: &IdClaims) -> Result<(), IdTokenError> {
    if c.sub.is_empty() || c.sub.len() > 255 {
        return Err(IdTokenError::ClaimSize("sub"));
    }
    for (name, value) in [("oid", &c.oid), ("tid", &c.tid)] {
        if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 64) {
            return Err(IdTokenError::ClaimSize(name));
        }
    }
    Ok(())
}

/// The issuer a token must carry: `issuer` itself, or its `{tenantid}` template filled with the
/// token's `tid`.
pub(crate) fn expected_issuer(issuer: &str, tid: Option<&str>) -> Result<String, IdTokenError> {
    issuer_for(issuer, tid).ok_or_else(|| match tid {
        None => IdTokenError::MissingClaim("tid"),
        Some(tid) => IdTokenError::Issuer(format!("(tid {} is not a GUID)", cap(tid, 64))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_allow_list_is_checked_before_keys() {
        // {"alg":"none","kid":"k"} . {} .
        let none = "eyJhbGciOiJub25lIiwia2lkIjoiayJ9.e30.";
        assert!(matches!(rs256_kid(none), Err(IdTokenError::Algorithm(_)) | Err(IdTokenError::Malformed)));
        // {"alg":"HS256","kid":"k"}
        let hs = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsifQ.e30.c2ln";
        assert_eq!(rs256_kid(hs), Err(IdTokenError::Algorithm("HS256".into())));
        assert_eq!(rs256_kid("not a jwt"), Err(IdTokenError::Malformed));
    }
}
