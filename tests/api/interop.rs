//! Interoperability with an independent, certified OpenID Provider: panva's `oidc-provider`
//! (npm), run by `tests/interop/provider.mjs` on loopback. entra-sso treats it as any non-Entra
//! authority: discovery, `client_secret_post`, PKCE S256, nonce, RS256 ID tokens from its JWKS,
//! the RFC 9207 `iss` parameter, and RP-initiated logout at its `end_session_endpoint`.
//!
//! Needs Node.js 20+ (the tests install their locked packages, `npm ci --prefix tests/interop`,
//! on first run), so they are ignored unless asked for: `cargo test -- --include-ignored`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use reqwest::header::{LOCATION, SET_COOKIE};
use url::Url;

use crate::support::prerequisites::{node_suite_missing, require};

use crate::helpers::{
    callback, client, error_code, get_json, login, query_param, spawn_app, Jar, CLIENT_ID, CLIENT_SECRET, ISSUER,
    REDIRECT_URI,
};

/// CPU time a process has used, from `/proc/<pid>/stat` (user and system clock ticks).
fn cpu_ticks(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split(' ').collect()).unwrap_or_default();
    match (fields.get(11), fields.get(12)) {
        (Some(user), Some(system)) => format!("{user} user and {system} system clock ticks of CPU"),
        _ => "CPU time unknown".to_owned(),
    }
}

/// How long node may take to start the provider and print `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Most redirects and pages one sign-in at the provider may take.
const MAX_STEPS: usize = 12;
/// Where the provider sends the browser after RP-initiated logout (registered for the client).
const POST_LOGOUT_REDIRECT_URI: &str = "https://app.example.test/signed-out";

