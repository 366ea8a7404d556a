//! `SigningSecret::parse` on any text, as an `SSO_SECRET` entry. Nothing may panic; an accepted
//! value decodes to at least 32 bytes, and its canonical encoding parses back to the same bytes.
#![no_main]

use entra_sso::tokens::secret::SigningSecret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(secret) = SigningSecret::parse(text) {
        assert!(secret.expose().len() >= SigningSecret::MIN_BYTES);
        assert_eq!(SigningSecret::parse(secret.encode().expose()).as_ref(), Ok(&secret));
    }
});
