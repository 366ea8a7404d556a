//! Test harness: in-process handler instances and identity providers on `127.0.0.1:0`, an HTTP
//! client with redirects off, and a cookie jar that behaves like a browser's for our cookies.

use std::sync::Arc;

use entra_sso::config::Startup;
use entra_sso::dev_idp::{AssertionTrust, DevClient, DevIdp, DevKey, DEV_TENANT};
use entra_sso::tokens::jws::{Deployment, Purpose, TokenKeys};
use entra_sso::tokens::secret::{SecretString, SigningSecret};
use entra_sso::tokens::session_keys::SessionKeys;
use entra_sso::{adapters::server, App, Settings};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub(crate) use crate::support::settings::TestSettings;

/// The public redirect URI every instance shares, as behind a load balancer; the tests decide
/// which instance receives each request.
pub(crate) const REDIRECT_URI: &str = "https://app.example.test/api/callback";
pub(crate) const CLIENT_ID: &str = "6cb04018-a3f5-46a7-b995-940c78f5aef3";
pub(crate) const CLIENT_SECRET: &str = "test-client-secret-value";
pub(crate) const SECRET_A: &str = "Q-OtjCYDW2X3dpIlIVrhW14-yQVz3WxGCSsHxhQnAhY";
pub(crate) const SECRET_B: &str = "wnGDL6avoYQU6HciVvJR_ieBLO7S-3_ZNLfzuZfF9ug";

/// Five faulty settings, each alone: a client id, a tenant, a plain-http public redirect URI, a
/// short secret, a session lifetime. Start-up and `doctor` name them in [`FIVE_FAULTY_NAMED`].
pub(crate) const FIVE_FAULTY: &[(&str, &str)] = &[
    ("SSO_SESSION_TTL", "forever"),
    ("SSO_SECRET", "tooshort-secret-value"),
    ("SSO_REDIRECT_URI", "http://app.example.com/api/callback"),
    ("SSO_TENANT_ID", "not a tenant"),
    ("SSO_CLIENT_ID", "not a client id"),
];

/// The variables of [`FIVE_FAULTY`], in the order of the settings table.
pub(crate) const FIVE_FAULTY_NAMED: [&str; 5] =
    ["SSO_CLIENT_ID", "SSO_TENANT_ID", "SSO_REDIRECT_URI", "SSO_SECRET", "SSO_SESSION_TTL"];

/// The keys of `purpose` that an instance with `secret`, `client_id` and `authority` (and the
/// shared [`REDIRECT_URI`]) derives.
pub(crate) fn token_keys(secret: &str, purpose: Purpose, client_id: &str, authority: &str) -> TokenKeys {
    let secret = SigningSecret::parse(secret).expect("a test secret is valid");
    TokenKeys::derive(&secret.into(), purpose, Deployment { client_id, authority, redirect_uri: REDIRECT_URI })
}

/// The issuer of sessions under [`REDIRECT_URI`].
pub(crate) const ISSUER: &str = "https://app.example.test/api";

/// The session keys an instance with `secret`, `client_id` and `authority` derives.
pub(crate) fn session_keys(secret: &str, client_id: &str, authority: &str) -> SessionKeys {
    let secret = SigningSecret::parse(secret).expect("a test secret is valid");
    SessionKeys::derive(&secret.into(), Deployment { client_id, authority, redirect_uri: REDIRECT_URI })
}

/// Stops a server when dropped.
pub(crate) struct Running {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `handler` on a fresh loopback port.
pub(crate) async fn serve<H: entra_sso::app::Handler>(handler: Arc<H>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, handler)
}

pub(crate) fn serve_on<H: entra_sso::app::Handler>(listener: TcpListener, handler: Arc<H>) -> Running {
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server::run(listener, handler, async move {
        let _ = rx.await;
    }));
    Running { base, stop: Some(tx) }
}

/// One dev-IdP signing key for the whole test binary: RSA key generation is slow.
pub(crate) fn dev_key() -> &'static DevKey {
    static KEY: std::sync::OnceLock<DevKey> = std::sync::OnceLock::new();
    KEY.get_or_init(DevKey::generate)
}

/// A dev identity provider registered for [`REDIRECT_URI`].
pub(crate) struct TestIdp {
    pub authority: String,
    /// The provider itself, for what an administrator does in-process ([`DevIdp::set_disabled`]).
    pub dev: Arc<DevIdp>,
    pub _server: Running,
}

pub(crate) async fn spawn_idp() -> TestIdp {
    spawn_idp_for(REDIRECT_URI).await
}

/// A dev identity provider registered for `redirect_uri`.
pub(crate) async fn spawn_idp_for(redirect_uri: &str) -> TestIdp {
    let client = DevClient {
        client_id: CLIENT_ID.into(),
        client_secret: Some(SecretString::new(CLIENT_SECRET)),
        redirect_uri: redirect_uri.into(),
    };
    spawn_dev_idp(client, |idp| idp).await
}

