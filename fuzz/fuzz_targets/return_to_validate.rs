//! `return_to::validate`, the only user-chosen redirect target. Nothing may panic, and whatever
//! it accepts must stay on the site when a browser resolves it against the app's URL:
//! * a same-site path starts with `/`, not `//` nor `/\`, nor (the validator's own rule for raw
//!   input) `/%2F` or `/%5C`, which a later decoding step turns into `//`;
//! * otherwise it is an absolute URL under an allowed origin;
//! * joined onto `https://app.example.com/` it keeps that origin (or the allowed origin);
//! * it is printable ASCII (it goes into a `Location` header) and validating it again accepts it
//!   unchanged (the callback redirects to exactly what login accepted);
//! * a path is exactly what the URL parser makes of it, including paths that skipped the parser.
#![no_main]

use entra_sso::web::return_to::validate;
use libfuzzer_sys::fuzz_target;
use url::{Position, Url};

const ORIGIN: &str = "https://app.example.com";

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let allowed = [ORIGIN.to_string()];
    for origins in [&allowed[..], &[][..]] {
        let Ok(s) = validate(&raw, origins) else {
            continue;
        };
        let is_path = s.starts_with('/') && !s.starts_with("//") && !s.starts_with("/\\");
        let is_allowed_url = !origins.is_empty() && s.starts_with(&format!("{ORIGIN}/"));
        assert!(is_path || is_allowed_url, "accepted {raw:?} as {s:?}");
        if is_path {
            let head = s.get(1..4).map(str::to_ascii_lowercase);
            assert!(
                !matches!(head.as_deref(), Some("%2f") | Some("%5c")),
                "accepted {raw:?} as {s:?}, an encoded slash after the leading one"
            );
        }
        assert!(s.bytes().all(|b| (0x21..0x7f).contains(&b)), "accepted {raw:?} as {s:?}: not printable ASCII");
        let base = Url::parse(&format!("{ORIGIN}/")).unwrap();
        let resolved =
            base.join(&s).unwrap_or_else(|e| panic!("accepted {raw:?} as {s:?}, which does not resolve: {e}"));
        assert_eq!(
            resolved.origin().ascii_serialization(),
            ORIGIN,
            "accepted {raw:?} as {s:?}, resolving to {resolved}"
        );
        if is_path {
            // Whether it came through the parser or the plain-path shortcut, the value is what
            // the parser makes of it: a browser will see exactly this path.
            let reparsed = &resolved[Position::BeforePath..];
            assert_eq!(reparsed, &*s, "accepted {raw:?} as {s:?}, which the URL parser reads as {reparsed:?}");
        }
        assert_eq!(validate(&s, origins).as_deref(), Ok(&*s), "accepted {raw:?} as {s:?} but not {s:?} itself");
    }
});
