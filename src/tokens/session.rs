//! The session cookie: a signed token (session subkey) with the user's identity and
//! authorization claims. No raw IdP token is kept, and the cookie stays under
//! [`MAX_SESSION_TOKEN_LEN`] whatever the ID token carried.

use serde::{Deserialize, Serialize};

use crate::tokens::jws::{JwsError, TokenKeys};

/// Longest session token minted or accepted (the whole `Set-Cookie` stays under 3.5 KB).
pub const MAX_SESSION_TOKEN_LEN: usize = 3400;

/// Longest display string (name, username, e-mail) kept in a session.
const MAX_STRING: usize = 256;

/// Most roles kept in a session.
const MAX_ROLES: usize = 64;

/// The claims of a session token, as `/api/me` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionClaims {
    /// The ID token's issuer (tenant-specific).
    pub iss: String,
    /// This app's client id.
    pub aud: String,
    /// The ID token's subject.
    pub sub: String,
    /// Entra object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// Entra tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Sign-in name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// E-mail address as the IdP sent it (unverified across tenants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// App roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Group ids (empty with `groups_overage`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// True when the user's groups are not in the session: too many for the token or the cookie.
    #[serde(default)]
    pub groups_overage: bool,
    /// Hint for RP-initiated logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// The IdP's session id, so a front-channel logout ends only the session it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

/// Why a session cookie was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Bad token, signature or claims.
    #[error("invalid session: {0}")]
    Invalid(String),
    /// Past its lifetime.
    #[error("session expired")]
    Expired,
    /// Issued before `SSO_SESSION_NOT_BEFORE`.
    #[error("session revoked by SSO_SESSION_NOT_BEFORE")]
    Revoked,
}

impl From<JwsError> for SessionError {
    fn from(e: JwsError) -> Self {
        SessionError::Invalid(e.to_string())
    }
}

/// What a session must not lose when it is cut to fit: the roles and groups a policy looks for,
/// so a session keeps passing the rules its sign-in passed.
pub trait Keep {
    /// Whether `role` must survive a cut.
    fn keep_role(&self, role: &str) -> bool;
    /// Whether `group` must survive a cut.
    fn keep_group(&self, group: &str) -> bool;
}

impl SessionClaims {
    /// Applies the per-claim caps: display strings cut to 256 bytes, an over-long logout hint or
    /// session id dropped, at most 64 roles (those `keep` names first).
    fn cap_claims(&mut self, keep: &impl Keep) {
        for s in [&mut self.name, &mut self.preferred_username, &mut self.email].into_iter().flatten() {
            truncate(s, MAX_STRING);
        }
        if self.login_hint.as_ref().is_some_and(|h| h.len() > 1024) {
            self.login_hint = None;
        }
        if self.sid.as_ref().is_some_and(|s| s.len() > 128) {
            self.sid = None;
        }
        cut(&mut self.roles, MAX_ROLES, |r| keep.keep_role(r));
    }
}

/// Signs a session after applying the per-claim caps. What must then go to fit the size cap
/// goes in this order, always keeping what `keep` names: groups (cut to the kept ones and
/// flagged as overage, then dropped); the logout hint; roles (halved until they fit); display
/// names. Fails only if the identifiers alone do not fit, which validated ID tokens cannot cause.
pub fn mint(keys: &TokenKeys, claims: &mut SessionClaims, keep: &impl Keep) -> Result<String, SessionError> {
    claims.cap_claims(keep);
    loop {
        let token = keys.sign(&serde_json::to_vec(&*claims).expect("session claims serialise"));
        if token.len() <= MAX_SESSION_TOKEN_LEN {
            return Ok(token);
        }
        if !claims.groups.is_empty() {
            let listed = claims.groups.len();
            claims.groups.retain(|g| keep.keep_group(g));
            if claims.groups.len() == listed {
                claims.groups.clear();
            }
            claims.groups_overage = true;
        } else if claims.login_hint.is_some() {
            claims.login_hint = None;
        } else if !claims.roles.is_empty() {
            let half = claims.roles.len() / 2;
            cut(&mut claims.roles, half, |r| keep.keep_role(r));
        } else if claims.name.is_some() || claims.email.is_some() || claims.preferred_username.is_some() {
            claims.name = None;
            claims.email = None;
            claims.preferred_username = None;
        } else {
            return Err(SessionError::Invalid("identifiers do not fit in a session cookie".into()));
        }
    }
}

