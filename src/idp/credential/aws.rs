//! AWS: a web-identity token from STS `GetWebIdentityToken` (IAM outbound identity federation),
//! used as the client assertion (an [`super::AssertionSource`]).
//!
//! The request is the STS query API (`Action=GetWebIdentityToken&Version=2011-06-15`,
//! `Audience.member.1`, `SigningAlgorithm=RS256`, `DurationSeconds`) sent as a form `POST` to the
//! regional endpoint `https://sts.<AWS_REGION>.amazonaws.com/` (the operation is not offered on
//! the global endpoint), signed with SigV4 by `aws-sigv4` from the role credentials Lambda puts
//! in the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). The
//! answer is XML: `GetWebIdentityTokenResult` holds `WebIdentityToken` and `Expiration`; an
//! error is `ErrorResponse/Error` with `Code` and `Message`. `SSO_AWS_STS_ENDPOINT` overrides the
//! endpoint (`https://`, or `http://` on loopback only) for tests and private endpoints.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use quick_xml::events::Event;
use url::Url;

use super::{jwt_expiry, Assertion, AssertionFuture, AssertionSource, CredentialError, Unusable};
use crate::idp::outbound::Outbound;
use crate::support::text::cap;
use crate::tokens::secret::SecretString;

/// The STS API version of the query protocol.
pub const STS_API_VERSION: &str = "2011-06-15";
/// The algorithm STS signs the token with; Entra verifies RS256.
pub const SIGNING_ALGORITHM: &str = "RS256";
/// The token's lifetime asked of STS (allowed: 60 to 3600; STS's default is 300). Fifteen
/// minutes keeps a leaked assertion short-lived, and with renewal five minutes before expiry a
/// warm instance calls STS about once every ten minutes.
pub const DURATION_SECONDS: u32 = 900;
/// The SigV4 service name of STS.
const SERVICE: &str = "sts";
/// The request body's type, signed with it.
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The request could not be signed (a bad region or key); never carries the keys.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign: {0}")]
pub struct SigningError(String);

impl SigningError {
    fn new(e: impl std::fmt::Display) -> Self {
        SigningError(cap(&e.to_string(), 300))
    }
}

/// The function's role credentials, from the environment. `Debug` redacts the secret parts.
#[derive(Debug, Clone)]
pub struct RoleCredentials {
    /// `AWS_ACCESS_KEY_ID` (an identifier, not a secret).
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: SecretString,
    /// `AWS_SESSION_TOKEN` (always set for a role; absent only for long-term user keys).
    pub session_token: Option<SecretString>,
}

/// A web-identity token from AWS STS.
#[derive(Debug)]
pub struct AwsSts {
    /// The STS endpoint (regional, or `SSO_AWS_STS_ENDPOINT`).
    endpoint: Url,
    /// `AWS_REGION`: the SigV4 scope's region.
    region: String,
    /// Signs the request.
    credentials: RoleCredentials,
    /// `Audience.member.1`: the token-exchange audience.
    audience: &'static str,
    /// Time-outs, no redirects.
    http: Outbound,
}

