//! `proxy::gate::decoded_path`, the path `entra-sso proxy` matches its rules against while it
//! forwards the raw one. Nothing may panic, and an accepted path must read the same to any app
//! that decodes it and resolves dot segments: it starts with `/`, has no empty or dot segment,
//! no control character, no backslash, and decoding it again changes nothing that could move it
//! to another route (`%2F` was refused, so no new `/` appears). `is_own` agrees with a plain
//! lower-cased prefix check.
#![no_main]

use entra_sso::proxy::gate::{decoded_path, is_own};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    // Only what can arrive as a request path: what the `http` crate (hyper's) accepts, without
    // `?` or `#`, which hyper splits off before the gate sees the path.
    if raw.contains(['?', '#']) || http::uri::PathAndQuery::try_from(raw).is_err() {
        return;
    }
    let Ok(path) = decoded_path(raw) else { return };
    assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
    assert!(!path.contains("//") && !path.contains('\\'), "{raw:?} -> {path:?}");
    assert!(!path.split('/').any(|s| s == "." || s == ".."), "{raw:?} -> {path:?}: a dot segment");
    assert!(!path.chars().any(char::is_control), "{raw:?} -> {path:?}: a control character");
    assert_eq!(path.matches('/').count(), raw.matches('/').count(), "{raw:?} -> {path:?}: a slash appeared");
    let lower = path.to_ascii_lowercase();
    assert_eq!(is_own(&path), lower == "/.auth" || lower.starts_with("/.auth/"), "{raw:?} -> {path:?}");
    if let Ok(url) = url::Url::parse(&format!("http://h{raw}")) {
        // What a URL parser (and so most apps) makes of the raw target keeps its segment count.
        let segments = url.path_segments().map_or(0, Iterator::count);
        assert_eq!(segments, raw.split('/').count() - 1, "{raw:?}: the URL parser resolved segments away");
    }
});