/// Verifies a session token for `client_id` at `now`, honouring `not_before` (revocation).
pub fn verify(
    keys: &TokenKeys,
    token: &str,
    client_id: &str,
    not_before: u64,
    now: u64,
) -> Result<SessionClaims, SessionError> {
    let payload = keys.verify(token, MAX_SESSION_TOKEN_LEN)?;
    let claims: SessionClaims = serde_json::from_slice(&payload).map_err(|_| SessionError::Invalid("claims".into()))?;
    if claims.aud != client_id {
        return Err(SessionError::Invalid("aud".into()));
    }
    if now >= claims.exp {
        return Err(SessionError::Expired);
    }
    if claims.iat < not_before {
        return Err(SessionError::Revoked);
    }
    Ok(claims)
}

/// Shortens `list` to `n` entries, those `keep` selects first, each part in its original order.
fn cut(list: &mut Vec<String>, n: usize, keep: impl Fn(&str) -> bool) {
    if list.len() <= n {
        return;
    }
    let (mut kept, others): (Vec<String>, Vec<String>) = list.drain(..).partition(|v| keep(v));
    kept.truncate(n);
    let room = n - kept.len();
    kept.extend(others.into_iter().take(room));
    *list = kept;
}

/// Cuts `s` to at most `max` bytes, on a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::jws::{Deployment, Purpose};
    use crate::tokens::secret::SigningSecret;

    /// Keeps the listed roles and groups.
    #[derive(Default)]
    struct Listed(Vec<&'static str>);

    impl Keep for Listed {
        fn keep_role(&self, role: &str) -> bool {
            self.0.contains(&role)
        }
        fn keep_group(&self, group: &str) -> bool {
            self.0.contains(&group)
        }
    }

    fn keys() -> TokenKeys {
        let secret = SigningSecret::parse("pEZM-K7ulA8aIeKXDjcF_EBQqEGFDYhIlJt2I6qd7ZE").unwrap();
        let deployment = Deployment { client_id: "c", authority: "https://a/v2.0", redirect_uri: "https://r/cb" };
        TokenKeys::derive(&secret.into(), Purpose::Session, deployment)
    }

    fn claims() -> SessionClaims {
        SessionClaims {
            iss: "https://a/t/v2.0".into(),
            aud: "c".into(),
            sub: "s".into(),
            oid: Some("o".into()),
            tid: Some("t".into()),
            name: Some("N".into()),
            preferred_username: None,
            email: None,
            roles: vec!["Admin".into()],
            groups: vec![],
            groups_overage: false,
            login_hint: None,
            sid: None,
            iat: 100,
            exp: 200,
        }
    }

    #[test]
    fn round_trip_expiry_and_revocation() {
        let t = mint(&keys(), &mut claims(), &Listed::default()).unwrap();
        assert_eq!(verify(&keys(), &t, "c", 0, 150).unwrap(), claims());
        assert_eq!(verify(&keys(), &t, "c", 0, 200), Err(SessionError::Expired));
        assert_eq!(verify(&keys(), &t, "c", 101, 150), Err(SessionError::Revoked));
        assert!(matches!(verify(&keys(), &t, "other", 0, 150), Err(SessionError::Invalid(_))));
    }

    #[test]
    fn oversized_identifiers_fail_instead_of_looping() {
        let mut c = claims();
        c.sub = "s".repeat(4000);
        assert!(mint(&keys(), &mut c, &Listed::default()).is_err());
    }

    #[test]
    fn required_roles_survive_every_cut() {
        let keep = Listed(vec!["Admin"]);
        let mut c = claims();
        c.roles = (0..300).map(|i| format!("role-{i:03}-{}", "x".repeat(40))).collect();
        c.roles.push("Admin".into());
        let t = mint(&keys(), &mut c, &keep).unwrap();
        let back = verify(&keys(), &t, "c", 0, 150).unwrap();
        assert!(back.roles.len() < 64 && back.roles.contains(&"Admin".to_string()), "{:?}", back.roles.len());
    }

    #[test]
    fn many_groups_become_the_overage_flag() {
        let mut c = claims();
        c.groups = (0..200).map(|i| format!("{i:08}-0000-0000-0000-000000000000")).collect();
        let t = mint(&keys(), &mut c.clone(), &Listed::default()).unwrap();
        assert!(t.len() <= MAX_SESSION_TOKEN_LEN);
        let back = verify(&keys(), &t, "c", 0, 150).unwrap();
        assert!(back.groups.is_empty() && back.groups_overage);
        assert_eq!(back.roles, vec!["Admin".to_string()]);
        // The groups a policy allows survive the cut, so the session passes the rule its sign-in passed.
        let t = mint(&keys(), &mut c, &Listed(vec!["00000007-0000-0000-0000-000000000000"])).unwrap();
        let back = verify(&keys(), &t, "c", 0, 150).unwrap();
        assert_eq!(back.groups, vec!["00000007-0000-0000-0000-000000000000".to_string()]);
        assert!(back.groups_overage);
    }
}