impl AwsSts {
    /// A source in `region`, at `endpoint` or else the regional endpoint, signing with
    /// `credentials`, asking for `audience`.
    pub fn new(
        region: &str,
        endpoint: Option<&str>,
        credentials: RoleCredentials,
        audience: &'static str,
    ) -> Result<Self, CredentialError> {
        let region = region.trim();
        if region.is_empty()
            || region.len() > 32
            || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(CredentialError::Setting {
                setting: "AWS_REGION",
                reason: "must be an AWS region such as eu-west-1 (Lambda sets it)".into(),
            });
        }
        let endpoint = match endpoint {
            Some(e) => parse_override(e)?,
            None => regional_endpoint(region),
        };
        if credentials.access_key_id.trim().is_empty() {
            return Err(missing("AWS_ACCESS_KEY_ID"));
        }
        if credentials.secret_access_key.expose().is_empty() {
            return Err(missing("AWS_SECRET_ACCESS_KEY"));
        }
        Ok(Self { endpoint, region: region.to_owned(), credentials, audience, http: super::platform_client() })
    }

    /// A source from the environment read through `var`: `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), the role credentials, and `SSO_AWS_STS_ENDPOINT` when set.
    pub fn from_env(var: impl Fn(&str) -> Option<String>, audience: &'static str) -> Result<Self, CredentialError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).ok_or_else(|| missing("AWS_REGION"))?;
        let credentials = RoleCredentials {
            access_key_id: get("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?,
            secret_access_key: SecretString::new(
                get("AWS_SECRET_ACCESS_KEY").ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?,
            ),
            session_token: get("AWS_SESSION_TOKEN").map(SecretString::new),
        };
        Self::new(&region, get("SSO_AWS_STS_ENDPOINT").as_deref(), credentials, audience)
    }

    /// The endpoint called.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The form body of the request.
    fn body(&self) -> String {
        let duration = DURATION_SECONDS.to_string();
        serde_urlencoded::to_string([
            ("Action", "GetWebIdentityToken"),
            ("Version", STS_API_VERSION),
            ("Audience.member.1", self.audience),
            ("SigningAlgorithm", SIGNING_ALGORITHM),
            ("DurationSeconds", duration.as_str()),
        ])
        .expect("a form of strings encodes")
    }

    /// The signed request's headers (`Content-Type`, `X-Amz-Date`, `X-Amz-Security-Token`,
    /// `Authorization`) for `body` at `time`.
    pub(crate) fn signed_headers(&self, body: &str, time: SystemTime) -> Result<Vec<(String, String)>, SigningError> {
        let creds = &self.credentials;
        let identity = Credentials::new(
            creds.access_key_id.trim(),
            creds.secret_access_key.expose(),
            creds.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "environment",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(SigningError::new)?
            .into();
        let headers = [("content-type", CONTENT_TYPE)];
        let request = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(SigningError::new)?;
        // `aws-sigv4` traces the canonical request, which holds the session token: signing runs
        // with no subscriber, so no log level can reveal it.
        let signed =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || sign(request, &params));
        let (instructions, _signature) = signed.map_err(SigningError::new)?.into_parts();
        Ok(instructions.headers().map(|(n, v)| (n.to_owned(), v.to_owned())).collect())
    }

    async fn fetch_now(&self) -> Result<Assertion, CredentialError> {
        let origin = self.describe();
        let body = self.body();
        let signed = self
            .signed_headers(&body, SystemTime::now())
            .map_err(|e| CredentialError::Invalid { origin: origin.clone(), reason: e.to_string() })?;
        let mut headers: Vec<(&str, &str)> = vec![("accept", "text/xml")];
        headers.extend(signed.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let reply = self
            .http
            .post(self.endpoint.as_str(), CONTENT_TYPE, body, &headers)
            .await
            .map_err(|e| CredentialError::Unreachable { origin: origin.clone(), reason: e.to_string() })?;
        let (status, bytes) = (reply.status, reply.body);
        let answer = parse_answer(&bytes);
        if !(200..300).contains(&status) {
            return Err(CredentialError::Refused { origin, status, reason: refusal(&answer, &bytes) });
        }
        answer_to_assertion(&answer, crate::support::time::now())
            .map_err(|unusable| CredentialError::Invalid { origin, reason: unusable.to_string() })
    }
}

impl AssertionSource for AwsSts {
    fn fetch(&self) -> AssertionFuture<'_> {
        Box::pin(self.fetch_now())
    }

    fn describe(&self) -> String {
        format!("AWS STS GetWebIdentityToken at {} (region {}, audience {})", self.endpoint, self.region, self.audience)
    }
}

fn missing(setting: &'static str) -> CredentialError {
    CredentialError::Setting {
        setting,
        reason: "not set: Lambda sets it from the function's execution role — run on Lambda (or export the role \
                 session's credentials), or choose another SSO_CLIENT_CREDENTIAL"
            .into(),
    }
}

/// `https://sts.<region>.amazonaws.com/` (`.amazonaws.com.cn` in the China regions).
fn regional_endpoint(region: &str) -> Url {
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    Url::parse(&format!("https://sts.{region}.{suffix}/")).expect("a region of [a-z0-9-] makes a valid host")
}

fn parse_override(value: &str) -> Result<Url, CredentialError> {
    let bad = |reason: String| CredentialError::Setting { setting: "SSO_AWS_STS_ENDPOINT", reason };
    let url = crate::web::url::parse_public_url(value.trim()).map_err(|e| bad(e.to_string()))?;
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a query or user info".into()));
    }
    Ok(url)
}

