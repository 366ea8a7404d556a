//! A programmable identity provider with Entra's paths: it serves discovery and a JWKS, and its
//! token endpoint answers with whatever ID token the test put in place, so tests can present
//! the handler with tokens no honest provider would issue. It counts the requests it gets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::helpers::{query_param, serve_on, Jar, Running, SignIn, TestApp, CLIENT_ID};

pub(crate) const TENANT: &str = "b9419818-09af-49c2-b0c3-653adc1f376e";
/// Another work tenant.
pub(crate) const OTHER_TENANT: &str = "22222222-2222-4222-8222-222222222222";
/// The tenant of personal Microsoft accounts.
pub(crate) const MSA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Two test keys, generated once per test binary.
pub(crate) fn test_key(i: usize) -> &'static RsaPrivateKey {
    static KEYS: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    &KEYS.get_or_init(|| (0..2).map(|_| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap()).collect())[i]
}

pub(crate) fn jwk(key: &RsaPrivateKey, kid: &str, issuer: Option<&str>) -> Value {
    let mut v = json!({
        "kty": "RSA", "use": "sig", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    });
    if let Some(iss) = issuer {
        v["issuer"] = iss.into();
    }
    v
}

pub(crate) fn sign_rs256(key: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let der = key.to_pkcs1_der().unwrap();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
}

/// A failure of the token endpoint.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    /// Answers after this long.
    Delay(std::time::Duration),
    /// 500 with an Entra-shaped error body.
    ServerError,
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// 502 with an HTML error page, as a gateway would send.
    HtmlPage,
    /// Redirects elsewhere (must not be followed).
    Redirect,
}

/// The app-only token the fake issues by client credentials, and its Graph requires.
pub(crate) const FAKE_GRAPH_TOKEN: &str = "fake-graph-app-token";

/// How the fake's Microsoft Graph answers `checkMemberGroups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GraphFault {
    /// `429` with `Retry-After: 37`.
    Throttled,
    /// `403 Authorization_RequestDenied`: the permission is missing.
    Forbidden,
    /// `503`.
    Unavailable,
    /// Answers after this long.
    Delay(Duration),
}

/// Makes the ID token of every token call (instead of a one-shot prepared token).
pub(crate) type TokenFactory = Box<dyn Fn() -> String + Send + Sync>;

pub(crate) struct FakeIdp {
    /// What handlers get as `SSO_AUTHORITY`.
    pub authority: String,
    /// The discovery document's issuer (a `{tenantid}` template for multi-tenant authorities).
    pub issuer: String,
    pub jwks: Mutex<Value>,
    pub next_id_token: Mutex<Option<String>>,
    pub token_factory: Mutex<Option<TokenFactory>>,
    pub token_fault: Mutex<Option<Fault>>,
    pub requests: AtomicUsize,
    pub jwks_requests: AtomicUsize,
    pub token_requests: AtomicUsize,
    /// The groups the fake Graph says any user is in.
    pub graph_members: Mutex<Vec<String>>,
    pub graph_fault: Mutex<Option<GraphFault>>,
    /// `checkMemberGroups` calls, and the group ids each asked about.
    pub graph_requests: AtomicUsize,
    pub graph_asked: Mutex<Vec<usize>>,
    /// Client-credentials token requests (the app-only token for Graph).
    pub app_token_requests: AtomicUsize,
}

impl FakeIdp {
    /// A provider at `http://127.0.0.1:<port>/<TENANT>/v2.0` publishing key 0 as `k0`.
    pub(crate) async fn spawn() -> (Arc<FakeIdp>, Running) {
        Self::spawn_at(TENANT, false).await
    }

    /// A multi-tenant provider at `http://127.0.0.1:<port>/<segment>/v2.0` (`common`,
    /// `organizations`) whose issuer is the `{tenantid}` template, as Entra's.
    pub(crate) async fn spawn_multi(segment: &str) -> (Arc<FakeIdp>, Running) {
        Self::spawn_at(segment, true).await
    }

    /// A provider on `listener` (to bring one up on a port a handler already points at).
    pub(crate) async fn spawn_on(listener: TcpListener) -> (Arc<FakeIdp>, Running) {
        Self::serve(listener, TENANT, false)
    }

