//! `cookies::get` and `cookies::pairs` on one or several `Cookie` headers split from the input
//! at `\n`. Nothing may panic; names and values never contain `;` nor surrounding blanks; `get`
//! returns a value exactly when its name occurs once among the pairs read, and that value.
#![no_main]

use entra_sso::cookies::{self, SESSION_COOKIE};
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
    assert!(names.len() <= 64);
    check_get(&headers, SESSION_COOKIE);
    check_get(&headers, "__Host-sso-flow-AAAAAAAAAAAAAAAAAAAAAA");
    for name in names.iter().take(4) {
        check_get(&headers, name);
    }
});
