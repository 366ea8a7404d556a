//! `cookies::get` and `cookies::pairs` on one or several `Cookie` headers split from the input
//! at `\n`. Nothing may panic; names and values never contain `;` nor surrounding blanks; `get`
//! returns a value exactly when its name occurs once among the pairs read, and that value; and a
//! cookie sent last, after everything in the input, is found exactly when the whole `Cookie`
//! section fits in `MAX_COOKIE_BYTES` and its name is not repeated (however many pairs came first).
#![no_main]

use entra_sso::web::cookies::{self, MAX_COOKIE_BYTES, SESSION_COOKIE};
use http::{header::COOKIE, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fn check_get(headers: &HeaderMap, name: &str) {
    let matching: Vec<&str> = cookies::pairs(headers).filter(|(n, _)| *n == name).map(|(_, v)| v).collect();
    let got = cookies::get(headers, name);
    match matching.as_slice() {
        [one] => assert_eq!(got, Some(*one), "{name}"),
        _ => assert_eq!(got, None, "{name}: {} occurrences", matching.len()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(COOKIE, v);
        }
    }
    let mut names = Vec::new();
    for (name, value) in cookies::pairs(&headers) {
        for part in [name, value] {
            assert!(!part.contains(';'));
            assert!(!part.starts_with([' ', '\t']) && !part.ends_with([' ', '\t']));
        }
        names.push(name.to_owned());
    }
    check_get(&headers, SESSION_COOKIE);
    check_get(&headers, "__Host-sso-flow-AAAAAAAAAAAAAAAAAAAAAA");
    for name in names.iter().take(4) {
        check_get(&headers, name);
    }

    const OURS: &str = "__Host-sso-window";
    let repeated = names.iter().any(|n| n == OURS);
    let mut with_ours = headers.clone();
    with_ours.append(COOKIE, HeaderValue::from_static("__Host-sso-window=ours"));
    let total: usize = with_ours.get_all(COOKIE).iter().map(|v| v.len()).sum();
    let expected = (total <= MAX_COOKIE_BYTES && !repeated).then_some("ours");
    assert_eq!(cookies::get(&with_ours, OURS), expected, "{} pairs before, {total} bytes", names.len());
});