    async fn spawn_at(segment: &str, template: bool) -> (Arc<FakeIdp>, Running) {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), segment, template)
    }

    fn serve(listener: TcpListener, segment: &str, template: bool) -> (Arc<FakeIdp>, Running) {
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let authority = format!("{base}/{segment}/v2.0");
        let issuer = if template { format!("{base}/{{tenantid}}/v2.0") } else { authority.clone() };
        let idp = Arc::new(FakeIdp {
            jwks: Mutex::new(json!({"keys": [jwk(test_key(0), "k0", Some(&issuer))]})),
            authority,
            issuer,
            next_id_token: Mutex::new(None),
            token_factory: Mutex::new(None),
            token_fault: Mutex::new(None),
            requests: AtomicUsize::new(0),
            jwks_requests: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            graph_members: Mutex::new(Vec::new()),
            graph_fault: Mutex::new(None),
            graph_requests: AtomicUsize::new(0),
            graph_asked: Mutex::new(Vec::new()),
            app_token_requests: AtomicUsize::new(0),
        });
        let server = serve_on(listener, Arc::clone(&idp));
        (idp, server)
    }

    /// The issuer of tenant `tid`'s tokens.
    pub(crate) fn issuer_for(&self, tid: &str) -> String {
        self.issuer.replace("{tenantid}", tid)
    }

    /// Honest claims for this provider with `nonce`.
    pub(crate) fn claims(&self, nonce: &str) -> Value {
        let now = entra_sso::support::time::now();
        json!({
            "ver": "2.0", "iss": self.issuer_for(TENANT), "aud": CLIENT_ID, "iat": now, "nbf": now, "exp": now + 3600,
            "tid": TENANT, "oid": "00000000-0000-0000-66f3-3332eca7ea81", "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
            "name": "Abe Lincoln", "preferred_username": "AbeLi@example.com", "nonce": nonce,
        })
    }

    pub(crate) fn set_id_token(&self, token: String) {
        *self.next_id_token.lock().unwrap() = Some(token);
    }

    /// The fake Graph: `POST /<tenant>/graph/v1.0/users/{oid}/checkMemberGroups` with the
    /// fake's app-only token.
    async fn graph(&self, req: &Request<Bytes>) -> Response<Bytes> {
        self.graph_requests.fetch_add(1, Ordering::SeqCst);
        let fault = *self.graph_fault.lock().unwrap();
        let denied = |s: StatusCode, code: &str| {
            status(
                json_response(
                    json!({"error": {"code": code, "message": "Insufficient privileges to complete the operation."}}),
                ),
                s,
            )
        };
        match fault {
            Some(GraphFault::Throttled) => {
                let mut r = denied(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
                r.headers_mut().insert("retry-after", "37".parse().unwrap());
                return r;
            }
            Some(GraphFault::Forbidden) => return denied(StatusCode::FORBIDDEN, "Authorization_RequestDenied"),
            Some(GraphFault::Unavailable) => return denied(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable"),
            Some(GraphFault::Delay(d)) => tokio::time::sleep(d).await,
            None => {}
        }
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if auth != format!("Bearer {FAKE_GRAPH_TOKEN}") {
            return denied(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
        }
        let asked: Vec<String> = serde_json::from_slice::<Value>(req.body()).unwrap()["groupIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap().to_owned())
            .collect();
        assert!(asked.len() <= 20, "checkMemberGroups takes at most 20 ids");
        self.graph_asked.lock().unwrap().push(asked.len());
        let members = self.graph_members.lock().unwrap().clone();
        let value: Vec<&String> = asked.iter().filter(|g| members.iter().any(|m| m.eq_ignore_ascii_case(g))).collect();
        json_response(json!({"value": value}))
    }

    async fn answer_async(&self, req: Request<Bytes>) -> Response<Bytes> {
        if req.uri().path().contains("/graph/v1.0/users/") {
            return self.graph(&req).await;
        }
        let form = String::from_utf8_lossy(req.body()).into_owned();
        if req.uri().path().ends_with("/oauth2/v2.0/token") && form.contains("grant_type=client_credentials") {
            self.app_token_requests.fetch_add(1, Ordering::SeqCst);
            return json_response(
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": FAKE_GRAPH_TOKEN}),
            );
        }
        if req.uri().path().ends_with("/oauth2/v2.0/token") {
            self.token_requests.fetch_add(1, Ordering::SeqCst);
            let fault = *self.token_fault.lock().unwrap();
            match fault {
                Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
                Some(Fault::ServerError) => {
                    let body = json!({"error": "server_error", "error_description": "AADSTS90033: A transient error has occurred.",
                        "error_codes": [90033], "trace_id": "t-1", "correlation_id": "c-1"});
                    return status(json_response(body), StatusCode::INTERNAL_SERVER_ERROR);
                }
                Some(Fault::InvalidJson) => return Response::new(Bytes::from_static(b"{\"id_token\": ")),
                Some(Fault::HtmlPage) => {
                    let page = Response::new(Bytes::from_static(b"<html><body><h1>502 Bad Gateway</h1></body></html>"));
                    return status(page, StatusCode::BAD_GATEWAY);
                }
                Some(Fault::Redirect) => {
                    let mut r = status(Response::new(Bytes::new()), StatusCode::FOUND);
                    r.headers_mut().insert("location", "http://127.0.0.1:1/elsewhere".parse().unwrap());
                    return r;
                }
                None => {}
            }
        }
        self.answer(&req)
    }

    fn answer(&self, req: &Request<Bytes>) -> Response<Bytes> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let base = self.authority.trim_end_matches("/v2.0");
        let path = req.uri().path();
        // Every tenant segment is served alike.
        let tenant_path = path.get(1..).and_then(|p| p.find('/').map(|i| &p[i..])).unwrap_or("");
        let body = match tenant_path {
            "/v2.0/.well-known/openid-configuration" => json!({
                "issuer": self.issuer,
                "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{base}/oauth2/v2.0/token"),
                "jwks_uri": format!("{base}/discovery/v2.0/keys"),
                "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
            }),
            "/discovery/v2.0/keys" => {
                self.jwks_requests.fetch_add(1, Ordering::SeqCst);
                let jwks = self.jwks.lock().unwrap().clone();
                if jwks.is_null() {
                    let mut r = json_response(json!({"error": "temporarily_unavailable"}));
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    return r;
                }
                jwks
            }
            "/oauth2/v2.0/token" => match self
                .next_id_token
                .lock()
                .unwrap()
                .take()
                .or_else(|| self.token_factory.lock().unwrap().as_ref().map(|f| f()))
            {
                Some(t) => json!({"token_type": "Bearer", "id_token": t, "access_token": "x"}),
                None => {
                    let mut r = json_response(
                        json!({"error": "invalid_grant", "error_description": "AADSTS70000: no token set"}),
                    );
                    *r.status_mut() = StatusCode::BAD_REQUEST;
                    return r;
                }
            },
            _ => {
                let mut r = json_response(json!({"error": "not_found"}));
                *r.status_mut() = StatusCode::NOT_FOUND;
                return r;
            }
        };
        json_response(body)
    }
}

fn status(mut r: Response<Bytes>, s: StatusCode) -> Response<Bytes> {
    *r.status_mut() = s;
    r
}

fn json_response(v: Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(v.to_string()));
    r.headers_mut().insert("content-type", "application/json".parse().unwrap());
    r
}

