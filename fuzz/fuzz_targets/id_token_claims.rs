//! The claim checks behind the ID token's signature, and the session minted from the result:
//! the input is the payload (raw bytes, not re-serialised) of an RS256 token signed with a key
//! made at start-up, verified by `IdTokenVerifier::verify` against the multi-tenant issuer
//! template; an accepted token then goes through the policies, `IdClaims::into_session`,
//! `Sessions::mint` and `Sessions::verify` as in the callback. Nothing may panic or hang; an
//! accepted token has the issuer of its own lower-case GUID tenant, this client as its only
//! audience, and the flow's nonce; the session cookie stays under its cap and verifies.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entra_sso::idp::policy::{Policy, TenantPolicy};
use entra_sso::idp::id_token::IdTokenVerifier;
use entra_sso::tokens::jws::Deployment;
use entra_sso::idp::provider::VerifyKey;
use entra_sso::tokens::secret::SigningSecret;
use entra_sso::tokens::session::{self, Sessions};
use entra_sso::tokens::session_keys::SessionKeys;
use jsonwebtoken::DecodingKey;
use libfuzzer_sys::fuzz_target;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;

const CLIENT: &str = "client";
const ISSUER: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
const NONCE: &str = "nonce";
/// {"alg":"RS256","typ":"JWT","kid":"fuzz"}
const HEADER: &str = r#"{"alg":"RS256","typ":"JWT","kid":"fuzz"}"#;
const SESSION_TTL: u64 = 8 * 3600;

struct Fixture {
    signing: ring::signature::RsaKeyPair,
    rng: ring::rand::SystemRandom,
    header_b64: String,
    keys: [VerifyKey; 2],
    verifier: IdTokenVerifier,
    policies: [Policy; 2],
    sessions: Sessions,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        entra_sso::install_crypto();
        // 2048 bits, the least the service's RS256 verifier (ring) accepts. Signing every input
        // is this target's slowest step, so it is done by ring (assembly, no coverage
        // instrumentation in its big-number loops) rather than by the rsa crate.
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generation");
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        let key = || DecodingKey::from_rsa_components(&n, &e).unwrap();
        Fixture {
            signing: ring::signature::RsaKeyPair::from_der(private.to_pkcs1_der().unwrap().as_bytes()).unwrap(),
            rng: ring::rand::SystemRandom::new(),
            header_b64: URL_SAFE_NO_PAD.encode(HEADER),
            keys: [VerifyKey { key: key(), issuer: None }, VerifyKey { key: key(), issuer: Some(ISSUER.into()) }],
            verifier: IdTokenVerifier::new(CLIENT),
            policies: [
                Policy { tenants: TenantPolicy::Any, personal_accounts: true, ..Policy::default() },
                Policy {
                    tenants: TenantPolicy::Only(vec!["b9419818-09af-49c2-b0c3-653adc1f376e".into()]),
                    personal_accounts: false,
                    required_roles: vec!["Admin".into()],
                    ..Policy::default()
                },
            ],
            sessions: Sessions::new(
                SessionKeys::derive(
                    &SigningSecret::parse("pEZM-K7ulA8aIeKXDjcF_EBQqEGFDYhIlJt2I6qd7ZE").unwrap().into(),
                    Deployment {
                        client_id: CLIENT,
                        authority: "https://login.microsoftonline.com/organizations/v2.0",
                        redirect_uri: "https://app.example/api/callback",
                    },
                ),
                "https://app.example/api".into(),
                CLIENT.into(),
                0,
            ),
        }
    })
}

fn now() -> u64 {
    // jsonwebtoken checks `exp`/`nbf` against the real clock; the rest must agree with it.
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `payload` as an RS256 token signed with the fixture's key.
fn sign(f: &Fixture, payload: &[u8]) -> String {
    let mut token = format!("{}.", f.header_b64);
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let mut signature = vec![0; f.signing.public().modulus_len()];
    f.signing.sign(&ring::signature::RSA_PKCS1_SHA256, &f.rng, token.as_bytes(), &mut signature).unwrap();
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}

/// Made before the first input (key generation does not count against -timeout), and checked:
/// if the service stopped accepting this key, every input would stop at the signature unnoticed.
fn init() {
    let f = fixture();
    let tid = "b9419818-09af-49c2-b0c3-653adc1f376e";
    let claims = format!(
        r#"{{"aud":"{CLIENT}","iss":"{}","tid":"{tid}","sub":"s","nonce":"{NONCE}","iat":{now},"exp":{exp}}}"#,
        ISSUER.replace("{tenantid}", tid),
        now = now(),
        exp = now() + 3600,
    );
    let verified = f.verifier.verify(&sign(f, claims.as_bytes()), &f.keys[0], ISSUER, NONCE, now());
    assert!(verified.is_ok(), "the target's own genuine token does not verify: {verified:?}");
}

fuzz_target!(init: init(), |data: &[u8]| {
    let f = fixture();
    let token = sign(f, data);
    let now = now();
    for key in &f.keys {
        let Ok(claims) = f.verifier.verify(&token, key, ISSUER, NONCE, now) else {
            continue;
        };
        let tid = claims.tid.as_deref().expect("the issuer template needs a tid");
        assert_eq!(tid.len(), 36);
        assert_eq!(tid, tid.to_ascii_lowercase(), "GUIDs are compared in lower case");
        assert_eq!(claims.iss, ISSUER.replace("{tenantid}", tid));
        assert!(claims.aud.is_only(CLIENT), "no audience besides this client: {:?}", claims.aud);
        assert_eq!(claims.nonce.as_deref(), Some(NONCE));

        // As the callback does: a policy admits the user, the session is minted keeping what that
        // policy looks for, and the session still passes it when read back.
        for policy in &f.policies {
            if policy.check(&claims).is_err() {
                continue;
            }
            let mut session = claims.clone().into_session(now, SESSION_TTL);
            let cookie = f.sessions.mint(&mut session, policy)
                .unwrap_or_else(|e| panic!("a validated ID token does not fit in a session: {e}"));
            assert!(cookie.len() <= session::MAX_SESSION_TOKEN_LEN);
            let back = f.sessions.verify(&cookie, now);
            assert_eq!(back.as_deref(), Ok(&session));
            assert_eq!(policy.check(&session), Ok(()), "a session fails the policy its sign-in passed");
        }
    }
});
