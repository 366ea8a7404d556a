//! ID tokens as they come back from the token endpoint: `id_token::rs256_kid` and
//! `IdTokenVerifier::verify` against a fixed Microsoft signing key. Nothing may panic, and nothing
//! verifies (the fuzzer holds no private key, so an `Ok` would be a forgery).
#![no_main]

use std::sync::OnceLock;

use entra_sso::idp::id_token::{rs256_kid, IdTokenVerifier};
use entra_sso::idp::provider::VerifyKey;
use jsonwebtoken::DecodingKey;
use libfuzzer_sys::fuzz_target;

/// `n` of key `Mc7l3Iz93g7uwgNeEmmw_WYGPko` in tests/fixtures/entra/common.keys.json.
const N: &str = "3I2c2shPwo4E7Y9Npyp7A5s4bkw9u3BV0sNsn4Ph2WAZFXduaTy8ZirXa8cQF2_Riwckxcqf2DYmdUKGDb1FCBESW34oV2V5PopqS2llIfwU6gwrbWycQuai7FUG-UZWfud64ZRqbk8oyyYD7gHfijUiZ-nOHd3ozzDS0NNnH6TKCHiwKu-ocqzT7pDUMr3ozu2Gv0Gb4txtQk4m2QbNn4uNmYrSjgKzNH3HYWQgBYAEEgCUkG-nH4Ui1IsBvPCEIig_UhHn-OtJ9ZHnGmQnRQo22VMRWa9WPXYBt4RCA3eljmDYXLfQNua8Z69e40cGoXrSza90KsuXqNLo-0xQ0w";
const E: &str = "AQAB";
const ISSUER: &str = "https://issuer/{tenantid}/v2.0";
const NOW: u64 = 1_700_000_000;

struct Fixture {
    verifier: IdTokenVerifier,
    keys: [VerifyKey; 2],
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        entra_sso::install_crypto();
        let key = || DecodingKey::from_rsa_components(N, E).unwrap();
        Fixture {
            verifier: IdTokenVerifier::new("client"),
            keys: [VerifyKey { key: key(), issuer: None }, VerifyKey { key: key(), issuer: Some(ISSUER.into()) }],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let token = String::from_utf8_lossy(data);
    if let Ok(kid) = rs256_kid(&token) {
        let _ = kid.len();
    }
    for key in &f.keys {
        let verified = f.verifier.verify(&token, key, ISSUER, "nonce", NOW);
        assert!(verified.is_err(), "a token verified without the private key: {verified:?}");
    }
});
