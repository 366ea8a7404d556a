//! AWS STS for outbound web identity federation (`GetWebIdentityToken`), as a Lambda function
//! with a role reaches it: the query API at `/`, SigV4-signed with the role's credentials.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use entra_sso::idp::credential::aws::RoleCredentials;
use entra_sso::idp::credential::managed_identity::AUDIENCE_PUBLIC;
use entra_sso::tokens::secret::SecretString;
use http::{Request, Response, StatusCode};

use super::platform::{platform_token, respond};
use super::settings::TestSettings;
use crate::helpers::{serve, Running};

/// The issuer of the account's tokens.
pub(crate) const AWS_ISSUER: &str = "https://6d1b1e5f-aaaa-4bbb-8ccc-123456789012.tokens.sts.global.api.aws";
/// The role the function runs as: the `sub` of its tokens.
pub(crate) const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/entra-sso";
/// The role's temporary credentials.
pub(crate) const AKID: &str = "ASIAEMULATEDKEY00001";
pub(crate) const SECRET_KEY: &str = "emulated/secret+access/key";
pub(crate) const SESSION_TOKEN: &str = "emulated-session-token//+=";
pub(crate) const REGION: &str = "eu-west-1";

/// What the emulated STS does with a correctly signed request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StsMode {
    /// Answers with a token.
    Issue,
    /// Answers 403 AccessDenied, as for a role without sts:GetWebIdentityToken.
    AccessDenied,
    /// Answers 403 as when the account has not turned outbound federation on.
    FederationDisabled,
}

/// STS at `/` for the query API: checks the form, the SigV4 header's shape, and the signature
/// itself by recomputing it with `aws-sigv4` from the same credentials.
pub(crate) struct EmulatedSts {
    /// What it does with the next correctly signed request.
    pub mode: Mutex<StsMode>,
    /// Requests received.
    pub requests: AtomicUsize,
    /// The form of the last correctly signed request.
    pub last_form: Mutex<HashMap<String, String>>,
}

impl EmulatedSts {
    /// An STS on loopback in `mode`.
    pub(crate) async fn spawn(mode: StsMode) -> (Arc<Self>, Running) {
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
        let expiration = iso8601(entra_sso::support::time::now() + duration);
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
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || &s[8..9] != "T" || !s.ends_with('Z') {
        return None;
    }
    let iso = format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]);
    unix_of_iso(&iso).map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs(t))
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ` (test-side, independent of the crate's).
pub(crate) fn unix_of_iso(s: &str) -> Option<u64> {
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
pub(crate) fn iso8601(t: u64) -> String {
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

/// The role's credentials, as Lambda hands them to the function.
pub(crate) fn role() -> RoleCredentials {
    RoleCredentials {
        access_key_id: AKID.into(),
        secret_access_key: SecretString::new(SECRET_KEY),
        session_token: Some(SecretString::new(SESSION_TOKEN)),
    }
}

/// What Lambda sets in the function's environment (and `SSO_AWS_STS_ENDPOINT` at `endpoint`).
pub(crate) fn env(endpoint: &str) -> TestSettings {
    TestSettings::empty()
        .with("AWS_REGION", REGION)
        .with("AWS_ACCESS_KEY_ID", AKID)
        .with("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .with("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .with("SSO_AWS_STS_ENDPOINT", endpoint)
}

/// [`env`] as a lookup.
pub(crate) fn aws_env(endpoint: &str) -> impl Fn(&str) -> Option<String> {
    env(endpoint).lookup()
}
