//! `return_to` at `/api/login`: open-redirect payloads are refused with `return_to_rejected`,
//! same-site paths (with queries) and listed origins are carried in the state.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::helpers::*;

const REJECTED: &[&str] = &[
    "//evil.example",
    "//evil.example/path",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/%2F/evil.example",
    "/%2fevil.example",
    "/%5Cevil.example",
    "/%5c%5cevil.example",
    "/..//evil.example",
    "/./..//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    " /path",
    "https://evil.example/",
    "http://evil.example",
    "https://app.example.test.evil.example/",
    "https://app.example.test@evil.example/",
    "https://user:pass@app.example.test/",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "evil.example",
    "ftp://app.example.test/",
    "/\u{2215}\u{2215}evil.example",
    "/\u{ff0f}evil.example",
    "https:evil.example",
    "https:/evil.example",
    "http://app.example.test/",
    "https://app.example.test:8443/",
];

#[tokio::test]
async fn open_redirect_payloads_are_rejected() {
    assert!(REJECTED.len() >= 25);
    let app = TestApp::with_dev_idp(&[("SSO_RETURN_ORIGINS", "https://app.example.test")]).await;
    for payload in REJECTED {
        let mut jar = Jar::default();
        let r = get(&format!("{}/api/login?return_to={}", app.base, urlencode(payload)), &mut jar).await;
        assert_eq!(error_code(r).await, (400, "return_to_rejected".into()), "{payload:?}");
        assert!(jar.flow_cookies().is_empty(), "no flow started for {payload:?}");
    }
    let long = format!("/{}", "a".repeat(2100));
    let r = get(&format!("{}/api/login?return_to={long}", app.base), &mut Jar::default()).await;
    assert_eq!(error_code(r).await, (400, "return_to_rejected".into()));
}

#[tokio::test]
async fn same_site_paths_and_listed_origins_are_accepted() {
    let app = TestApp::with_dev_idp(&[("SSO_RETURN_ORIGINS", "https://app.example.test")]).await;
    let accepted = [
        ("/", "/"),
        ("/dashboard", "/dashboard"),
        ("/search?q=a%20b&page=2", "/search?q=a%20b&page=2"),
        ("/a/b/../c?x=1#frag", "/a/c?x=1#frag"),
        ("https://app.example.test/deep/link?x=1", "https://app.example.test/deep/link?x=1"),
    ];
    for (given, carried) in accepted {
        let authorize = app.login(&mut Jar::default(), given).await;
        let state = query_param(&authorize, "state").unwrap();
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(state.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(payload["rt"], carried, "{given}");
    }
}
