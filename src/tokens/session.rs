//! The session: an ES256 JWT with the user's identity and authorization claims, issued by this
//! deployment, verifiable by any app against the published keys. No raw IdP token is kept, and
//! the cookie stays under [`MAX_SESSION_TOKEN_LEN`] whatever the ID token carried.
//!
//! [`Sessions`] mints and verifies them; a small bounded cache of verified tokens spares a
//! repeated cookie the signature check. It is a cache, never a store: losing it changes only speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tokens::jws::JwsError;
use crate::tokens::session_keys::SessionKeys;

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
    /// This deployment's issuer ([`Sessions::issuer`]), never the IdP's.
    pub iss: String,
    /// The audience consumers check: the client id, or `SSO_SESSION_AUDIENCE`.
    pub aud: String,
    /// The ID token's subject: stable per user and app registration (pairwise in Entra).
    pub sub: String,
    /// The IdP's issuer (tenant-specific for Entra), from the ID token's `iss`.
    pub idp: String,
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
    /// Group ids: the user's groups, or with `SSO_SESSION_GROUPS` only those among the kept
    /// groups (empty with `groups_overage` unless resolved).
    #[serde(default)]
    pub groups: Vec<String>,
    /// True when the session's groups may be incomplete (with `SSO_SESSION_GROUPS`: incomplete
    /// among the kept groups): too many for the token or the cookie.
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
    /// Expires at (Unix seconds): the end of its renewal lifetime, never past its absolute limit.
    pub exp: u64,
    /// When the user last signed in interactively (Unix seconds): kept through every silent
    /// renewal, so the absolute limit counts from it. Sessions minted before renewal existed
    /// lack it and count from `iat` ([`SessionClaims::auth_time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
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
    /// Past its absolute limit (`auth_time` + `SSO_SESSION_MAX_AGE`): only an interactive
    /// sign-in makes a new one.
    #[error("session past its absolute limit (SSO_SESSION_MAX_AGE)")]
    PastMaxAge,
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
    /// Cuts a user's `groups` to those a session may store at all, before any cut to fit
    /// (`SSO_SESSION_GROUPS`); by default every group may be stored.
    fn retain_groups(&self, groups: &mut Vec<String>) {
        let _ = groups;
    }
}

/// A session's two lifetimes: the renewal lifetime (`SSO_SESSION_TTL`), after which it must be
/// renewed, and the absolute limit (`SSO_SESSION_MAX_AGE`), counted from the interactive
/// sign-in, after which only an interactive sign-in makes a new one. Both in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// `SSO_SESSION_TTL`.
    pub ttl: u64,
    /// `SSO_SESSION_MAX_AGE`.
    pub max_age: u64,
}

/// Where a genuine, unrevoked session before its absolute limit stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Valid, before its early window (or renewing would not extend it): accepted as it is.
    Valid,
    /// Valid, in the early window before `exp`, and a renewal would extend it: accepted; a
    /// navigation is sent to renew it silently.
    RenewalDue,
    /// Past `exp`, before the absolute limit: never accepted as identity, but a navigation is
    /// sent to renew it silently and a script is told `session_expired`.
    Expired,
}

impl Lifetimes {
    /// Longest early window: renewal starts at most this long before `exp`.
    pub const EARLY_WINDOW_MAX: u64 = 300;

    /// How long before `exp` a navigation renews a session: a quarter of the renewal lifetime,
    /// at most five minutes (so 7 s of a 30 s lifetime, 5 min of an hour).
    pub fn early_window(self) -> u64 {
        (self.ttl / 4).min(Self::EARLY_WINDOW_MAX)
    }

    /// The absolute limit of a session signed in interactively at `auth_time`.
    pub fn limit(self, auth_time: u64) -> u64 {
        auth_time.saturating_add(self.max_age)
    }

    /// The `exp` of a session minted at `now` for a sign-in at `auth_time`: the renewal
    /// lifetime, cut at the absolute limit.
    pub fn expiry(self, now: u64, auth_time: u64) -> u64 {
        now.saturating_add(self.ttl).min(self.limit(auth_time))
    }