/// A dev identity provider whose client has no secret and accepts the client assertions
/// `trust` describes (a certificate, a federated credential).
pub(crate) async fn spawn_idp_trusting(trust: AssertionTrust) -> TestIdp {
    let client = DevClient { client_id: CLIENT_ID.into(), client_secret: None, redirect_uri: REDIRECT_URI.into() };
    spawn_dev_idp(client, |idp| idp.with_assertion_trust(trust)).await
}

/// A dev identity provider for `client` on a fresh loopback port, `adjust`ed before it serves.
async fn spawn_dev_idp(client: DevClient, adjust: impl FnOnce(DevIdp) -> DevIdp) -> TestIdp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let idp = Arc::new(adjust(DevIdp::with_key(&base, DEV_TENANT, client, dev_key()).unwrap()));
    let authority = idp.authority().to_owned();
    TestIdp { authority, dev: Arc::clone(&idp), _server: serve_on(listener, idp) }
}

/// A handler instance on loopback, with the dev identity provider it signs in against when it
/// was started by [`TestApp::with_dev_idp`].
pub(crate) struct TestApp {
    pub base: String,
    pub app: Arc<App>,
    pub idp: Option<TestIdp>,
    pub _server: Running,
}

impl TestApp {
    /// A dev identity provider and an instance against it, with `extra` settings.
    pub(crate) async fn with_dev_idp(extra: &[(&str, &str)]) -> TestApp {
        let idp = spawn_idp().await;
        let mut app = spawn_app(&idp.authority, extra).await;
        app.idp = Some(idp);
        app
    }

    /// `GET /api/login?return_to=…` with `jar`; returns the authorize URL.
    pub(crate) async fn login(&self, jar: &mut Jar, return_to: &str) -> String {
        login(&self.base, jar, return_to).await
    }

    /// Sends a callback URL (addressed to [`REDIRECT_URI`]) to this instance.
    pub(crate) async fn callback(&self, jar: &mut Jar, callback_url: &str) -> reqwest::Response {
        callback(&self.base, jar, callback_url).await
    }

    /// A whole sign-in as `user` at this instance's dev IdP, returning to `/`.
    pub(crate) async fn sign_in(&self, jar: &mut Jar, user: &str) -> reqwest::Response {
        sign_in(&self.base, &self.base, jar, user).await
    }

    /// `GET /api/me`: status and JSON body.
    pub(crate) async fn me(&self, jar: &mut Jar) -> (u16, serde_json::Value) {
        me(&self.base, jar).await
    }

    /// The dev IdP's authority (for more instances against it).
    pub(crate) fn authority(&self) -> &str {
        &self.idp.as_ref().expect("started with_dev_idp").authority
    }
}

/// The settings of an instance against `authority`, with `extra` variables on top.
pub(crate) fn settings(authority: &str, extra: &[(&str, &str)]) -> Settings {
    settings_for(authority, extra, Startup::default())
}

/// The same for `startup` (`entra-sso proxy`'s mount, a cloud marker).
pub(crate) fn settings_for(authority: &str, extra: &[(&str, &str)], startup: Startup) -> Settings {
    TestSettings::new().with("SSO_AUTHORITY", authority).with_all(extra).read(startup)
}

pub(crate) async fn spawn_app(authority: &str, extra: &[(&str, &str)]) -> TestApp {
    spawn_with(settings(authority, extra)).await
}

pub(crate) async fn spawn_with(settings: Settings) -> TestApp {
    let app = App::new(settings);
    let server = serve(Arc::clone(&app)).await;
    TestApp { base: server.base.clone(), app, idp: None, _server: server }
}

/// `command` without any of the cloud markers (`WEBSITE_SITE_NAME`, `KUBERNETES_SERVICE_HOST`, …)
/// the test runner's own environment may have: with one, `dev` and `dev-idp` refuse to start and
/// `serve` refuses a loopback authority.
pub(crate) fn without_cloud_markers(command: &mut std::process::Command) -> &mut std::process::Command {
    for marker in entra_sso::config::CLOUD_MARKERS {
        command.env_remove(marker.variable);
    }
    command
}

/// A loopback port free a moment ago, for a process that binds it itself.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process, killed when dropped, so a failing assertion leaves nothing running.
pub(crate) struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP client that never follows redirects.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A browser's cookie store for one site, oldest cookie first.
#[derive(Default, Clone)]
pub(crate) struct Jar {
    pub cookies: Vec<(String, String)>,
}

