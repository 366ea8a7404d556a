//! Federated assertion sources against emulated platforms on loopback: an App Service identity
//! endpoint that checks what the real one checks, an STS that verifies the SigV4 signature by
//! recomputing it, and a projected token file that the "platform" rewrites. Every source hands
//! back an RS256 JWT signed by a test key, verified here against that key's JWKS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use entra_sso::idp::credential::aws::{AwsSts, RoleCredentials, DURATION_SECONDS};
use entra_sso::idp::credential::managed_identity::{ManagedIdentity, AUDIENCE_PUBLIC, AUDIENCE_US_GOV};
use entra_sso::idp::credential::workload_identity::WorkloadIdentity;
use entra_sso::idp::credential::{Assertion, AssertionSource, CredentialError};
use entra_sso::tokens::secret::SecretString;
use http::{Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::helpers::{serve, Running};
use crate::support::idp_fake::{jwk, sign_rs256, test_key};

/// The platform issuers' key: `test_key(1)` as `platform-k1`.
const KID: &str = "platform-k1";
const MI_ISSUER: &str = "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0";
const MI_PRINCIPAL: &str = "4d1f1a7e-0000-4000-8000-00000000a11c";
const USER_ASSIGNED: &str = "0f6c5d5a-1234-4abc-9def-0123456789ab";
const IDENTITY_HEADER: &str = "platform-identity-header-value";
const AWS_ISSUER: &str = "https://6d1b1e5f-aaaa-4bbb-8ccc-123456789012.tokens.sts.global.api.aws";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/entra-sso";
const AKID: &str = "ASIAEMULATEDKEY00001";
const SECRET_KEY: &str = "emulated/secret+access/key";
const SESSION_TOKEN: &str = "emulated-session-token//+=";
const REGION: &str = "eu-west-1";

/// A platform token: RS256 by the test key, `aud` `audience`, valid for `lifetime` seconds.
fn platform_token(iss: &str, sub: &str, audience: &str, lifetime: u64) -> String {
    let now = entra_sso::now();
    let claims = json!({"iss": iss, "sub": sub, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime});
    sign_rs256(test_key(1), KID, &claims)
}

/// The platform's JWKS, as the dev IdP would be told to trust.
fn platform_jwks() -> Value {
    json!({"keys": [jwk(test_key(1), KID, None)]})
}

/// Verifies `assertion` against the platform JWKS and returns its claims.
fn verify(assertion: &Assertion, iss: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(platform_jwks()).unwrap();
    let key = DecodingKey::from_jwk(jwks.find(KID).unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[audience]);
    v.set_issuer(&[iss]);
    let data = jsonwebtoken::decode::<Value>(assertion.token.expose(), &key, &v).expect("the assertion verifies");
    assert_eq!(data.header.kid.as_deref(), Some(KID));
    assert_eq!(data.claims["exp"].as_u64(), Some(assertion.expires_at), "the expiry is the token's own");
    data.claims
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", content_type.parse().unwrap());
    r
}

fn query(req: &Request<Bytes>) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect()
}

// ---------------------------------------------------------------------------------------------
// Managed identity

/// App Service's identity endpoint (`/msi/token`, api-version 2019-08-01): checks the header,
/// the API version, the resource and the client id as the platform does.
struct IdentityEndpoint {
    /// The only `client_id` assigned to the app besides the system-assigned identity.
    user_assigned: &'static str,
    /// The `resource` a federated credential expects.
    resource: &'static str,
    /// `expires_on` as a JSON number rather than a string.
    numeric_expiry: bool,
    requests: AtomicUsize,
    last_query: Mutex<HashMap<String, String>>,
}

impl IdentityEndpoint {
    async fn spawn(resource: &'static str, numeric_expiry: bool) -> (Arc<Self>, Running) {
        let me = Arc::new(Self {
            user_assigned: USER_ASSIGNED,
            resource,
            numeric_expiry,
            requests: AtomicUsize::new(0),
            last_query: Mutex::new(HashMap::new()),
        });
        let running = serve(Arc::clone(&me)).await;
        (me, running)
    }