/// What the XML answer holds, whatever its shape.
#[derive(Default, PartialEq, Eq)]
struct Answer {
    /// `GetWebIdentityTokenResult/WebIdentityToken`.
    token: Option<String>,
    /// `GetWebIdentityTokenResult/Expiration`.
    expiration: Option<String>,
    /// `Error/Code`.
    code: Option<String>,
    /// `Error/Message`.
    message: Option<String>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("expiration", &self.expiration)
            .field("code", &self.code)
            .field("message", &self.message)
            .finish()
    }
}

/// Reads the elements of interest by their parent and name (namespaces ignored); anything
/// malformed ends the reading with what was found so far.
fn parse_answer(xml: &[u8]) -> Answer {
    let mut answer = Answer::default();
    let Ok(xml) = std::str::from_utf8(xml) else { return answer };
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    loop {
        let text = match reader.read_event() {
            Ok(Event::Start(e)) => {
                if path.len() >= 16 {
                    break;
                }
                path.push(e.local_name().as_ref().to_owned());
                continue;
            }
            Ok(Event::End(_)) => {
                path.pop();
                continue;
            }
            Ok(Event::Text(t)) => t.xml10_content().into_owned(),
            Ok(Event::CData(c)) => c.xml10_content().into_owned(),
            Ok(Event::GeneralRef(r)) => match r.resolve_char_ref() {
                Ok(Some(c)) => c.to_string(),
                Ok(None) => match quick_xml::escape::resolve_predefined_entity(&r) {
                    Some(s) => s.to_owned(),
                    None => break,
                },
                Err(_) => break,
            },
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => continue,
        };
        let slot = match path.as_slice() {
            [.., p, n] if p == "GetWebIdentityTokenResult" && n == "WebIdentityToken" => &mut answer.token,
            [.., p, n] if p == "GetWebIdentityTokenResult" && n == "Expiration" => &mut answer.expiration,
            [.., p, n] if p == "Error" && n == "Code" => &mut answer.code,
            [.., p, n] if p == "Error" && n == "Message" => &mut answer.message,
            _ => continue,
        };
        let slot = slot.get_or_insert_with(String::new);
        if slot.len() + text.len() > super::PLATFORM_MAX_RESPONSE_BYTES {
            break;
        }
        slot.push_str(&text);
    }
    answer
}

/// The assertion in a success answer: the token must be a JWT; the expiry is the earlier of
/// `Expiration` and the token's `exp`.
fn answer_to_assertion(answer: &Answer, now: u64) -> Result<Assertion, Unusable> {
    let token = answer
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Unusable::Missing("GetWebIdentityTokenResult/WebIdentityToken"))?;
    let exp = jwt_expiry(token).ok_or(Unusable::NotAJwt("WebIdentityToken"))?;
    let expires_at = match answer.expiration.as_deref().map(str::trim) {
        Some(e) => crate::support::time::parse_rfc3339(e).ok_or(Unusable::BadExpiration)?.min(exp),
        None => exp,
    };
    if expires_at <= now {
        return Err(Unusable::Expired { expires_at, now });
    }
    Ok(Assertion { token: SecretString::new(token), expires_at })
}

