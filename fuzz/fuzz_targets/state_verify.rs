//! The state and session tokens: `jws::TokenKeys::verify`, `state::verify`,
//! `SessionKeys::verify`, `Sessions::verify` and `Sessions::standing` on arbitrary input, then
//! the same input as the *payload* of a genuinely signed token, so the claim checks behind the
//! signature are reached too. Nothing may panic; signing then verifying
//! returns the payload; a state token never verifies as a session token and vice versa.
#![no_main]

use std::sync::OnceLock;

use entra_sso::tokens::jws::{Deployment, Purpose, TokenKeys};
use entra_sso::tokens::secret::{SigningSecret, SigningSecrets};
use entra_sso::tokens::session::{self, Sessions};
use entra_sso::tokens::session_keys::SessionKeys;
use entra_sso::tokens::state;
use libfuzzer_sys::fuzz_target;

const CLIENT: &str = "client";
const AUTHORITY: &str = "https://login.microsoftonline.com/t/v2.0";
const REDIRECT: &str = "https://app.example/api/callback";
const ISSUER: &str = "https://app.example/api";
/// A fixed clock (2023-11-14), so runs are reproducible.
const NOW: u64 = 1_700_000_000;

struct Keys {
    state: TokenKeys,
    session: SessionKeys,
    /// Sessions revoked before 0 (none) and before `NOW`.
    sessions: [(u64, Sessions); 2],
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let secrets: SigningSecrets = SigningSecret::parse("pEZM-K7ulA8aIeKXDjcF_EBQqEGFDYhIlJt2I6qd7ZE").unwrap().into();
        let deployment = Deployment { client_id: CLIENT, authority: AUTHORITY, redirect_uri: REDIRECT };
        let sessions = |not_before| {
            (not_before, Sessions::new(SessionKeys::derive(&secrets, deployment), ISSUER.into(), CLIENT.into(), not_before))
        };
        Keys {
            state: TokenKeys::derive(&secrets, Purpose::State, deployment),
            session: SessionKeys::derive(&secrets, deployment),
            sessions: [sessions(0), sessions(NOW)],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let k = keys();

    // 1. The input as a token, as it arrives in `?state=` or the session cookie.
    let token = String::from_utf8_lossy(data);
    let _ = k.state.verify(&token, 4096);
    let _ = k.session.verify(&token, 4096);
    if let Ok(claims) = state::verify(&k.state, &token, REDIRECT, NOW) {
        assert_eq!(claims.aud, REDIRECT);
    }
    if let Ok(claims) = k.sessions[0].1.verify(&token, NOW) {
        assert_eq!((claims.aud.as_str(), claims.iss.as_str()), (CLIENT, ISSUER));
        assert!(NOW < claims.exp);
    }

    // 2. The input as the payload of a token this instance signed: the claim checks.
    let signed_state = k.state.sign(data);
    // (An empty payload leaves an empty middle part, which verify rightly calls malformed; mint
    // always signs JSON.)
    if !data.is_empty() {
        assert_eq!(k.state.verify(&signed_state, usize::MAX).as_deref(), Ok(data), "sign/verify round trip");
    }
    assert!(k.session.verify(&signed_state, usize::MAX).is_err(), "a state token verified as a session token");
    for now in [NOW, 0] {
        if let Ok(claims) = state::verify(&k.state, &signed_state, REDIRECT, now) {
            assert_eq!(claims.aud, REDIRECT);
            assert!(claims.iat <= claims.exp);
            // What verified once verifies again after minting it afresh.
            let again = state::mint(&k.state, &claims);
            assert_eq!(state::verify(&k.state, &again, REDIRECT, now), Ok(claims));
        }
    }

    let signed_session = k.session.sign(data);
    assert!(k.state.verify(&signed_session, usize::MAX).is_err(), "a session token verified as a state token");
    for ((not_before, sessions), now) in [(&k.sessions[0], NOW), (&k.sessions[1], NOW), (&k.sessions[0], 0)] {
        let not_before = *not_before;
        // Where a session stands agrees with verify: identity exactly when verify accepts it,
        // and never at or past the absolute limit.
        let lifetimes = session::Lifetimes { ttl: 3600, max_age: 86_400 };
        if let Ok((claims, standing)) = sessions.standing(&signed_session, now, lifetimes) {
            let verified = sessions.verify(&signed_session, now);
            match standing {
                session::Standing::Expired => assert!(verified.is_err() && now >= claims.exp),
                session::Standing::Valid | session::Standing::RenewalDue => {
                    assert_eq!(verified.as_deref(), Ok(&*claims))
                }
            }
            assert!(now < lifetimes.limit(claims.auth_time()) && claims.iat >= not_before);
        }
        if let Ok(claims) = sessions.verify(&signed_session, now) {
            let claims = (*claims).clone();
            assert_eq!((claims.aud.as_str(), claims.iss.as_str()), (CLIENT, ISSUER));
            assert!(now < claims.exp && claims.iat >= not_before);
            // Minting it afresh gives a token under the cap that verifies to what was minted
            // (possibly trimmed: groups, login hint, roles, display strings), and fails only when
            // the claims it cannot trim (iss, aud, sub, oid, tid, times) do not fit.
            let mut bare = claims.clone();
            (bare.roles, bare.groups, bare.login_hint) = (vec![], vec![], None);
            (bare.name, bare.email, bare.preferred_username) = (None, None, None);
            bare.groups_overage = claims.groups_overage || !claims.groups.is_empty();
            let bare_fits = k.session.sign(&serde_json::to_vec(&bare).unwrap()).len() <= session::MAX_SESSION_TOKEN_LEN;
            let mut minted = claims.clone();
            match sessions.mint(&mut minted, &entra_sso::idp::policy::Policy::default()) {
                Ok(again) => {
                    assert!(again.len() <= session::MAX_SESSION_TOKEN_LEN);
                    assert_eq!(sessions.verify(&again, now).as_deref(), Ok(&minted));
                }
                Err(e) => assert!(!bare_fits, "mint refused claims whose identifiers fit: {e}"),
            }
        }
    }
});