    fn answer(&self, req: Request<Bytes>) -> Response<Bytes> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let q = query(&req);
        *self.last_query.lock().unwrap() = q.clone();
        let error = |status: StatusCode, message: &str| {
            let body = json!({"statusCode": status.as_u16(), "message": message, "correlationId": "c0ffee"});
            respond(status, "application/json", body.to_string())
        };
        if req.method() != http::Method::GET || req.uri().path() != "/msi/token" {
            return error(StatusCode::NOT_FOUND, "Not found");
        }
        if req.headers().get("x-identity-header").and_then(|h| h.to_str().ok()) != Some(IDENTITY_HEADER) {
            return error(StatusCode::UNAUTHORIZED, "The X-IDENTITY-HEADER header is missing or invalid.");
        }
        if q.get("api-version").map(String::as_str) != Some("2019-08-01") {
            return error(StatusCode::BAD_REQUEST, "Unsupported api-version.");
        }
        if q.get("resource").map(String::as_str) != Some(self.resource) {
            return error(StatusCode::BAD_REQUEST, "The resource is not valid for token exchange.");
        }
        let subject = match q.get("client_id") {
            None => MI_PRINCIPAL.to_owned(),
            Some(id) if id == self.user_assigned => format!("ua-{id}"),
            Some(_) => return error(StatusCode::BAD_REQUEST, "Identity not found"),
        };
        let token = platform_token(MI_ISSUER, &subject, self.resource, 86_400);
        let exp = entra_sso::now() + 86_400;
        let expires_on = if self.numeric_expiry { json!(exp) } else { json!(exp.to_string()) };
        let body = json!({
            "access_token": token, "expires_on": expires_on, "resource": self.resource,
            "token_type": "Bearer", "client_id": q.get("client_id").cloned().unwrap_or_default(),
        });
        respond(StatusCode::OK, "application/json", body.to_string())
    }
}

impl entra_sso::app::Handler for IdentityEndpoint {
    fn handle(&self, req: Request<Bytes>) -> impl std::future::Future<Output = Response<Bytes>> + Send {
        std::future::ready(self.answer(req))
    }
}