/// The running provider; killed when dropped, so a failing assertion leaves nothing behind.
struct OpenIdProvider {
    child: Child,
    /// `http://127.0.0.1:<port>`, exactly as the provider publishes it.
    issuer: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OpenIdProvider {
    /// Starts `provider.mjs`; fails the test, saying what to install, when Node.js or the
    /// provider's packages are missing.
    fn start() -> Self {
        log_with_rust_log();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        require("interop (panva's oidc-provider)", &node_suite_missing("interop", "oidc-provider"));
        let script = root.join("tests/interop/provider.mjs");
        // Node normally prints READY within a second; on a loaded 2-core CI machine one start in
        // many hung without output. A second start is a fresh process, so a retry hides nothing
        // about entra-sso; what the first one did is printed for the record.
        match Self::spawn(&script) {
            Ok(op) => op,
            Err(why) => {
                eprintln!("oidc-provider start 1 of 2 failed, starting it again: {why}");
                Self::spawn(&script).unwrap_or_else(|why| panic!("oidc-provider start 2 of 2 failed: {why}"))
            }
        }
    }

    fn spawn(script: &Path) -> Result<Self, String> {
        let mut child = Command::new("node")
            .arg(script)
            // Port 0: the provider binds a free port itself and names it in the READY line, so no
            // other process can take the port between choosing and binding it.
            .arg("0")
            .env("OP_CLIENT_ID", CLIENT_ID)
            .env("OP_CLIENT_SECRET", CLIENT_SECRET)
            .env("OP_REDIRECT_URI", REDIRECT_URI)
            .env("OP_POST_LOGOUT_REDIRECT_URI", POST_LOGOUT_REDIRECT_URI)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node tests/interop/provider.mjs");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stderr.take().unwrap(), Arc::clone(&stderr));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("READY ") {
                    let _ = ready_tx.send(issuer.trim().to_owned());
                }
            }
        });
        let mut op = Self { child, issuer: String::new(), stderr };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(issuer) => op.issuer = issuer,
            Err(e) => {
                // Give stderr a moment to arrive when node exited early.
                thread::sleep(Duration::from_millis(200));
                let status = match op.child.try_wait() {
                    Ok(Some(status)) => format!("exited with {status}"),
                    _ => format!("still running, {}", cpu_ticks(op.child.id())),
                };
                return Err(format!(
                    "no READY within {READY_TIMEOUT:?} ({e:?}); node {status}; its stderr:\n{}",
                    op.log()
                ));
            }
        }
        assert!(
            op.issuer.starts_with("http://127.0.0.1:") && !op.issuer.ends_with('/'),
            "unexpected issuer {}",
            op.issuer
        );
        Ok(op)
    }

    /// What the provider wrote to stderr so far (shown when an assertion fails).
    fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    async fn discovery(&self) -> serde_json::Value {
        get_json(&format!("{}/.well-known/openid-configuration", self.issuer)).await
    }

    /// The `kid`s the provider publishes now.
    async fn jwks_kids(&self) -> Vec<String> {
        let jwks = get_json(&format!("{}/jwks", self.issuer)).await;
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    }

    /// Replaces the provider's signing key by a new one with a new `kid`; returns that `kid`.
    async fn rotate_keys(&self) -> String {
        let r = client().post(format!("{}/__admin/rotate", self.issuer)).send().await.unwrap();
        assert_eq!(r.status(), 200, "rotation refused; provider log:\n{}", self.log());
        let body: serde_json::Value = r.json().await.unwrap();
        body["kid"].as_str().unwrap().to_owned()
    }

    /// Signs in as `user` at the provider, as a browser with the provider cookies in `jar`:
    /// follows the authorization request through the development login and consent pages until
    /// the provider redirects to [`REDIRECT_URI`]; returns that callback URL.
    async fn sign_in(&self, jar: &mut Jar, authorize_url: &str, user: &str) -> String {
        let mut url = Url::parse(authorize_url).unwrap();
        let mut form: Option<String> = None; // a body to POST to `url`, else GET it
        for _ in 0..MAX_STEPS {
            let request = match form.take() {
                Some(body) => {
                    client().post(url.as_str()).header("content-type", "application/x-www-form-urlencoded").body(body)
                }
                None => client().get(url.as_str()),
            };
            let r = request.header("cookie", jar.header()).send().await.unwrap();
            absorb_provider_cookies(jar, r.headers());
            let status = r.status().as_u16();
            if matches!(status, 302 | 303) {
                let next = url.join(r.headers()[LOCATION].to_str().unwrap()).unwrap();
                if next.as_str().starts_with(REDIRECT_URI) {
                    return next.into();
                }
                url = next;
                continue;
            }
            let body = r.text().await.unwrap();
            assert_eq!(status, 200, "provider answered {status} at {url}: {body}\nprovider log:\n{}", self.log());
            let action = url.join(&attribute_after(&body, "<form", "action")).unwrap();
            form = Some(if body.contains(r#"name="prompt" value="login""#) {
                format!("prompt=login&login={user}&password=x")
            } else if body.contains(r#"name="prompt" value="consent""#) {
                "prompt=consent".to_owned()
            } else {
                panic!("unexpected page at {url}: {body}");
            });
            url = action;
        }
        panic!("no redirect to {REDIRECT_URI} after {MAX_STEPS} steps; provider log:\n{}", self.log());
    }

    /// Follows entra-sso's logout redirect at the provider: the confirmation page, then "Yes,
    /// sign me out"; returns where the provider finally sends the browser (status, URL).
    async fn confirm_logout(&self, jar: &mut Jar, end_session_url: &str) -> (u16, String) {
        let r = client().get(end_session_url).header("cookie", jar.header()).send().await.unwrap();
        absorb_provider_cookies(jar, r.headers());
        let status = r.status().as_u16();
        let page = r.text().await.unwrap();
        assert_eq!(status, 200, "end_session answered {status}: {page}\nprovider log:\n{}", self.log());
        let base = Url::parse(end_session_url).unwrap();
        let action = base.join(&attribute_after(&page, "<form", "action")).unwrap();
        let xsrf = attribute_after(&page, r#"name="xsrf""#, "value");
        let r = client()
            .post(action.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", jar.header())
            .body(format!("xsrf={xsrf}&logout=yes"))
            .send()
            .await
            .unwrap();
        absorb_provider_cookies(jar, r.headers());
        let status = r.status().as_u16();
        let target = match r.headers().get(LOCATION) {
            Some(l) => action.join(l.to_str().unwrap()).unwrap().into(),
            None => panic!("logout confirmation answered {status} without Location: {}", r.text().await.unwrap()),
        };
        (status, target)
    }
}

/// With `RUST_LOG` set (e.g. `debug`), entra-sso's log lines (which name the check that failed)
/// appear in the test output.
fn log_with_rust_log() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

fn collect_lines(stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    });
}

/// Like [`Jar::absorb`], and also drops the cookies oidc-provider deletes (Koa deletes with an
/// `expires` date in 1970 rather than `Max-Age=0`), in header order: a response may delete a
/// cookie and set it anew. Paths are ignored (one flow at a time).
fn absorb_provider_cookies(jar: &mut Jar, headers: &reqwest::header::HeaderMap) {
    for v in headers.get_all(SET_COOKIE) {
        let v = v.to_str().unwrap();
        let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
        let (name, value) = pair.split_once('=').unwrap();
        jar.cookies.retain(|(n, _)| n != name);
        let attrs = attrs.to_ascii_lowercase();
        if !attrs.contains("max-age=0") && !attrs.contains("expires=thu, 01 jan 1970") {
            jar.cookies.push((name.to_owned(), value.to_owned()));
        }
    }
}

