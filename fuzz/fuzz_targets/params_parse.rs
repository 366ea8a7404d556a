//! `params::Params::parse` and `single` on arbitrary query strings and form bodies. Nothing may
//! panic, and `single(name)` must agree with a plain count of the decoded pairs: absent -> None,
//! once -> that value, more than once -> `Repeated` (never "first one wins").
#![no_main]

use entra_sso::web::params::{ParamError, Params, MAX_PARAMS_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = Params::parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_PARAMS_LEN);
    let decoded: Vec<_> = url::form_urlencoded::parse(data).collect();
    for name in ["state", "code", "error", "return_to", "error_description", "iss", ""] {
        let values: Vec<_> = decoded.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_ref()).collect();
        let got = params.single(name);
        match values.as_slice() {
            [] => assert_eq!(got, Ok(None), "{name}"),
            [one] => assert_eq!(got, Ok(Some(*one)), "{name}"),
            _ => assert_eq!(got, Err(ParamError::Repeated), "{name}"),
        }
    }
    // The first decoded name, whatever it is.
    if let Some((k, _)) = decoded.first() {
        let _ = params.single(k);
    }
});