fn mi_env(endpoint: &str, header: &str) -> impl Fn(&str) -> Option<String> {
    let (endpoint, header) = (endpoint.to_owned(), header.to_owned());
    move |name: &str| match name {
        "IDENTITY_ENDPOINT" => Some(endpoint.clone()),
        "IDENTITY_HEADER" => Some(header.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn managed_identity_system_and_user_assigned() {
    let (endpoint, running) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
    let url = format!("{}/msi/token", running.base);
    let authority = "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0";

    let system = ManagedIdentity::from_env(mi_env(&url, IDENTITY_HEADER), None, authority).unwrap();
    let a = system.fetch().await.unwrap();
    let claims = verify(&a, MI_ISSUER, AUDIENCE_PUBLIC);
    assert_eq!(claims["sub"], MI_PRINCIPAL);
    assert!(!endpoint.last_query.lock().unwrap().contains_key("client_id"));
    assert!(system.describe().contains(&url), "{}", system.describe());

    let user = ManagedIdentity::from_env(mi_env(&url, IDENTITY_HEADER), Some(USER_ASSIGNED.into()), authority).unwrap();
    let a = user.fetch().await.unwrap();
    assert_eq!(verify(&a, MI_ISSUER, AUDIENCE_PUBLIC)["sub"], format!("ua-{USER_ASSIGNED}"));
    assert_eq!(endpoint.last_query.lock().unwrap().get("client_id").map(String::as_str), Some(USER_ASSIGNED));
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn managed_identity_numeric_expiry_and_sovereign_audience() {
    let (_endpoint, running) = IdentityEndpoint::spawn(AUDIENCE_US_GOV, true).await;
    let url = format!("{}/msi/token", running.base);
    let source = ManagedIdentity::from_env(
        mi_env(&url, IDENTITY_HEADER),
        None,
        "https://login.microsoftonline.us/contoso.onmicrosoft.us/v2.0",
    )
    .unwrap();
    assert_eq!(source.resource(), AUDIENCE_US_GOV);
    verify(&source.fetch().await.unwrap(), MI_ISSUER, AUDIENCE_US_GOV);
    // The public-cloud audience is refused by an endpoint expecting another: the refusal says so.
    let public =
        ManagedIdentity::from_env(mi_env(&url, IDENTITY_HEADER), None, "https://login.microsoftonline.com/t/v2.0")
            .unwrap();
    let err = public.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Refused { status: 400, .. }), "{err}");
    assert!(err.to_string().contains("SSO_AUTHORITY"), "{err}");
}

#[tokio::test]
async fn managed_identity_wrong_header_names_the_fix() {
    let (endpoint, running) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
    let url = format!("{}/msi/token", running.base);
    let source =
        ManagedIdentity::from_env(mi_env(&url, "stale-header"), None, "https://login.microsoftonline.com/t/v2.0")
            .unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Refused { status: 401, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("IDENTITY_HEADER") && msg.contains("restart"), "{msg}");
    assert!(!msg.contains("stale-header"), "the header value never appears: {msg}");
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn managed_identity_unknown_client_id_names_the_fix() {
    let (_endpoint, running) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
    let url = format!("{}/msi/token", running.base);
    let unknown = "99999999-1234-4abc-9def-0123456789ab";
    let source = ManagedIdentity::from_env(
        mi_env(&url, IDENTITY_HEADER),
        Some(unknown.into()),
        "https://login.microsoftonline.com/t/v2.0",
    )
    .unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Refused { status: 400, .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("Identity not found") && msg.contains("SSO_MANAGED_IDENTITY_CLIENT_ID") && msg.contains(unknown),
        "{msg}"
    );
}

#[tokio::test]
async fn managed_identity_not_enabled_and_unreachable() {
    let err = ManagedIdentity::from_env(|_| None, None, "https://login.microsoftonline.com/t/v2.0").unwrap_err();
    assert!(err.to_string().starts_with("IDENTITY_ENDPOINT: not set: managed identity is not enabled"), "{err}");
    // Nothing listens on port 9 of loopback.
    let source =
        ManagedIdentity::new("http://127.0.0.1:9/msi/token", SecretString::new("h"), None, AUDIENCE_PUBLIC).unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Unreachable { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Workload identity

fn token_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("entra-sso-federated-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn workload_identity_file_rewritten_between_fetches() {
    let dir = token_dir("rotate");
    let path = dir.join("azure-identity-token");
    let iss = "https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/";
    let sub = "system:serviceaccount:sso:entra-sso";
    let first = platform_token(iss, sub, AUDIENCE_PUBLIC, 3600);
    std::fs::write(&path, &first).unwrap();
    let source =
        WorkloadIdentity::from_env(|n| (n == "AZURE_FEDERATED_TOKEN_FILE").then(|| path.display().to_string()))
            .unwrap();
    let a = source.fetch().await.unwrap();
    assert_eq!(a.token.expose(), first);
    assert_eq!(verify(&a, iss, AUDIENCE_PUBLIC)["sub"], sub);

    // The platform rewrites the file (kubelet swaps a symlink; a plain rewrite here).
    std::thread::sleep(Duration::from_millis(1100));
    let second = platform_token(iss, sub, AUDIENCE_PUBLIC, 7200);
    std::fs::write(&path, format!("{second}\n")).unwrap();
    let b = source.fetch().await.unwrap();
    assert_eq!(b.token.expose(), second);
    assert!(b.expires_at > a.expires_at);
    verify(&b, iss, AUDIENCE_PUBLIC);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn workload_identity_unreadable_or_not_a_jwt() {
    let dir = token_dir("faults");
    let path = dir.join("token");
    let source = WorkloadIdentity::new(&path);

    let err = source.fetch().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CredentialError::Material { .. }), "{msg}");
    assert!(
        msg.contains("AZURE_FEDERATED_TOKEN_FILE") && msg.contains("no such file") && msg.contains("mounted"),
        "{msg}"
    );

    std::fs::write(&path, "{\"not\": \"a token\"}").unwrap();
    let msg = source.fetch().await.unwrap_err().to_string();
    assert!(msg.contains("does not hold a JWT") && !msg.contains("not\""), "{msg}");

    // Unreadable: a directory where the token should be (what a mis-mounted volume looks like,
    // and unreadable for root too, unlike a file without read permission).
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let msg = WorkloadIdentity::new(&path).fetch().await.unwrap_err().to_string();
    assert!(msg.contains("AZURE_FEDERATED_TOKEN_FILE") && msg.contains("mounted"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();

    let err = WorkloadIdentity::from_env(|_| None).unwrap_err();
    assert!(err.to_string().starts_with("AZURE_FEDERATED_TOKEN_FILE: not set"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// AWS STS

/// What the emulated STS does with a correctly signed request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StsMode {
    Issue,
    /// Answers 403 AccessDenied, as for a role without sts:GetWebIdentityToken.
    AccessDenied,
    /// Answers 403 as when the account has not turned outbound federation on.
    FederationDisabled,
}

/// STS at `/` for the query API: checks the form, the SigV4 header's shape, and the signature
/// itself by recomputing it with `aws-sigv4` from the same credentials.
struct EmulatedSts {
    mode: Mutex<StsMode>,
    requests: AtomicUsize,
    last_form: Mutex<HashMap<String, String>>,
}

impl EmulatedSts {
    async fn spawn(mode: StsMode) -> (Arc<Self>, Running) {
        let me = Arc::new(Self {
            mode: Mutex::new(mode),
            requests: AtomicUsize::new(0),
            last_form: Mutex::new(HashMap::new()),
        });
        let running = serve(Arc::clone(&me)).await;
        (me, running)
    }

    fn answer(&self, req: Request<Bytes>) -> Response<Bytes> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let error = |status: StatusCode, code: &str, message: &str| {
            let body = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                 <Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-err</RequestId></ErrorResponse>"
            );
            respond(status, "text/xml", body)
        };
        if let Err(why) = check_signature(&req) {
            return error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", &why);
        }
        let form: HashMap<String, String> = url::form_urlencoded::parse(req.body()).into_owned().collect();
        *self.last_form.lock().unwrap() = form.clone();
        let expect = [
            ("Action", "GetWebIdentityToken"),
            ("Version", "2011-06-15"),
            ("Audience.member.1", AUDIENCE_PUBLIC),
            ("SigningAlgorithm", "RS256"),
        ];
        for (k, v) in expect {
            if form.get(k).map(String::as_str) != Some(v) {
                return error(StatusCode::BAD_REQUEST, "ValidationError", &format!("bad {k}"));
            }
        }
        let duration: u64 = match form.get("DurationSeconds").and_then(|d| d.parse().ok()) {
            Some(d) if (60..=3600).contains(&d) => d,
            _ => return error(StatusCode::BAD_REQUEST, "ValidationError", "bad DurationSeconds"),
        };
        match *self.mode.lock().unwrap() {
            StsMode::AccessDenied => {
                return error(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    &format!("User: {ROLE_ARN}/fn is not authorized to perform: sts:GetWebIdentityToken"),
                )
            }
            StsMode::FederationDisabled => {
                return error(
                    StatusCode::FORBIDDEN,
                    "OutboundWebIdentityFederationDisabledException",
                    "Outbound web identity federation is not enabled for this account &amp; region",
                )
            }
            StsMode::Issue => {}
        }
        let token = platform_token(AWS_ISSUER, ROLE_ARN, AUDIENCE_PUBLIC, duration);
        let expiration = iso8601(entra_sso::now() + duration);
        let body = format!(
            "<GetWebIdentityTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetWebIdentityTokenResult>\n    \
             <WebIdentityToken>{token}</WebIdentityToken>\n    <Expiration>{expiration}</Expiration>\n  </GetWebIdentityTokenResult>\n  \
             <ResponseMetadata><RequestId>r-ok</RequestId></ResponseMetadata>\n</GetWebIdentityTokenResponse>"
        );
        respond(StatusCode::OK, "text/xml", body)
    }
}

impl entra_sso::app::Handler for EmulatedSts {
    fn handle(&self, req: Request<Bytes>) -> impl std::future::Future<Output = Response<Bytes>> + Send {
        std::future::ready(self.answer(req))
    }
}

/// Checks the Authorization header's shape and recomputes its signature.
fn check_signature(req: &Request<Bytes>) -> Result<(), String> {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let auth = header("authorization").ok_or("no Authorization")?;
    let date = header("x-amz-date").ok_or("no X-Amz-Date")?;
    if header("x-amz-security-token").as_deref() != Some(SESSION_TOKEN) {
        return Err("no or wrong X-Amz-Security-Token".into());
    }
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or("not AWS4-HMAC-SHA256")?;
    let parts: HashMap<&str, &str> = rest.split(", ").filter_map(|p| p.split_once('=')).collect();
    let scope = format!("{AKID}/{}/{REGION}/sts/aws4_request", &date[..8]);
    if parts.get("Credential") != Some(&scope.as_str()) {
        return Err(format!("credential scope is not {scope}"));
    }
    let signed: Vec<&str> = parts.get("SignedHeaders").ok_or("no SignedHeaders")?.split(';').collect();
    for needed in ["host", "x-amz-date", "x-amz-security-token"] {
        if !signed.contains(&needed) {
            return Err(format!("{needed} is not signed"));
        }
    }
    let signature = *parts.get("Signature").ok_or("no Signature")?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("signature is not 64 hex digits".into());
    }
    // Recompute from what arrived, with the same crate and the same credentials.
    let host = header("host").ok_or("no Host")?;
    let uri = format!("http://{host}{}", req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let values: Vec<(String, String)> = signed
        .iter()
        .filter(|h| **h != "host")
        .map(|h| Ok((h.to_string(), header(h).ok_or_else(|| format!("signed header {h} absent"))?)))
        .collect::<Result<_, String>>()?;
    let identity = Credentials::new(AKID, SECRET_KEY, Some(SESSION_TOKEN.into()), None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("sts")
        .time(parse_amz_date(&date).ok_or("bad X-Amz-Date")?)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        values.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(req.body()),
    )
    .map_err(|e| e.to_string())?;
    let (_, expected) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    if expected != signature {
        return Err("signature does not match".into());
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || &s[8..9] != "T" || !s.ends_with('Z') {
        return None;
    }
    let iso = format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]);
    unix_of_iso(&iso).map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs(t))
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ` (test-side, independent of the crate's).
fn unix_of_iso(s: &str) -> Option<u64> {
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d, hh, mm, ss) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    // Days before each month in a non-leap year.
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: i64 = (1970..y).map(|yy| if leap(yy) { 366 } else { 365 }).sum();
    days += CUM[(m - 1) as usize] + (d - 1) + i64::from(m > 2 && leap(y));
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.000Z`, as STS writes `Expiration`.
fn iso8601(t: u64) -> String {
    let (mut days, rem) = ((t / 86_400) as i64, t % 86_400);
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut y = 1970;
    while days >= if leap(y) { 366 } else { 365 } {
        days -= if leap(y) { 366 } else { 365 };
        y += 1;
    }
    let lengths = [31, if leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut m = 0;
    while days >= lengths[m] {
        days -= lengths[m];
        m += 1;
    }
    format!("{y:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z", m + 1, days + 1, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn role() -> RoleCredentials {
    RoleCredentials {
        access_key_id: AKID.into(),
        secret_access_key: SecretString::new(SECRET_KEY),
        session_token: Some(SecretString::new(SESSION_TOKEN)),
    }
}

fn aws_env(endpoint: &str) -> impl Fn(&str) -> Option<String> {
    let endpoint = endpoint.to_owned();
    move |name: &str| match name {
        "AWS_REGION" => Some(REGION.into()),
        "AWS_ACCESS_KEY_ID" => Some(AKID.into()),
        "AWS_SECRET_ACCESS_KEY" => Some(SECRET_KEY.into()),
        "AWS_SESSION_TOKEN" => Some(SESSION_TOKEN.into()),
        "SSO_AWS_STS_ENDPOINT" => Some(endpoint.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn aws_signed_request_yields_a_verifiable_token() {
    let (sts, running) = EmulatedSts::spawn(StsMode::Issue).await;
    let source = AwsSts::from_env(aws_env(&format!("{}/", running.base)), AUDIENCE_PUBLIC).unwrap();
    let before = entra_sso::now();
    let a = source.fetch().await.unwrap();
    let claims = verify(&a, AWS_ISSUER, AUDIENCE_PUBLIC);
    assert_eq!(claims["sub"], ROLE_ARN);
    let lifetime = a.expires_at - before;
    assert!((u64::from(DURATION_SECONDS) - 2..=u64::from(DURATION_SECONDS) + 2).contains(&lifetime), "{lifetime}");
    assert_eq!(sts.last_form.lock().unwrap().get("DurationSeconds").map(String::as_str), Some("900"));
    assert_eq!(sts.requests.load(Ordering::SeqCst), 1);
    // A second fetch signs afresh and is accepted again.
    source.fetch().await.unwrap();
    assert_eq!(sts.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn aws_wrong_secret_fails_the_signature_check() {
    let (_sts, running) = EmulatedSts::spawn(StsMode::Issue).await;
    let mut creds = role();
    creds.secret_access_key = SecretString::new("not-the-secret");
    let source = AwsSts::new(REGION, Some(&format!("{}/", running.base)), creds, AUDIENCE_PUBLIC).unwrap();
    let err = source.fetch().await.unwrap_err();
    assert!(matches!(err, CredentialError::Refused { status: 403, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("SignatureDoesNotMatch") && msg.contains("AWS_SECRET_ACCESS_KEY"), "{msg}");
    assert!(!msg.contains("not-the-secret"), "{msg}");
    // A different region signs a scope the endpoint does not accept.
    let other = AwsSts::new("us-east-2", Some(&format!("{}/", running.base)), role(), AUDIENCE_PUBLIC).unwrap();
    assert!(other.fetch().await.unwrap_err().to_string().contains("credential scope"));
}

#[tokio::test]
async fn aws_error_answers_name_the_fix() {
    let (sts, running) = EmulatedSts::spawn(StsMode::AccessDenied).await;
    let source = AwsSts::new(REGION, Some(&format!("{}/", running.base)), role(), AUDIENCE_PUBLIC).unwrap();
    let msg = source.fetch().await.unwrap_err().to_string();
    assert!(
        msg.contains("AccessDenied") && msg.contains("sts:GetWebIdentityToken") && msg.contains("role's policy"),
        "{msg}"
    );

    *sts.mode.lock().unwrap() = StsMode::FederationDisabled;
    let err = source.fetch().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CredentialError::Refused { status: 403, .. }));
    assert!(msg.contains("account & region"), "entities are decoded: {msg}");
    assert!(msg.contains("enable-outbound-web-identity-federation"), "{msg}");
}

#[tokio::test]
async fn aws_non_sts_answers_and_missing_role() {
    // An identity endpoint is no STS: its answer is named as not an STS error answer.
    let (_mi, running) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
    let source = AwsSts::new(REGION, Some(&format!("{}/", running.base)), role(), AUDIENCE_PUBLIC).unwrap();
    let msg = source.fetch().await.unwrap_err().to_string();
    assert!(msg.contains("not an STS error answer") && msg.contains("SSO_AWS_STS_ENDPOINT"), "{msg}");

    let err = AwsSts::from_env(|n| (n == "AWS_REGION").then(|| REGION.to_owned()), AUDIENCE_PUBLIC).unwrap_err();
    assert!(err.to_string().starts_with("AWS_ACCESS_KEY_ID: not set"), "{err}");
    let err = AwsSts::new(REGION, Some("http://sts.example.com/"), role(), AUDIENCE_PUBLIC).unwrap_err();
    assert!(err.to_string().starts_with("SSO_AWS_STS_ENDPOINT"), "{err}");
}

#[test]
fn test_side_dates_agree() {
    assert_eq!(unix_of_iso("2026-12-01T17:30:00Z"), Some(1_796_146_200));
    assert_eq!(iso8601(1_796_146_200), "2026-12-01T17:30:00.000Z");
    assert_eq!(iso8601(1_709_208_000), "2024-02-29T12:00:00.000Z");
    assert_eq!(parse_amz_date("20261201T173000Z"), Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_146_200)));
}

// ---------------------------------------------------------------------------------------------
// End to end: each source signs a user in against the dev IdP, which trusts the platform issuer.

mod end_to_end {
    use std::sync::Arc;

    use entra_sso::dev_idp::{AssertionTrust, DevClient, DevIdp, FederatedKeys, FederatedTrust, DEV_TENANT};
    use entra_sso::Settings;
    use tokio::net::TcpListener;

    use super::*;
    use crate::helpers::{dev_key, serve_on, sign_in_alice, TestSettings, CLIENT_ID, REDIRECT_URI};

    /// A dev IdP whose client has no secret and trusts `issuer`'s tokens about `subject`.
    async fn idp_trusting(issuer: &str, subject: &str) -> (String, Running) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let client = DevClient { client_id: CLIENT_ID.into(), client_secret: None, redirect_uri: REDIRECT_URI.into() };
        let trust = AssertionTrust {
            certificate: None,
            federated: Some(FederatedTrust {
                issuer: issuer.into(),
                subject: subject.into(),
                audience: AUDIENCE_PUBLIC.into(),
                keys: FederatedKeys::Jwks(platform_jwks().to_string()),
            }),
        };
        let idp = Arc::new(DevIdp::with_key(&base, DEV_TENANT, client, dev_key()).unwrap().with_assertion_trust(trust));
        let authority = idp.authority().to_owned();
        (authority, serve_on(listener, idp))
    }

    fn settings(authority: &str, credential: &str, platform: &[(&str, String)]) -> Settings {
        TestSettings::new()
            .with("SSO_AUTHORITY", authority)
            .without("SSO_CLIENT_SECRET")
            .with("SSO_CLIENT_CREDENTIAL", credential)
            .with_all(platform)
            .settings()
    }

    #[tokio::test]
    async fn managed_identity_signs_in() {
        let (_mi, mi_server) = IdentityEndpoint::spawn(AUDIENCE_PUBLIC, false).await;
        let platform = [
            ("IDENTITY_ENDPOINT", format!("{}/msi/token", mi_server.base)),
            ("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
        ];
        let (authority, _idp) = idp_trusting(MI_ISSUER, MI_PRINCIPAL).await;
        let result = sign_in_alice(settings(&authority, "managed-identity", &platform)).await;
        assert!(result.signed_in(), "{result:?}");

        // A federated credential for another subject: refused at the token endpoint.
        let (authority, _idp) = idp_trusting(MI_ISSUER, "someone-else").await;
        let result = sign_in_alice(settings(&authority, "managed-identity", &platform)).await;
        assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
    }

    #[tokio::test]
    async fn workload_identity_signs_in() {
        let dir = token_dir("e2e");
        let path = dir.join("token");
        let iss = "https://oidc.prod-aks.azure.com/e2e/";
        std::fs::write(&path, platform_token(iss, "system:serviceaccount:sso:app", AUDIENCE_PUBLIC, 3600)).unwrap();
        let platform = [("AZURE_FEDERATED_TOKEN_FILE", path.display().to_string())];
        let (authority, _idp) = idp_trusting(iss, "system:serviceaccount:sso:app").await;
        let result = sign_in_alice(settings(&authority, "workload-identity", &platform)).await;
        assert!(result.signed_in(), "{result:?}");

        // A token from another issuer is refused.
        let (authority, _idp) = idp_trusting("https://oidc.other.example/", "system:serviceaccount:sso:app").await;
        let result = sign_in_alice(settings(&authority, "workload-identity", &platform)).await;
        assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn aws_signs_in() {
        let (sts, sts_server) = EmulatedSts::spawn(StsMode::Issue).await;
        let platform = [
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", AKID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN.to_owned()),
            ("SSO_AWS_STS_ENDPOINT", format!("{}/", sts_server.base)),
        ];
        let (authority, _idp) = idp_trusting(AWS_ISSUER, ROLE_ARN).await;
        let result = sign_in_alice(settings(&authority, "aws", &platform)).await;
        assert!(result.signed_in(), "{result:?}");
        assert!(sts.requests.load(Ordering::SeqCst) >= 1);

        // STS refuses (no permission): the callback fails as a token exchange failure.
        *sts.mode.lock().unwrap() = StsMode::AccessDenied;
        let (authority, _idp) = idp_trusting(AWS_ISSUER, ROLE_ARN).await;
        let result = sign_in_alice(settings(&authority, "aws", &platform)).await;
        assert_eq!(result.refusal(), (502, "token_exchange_failed"), "{result:?}");
    }
}