/// The value of attribute `attr` in the first tag at or after `marker` in `html` (unescaped).
fn attribute_after(html: &str, marker: &str, attr: &str) -> String {
    let start = html.find(marker).unwrap_or_else(|| panic!("no {marker} in page: {html}"));
    let needle = format!("{attr}=\"");
    let from = start + html[start..].find(&needle).unwrap_or_else(|| panic!("no {attr} after {marker}: {html}"));
    let value = html[from + needle.len()..].split('"').next().unwrap();
    value.replace("&amp;", "&")
}

/// `url` with its query parameter `name` replaced by `value` (order kept).
fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| if k == name { (k.into_owned(), value.to_owned()) } else { (k.into_owned(), v.into_owned()) })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.into()
}

/// `POST /api/logout` with the app's cookies.
async fn logout(app: &str, jar: &mut Jar) -> reqwest::Response {
    // The app's own sign-out button: a same-origin POST.
    let r = client()
        .post(format!("{app}/api/logout?return_to=%2F"))
        .header("cookie", jar.header())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    jar.absorb(r.headers());
    r
}

/// One whole sign-in as `user`: our login, the provider's pages, our callback. Returns the
/// callback's response.
async fn sign_in(
    op: &OpenIdProvider,
    app: &str,
    jar: &mut Jar,
    op_jar: &mut Jar,
    user: &str,
    return_to: &str,
) -> reqwest::Response {
    let authorize = login(app, jar, return_to).await;
    let cb = op.sign_in(op_jar, &authorize, user).await;
    callback(app, jar, &cb).await
}

/// Asserts a callback succeeded, with the reason and the provider's log when it did not.
async fn assert_signed_in(op: &OpenIdProvider, r: reqwest::Response, return_to: &str) {
    let status = r.status().as_u16();
    if status != 302 {
        let (status, code) = error_code(r).await;
        panic!(
            "entra-sso refused the sign-in through oidc-provider: {status} {code} (run with RUST_LOG=debug for the \
             detail)\nprovider log:\n{}",
            op.log()
        );
    }
    assert_eq!(r.headers()[LOCATION], return_to);
}