/// STS's error code and message, and the likely fix.
fn refusal(answer: &Answer, body: &[u8]) -> String {
    let (code, message) = match (&answer.code, &answer.message) {
        (None, None) => {
            return format!(
                "{} — not an STS error answer; check SSO_AWS_STS_ENDPOINT",
                cap(&String::from_utf8_lossy(body), 300)
            )
        }
        (c, m) => (cap(c.as_deref().unwrap_or(""), 300), cap(m.as_deref().unwrap_or(""), 300)),
    };
    let fix = if code.contains("OutboundWebIdentityFederationDisabled") {
        "outbound identity federation is off for this AWS account: turn it on (IAM → Account settings, or `aws iam \
         enable-outbound-web-identity-federation`)"
    } else if code == "AccessDenied" || code == "AccessDeniedException" {
        "the execution role may not call sts:GetWebIdentityToken: allow it in the role's policy (the CloudFormation \
         template does), and check that no SCP or permissions boundary denies it"
    } else if matches!(code.as_str(), "InvalidClientTokenId" | "SignatureDoesNotMatch" | "IncompleteSignature")
        || code.starts_with("ExpiredToken")
    {
        "the role credentials in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are not valid: do not \
         set them by hand; Lambda provides them (check AWS_REGION too)"
    } else if code.contains("SessionDurationEscalation") {
        "the role session is shorter than the token asked for; the token lifetime is fixed, so lengthen the session"
    } else if code.contains("JWTPayloadSizeExceeded") {
        "the token would be too large: remove principal or session tags"
    } else {
        "STS refused the request; it is retried at the next renewal"
    };
    format!("{code}: {message} — {fix}")
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    fn jwt(exp: u64) -> String {
        format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#)))
    }

    fn creds() -> RoleCredentials {
        RoleCredentials {
            access_key_id: "ASIAEXAMPLEKEY".into(),
            secret_access_key: SecretString::new("secret-access-key-value"),
            session_token: Some(SecretString::new("session-token-value")),
        }
    }

    fn source() -> AwsSts {
        AwsSts::new("eu-west-1", None, creds(), super::super::managed_identity::AUDIENCE_PUBLIC).unwrap()
    }

    #[test]
    fn regional_endpoints() {
        assert_eq!(source().endpoint(), "https://sts.eu-west-1.amazonaws.com/");
        let cn = AwsSts::new("cn-north-1", None, creds(), "a").unwrap();
        assert_eq!(cn.endpoint(), "https://sts.cn-north-1.amazonaws.com.cn/");
        for bad in ["", "EU-WEST-1", "eu west", "eu-west-1.evil.com/"] {
            assert!(matches!(
                AwsSts::new(bad, None, creds(), "a"),
                Err(CredentialError::Setting { setting: "AWS_REGION", .. })
            ));
        }
    }

    #[test]
    fn endpoint_override_is_https_or_loopback() {
        let s = AwsSts::new("us-east-1", Some("http://127.0.0.1:9000/"), creds(), "a").unwrap();
        assert_eq!(s.endpoint(), "http://127.0.0.1:9000/");
        assert!(AwsSts::new("us-east-1", Some("https://sts.example.internal/"), creds(), "a").is_ok());
        for bad in ["http://sts.example.com/", "ftp://127.0.0.1/", "https://h/?x=1", "nonsense"] {
            let err = AwsSts::new("us-east-1", Some(bad), creds(), "a").unwrap_err();
            assert!(matches!(err, CredentialError::Setting { setting: "SSO_AWS_STS_ENDPOINT", .. }), "{bad}");
        }
    }

    #[test]
    fn environment_is_read_and_gaps_named() {
        let env = |n: &str| match n {
            "AWS_REGION" => Some("eu-central-1".to_owned()),
            "AWS_ACCESS_KEY_ID" => Some("ASIA".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("s".to_owned()),
            _ => None,
        };
        assert_eq!(AwsSts::from_env(env, "a").unwrap().endpoint(), "https://sts.eu-central-1.amazonaws.com/");
        for gap in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let err = AwsSts::from_env(|n| if n == gap { None } else { env(n) }, "a").unwrap_err();
            assert!(matches!(&err, CredentialError::Setting { setting, .. } if *setting == gap), "{err}");
            assert!(err.to_string().contains("execution role"), "{err}");
        }
    }

    #[test]
    fn body_is_the_documented_query_api() {
        let body = source().body();
        assert_eq!(
            body,
            "Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.1=api%3A%2F%2FAzureADTokenExchange\
             &SigningAlgorithm=RS256&DurationSeconds=900"
        );
    }

    #[test]
    fn signature_has_the_sigv4_shape() {
        // 2026-12-01T17:30:00Z
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_146_200);
        let headers = source().signed_headers("Action=GetWebIdentityToken", time).unwrap();
        let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
        assert_eq!(get("x-amz-date"), Some("20261201T173000Z"));
        assert_eq!(get("x-amz-security-token"), Some("session-token-value"));
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY/20261201/eu-west-1/sts/aws4_request, "),
            "{auth}"
        );
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="), "{auth}");
        assert!(!auth.contains("secret-access-key-value"));
        // Deterministic for the same input; a different body signs differently.
        assert_eq!(source().signed_headers("Action=GetWebIdentityToken", time).unwrap(), headers);
        assert_ne!(
            get("authorization"),
            source()
                .signed_headers("Action=Other", time)
                .unwrap()
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.as_str())
        );
    }

    #[test]
    fn signing_never_traces_the_session_token() {
        #[derive(Clone, Default)]
        struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let headers = tracing::subscriber::with_default(subscriber, || {
            tracing::trace!("before signing");
            source().signed_headers("Action=GetWebIdentityToken", SystemTime::now()).unwrap()
        });
        let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("before signing"), "the capture works: {log}");
        assert!(!log.contains("session-token-value") && !log.contains("canonical"), "{log}");
        assert!(headers.iter().any(|(k, v)| k == "x-amz-security-token" && v == "session-token-value"));
    }

    #[test]
    fn success_answer_is_read() {
        let now = 1_800_000_000;
        let t = jwt(now + 900);
        let xml = format!(
            r#"<GetWebIdentityTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetWebIdentityTokenResult>
    <WebIdentityToken>{t}</WebIdentityToken>
    <Expiration>2027-01-15T08:10:00.000Z</Expiration>
  </GetWebIdentityTokenResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</GetWebIdentityTokenResponse>"#
        );
        let answer = parse_answer(xml.as_bytes());
        assert_eq!(answer.token.as_deref(), Some(t.as_str()));
        assert_eq!(answer.expiration.as_deref(), Some("2027-01-15T08:10:00.000Z"));
        // Expiration (now + 600) is earlier than the token's exp (now + 900): the earlier wins.
        let a = answer_to_assertion(&answer, now).unwrap();
        assert_eq!(a.expires_at, now + 600);
        assert_eq!(a.token.expose(), t);
        assert!(!format!("{answer:?}").contains("eyJ"));
    }

    #[test]
    fn unusable_answers_are_refused_without_echoing() {
        let now = 1_800_000_000;
        for xml in [
            "".to_owned(),
            "<GetWebIdentityTokenResponse><GetWebIdentityTokenResult></GetWebIdentityTokenResult></GetWebIdentityTokenResponse>".to_owned(),
            "<GetWebIdentityTokenResponse><GetWebIdentityTokenResult><WebIdentityToken>opaque-value</WebIdentityToken></GetWebIdentityTokenResult></GetWebIdentityTokenResponse>".to_owned(),
            format!("<GetWebIdentityTokenResult><WebIdentityToken>{}</WebIdentityToken><Expiration>tomorrow</Expiration></GetWebIdentityTokenResult>", jwt(now + 60)),
            format!("<GetWebIdentityTokenResult><WebIdentityToken>{}</WebIdentityToken></GetWebIdentityTokenResult>", jwt(now - 1)),
            // The token outside its result element does not count.
            format!("<Other><WebIdentityToken>{}</WebIdentityToken></Other>", jwt(now + 60)),
            "<a><b><c>".repeat(20),
        ] {
            let err = answer_to_assertion(&parse_answer(xml.as_bytes()), now).unwrap_err().to_string();
            assert!(!err.contains("opaque-value") && !err.contains("eyJ"), "{err}");
        }
    }

    #[test]
    fn error_answers_name_the_fix() {
        let xml = br#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>OutboundWebIdentityFederationDisabledException</Code>
  <Message>Outbound web identity federation is disabled for this account.</Message></Error>
  <RequestId>r-2</RequestId></ErrorResponse>"#;
        let r = refusal(&parse_answer(xml), xml);
        assert!(r.starts_with("OutboundWebIdentityFederationDisabledException: Outbound web identity"), "{r}");
        assert!(r.contains("enable-outbound-web-identity-federation"), "{r}");
        let xml = b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>not authorized to perform: sts:GetWebIdentityToken</Message></Error></ErrorResponse>";
        assert!(refusal(&parse_answer(xml), xml).contains("role's policy"));
        let xml =
            b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error></ErrorResponse>";
        assert!(refusal(&parse_answer(xml), xml).contains("AWS_SESSION_TOKEN"));
        let r = refusal(&parse_answer(b"<html>gateway</html>"), b"<html>gateway</html>");
        assert!(r.contains("SSO_AWS_STS_ENDPOINT"), "{r}");
    }

    #[test]
    fn debug_and_describe_hide_the_keys() {
        let s = source();
        let text = format!("{s:?} {}", s.describe());
        assert!(!text.contains("secret-access-key-value") && !text.contains("session-token-value"), "{text}");
        assert!(s.describe().contains("eu-west-1"));
    }
}
