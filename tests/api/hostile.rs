//! The hostile-input suite: a table of malformed, forged, oversized and misdirected requests
//! across every endpoint. Each case asserts the status and the error code; none may answer 5xx
//! (except where docs/design.md gives a 5xx code) or leave the instance unhealthy.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entra_sso::tokens::jws::{Purpose, TokenKeys};
use entra_sso::tokens::session_keys::SessionKeys;
use serde_json::{json, Value};

use crate::helpers::*;

struct Case {
    name: String,
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    status: u16,
    code: &'static str,
}

fn case(
    name: impl Into<String>,
    method: &'static str,
    target: impl Into<String>,
    status: u16,
    code: &'static str,
) -> Case {
    Case { name: name.into(), method, target: target.into(), headers: Vec::new(), body: None, status, code }
}

impl Case {
    fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_owned(), v.into()));
        self
    }
    fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.header("content-type", content_type)
    }
}

/// A live flow to build cases around: its state and the browser's flow cookie.
struct Ctx {
    state: String,
    flow_cookie: String,
    other_flow_cookie_value: String,
    state_keys: TokenKeys,
    session_keys: SessionKeys,
}

fn b64(v: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    (it.next().unwrap().into(), it.next().unwrap().into(), it.next().unwrap().into())
}

fn decoded(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn cb(state: &str) -> String {
    format!("/api/callback?code=abc&state={}", urlencode(state))
}

fn state_cases(ctx: &Ctx) -> Vec<Case> {
    let (h, p, sig) = parts(&ctx.state);
    let header = decoded(&h);
    let payload = decoded(&p);
    let with_cookie = |c: Case| c.header("cookie", ctx.flow_cookie.clone());
    let mut cases = Vec::new();

    for (claim, value) in [
        ("jti", json!("AAAAAAAAAAAAAAAAAAAAAA")),
        ("iat", json!(0)),
        ("exp", json!(u64::MAX)),
        ("aud", json!("https://evil.example/api/callback")),
        ("rt", json!("//evil.example")),
        ("vh", json!("A".repeat(43))),
        ("jti", json!(null)),
        ("exp", json!("tomorrow")),
    ] {
        let mut forged = payload.clone();
        forged[claim] = value.clone();
        cases.push(with_cookie(case(
            format!("claim {claim}={value}"),
            "GET",
            cb(&format!("{h}.{}.{sig}", b64(forged.to_string()))),
            400,
            "state_invalid",
        )));
    }
    let mut extra = payload.clone();
    extra["admin"] = json!(true);
    cases.push(with_cookie(case(
        "extra claim",
        "GET",
        cb(&format!("{h}.{}.{sig}", b64(extra.to_string()))),
        400,
        "state_invalid",
    )));

    for alg in ["none", "None", "HS512", "HS384", "RS256", "ES256", "", "hs256"] {
        let mut hh = header.clone();
        hh["alg"] = json!(alg);
        cases.push(with_cookie(case(
            format!("alg {alg:?}"),
            "GET",
            cb(&format!("{}.{p}.{sig}", b64(hh.to_string()))),
            400,
            "state_invalid",
        )));
    }
    let mut no_alg = header.clone();
    no_alg.as_object_mut().unwrap().remove("alg");
    cases.push(case("alg missing", "GET", cb(&format!("{}.{p}.{sig}", b64(no_alg.to_string()))), 400, "state_invalid"));
    for (name, typ) in
        [("typ JWT", json!("JWT")), ("typ session", json!(Purpose::Session.typ())), ("typ null", json!(null))]
    {
        let mut hh = header.clone();
        hh["typ"] = typ;
        cases.push(case(name, "GET", cb(&format!("{}.{p}.{sig}", b64(hh.to_string()))), 400, "state_invalid"));
    }
    for kid in ["../../../etc/passwd", "' OR '1'='1", "", "kid\u{0}null", "${jndi:ldap://x}", "%2e%2e%2f"] {
        let mut hh = header.clone();
        hh["kid"] = json!(kid);
        cases.push(case(
            format!("kid {kid:?}"),
            "GET",
            cb(&format!("{}.{p}.{sig}", b64(hh.to_string()))),
            400,
            "state_key_unknown",
        ));
    }
    for (name, kid) in
        [("kid number", json!(7)), ("kid object", json!({"a": 1})), ("kid 2 KB", json!("k".repeat(2048)))]
    {
        let mut hh = header.clone();
        hh["kid"] = kid;
        cases.push(case(name, "GET", cb(&format!("{}.{p}.{sig}", b64(hh.to_string()))), 400, "state_invalid"));
    }
    let kid = header["kid"].as_str().unwrap();
    let dup_header = format!(r#"{{"alg":"HS256","typ":"{}","kid":"{kid}","alg":"none"}}"#, Purpose::State.typ());
    cases.push(case(
        "duplicated header key",
        "GET",
        cb(&format!("{}.{p}.{sig}", b64(dup_header))),
        400,
        "state_invalid",
    ));
    // Duplicated claim keys under a genuine signature: the parser refuses them.
    let p_text = String::from_utf8(URL_SAFE_NO_PAD.decode(&p).unwrap()).unwrap();
    let dup_payload = p_text.replacen('{', r#"{"rt":"//evil.example","#, 1);
    cases.push(with_cookie(case(
        "duplicated claim, signed",
        "GET",
        cb(&ctx.state_keys.sign(dup_payload.as_bytes())),
        400,
        "state_invalid",
    )));
    cases.push(case("session token as state", "GET", cb(&ctx.session_keys.sign(b"{}")), 400, "state_invalid"));
    let other = token_keys(SECRET_B, Purpose::State, CLIENT_ID, "x");
    cases.push(case("unknown key", "GET", cb(&other.sign(p_text.as_bytes())), 400, "state_key_unknown"));

    for (name, s) in [
        ("signature stripped", format!("{h}.{p}.")),
        ("two parts", format!("{h}.{p}")),
        ("four parts", format!("{}.x", ctx.state)),
        ("padding on signature", format!("{}=", ctx.state)),
        ("padding on payload", format!("{h}.{p}==.{sig}")),
        ("standard alphabet", ctx.state.replace('-', "+").replace('_', "/") + "+/"),
        ("leading dot", format!(".{}", ctx.state)),
        ("empty", String::new()),
        ("spaces", format!(" {} ", ctx.state)),
        ("not a JWT", "hello world".into()),
        ("json", r#"{"jti":"x"}"#.into()),
        ("non-UTF-8", "\u{fffd}\u{fffd}.\u{fffd}.\u{fffd}".into()),
        ("4 KB+", format!("{}.{}.{sig}", h, "A".repeat(4100))),
        ("comma-joined (Azure)", format!("{},{}", ctx.state, ctx.state)),
        ("semicolon", format!("{};x", ctx.state)),
        ("NUL", format!("{}\0", ctx.state)),
    ] {
        cases.push(with_cookie(case(format!("state {name}"), "GET", cb(&s), 400, "state_malformed")));
    }
    cases.push(case(
        "state broken percent-encoding",
        "GET",
        "/api/callback?code=abc&state=%ZZ%4",
        400,
        "state_malformed",
    ));
    cases.push(case("state %FF bytes", "GET", "/api/callback?code=abc&state=%FF%FE.%FD.%FC", 400, "state_malformed"));
    cases.push(case(
        "state repeated",
        "GET",
        format!("/api/callback?code=abc&state={0}&state={0}", ctx.state),
        400,
        "state_malformed",
    ));
    cases.push(case("state missing", "GET", "/api/callback?code=abc", 400, "state_missing"));
    cases.push(case("no query", "GET", "/api/callback", 400, "state_missing"));
    cases.push(case("20 KB state in the query", "GET", cb(&"A".repeat(20 * 1024)), 414, "uri_too_long"));
    cases.push(
        case("64 KB state in a form", "POST", "/api/callback", 413, "payload_too_large")
            .body("application/x-www-form-urlencoded", format!("code=abc&state={}", "A".repeat(64 * 1024))),
    );
    cases
}

fn flow_cases(ctx: &Ctx) -> Vec<Case> {
    let target = format!("/api/callback?code=abc&state={}", ctx.state);
    let (name, _) = ctx.flow_cookie.split_once('=').unwrap();
    let many: String = (0..70).map(|i| format!("c{i}=v; ")).collect();
    vec![
        case("no flow cookie", "GET", &target, 400, "flow_cookie_missing"),
        case("flow cookie duplicated", "GET", &target, 400, "flow_cookie_missing")
            .header("cookie", format!("{0}; {0}", ctx.flow_cookie)),
        case("flow cookie name in other case", "GET", &target, 400, "flow_cookie_missing")
            .header("cookie", ctx.flow_cookie.to_lowercase()),
        // Found behind a site's own cookies: the IdP is reached, and refuses the fake code.
        case("flow cookie after 64 other cookies", "GET", &target, 502, "token_exchange_failed")
            .header("cookie", format!("{many}{}", ctx.flow_cookie)),
        case("another flow's secret", "GET", &target, 400, "flow_mismatch")
            .header("cookie", format!("{name}={}", ctx.other_flow_cookie_value)),
        case("flow secret of the wrong shape", "GET", &target, 400, "flow_mismatch")
            .header("cookie", format!("{name}=short")),
        case("flow secret empty", "GET", &target, 400, "flow_mismatch").header("cookie", format!("{name}=")),
        case("flow secret 4 KB", "GET", &target, 400, "flow_mismatch")
            .header("cookie", format!("{name}={}", "A".repeat(4096))),
        case("code repeated", "GET", format!("{target}&code=def"), 400, "code_malformed")
            .header("cookie", ctx.flow_cookie.clone()),
        case("code comma-joined (Azure)", "GET", target.replace("code=abc", "code=abc,def"), 400, "code_malformed")
            .header("cookie", ctx.flow_cookie.clone()),
        case("code empty", "GET", target.replace("code=abc", "code="), 400, "code_malformed")
            .header("cookie", ctx.flow_cookie.clone()),
        case("code missing", "GET", target.replace("code=abc&", ""), 400, "code_malformed")
            .header("cookie", ctx.flow_cookie.clone()),
        case("code with space", "GET", target.replace("code=abc", "code=a%20b"), 400, "code_malformed")
            .header("cookie", ctx.flow_cookie.clone()),
        case("code with unicode", "GET", target.replace("code=abc", "code=%C3%A9"), 400, "code_malformed")
            .header("cookie", ctx.flow_cookie.clone()),
        case(
            "code 5 KB",
            "GET",
            target.replace("code=abc", &format!("code={}", "a".repeat(5000))),
            400,
            "code_malformed",
        )
        .header("cookie", ctx.flow_cookie.clone()),
        case("iss repeated", "GET", format!("{target}&iss=a&iss=b"), 401, "id_token_invalid")
            .header("cookie", ctx.flow_cookie.clone()),
        case("iss foreign", "GET", format!("{target}&iss=https%3A%2F%2Fevil.example"), 401, "id_token_invalid")
            .header("cookie", ctx.flow_cookie.clone()),
    ]
}

fn query_cases(ctx: &Ctx) -> Vec<Case> {
    let many_params: String = (0..40).map(|i| format!("p{i}=v&")).collect();
    vec![
        case("error with forged state", "GET", "/api/callback?error=access_denied&state=x", 400, "idp_error"),
        case("error without state", "GET", "/api/callback?error=server_error", 400, "idp_error"),
        case("error markup", "GET", "/api/callback?error=%3Cscript%3E&state=x", 400, "idp_error"),
        case(
            "error with 8 KB description",
            "GET",
            format!("/api/callback?error=x&error_description={}&state={}", "d".repeat(8000), ctx.state),
            400,
            "idp_error",
        ),
        case(
            "description 16 KB",
            "GET",
            format!("/api/callback?error=x&error_description={}", "d".repeat(16 * 1024)),
            414,
            "uri_too_long",
        ),
        case(
            "description 12 KB, forged state",
            "GET",
            format!("/api/callback?error=x&error_description={}&state=x", "d".repeat(12 * 1024)),
            400,
            "idp_error",
        ),
        case("40 parameters", "GET", format!("/api/callback?{many_params}state={}", ctx.state), 400, "state_malformed"),
        case("unknown parameters only", "GET", "/api/callback?foo=bar&baz", 400, "state_missing"),
        case(
            "login 16 KB return_to",
            "GET",
            format!("/api/login?return_to=/{}", "a".repeat(16 * 1024)),
            414,
            "uri_too_long",
        ),
        case("login 40 parameters", "GET", format!("/api/login?{many_params}"), 400, "invalid_parameter"),
        case("login return_to repeated", "GET", "/api/login?return_to=/a&return_to=/b", 400, "return_to_rejected"),
        case("login prompt unknown", "GET", "/api/login?prompt=evil", 400, "invalid_parameter"),
        case("login prompt repeated", "GET", "/api/login?prompt=login&prompt=none", 400, "invalid_parameter"),
        case("login prompt comma-joined", "GET", "/api/login?prompt=login,consent", 400, "invalid_parameter"),
        case("login_hint with newline", "GET", "/api/login?login_hint=a%0Db", 400, "invalid_parameter"),
        case(
            "login_hint 300 bytes",
            "GET",
            format!("/api/login?login_hint={}", "a".repeat(300)),
            400,
            "invalid_parameter",
        ),
        case("login_hint empty", "GET", "/api/login?login_hint=", 400, "invalid_parameter"),
        case("domain_hint with space", "GET", "/api/login?domain_hint=a%20b", 400, "invalid_parameter"),
        case("domain_hint with ampersand", "GET", "/api/login?domain_hint=a%26prompt%3Dnone", 400, "invalid_parameter"),
        case("login by fetch()", "GET", "/api/login", 400, "not_a_navigation").header("sec-fetch-mode", "cors"),
        case("login by no-cors fetch", "GET", "/api/login", 400, "not_a_navigation")
            .header("sec-fetch-mode", "no-cors"),
        case("logout return_to repeated", "POST", "/api/logout?return_to=/a&return_to=/b", 400, "return_to_rejected"),
        case(
            "return_to that triples when normalised",
            "GET",
            format!("/api/login?return_to=/{}", "%22".repeat(1000)),
            400,
            "return_to_rejected",
        ),
    ]
}

fn session_cases(ctx: &Ctx) -> Vec<Case> {
    let now = entra_sso::support::time::now();
    let claims = |iat: u64, exp: u64, aud: &str| json!({"iss": ISSUER, "aud": aud, "sub": "s", "idp": "https://idp/v2.0", "roles": [], "groups": [], "groups_overage": false, "iat": iat, "exp": exp});
    let genuine = ctx.session_keys.sign(claims(now, now + 600, CLIENT_ID).to_string().as_bytes());
    let (h, p, sig) = parts(&genuine);
    let mut forged = decoded(&p);
    forged["roles"] = json!(["Admin"]);
    let mut idp_issued = claims(now, now + 600, CLIENT_ID);
    idp_issued["iss"] = json!("https://idp/v2.0");
    let hs256 = token_keys(SECRET_A, Purpose::Session, CLIENT_ID, "x")
        .sign(claims(now, now + 600, CLIENT_ID).to_string().as_bytes());
    let other = session_keys(SECRET_B, CLIENT_ID, "x");
    let sessions = [
        ("session tampered", format!("{h}.{}.{sig}", b64(forged.to_string()))),
        ("session alg none", format!("{}.{p}.", b64(r#"{"alg":"none","typ":"JWT"}"#))),
        ("session truncated", genuine[..genuine.len() - 3].to_owned()),
        // Past the absolute limit (24 h from `iat`, the claim `auth_time` absent): over, not renewable.
        (
            "session past its absolute limit",
            ctx.session_keys.sign(claims(now - 90_000, now - 86_000, CLIENT_ID).to_string().as_bytes()),
        ),
        ("session for another client", ctx.session_keys.sign(claims(now, now + 600, "other").to_string().as_bytes())),
        ("session from another secret", other.sign(claims(now, now + 600, CLIENT_ID).to_string().as_bytes())),
        ("session with another issuer", ctx.session_keys.sign(idp_issued.to_string().as_bytes())),
        ("session signed HS256 (algorithm swap)", hs256),
        ("state token as session", ctx.state.clone()),
        ("session 8 KB", "A".repeat(8192)),
        ("session garbage", "%%%;;==".into()),
    ];
    let mut cases: Vec<Case> = sessions
        .into_iter()
        .map(|(name, v)| {
            case(name, "GET", "/api/me", 401, "not_signed_in").header("cookie", format!("__Host-sso-session={v}"))
        })
        .collect();
    // Expired but renewable: still never identity, and the script is told how to renew it.
    let expired = ctx.session_keys.sign(claims(now - 100, now - 1, CLIENT_ID).to_string().as_bytes());
    cases.push(
        case("session expired", "GET", "/api/me", 401, "session_expired")
            .header("cookie", format!("__Host-sso-session={expired}")),
    );
    cases.push(
        case("genuine session duplicated", "GET", "/api/me", 401, "not_signed_in")
            .header("cookie", format!("__Host-sso-session={genuine}; __Host-sso-session={genuine}")),
    );
    cases.push(
        case("session without __Host- prefix", "GET", "/api/me", 401, "not_signed_in")
            .header("cookie", format!("sso-session={genuine}")),
    );
    cases.push(
        case("genuine session (control)", "GET", "/api/me", 200, "")
            .header("cookie", format!("__Host-sso-session={genuine}")),
    );
    // Cookie windows: ours come last, behind however many of the site's own (bounded by bytes).
    let site: String = (0..200).map(|i| format!("site{i}=v; ")).collect();
    cases.push(
        case("genuine session behind 200 site cookies", "GET", "/api/me", 200, "")
            .header("cookie", format!("{site}__Host-sso-session={genuine}")),
    );
    let mut split = case("genuine session in the last of 40 Cookie headers", "GET", "/api/me", 200, "");
    for i in 0..39 {
        split = split.header("cookie", format!("site{i}=v"));
    }
    cases.push(split.header("cookie", format!("__Host-sso-session={genuine}")));
    cases
}

/// Logout requests from elsewhere: only a confirmation page, never a sign-out.
fn logout_cases() -> Vec<Case> {
    let frontchannel = "/api/logout/frontchannel";
    vec![
        case("logout POST cross-site", "POST", "/api/logout", 200, "")
            .header("sec-fetch-site", "cross-site")
            .header("origin", "https://evil.example"),
        case("logout POST with a foreign Origin only", "POST", "/api/logout", 200, "")
            .header("origin", "https://app.example.test.evil.example"),
        case("logout POST with Origin null", "POST", "/api/logout", 200, "").header("origin", "null"),
        case("front-channel logout as a top-level page", "GET", frontchannel, 400, "not_a_frame")
            .header("sec-fetch-dest", "document"),
        case("front-channel logout in an embed", "GET", frontchannel, 400, "not_a_frame")
            .header("sec-fetch-dest", "embed"),
        case(
            "front-channel logout of another issuer",
            "GET",
            format!("{frontchannel}?iss=https%3A%2F%2Fevil.example"),
            400,
            "invalid_parameter",
        )
        .header("sec-fetch-dest", "iframe"),
        case(
            "front-channel logout iss repeated",
            "GET",
            format!("{frontchannel}?iss=a&iss=b"),
            400,
            "invalid_parameter",
        ),
        case(
            "front-channel logout sid repeated",
            "GET",
            format!("{frontchannel}?sid=a&sid=b"),
            400,
            "invalid_parameter",
        ),
        case(
            "front-channel logout 40 parameters",
            "GET",
            format!("{frontchannel}?{}", "a=b&".repeat(40)),
            400,
            "invalid_parameter",
        ),
    ]
}

/// Open-redirect payloads, each tried at login and at logout.
const OPEN_REDIRECTS: &[&str] = &[
    "//evil.example",
    "//evil.example/",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%5c/evil.example",
    "/..//evil.example",
    "/./..//evil.example",
    "/a/../..//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\u{0}/evil.example",
    " //evil.example",
    "/ /evil.example",
    "https://evil.example",
    "http://evil.example/",
    "https://app.example.test.evil.example/",
    "https://app.example.test@evil.example/",
    "https://evil.example@app.example.test/",
    "https://app.example.test:443@evil.example",
    "https://user:pass@app.example.test/",
    "javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox",
    "file:///etc/passwd",
    "ftp://app.example.test/",
    "evil.example",
    "evil.example/path",
    "/\u{2215}/evil.example",
    "/\u{ff0f}evil.example",
    "/\u{3002}evil.example",
    "https:evil.example",
    "https:/evil.example",
    "https:\\\\evil.example",
    "http://app.example.test/",
    "https://app.example.test:8443/",
    "https://APP.example.test.evil.example",
    "//app.example.test",
];

fn return_to_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for payload in OPEN_REDIRECTS {
        let q = urlencode(payload);
        cases.push(case(
            format!("login return_to {payload:?}"),
            "GET",
            format!("/api/login?return_to={q}"),
            400,
            "return_to_rejected",
        ));
        cases.push(case(
            format!("logout return_to {payload:?}"),
            "POST",
            format!("/api/logout?return_to={q}"),
            400,
            "return_to_rejected",
        ));
    }
    cases.push(case(
        "return_to 2 KB+",
        "GET",
        format!("/api/login?return_to=/{}", "a".repeat(2100)),
        400,
        "return_to_rejected",
    ));
    cases
}

/// `/api/auth`: hostile requirements, forwarded headers and methods. Never a 5xx, and a
/// forwarded origin that is not this deployment's never becomes a redirect target.
fn auth_cases(ctx: &Ctx) -> Vec<Case> {
    let now = entra_sso::support::time::now();
    let claims = json!({"iss": ISSUER, "aud": CLIENT_ID, "sub": "s", "idp": "https://idp/v2.0", "roles": ["Admin"], "groups": [], "groups_overage": false, "iat": now, "exp": now + 600});
    let cookie = format!("__Host-sso-session={}", ctx.session_keys.sign(claims.to_string().as_bytes()));
    let nav = |name: &str, target: &str, status: u16, code: &'static str| {
        case(name, "GET", target, status, code).header("sec-fetch-mode", "navigate")
    };
    let mut cases = vec![
        case("auth signed out", "GET", "/api/auth", 401, "not_signed_in"),
        case("auth garbage session", "GET", "/api/auth", 401, "not_signed_in")
            .header("cookie", "__Host-sso-session=%%%"),
        case("auth genuine session (control)", "GET", "/api/auth", 200, "").header("cookie", cookie.clone()),
        case("auth role met", "GET", "/api/auth?role=Admin", 200, "").header("cookie", cookie.clone()),
        case("auth role unmet", "GET", "/api/auth?role=Owner", 403, "access_denied_by_policy")
            .header("cookie", cookie.clone()),
        case("auth group unmet", "GET", "/api/auth?group=g", 403, "access_denied_by_policy")
            .header("cookie", cookie.clone()),
        case("auth 4 KB role", "GET", format!("/api/auth?role={}", "r".repeat(4096)), 400, "invalid_parameter"),
        case("auth NUL role", "GET", "/api/auth?role=%00", 400, "invalid_parameter").header("cookie", cookie.clone()),
        case("auth empty group", "GET", "/api/auth?group=", 400, "invalid_parameter"),
        case("auth unknown parameter", "GET", "/api/auth?return_to=https://evil.example", 400, "invalid_parameter"),
        case("auth redirect=2", "GET", "/api/auth?redirect=2", 400, "invalid_parameter"),
        case("auth 17 requirements", "GET", format!("/api/auth?{}", "group=g&".repeat(17)), 400, "invalid_parameter"),
        case("auth 3000 parameters", "GET", format!("/api/auth?{}", "a&".repeat(3000)), 400, "invalid_parameter"),
        case("TRACE /api/auth", "TRACE", "/api/auth", 405, "method_not_allowed"),
        case("OPTIONS /api/auth signed out", "OPTIONS", "/api/auth", 401, "not_signed_in"),
        case("PATCH /api/auth signed in", "PATCH", "/api/auth", 200, "").header("cookie", cookie.clone()),
        nav("auth navigation redirected", "/api/auth?redirect=1", 302, "").header("x-original-uri", "/a?b=c"),
        nav("auth navigation, non-UTF-8 forwarded URI", "/api/auth?redirect=1", 302, "")
            .header("x-forwarded-uri", "/é"),
        nav("auth navigation to javascript:", "/api/auth?redirect=1", 400, "return_to_rejected")
            .header("x-forwarded-uri", "javascript:alert(1)"),
        nav("auth navigation to //evil", "/api/auth?redirect=1", 400, "return_to_rejected")
            .header("x-forwarded-uri", "//evil.example/"),
        nav("auth navigation from another host", "/api/auth?redirect=1", 400, "return_to_rejected")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-uri", "/"),
        nav("auth navigation, userinfo in forwarded host", "/api/auth?redirect=1", 400, "return_to_rejected")
            .header("x-forwarded-host", "app.example.test@evil.example")
            .header("x-forwarded-uri", "/"),
        nav("auth navigation, javascript proto", "/api/auth?redirect=1", 400, "return_to_rejected")
            .header("x-forwarded-proto", "javascript")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-uri", "/"),
        nav("auth navigation, 5 KB forwarded URI", "/api/auth?redirect=1", 400, "return_to_rejected")
            .header("x-forwarded-uri", format!("/{}", "a".repeat(5000))),
        case("auth fetch with redirect=1", "GET", "/api/auth?redirect=1", 401, "not_signed_in")
            .header("sec-fetch-mode", "cors")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-uri", "/"),
    ];
    cases.extend(bearer_cases());
    // A spoofed identity header on the request changes nothing: the answer is the cookie's.
    cases.push(
        case("auth with a spoofed principal header", "GET", "/api/auth", 401, "not_signed_in")
            .header("x-ms-client-principal-id", "b0b00000-0000-4000-8000-000000000b0b")
            .header("x-sso-assertion", "x.y.z"),
    );
    cases
}

/// Hostile `Authorization: Bearer` values: each a `401` with its own code, never a panic, a
/// redirect or the cookie's verdict.
fn bearer_cases() -> Vec<Case> {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let rs256 = part(&json!({"alg": "RS256", "kid": "k"}));
    let ours = part(&json!({"aud": CLIENT_ID}));
    let bearer = |name: &str, token: String, status: u16, code: &'static str| {
        case(format!("bearer {name}"), "GET", "/api/auth", status, code)
            .header("authorization", format!("Bearer {token}"))
    };
    let nested = format!("{{\"aud\":{}\"x\"{}}}", "[".repeat(5000), "]".repeat(5000));
    let many_audiences = json!({"aud": std::iter::repeat_n(CLIENT_ID, 199).chain(["other"]).collect::<Vec<_>>()});
    vec![
        bearer("20 KB token", format!("{rs256}.{}.c2ln", "A".repeat(20_000)), 401, "token_malformed"),
        bearer("empty parts", "..".into(), 401, "token_malformed"),
        bearer("no token", String::new(), 401, "token_malformed"),
        bearer("non-ASCII token", "é.é.é".into(), 401, "token_malformed"),
        bearer("header not JSON", format!("{}.{ours}.c2ln", URL_SAFE_NO_PAD.encode("{alg")), 401, "token_malformed"),
        bearer("alg none", format!("{}.{ours}.", part(&json!({"alg": "none"}))), 401, "token_signature_invalid"),
        bearer(
            "alg HS256",
            format!("{}.{ours}.c2ln", part(&json!({"alg": "HS256", "kid": "k"}))),
            401,
            "token_signature_invalid",
        ),
        bearer("no kid", format!("{}.{ours}.c2ln", part(&json!({"alg": "RS256"}))), 401, "token_signature_invalid"),
        bearer("5000-deep claims", format!("{rs256}.{}.c2ln", URL_SAFE_NO_PAD.encode(nested)), 401, "token_malformed"),
        bearer(
            "199 audiences and one other",
            format!("{rs256}.{}.c2ln", part(&many_audiences)),
            401,
            "token_wrong_audience",
        ),
        bearer(
            "4 KB unknown kid",
            format!("{}.{ours}.c2ln", part(&json!({"alg": "RS256", "kid": "k".repeat(4096)}))),
            401,
            "token_signature_invalid",
        ),
        bearer("signature not base64url", format!("{rs256}.{ours}.!!!"), 401, "token_signature_invalid"),
        case("bearer scheme in lower case", "GET", "/api/auth", 401, "token_malformed")
            .header("authorization", "bearer x.y.z"),
        case("bearer refused on a navigation with redirect=1", "GET", "/api/auth?redirect=1", 401, "token_malformed")
            .header("sec-fetch-mode", "navigate")
            .header("authorization", "Bearer x.y.z")
            .header("x-original-uri", "/a"),
        case("basic scheme ignored", "GET", "/api/auth", 401, "not_signed_in").header("authorization", "Basic YTpi"),
        case(
            "auth 17 scope requirements",
            "GET",
            format!("/api/auth?{}", "scope=s&".repeat(17)),
            400,
            "invalid_parameter",
        ),
        case("auth empty scope", "GET", "/api/auth?scope=", 400, "invalid_parameter"),
    ]
}

fn method_and_body_cases(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    for (path, wrong) in [
        ("/api/login", ["POST", "PUT", "DELETE"]),
        ("/api/callback", ["PUT", "DELETE", "PATCH"]),
        ("/api/me", ["POST", "PUT", "DELETE"]),
        ("/api/logout", ["PUT", "DELETE", "PATCH"]),
        ("/api/health", ["POST", "PUT", "DELETE"]),
        ("/api/logout/frontchannel", ["POST", "PUT", "DELETE"]),
    ] {
        for m in wrong {
            cases.push(case(format!("{m} {path}"), m, path, 405, "method_not_allowed"));
        }
    }
    // `/api/login/` and `/api/LOGIN` reach the login: the host's routing tolerates them
    // (`routes_match_as_the_functions_host_matches_them`); one slash more or a letter more does not.
    for path in ["/api", "/api/", "/api/login//", "/api/loginx", "/api/callback%00", "/api//me", "/admin", "/.env"] {
        cases.push(case(format!("GET {path}"), "GET", path, 404, "not_found"));
    }
    let form = format!("code=abc&state={}", ctx.state);
    cases.extend([
        case("POST callback 20 KB body", "POST", "/api/callback", 413, "payload_too_large")
            .body("application/x-www-form-urlencoded", vec![b'a'; 20 * 1024]),
        case("POST callback JSON body", "POST", "/api/callback", 400, "state_missing")
            .body("application/json", r#"{"state":"x"}"#),
        case("POST callback without content type", "POST", "/api/callback", 400, "state_missing"),
        case("POST callback text body", "POST", "/api/callback", 400, "state_missing").body("text/plain", form.clone()),
        case("POST callback state repeated", "POST", "/api/callback", 400, "state_malformed")
            .body("application/x-www-form-urlencoded", format!("{form}&state={}", ctx.state)),
        case("POST callback without flow cookie", "POST", "/api/callback", 400, "flow_cookie_missing")
            .body("application/x-www-form-urlencoded", form.clone()),
        case("POST callback binary body", "POST", "/api/callback", 400, "state_missing")
            .body("application/x-www-form-urlencoded", vec![0xff, 0xfe, 0x00, 0x01]),
        case("90 headers of 400 bytes", "GET", "/api/me", 431, "headers_too_large"),
        case("40 KB of cookies", "GET", "/api/login", 431, "headers_too_large")
            .header("cookie", format!("a={}", "b".repeat(40 * 1024))),
    ]);
    let last = cases.iter_mut().rev().nth(1).unwrap();
    for i in 0..90 {
        last.headers.push((format!("x-h{i}"), "v".repeat(400)));
    }
    cases
}

fn provider_cap(s: &str) -> String {
    s.chars().take(200).collect()
}

async fn run(base: &str, c: &Case) -> (u16, String) {
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap();
    let mut req = client().request(method, format!("{base}{}", c.target)).header("accept", "application/json");
    for (k, v) in &c.headers {
        req = req.header(k, v);
    }
    if let Some(body) = &c.body {
        req = req.body(body.clone());
    }
    let r = req.send().await.unwrap_or_else(|e| panic!("{}: {}", c.name, provider_cap(&e.to_string())));
    if matches!(r.status().as_u16(), 200 | 302) {
        return (r.status().as_u16(), String::new());
    }
    error_code(r).await
}

#[tokio::test]
async fn hostile_input_table() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    let authorize = app.login(&mut jar, "/").await;
    let (name, value) = jar.cookies[0].clone();
    let mut other = Jar::default();
    app.login(&mut other, "/").await;
    let authority = app.app.settings().authority.as_str().to_owned();
    let ctx = Ctx {
        state: query_param(&authorize, "state").unwrap(),
        flow_cookie: format!("{name}={value}"),
        other_flow_cookie_value: other.cookies[0].1.clone(),
        state_keys: token_keys(SECRET_A, Purpose::State, CLIENT_ID, &authority),
        session_keys: session_keys(SECRET_A, CLIENT_ID, &authority),
    };
    let cases: Vec<Case> = [
        state_cases(&ctx),
        flow_cases(&ctx),
        query_cases(&ctx),
        session_cases(&ctx),
        logout_cases(),
        return_to_cases(),
        method_and_body_cases(&ctx),
        auth_cases(&ctx),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(cases.len() >= 150, "{} cases", cases.len());

    let mut failures = Vec::new();
    for c in &cases {
        let (status, code) = run(&app.base, c).await;
        if (status, code.as_str()) != (c.status, c.code) {
            failures.push(format!(
                "{}: expected {} {}, got {status} {}",
                provider_cap(&c.name),
                c.status,
                c.code,
                provider_cap(&code)
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));

    // The genuine flow still completes: nothing above disturbed the instance.
    let cb = idp_sign_in(&authorize, "alice").await;
    assert_eq!(app.callback(&mut jar, &cb).await.status(), 302);
    eprintln!("hostile input: {} cases passed", cases.len());
}

/// Every route, `/` included, answers the methods it lists, and a method it does not list with
/// `405` and an `Allow` header naming exactly the listed ones.
#[tokio::test]
async fn each_route_allows_what_it_lists_and_names_it_in_allow() {
    let app = TestApp::with_dev_idp(&[]).await;
    let http = client();
    let routes = std::iter::once(&entra_sso::endpoints::HOME).chain(entra_sso::endpoints::ROUTES);
    for route in routes {
        let url = format!("{}{}", app.base, route.path);
        for method in route.methods {
            let r = http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url).send().await.unwrap();
            assert_ne!(r.status().as_u16(), 405, "{method} {}", route.path);
        }
        let unlisted = ["PUT", "DELETE", "PATCH", "POST"].into_iter().find(|m| !route.methods.contains(m));
        let Some(method) = unlisted else { continue };
        let r = http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 405, "{method} {}", route.path);
        let allow = r.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        assert_eq!(listed, route.methods, "{method} {}", route.path);
    }
    let head = http.head(&app.base).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200, "HEAD / as its Allow promises");
}

/// The Functions host matches function routes ignoring case and with a trailing slash, and
/// forwards the path as the client wrote it: each such spelling reaches its endpoint here too,
/// whose links stay canonical; one slash or one letter more is still `404`, and the method rules
/// are those of the route.
#[tokio::test]
async fn routes_match_as_the_functions_host_matches_them() {
    let app = TestApp::with_dev_idp(&[]).await;
    let http = client();
    let get = |path: &str| http.get(format!("{}{path}", app.base)).header("accept", "application/json").send();

    for path in ["/api/Login?return_to=/", "/API/LOGIN?return_to=/", "/api/login/?return_to=/"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 302, "{path}");
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(location.contains("/oauth2/v2.0/authorize?"), "{path}: a sign-in started: {location}");
        assert!(r.headers().get("set-cookie").is_some(), "{path}: with its flow cookie");
    }
    for path in ["/API/HEALTH", "/api/health/"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}), "{path}");
    }
    for path in ["/api/me/", "/api/ME"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_signed_in", "{path}");
        // Links name the route as the table spells it, not as the request did.
        assert_eq!(body["login_url"], "/api/login", "{path}");
    }
    let jwks = get("/api/JWKS/").await.unwrap();
    assert_eq!(jwks.status(), 200);
    assert!(jwks.json::<Value>().await.unwrap()["keys"].is_array());

    for path in ["/api/login//", "/api/loginx", "/api/Login/x", "/api//login", "//"] {
        assert_eq!(error_code(get(path).await.unwrap()).await, (404, "not_found".to_owned()), "{path}");
    }
    for (method, path, allow) in
        [("POST", "/api/Login", "GET"), ("DELETE", "/API/HEALTH/", "GET"), ("PUT", "/api/Callback/", "GET, POST")]
    {
        let r = http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", app.base))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers().get("allow").and_then(|v| v.to_str().ok()), Some(allow), "{method} {path}");
        assert_eq!(error_code(r).await, (405, "method_not_allowed".to_owned()), "{method} {path}");
    }
}