#[tokio::test]
#[ignore = "needs Node.js 20+ (cargo test -- --include-ignored)"]
async fn full_flow_through_oidc_provider() {
    let op = OpenIdProvider::start();
    let app = spawn_app(&op.issuer, &[("SSO_POST_LOGOUT_REDIRECT_URI", POST_LOGOUT_REDIRECT_URI)]).await;
    let discovery = op.discovery().await;
    assert_eq!(discovery["issuer"], op.issuer.as_str());
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);

    let mut jar = Jar::default();
    let mut op_jar = Jar::default();
    let authorize = app.login(&mut jar, "/after?x=1").await;
    assert!(
        authorize.starts_with(discovery["authorization_endpoint"].as_str().unwrap()),
        "login redirects to the discovered authorization endpoint: {authorize}"
    );
    assert_eq!(query_param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(query_param(&authorize, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query_param(&authorize, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query_param(&authorize, "response_mode").as_deref(), Some("query"));
    assert_eq!(query_param(&authorize, "scope").as_deref(), Some("openid profile email"));
    assert!(query_param(&authorize, "nonce").is_some());

    let cb = op.sign_in(&mut op_jar, &authorize, "alice").await;
    assert_eq!(query_param(&cb, "iss").as_deref(), Some(op.issuer.as_str()), "RFC 9207 iss in {cb}");
    assert_eq!(query_param(&cb, "state"), query_param(&authorize, "state"));
    assert!(query_param(&cb, "code").is_some());

    let r = app.callback(&mut jar, &cb).await;
    assert_signed_in(&op, r, "/after?x=1").await;
    let (status, claims) = app.me(&mut jar).await;
    assert_eq!(status, 200, "{claims}");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["name"], "Interop User alice");
    assert_eq!(claims["email"], "alice@interop.example");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["idp"], op.issuer.as_str());
    assert_eq!(claims["iss"], ISSUER, "the session's issuer is the deployment, never the IdP");

    // Replaying the callback fails at entra-sso (the flow cookie is gone) before the provider
    // would refuse the used code.
    assert_eq!(error_code(app.callback(&mut jar, &cb).await).await.1, "flow_cookie_missing");

    let r = logout(&app.base, &mut jar).await;
    assert_eq!(r.status(), 303);
    let end_session = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let endpoint = discovery["end_session_endpoint"].as_str().unwrap();
    assert!(end_session.starts_with(&format!("{endpoint}?")), "logout goes to the end_session endpoint: {end_session}");
    assert_eq!(query_param(&end_session, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query_param(&end_session, "post_logout_redirect_uri").as_deref(), Some(POST_LOGOUT_REDIRECT_URI));
    assert_eq!(app.me(&mut jar).await.0, 401);

    // The provider accepts the logout request and, after confirmation, sends the browser to the
    // registered post-logout redirect URI.
    let (status, target) = op.confirm_logout(&mut op_jar, &end_session).await;
    assert_eq!((status, target.as_str()), (303, POST_LOGOUT_REDIRECT_URI));
}

#[tokio::test]
#[ignore = "needs Node.js 20+ (cargo test -- --include-ignored)"]
async fn key_rotation_at_the_provider_is_survived() {
    let op = OpenIdProvider::start();
    // Default settings: the first unknown kid triggers a JWKS refetch at once.
    let app = spawn_app(&op.issuer, &[]).await;

    let before = op.jwks_kids().await;
    assert_eq!(before.len(), 1, "one signing key at start: {before:?}");
    let mut jar = Jar::default();
    let r = sign_in(&op, &app.base, &mut jar, &mut Jar::default(), "alice", "/").await;
    assert_signed_in(&op, r, "/").await;
    assert_eq!(app.me(&mut jar).await.1["sub"], "alice");

    let new_kid = op.rotate_keys().await;
    let after = op.jwks_kids().await;
    assert_eq!(after, vec![new_kid.clone()], "only the new key is published");
    assert_ne!(before[0], new_kid);

    // The provider can only sign with the new key now, which entra-sso has never seen.
    let mut jar = Jar::default();
    let r = sign_in(&op, &app.base, &mut jar, &mut Jar::default(), "bob", "/second").await;
    assert_signed_in(&op, r, "/second").await;
    let (status, claims) = app.me(&mut jar).await;
    assert_eq!((status, &claims["sub"]), (200, &serde_json::json!("bob")));

    // Logout without SSO_POST_LOGOUT_REDIRECT_URI: only client_id; the provider ends on its own
    // success page.
    let r = logout(&app.base, &mut jar).await;
    assert_eq!(r.status(), 303);
    let end_session = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(query_param(&end_session, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query_param(&end_session, "post_logout_redirect_uri"), None);
    let (status, target) = op.confirm_logout(&mut Jar::default(), &end_session).await;
    assert_eq!(status, 303);
    assert!(target.starts_with(&format!("{}/session/end/success", op.issuer)), "{target}");
}

#[tokio::test]
#[ignore = "needs Node.js 20+ (cargo test -- --include-ignored)"]
async fn wrong_iss_in_authorization_response_is_rejected() {
    let op = OpenIdProvider::start();
    let app = spawn_app(&op.issuer, &[]).await;
    let mut jar = Jar::default();
    let mut op_jar = Jar::default();

    let authorize = app.login(&mut jar, "/").await;
    let cb = op.sign_in(&mut op_jar, &authorize, "mallory").await;
    assert_eq!(query_param(&cb, "iss").as_deref(), Some(op.issuer.as_str()));
    let tampered = with_query_param(&cb, "iss", "http://127.0.0.1:1");
    assert_eq!(query_param(&tampered, "iss").as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(query_param(&tampered, "code"), query_param(&cb, "code"));
    assert_eq!(error_code(app.callback(&mut jar, &tampered).await).await, (401, "id_token_invalid".into()));
    assert_eq!(app.me(&mut jar).await.0, 401);

    // The provider advertises `authorization_response_iss_parameter_supported`: a response
    // without `iss` is refused too (RFC 9207 §2.4).
    let authorize = app.login(&mut jar, "/").await;
    let cb = op.sign_in(&mut op_jar, &authorize, "mallory").await;
    let mut stripped = Url::parse(&cb).unwrap();
    let kept: Vec<(String, String)> =
        stripped.query_pairs().filter(|(k, _)| k != "iss").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    stripped.query_pairs_mut().clear().extend_pairs(kept);
    assert_eq!(error_code(app.callback(&mut jar, stripped.as_str()).await).await, (401, "id_token_invalid".into()));

    // A fresh flow's untampered callback signs in (the provider still has its session, so its
    // pages may be skipped).
    let r = sign_in(&op, &app.base, &mut jar, &mut op_jar, "mallory", "/").await;
    assert_signed_in(&op, r, "/").await;
    assert_eq!(app.me(&mut jar).await.1["sub"], "mallory");
}