    /// Where `claims` stand at `now` (signature, issuer, audience and revocation already
    /// checked), or [`SessionError::PastMaxAge`] at or past the absolute limit, which is
    /// computed from today's `SSO_SESSION_MAX_AGE`, so lowering it ends sessions already issued.
    pub fn standing(self, claims: &SessionClaims, now: u64) -> Result<Standing, SessionError> {
        let limit = self.limit(claims.auth_time());
        if now >= limit {
            return Err(SessionError::PastMaxAge);
        }
        Ok(if now >= claims.exp {
            Standing::Expired
        } else if now >= claims.exp.saturating_sub(self.early_window()) && claims.exp < limit {
            Standing::RenewalDue
        } else {
            Standing::Valid
        })
    }
}

impl SessionClaims {
    /// When the user last signed in interactively: `auth_time`, or `iat` for a session minted
    /// before the claim existed.
    pub fn auth_time(&self) -> u64 {
        self.auth_time.unwrap_or(self.iat)
    }

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

/// Largest number of verified tokens an instance remembers.
const CACHE_ENTRIES: usize = 4096;

/// Mints and verifies one deployment's sessions.
#[derive(Debug)]
pub struct Sessions {
    keys: SessionKeys,
    issuer: String,
    audience: String,
    not_before: u64,
    /// Verified tokens by SHA-256 of the token: a repeated cookie skips the signature check.
    verified: Mutex<HashMap<[u8; 32], Arc<SessionClaims>>>,
}

impl Sessions {
    /// Sessions signed with `keys`, issued as `issuer` for `audience`; those issued before
    /// `not_before` (`SSO_SESSION_NOT_BEFORE`) are revoked.
    pub fn new(keys: SessionKeys, issuer: String, audience: String, not_before: u64) -> Self {
        Self { keys, issuer, audience, not_before, verified: Mutex::new(HashMap::new()) }
    }

    /// The `iss` of every session: this deployment's own issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of every session.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The signing keys, for the published JWKS.
    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// Signs a session after keeping only the groups `keep` lets a session store
    /// ([`Keep::retain_groups`]) and applying the per-claim caps, with this deployment's `iss`
    /// and `aud`. What must then go to fit the size cap goes in this order, always keeping what
    /// `keep` names: groups (cut to the kept ones and flagged as overage, then dropped); the
    /// logout hint; roles (halved until they fit); display names. Fails only if the identifiers
    /// alone do not fit, which validated ID tokens cannot cause.
    pub fn mint(&self, claims: &mut SessionClaims, keep: &impl Keep) -> Result<String, SessionError> {
        self.mint_with(claims, keep, &serde_json::Map::new())
    }

