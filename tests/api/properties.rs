//! Property tests of the token formats: state round-trips for any claims, and any single-byte
//! change to a state or session token is rejected.

use entra_sso::tokens::jws::{Deployment, Purpose, TokenKeys};
use entra_sso::tokens::secret::SigningSecret;
use entra_sso::tokens::session::{SessionClaims, Sessions};
use entra_sso::tokens::session_keys::SessionKeys;
use entra_sso::tokens::state::{self, StateClaims};
use proptest::prelude::*;

const AUD: &str = "https://app.example.test/api/callback";

const DEPLOYMENT: Deployment<'static> =
    Deployment { client_id: "client", authority: "https://login.microsoftonline.com/t/v2.0", redirect_uri: AUD };

fn keys(purpose: Purpose) -> TokenKeys {
    let secret = SigningSecret::parse(crate::helpers::SECRET_A).unwrap();
    TokenKeys::derive(&secret.into(), purpose, DEPLOYMENT)
}

fn sessions() -> Sessions {
    let secret = SigningSecret::parse(crate::helpers::SECRET_A).unwrap();
    let keys = SessionKeys::derive(&secret.into(), DEPLOYMENT);
    Sessions::new(keys, "https://app.example.test/api".into(), "client".into(), 0)
}

fn b64url(len: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9_-]{{{len}}}")).unwrap()
}

prop_compose! {
    fn state_claims()(jti in b64url(22), vh in b64url(43), iat in 0u64..4_000_000_000, life in 30u64..86_400,
                      rt in "/[ -~]{0,200}") -> StateClaims {
        StateClaims { jti, iat, exp: iat + life, aud: AUD.into(), rt, vh, pn: false, at: None }
    }
}

prop_compose! {
    fn session_claims()(sub in "[ -~]{1,60}", name in proptest::option::of("\\PC{0,80}"), roles in proptest::collection::vec("[A-Za-z.]{1,20}", 0..5),
                        iat in 0u64..4_000_000_000) -> SessionClaims {
        SessionClaims {
            iss: "https://app.example.test/api".into(), aud: "client".into(), sub,
            idp: "https://login.microsoftonline.com/t/v2.0".into(), oid: None, tid: None, name,
            preferred_username: None, email: None, roles, groups: Vec::new(), groups_overage: false, login_hint: None, sid: None,
            iat, exp: iat + 3600, auth_time: Some(iat),
        }
    }
}

/// `token` with byte `index` replaced by `replacement` (which differs from the original).
fn mutate(token: &str, index: usize, replacement: u8) -> Option<String> {
    let mut bytes = token.as_bytes().to_vec();
    let i = index % bytes.len();
    if bytes[i] == replacement {
        return None;
    }
    bytes[i] = replacement;
    String::from_utf8(bytes).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn state_round_trips(claims in state_claims()) {
        let keys = keys(Purpose::State);
        let token = state::mint(&keys, &claims);
        prop_assert_eq!(state::verify(&keys, &token, AUD, claims.iat).unwrap(), claims);
    }

    #[test]
    fn any_single_byte_change_to_a_state_is_rejected(claims in state_claims(), index in any::<usize>(), byte in 0x20u8..0x7f) {
        let keys = keys(Purpose::State);
        let token = state::mint(&keys, &claims);
        if let Some(changed) = mutate(&token, index, byte) {
            prop_assert!(state::verify(&keys, &changed, AUD, claims.iat).is_err(), "accepted {}", changed);
        }
    }

    #[test]
    fn any_single_byte_change_to_a_session_is_rejected(mut claims in session_claims(), index in any::<usize>(), byte in 0x20u8..0x7f) {
        let sessions = sessions();
        let token = sessions.mint(&mut claims, &entra_sso::idp::policy::Policy::default()).unwrap();
        prop_assert_eq!(&*sessions.verify(&token, claims.iat).unwrap(), &claims);
        if let Some(changed) = mutate(&token, index, byte) {
            prop_assert!(sessions.verify(&changed, claims.iat).is_err(), "accepted {}", changed);
        }
    }
}