impl entra_sso::app::Handler for FakeIdp {
    fn handle(&self, req: Request<Bytes>) -> impl std::future::Future<Output = Response<Bytes>> + Send {
        self.answer_async(req)
    }
}

/// A flow started at an instance, as its browser holds it.
#[derive(Clone)]
pub(crate) struct Flow {
    /// The browser's cookies: the flow cookie.
    pub jar: Jar,
    /// The authorize URL's `state`.
    pub state: String,
    /// The authorize URL's `nonce`, for the ID token the test makes.
    pub nonce: String,
}

/// `GET /api/login` at `app` in a fresh browser.
pub(crate) async fn start(app: &TestApp) -> Flow {
    let mut jar = Jar::default();
    let authorize = app.login(&mut jar, "/").await;
    Flow { jar, state: query_param(&authorize, "state").unwrap(), nonce: query_param(&authorize, "nonce").unwrap() }
}

/// One sign-in at `app` whose ID token from `idp` has `claims` (nonce filled in) signed by key
/// `key` as `kid`.
pub(crate) async fn sign_in_with(app: &TestApp, idp: &FakeIdp, key: usize, kid: &str, mut claims: Value) -> SignIn {
    let Flow { mut jar, state, nonce } = start(app).await;
    claims["nonce"] = nonce.into();
    idp.set_id_token(sign_rs256(test_key(key), kid, &claims));
    let r = app.callback(&mut jar, &format!("https://app.example.test/api/callback?code=c&state={state}")).await;
    SignIn::read(r, jar).await
}

/// Honest claims of a user of tenant `tid`, with `idp`'s issuer for that tenant.
pub(crate) fn tenant_claims(idp: &FakeIdp, tid: &str) -> Value {
    let mut c = idp.claims("");
    c["tid"] = tid.into();
    c["iss"] = idp.issuer_for(tid).into();
    c
}