    /// Signs an assertion for a caller without a session (a bearer token): the claims of
    /// [`Sessions::mint`], cut the same way, plus `extra` claims. Apps verify it exactly like a
    /// session; this service never accepts it as one, since session verification refuses
    /// unknown claims, so `extra` must not be empty.
    pub fn mint_assertion(
        &self,
        claims: &mut SessionClaims,
        keep: &impl Keep,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, SessionError> {
        if extra.is_empty() {
            return Err(SessionError::Invalid("an assertion needs claims a session cannot have".into()));
        }
        self.mint_with(claims, keep, extra)
    }

    fn mint_with(
        &self,
        claims: &mut SessionClaims,
        keep: &impl Keep,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, SessionError> {
        claims.iss.clone_from(&self.issuer);
        claims.aud.clone_from(&self.audience);
        keep.retain_groups(&mut claims.groups);
        claims.cap_claims(keep);
        loop {
            let payload = if extra.is_empty() {
                serde_json::to_vec(&*claims)
            } else {
                let mut all = match serde_json::to_value(&*claims) {
                    Ok(serde_json::Value::Object(map)) => map,
                    _ => serde_json::Map::new(),
                };
                all.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
                serde_json::to_vec(&all)
            };
            let token = self.keys.sign(&payload.expect("session claims serialise"));
            if token.len() <= MAX_SESSION_TOKEN_LEN {
                return Ok(token);
            }
            claims.shed(keep)?;
        }
    }

    /// Verifies a session token at `now` and says where it stands in its lifetimes: signature,
    /// issuer, audience and revocation first, then [`Lifetimes::standing`]. An expired session
    /// comes back as [`Standing::Expired`] with its claims, for its renewal; never treat it as
    /// identity.
    pub fn standing(
        &self,
        token: &str,
        now: u64,
        lifetimes: Lifetimes,
    ) -> Result<(Arc<SessionClaims>, Standing), SessionError> {
        let claims = self.genuine(token)?;
        let standing = lifetimes.standing(&claims, now)?;
        Ok((claims, standing))
    }

    /// Verifies a session token at `now`: signature, issuer, audience, lifetime and revocation.
    pub fn verify(&self, token: &str, now: u64) -> Result<Arc<SessionClaims>, SessionError> {
        let claims = self.genuine(token)?;
        if now >= claims.exp {
            return Err(SessionError::Expired);
        }
        Ok(claims)
    }

    /// The claims of a token whose signature, issuer and audience verify (from the cache when
    /// seen before) and that is not revoked. Its lifetime is not looked at, so this is never
    /// identity: only what a renewal may carry forward (`auth_time`).
    pub fn genuine(&self, token: &str) -> Result<Arc<SessionClaims>, SessionError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self.cache().get(&digest).cloned();
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_signed(token)?);
                let mut cache = self.cache();
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
                cache.insert(digest, claims.clone());
                claims
            }
        };
        if claims.iat < self.not_before {
            return Err(SessionError::Revoked);
        }
        Ok(claims)
    }

    /// The signature and the claims that never change for a token: issuer and audience.
    fn verify_signed(&self, token: &str) -> Result<SessionClaims, SessionError> {
        let payload = self.keys.verify(token, MAX_SESSION_TOKEN_LEN)?;
        let claims: SessionClaims =
            serde_json::from_slice(&payload).map_err(|_| SessionError::Invalid("claims".into()))?;
        if claims.iss != self.issuer {
            return Err(SessionError::Invalid("iss".into()));
        }
        if claims.aud != self.audience {
            return Err(SessionError::Invalid("aud".into()));
        }
        Ok(claims)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<SessionClaims>>> {
        // The map holds no invariant a panic elsewhere could break.
        self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SessionClaims {
    /// Drops the next thing that may go to fit the size cap (see [`Sessions::mint`]).
    fn shed(&mut self, keep: &impl Keep) -> Result<(), SessionError> {
        if !self.groups.is_empty() {
            let listed = self.groups.len();
            self.groups.retain(|g| keep.keep_group(g));
            if self.groups.len() == listed {
                self.groups.clear();
            }
            self.groups_overage = true;
        } else if self.login_hint.is_some() {
            self.login_hint = None;
        } else if !self.roles.is_empty() {
            let half = self.roles.len() / 2;
            cut(&mut self.roles, half, |r| keep.keep_role(r));
        } else if self.name.is_some() || self.email.is_some() || self.preferred_username.is_some() {
            self.name = None;
            self.email = None;
            self.preferred_username = None;
        } else {
            return Err(SessionError::Invalid("identifiers do not fit in a session cookie".into()));
        }
        Ok(())
    }
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
    use crate::tokens::jws::Deployment;
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

    fn sessions_for(audience: &str, not_before: u64) -> Sessions {
        let secret = SigningSecret::parse("pEZM-K7ulA8aIeKXDjcF_EBQqEGFDYhIlJt2I6qd7ZE").unwrap();
        let deployment =
            Deployment { client_id: "c", authority: "https://a/v2.0", redirect_uri: "https://r/api/callback" };
        let keys = SessionKeys::derive(&secret.into(), deployment);
        Sessions::new(keys, "https://r/api".into(), audience.into(), not_before)
    }

    fn sessions() -> Sessions {
        sessions_for("c", 0)
    }

    fn claims() -> SessionClaims {
        SessionClaims {
            iss: String::new(),
            aud: String::new(),
            sub: "s".into(),
            idp: "https://a/t/v2.0".into(),
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
            auth_time: Some(40),
        }
    }

    fn minted() -> SessionClaims {
        SessionClaims { iss: "https://r/api".into(), aud: "c".into(), ..claims() }
    }

    #[test]
    fn round_trip_expiry_and_revocation() {
        let t = sessions().mint(&mut claims(), &Listed::default()).unwrap();
        assert_eq!(*sessions().verify(&t, 150).unwrap(), minted());
        assert_eq!(sessions().verify(&t, 200), Err(SessionError::Expired));
        assert_eq!(sessions_for("c", 101).verify(&t, 150), Err(SessionError::Revoked));
        assert!(matches!(sessions_for("other", 0).verify(&t, 150), Err(SessionError::Invalid(_))));
    }

    #[test]
    fn cached_tokens_still_expire_and_tampered_ones_miss_the_cache() {
        let s = sessions();
        let t = s.mint(&mut claims(), &Listed::default()).unwrap();
        assert!(s.verify(&t, 150).is_ok());
        assert!(s.verify(&t, 150).is_ok(), "a cache hit verifies too");
        assert_eq!(s.verify(&t, 200), Err(SessionError::Expired), "a cached token still expires");
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(s.verify(&tampered, 150), Err(SessionError::Invalid(_))));
    }

    /// One hour to renew, a day in all: the defaults.
    const HOUR_AND_DAY: Lifetimes = Lifetimes { ttl: 3600, max_age: 86_400 };

    /// A session signed in interactively at `auth_time`, minted at `iat` as the callback mints it.
    fn at(auth_time: u64, iat: u64, lifetimes: Lifetimes) -> SessionClaims {
        SessionClaims { iat, exp: lifetimes.expiry(iat, auth_time), auth_time: Some(auth_time), ..claims() }
    }

    #[test]
    fn the_early_window_is_a_quarter_of_the_lifetime_and_at_most_five_minutes() {
        assert_eq!(HOUR_AND_DAY.early_window(), 300);
        assert_eq!(Lifetimes { ttl: 30, max_age: 600 }.early_window(), 7);
        assert_eq!(Lifetimes { ttl: 1000, max_age: 1000 }.early_window(), 250);
    }

    #[test]
    fn standing_through_a_renewal_lifetime() {
        let l = HOUR_AND_DAY;
        let s = at(10_000, 10_000, l);
        assert_eq!(s.exp, 13_600);
        assert_eq!(l.standing(&s, 10_000), Ok(Standing::Valid));
        assert_eq!(l.standing(&s, 13_299), Ok(Standing::Valid), "just before the early window");
        assert_eq!(l.standing(&s, 13_300), Ok(Standing::RenewalDue), "the early window opens 5 min before exp");
        assert_eq!(l.standing(&s, 13_599), Ok(Standing::RenewalDue));
        assert_eq!(l.standing(&s, 13_600), Ok(Standing::Expired), "at exp it is no longer valid");
        assert_eq!(l.standing(&s, 10_000 + 86_399), Ok(Standing::Expired), "renewable up to the absolute limit");
        assert_eq!(l.standing(&s, 10_000 + 86_400), Err(SessionError::PastMaxAge));
    }

    #[test]
    fn a_session_cut_at_its_absolute_limit_is_never_due() {
        let l = HOUR_AND_DAY;
        // Renewed 30 minutes before the absolute limit: its exp is the limit itself.
        let s = at(0, 86_400 - 1800, l);
        assert_eq!(s.exp, 86_400);
        assert_eq!(l.standing(&s, 86_399), Ok(Standing::Valid), "renewing could not extend it");
        assert_eq!(l.standing(&s, 86_400), Err(SessionError::PastMaxAge));
    }

    #[test]
    fn a_lowered_absolute_limit_ends_sessions_already_issued() {
        let s = at(0, 20 * 3600, HOUR_AND_DAY);
        assert_eq!(HOUR_AND_DAY.standing(&s, 20 * 3600 + 60), Ok(Standing::Valid));
        let lowered = Lifetimes { ttl: 3600, max_age: 8 * 3600 };
        assert_eq!(lowered.standing(&s, 20 * 3600 + 60), Err(SessionError::PastMaxAge));
    }

    #[test]
    fn a_session_without_auth_time_counts_from_iat() {
        let s = SessionClaims { iat: 1000, exp: 1000 + 8 * 3600, auth_time: None, ..claims() };
        assert_eq!(s.auth_time(), 1000);
        assert_eq!(HOUR_AND_DAY.standing(&s, 1000 + 8 * 3600), Ok(Standing::Expired));
        assert_eq!(HOUR_AND_DAY.standing(&s, 1000 + 86_400), Err(SessionError::PastMaxAge));
        // And a token without the claim still parses (deny_unknown_fields, claim defaulted).
        let old = br#"{"iss":"https://r/api","aud":"c","sub":"s","idp":"i","iat":1,"exp":2}"#;
        let parsed: SessionClaims = serde_json::from_slice(old).unwrap();
        assert_eq!((parsed.auth_time, parsed.auth_time()), (None, 1));
    }

    #[test]
    fn sessions_say_where_an_expired_token_stands_but_never_verify_it() {
        let s = sessions();
        let t = s.mint(&mut claims(), &Listed::default()).unwrap();
        let l = Lifetimes { ttl: 100, max_age: 1000 };
        let (back, standing) = s.standing(&t, 250, l).unwrap();
        assert_eq!((back.auth_time, standing), (Some(40), Standing::Expired));
        assert_eq!(s.verify(&t, 250), Err(SessionError::Expired));
        assert_eq!(s.standing(&t, 1040, l).map(|(_, st)| st), Err(SessionError::PastMaxAge));
        assert_eq!(sessions_for("c", 101).standing(&t, 150, l).map(|(_, st)| st), Err(SessionError::Revoked));
    }

    #[test]
    fn an_assertion_verifies_for_apps_but_never_as_a_session() {
        let s = sessions();
        let mut extra = serde_json::Map::new();
        extra.insert("idtyp".into(), "app".into());
        let t = s.mint_assertion(&mut claims(), &Listed::default(), &extra).unwrap();
        let payload = s.keys().verify(&t, MAX_SESSION_TOKEN_LEN).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            (json["iss"].as_str(), json["aud"].as_str(), json["idtyp"].as_str()),
            (Some("https://r/api"), Some("c"), Some("app"))
        );
        assert!(matches!(s.verify(&t, 150), Err(SessionError::Invalid(_))), "not a session");
        assert!(s.mint_assertion(&mut claims(), &Listed::default(), &serde_json::Map::new()).is_err());
    }

    #[test]
    fn oversized_identifiers_fail_instead_of_looping() {
        let mut c = claims();
        c.sub = "s".repeat(4000);
        assert!(sessions().mint(&mut c, &Listed::default()).is_err());
    }

    #[test]
    fn required_roles_survive_every_cut() {
        let keep = Listed(vec!["Admin"]);
        let mut c = claims();
        c.roles = (0..300).map(|i| format!("role-{i:03}-{}", "x".repeat(40))).collect();
        c.roles.push("Admin".into());
        let t = sessions().mint(&mut c, &keep).unwrap();
        let back = sessions().verify(&t, 150).unwrap();
        assert!(back.roles.len() < 64 && back.roles.contains(&"Admin".to_string()), "{:?}", back.roles.len());
    }

    /// Stores only the listed groups, as `SSO_SESSION_GROUPS` does.
    struct Only(Vec<&'static str>);

    impl Keep for Only {
        fn keep_role(&self, _: &str) -> bool {
            false
        }
        fn keep_group(&self, group: &str) -> bool {
            self.0.contains(&group)
        }
        fn retain_groups(&self, groups: &mut Vec<String>) {
            groups.retain(|g| self.keep_group(g));
        }
    }

    #[test]
    fn a_complete_list_cut_to_the_kept_groups_is_no_overage() {
        let mut c = claims();
        c.groups = (0..250).map(|i| format!("{i:08}-0000-0000-0000-000000000000")).collect();
        let keep = Only(vec!["00000007-0000-0000-0000-000000000000", "00000249-0000-0000-0000-000000000000"]);
        let t = sessions().mint(&mut c.clone(), &keep).unwrap();
        let back = sessions().verify(&t, 150).unwrap();
        assert_eq!(back.groups, keep.0.iter().map(|g| g.to_string()).collect::<Vec<_>>());
        assert!(!back.groups_overage, "complete with respect to the kept groups");
        let none = sessions().mint(&mut c, &Only(vec![])).unwrap();
        assert!(none.len() < t.len() + 100 && !sessions().verify(&none, 150).unwrap().groups_overage);
        let mut overage = claims();
        overage.groups_overage = true;
        let t = sessions().mint(&mut overage, &keep).unwrap();
        assert!(sessions().verify(&t, 150).unwrap().groups_overage, "an overage stays one");
    }

    #[test]
    fn many_groups_become_the_overage_flag() {
        let mut c = claims();
        c.groups = (0..200).map(|i| format!("{i:08}-0000-0000-0000-000000000000")).collect();
        let t = sessions().mint(&mut c.clone(), &Listed::default()).unwrap();
        assert!(t.len() <= MAX_SESSION_TOKEN_LEN);
        let back = sessions().verify(&t, 150).unwrap();
        assert!(back.groups.is_empty() && back.groups_overage);
        assert_eq!(back.roles, vec!["Admin".to_string()]);
        // The groups a policy allows survive the cut, so the session passes the rule its sign-in passed.
        let t = sessions().mint(&mut c, &Listed(vec!["00000007-0000-0000-0000-000000000000"])).unwrap();
        let back = sessions().verify(&t, 150).unwrap();
        assert_eq!(back.groups, vec!["00000007-0000-0000-0000-000000000000".to_string()]);
        assert!(back.groups_overage);
    }
}