impl Jar {
    /// Applies every `Set-Cookie` of a response.
    pub(crate) fn absorb(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub(crate) fn header(&self) -> String {
        self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn flow_cookies(&self) -> Vec<String> {
        self.cookies.iter().filter(|(n, _)| n.starts_with("__Host-sso-flow-")).map(|(n, _)| n.clone()).collect()
    }
}

/// A GET whose answer is JSON, parsed.
pub(crate) async fn get_json(url: &str) -> serde_json::Value {
    client().get(url).send().await.unwrap().json().await.unwrap()
}

/// A form POST whose answer is JSON: its status and the parsed body.
pub(crate) async fn post_form<T: serde::Serialize + ?Sized>(url: &str, form: &T) -> (u16, serde_json::Value) {
    let r = client().post(url).form(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A GET with the jar's cookies; the jar takes the response's cookies.
pub(crate) async fn get(url: &str, jar: &mut Jar) -> reqwest::Response {
    let r = client().get(url).header("cookie", jar.header()).send().await.unwrap();
    jar.absorb(r.headers());
    r
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location; status {}", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// `GET /api/login`; returns the authorize URL.
pub(crate) async fn login(app: &str, jar: &mut Jar, return_to: &str) -> String {
    let url = format!("{app}/api/login?return_to={}", urlencode(return_to));
    let r = get(&url, jar).await;
    assert_eq!(r.status(), 302, "login answered {}", r.status());
    location(&r)
}

/// Signs in at the dev IdP as `user` through its page's form; returns the callback URL.
pub(crate) async fn idp_sign_in(authorize_url: &str, user: &str) -> String {
    let page = client().get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("name=\"user\" value=\"{user}\"")), "sign-in page lists {user}");
    idp_post(authorize_url, &format!("user={user}")).await
}

/// POSTs the sign-in form (original parameters plus `extra`); returns the redirect target.
pub(crate) async fn idp_post(authorize_url: &str, extra: &str) -> String {
    let (endpoint, query) = authorize_url.split_once('?').unwrap();
    let r = client()
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&{extra}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "IdP answered {}", r.status());
    location(&r)
}

/// Sends a callback URL (addressed to [`REDIRECT_URI`]) to instance `app`.
pub(crate) async fn callback(app: &str, jar: &mut Jar, callback_url: &str) -> reqwest::Response {
    let path_and_query = callback_url.strip_prefix("https://app.example.test").expect("callback to the redirect URI");
    get(&format!("{app}{path_and_query}"), jar).await
}

/// A whole sign-in on the dev IdP: login on `login_app`, callback on `callback_app`.
pub(crate) async fn sign_in(login_app: &str, callback_app: &str, jar: &mut Jar, user: &str) -> reqwest::Response {
    let authorize = login(login_app, jar, "/").await;
    let cb = idp_sign_in(&authorize, user).await;
    callback(callback_app, jar, &cb).await
}

/// How a sign-in ended at the callback.
pub(crate) struct SignIn {
    /// The callback's status: 302 (303 after a form post) when it signed in.
    pub status: u16,
    /// The error code when the callback refused; empty when it redirected.
    pub code: String,
    /// The browser's cookies afterwards: the session cookie when it signed in.
    pub jar: Jar,
}

impl SignIn {
    /// The callback's answer `r` to the browser holding `jar`.
    pub(crate) async fn read(r: reqwest::Response, jar: Jar) -> SignIn {
        let status = r.status().as_u16();
        if matches!(status, 302 | 303) {
            return SignIn { status, code: String::new(), jar };
        }
        let (status, code) = error_code(r).await;
        SignIn { status, code, jar }
    }
}

/// How alice's sign-in at a fresh instance ended ([`sign_in_alice`]).
#[derive(Debug)]
pub(crate) struct AliceSignIn {
    /// The callback's status: 302 or 303 when it signed in.
    pub status: u16,
    /// The error code when the callback refused; empty when it redirected.
    pub code: String,
    /// `/api/me`'s status after a redirect; 0 after a refusal.
    pub me: u16,
}

impl AliceSignIn {
    /// Whether the callback redirected and `/api/me` then knew the session.
    pub(crate) fn signed_in(&self) -> bool {
        matches!(self.status, 302 | 303) && self.me == 200
    }

    /// The callback's status and error code.
    pub(crate) fn refusal(&self) -> (u16, &str) {
        (self.status, &self.code)
    }
}

/// Signs alice in at a fresh instance with `settings` through its dev IdP, then asks `/api/me`.
pub(crate) async fn sign_in_alice(settings: Settings) -> AliceSignIn {
    let app = spawn_with(settings).await;
    let mut jar = Jar::default();
    let r = sign_in(&app.base, &app.base, &mut jar, "alice").await;
    let SignIn { status, code, mut jar } = SignIn::read(r, jar).await;
    let me = if matches!(status, 302 | 303) { me(&app.base, &mut jar).await.0 } else { 0 };
    AliceSignIn { status, code, me }
}

pub(crate) async fn me(app: &str, jar: &mut Jar) -> (u16, serde_json::Value) {
    let r = get(&format!("{app}/api/me"), jar).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The `error` code of a failure page or JSON body.
pub(crate) async fn error_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    let code = match body.find("Error code: <code>") {
        Some(i) => body[i + 18..].split('<').next().unwrap().to_owned(),
        None => serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(body),
    };
    (status, code)
}

pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A query parameter of a URL.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).unwrap();
    parsed.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The `code` and `state` of a `form_post` page, as the form body the browser would submit.
pub(crate) fn form_post_body(html: &str) -> String {
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap_or_else(|| panic!("form_post page has no {name}")) + marker.len();
        html[start..].split('"').next().unwrap().to_owned()
    };
    format!("code={}&state={}", urlencode(&field("code")), urlencode(&field("state")))
}
