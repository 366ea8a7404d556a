//! How the token request authenticates this app to the provider (`SSO_CLIENT_CREDENTIAL`):
//! a client secret, a certificate's signed assertion, or a federated assertion that the
//! platform issues (managed identity, workload identity, AWS). No variant but `secret` keeps a
//! long-lived secret in the settings.
//!
//! A federated source implements [`AssertionSource`]; its assertions are fetched in the
//! background at start-up, cached and renewed before they expire, so the login path never
//! makes an outbound call and a callback waits for a fetch only when nothing is cached.

pub mod aws;
pub mod certificate;
pub mod managed_identity;
pub mod renewal;
pub mod workload_identity;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::tokens::secret::SecretString;

/// How the token request authenticates (`SSO_CLIENT_CREDENTIAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// `secret`: `SSO_CLIENT_SECRET` sent as `client_secret`.
    Secret,
    /// `certificate`: an assertion signed with the key in `SSO_CLIENT_CERTIFICATE`.
    Certificate,
    /// `managed-identity`: a token from App Service's / Functions' identity endpoint.
    ManagedIdentity,
    /// `workload-identity`: the token projected into `AZURE_FEDERATED_TOKEN_FILE`.
    WorkloadIdentity,
    /// `aws`: a web-identity token from AWS STS, signed with the function's role credentials.
    Aws,
}

impl CredentialKind {
    /// Every kind, in the order the settings list them.
    pub const ALL: [CredentialKind; 5] = [
        CredentialKind::Secret,
        CredentialKind::Certificate,
        CredentialKind::ManagedIdentity,
        CredentialKind::WorkloadIdentity,
        CredentialKind::Aws,
    ];

    /// The value of `SSO_CLIENT_CREDENTIAL` that selects this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Secret => "secret",
            CredentialKind::Certificate => "certificate",
            CredentialKind::ManagedIdentity => "managed-identity",
            CredentialKind::WorkloadIdentity => "workload-identity",
            CredentialKind::Aws => "aws",
        }
    }

    /// Reads a value of `SSO_CLIENT_CREDENTIAL` (exact, lower case).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// Whether the assertion comes from a platform (fetched over the network or read from a
    /// file) rather than from the settings.
    pub fn is_federated(self) -> bool {
        matches!(self, CredentialKind::ManagedIdentity | CredentialKind::WorkloadIdentity | CredentialKind::Aws)
    }
}

impl std::fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JWT used as a client assertion, with its expiry (Unix seconds). `Debug` never shows the
/// token.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The JWT, sent as `client_assertion`.
    pub token: SecretString,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
}

impl Assertion {
    /// Wraps a JWT whose expiry is its own `exp` claim (read, not verified: the provider
    /// verifies it). Fails if the token is not a JWT with a numeric `exp`.
    pub fn from_jwt(token: impl Into<String>) -> Result<Self, CredentialError> {
        let token = token.into();
        let expires_at = jwt_expiry(&token).ok_or_else(|| CredentialError::Invalid {
            origin: "assertion".into(),
            reason: "not a JWT with a numeric exp claim".into(),
        })?;
        Ok(Self { token: SecretString::new(token), expires_at })
    }
}

/// The `exp` claim of a compact JWT, read without verifying the signature; `None` when the
/// value is not a three-part JWT whose payload is a JSON object with a numeric `exp`.
pub fn jwt_expiry(token: &str) -> Option<u64> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.len() > 16 * 1024 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match claims.get("exp")? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        _ => None,
    }
}

/// The future [`AssertionSource::fetch`] returns.
pub type AssertionFuture<'a> = Pin<Box<dyn Future<Output = Result<Assertion, CredentialError>> + Send + 'a>>;

/// A source of federated assertions: managed identity, workload identity file, AWS STS.
pub trait AssertionSource: Send + Sync + 'static {
    /// Fetches a fresh assertion. Never logs the token.
    fn fetch(&self) -> AssertionFuture<'_>;
    /// What it is, for logs and doctor (e.g. "managed identity at http://127.0.0.1:.../msi/token").
    fn describe(&self) -> String;
}

/// Why a credential could not be produced: 502 `token_exchange_failed` at the callback (with
/// this message in the operator's log detail), and one ✗ line in `doctor`. Never carries a
/// secret, key or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// A setting or platform environment variable the credential needs is missing or unusable.
    #[error("{setting}: {reason}")]
    Setting {
        /// The setting or environment variable, e.g. `IDENTITY_ENDPOINT`.
        setting: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Local material (a token file, a certificate) cannot be read or used.
    #[error("{what}: {reason}")]
    Material {
        /// What was read, e.g. "AZURE_FEDERATED_TOKEN_FILE /var/run/secrets/.../token".
        what: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The source could not be reached (network error, time-out).
    #[error("{origin} unreachable: {reason}")]
    Unreachable {
        /// The source, as [`AssertionSource::describe`] puts it.
        origin: String,
        /// The transport error.
        reason: String,
    },
    /// The source answered with a refusal.
    #[error("{origin} refused (HTTP {status}): {reason}")]
    Refused {
        /// The source, as [`AssertionSource::describe`] puts it.
        origin: String,
        /// HTTP status.
        status: u16,
        /// The source's own error code and message (capped), and the likely fix.
        reason: String,
    },
    /// The source answered, but not with a usable token.
    #[error("{origin} answered with no usable token: {reason}")]
    Invalid {
        /// The source, as [`AssertionSource::describe`] puts it.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// Connect time-out of a call to a platform token endpoint.
pub const PLATFORM_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Total time-out of a call to a platform token endpoint.
pub const PLATFORM_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// Largest answer read from a platform token endpoint.
pub const PLATFORM_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The outbound client for the platforms' token endpoints (identity endpoint, STS).
fn platform_client() -> crate::idp::outbound::Outbound {
    crate::idp::outbound::Outbound::new(crate::idp::outbound::Limits {
        connect: PLATFORM_CONNECT_TIMEOUT,
        total: PLATFORM_REQUEST_TIMEOUT,
        max_body: PLATFORM_MAX_RESPONSE_BYTES,
    })
}

/// Why a platform's answer holds no usable token. Never carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unusable {
    /// Not JSON where JSON was promised.
    #[error("the answer is not JSON")]
    NotJson,
    /// The member that carries the token is missing or empty.
    #[error("the answer has no {0}")]
    Missing(&'static str),
    /// The token is no JWT with a numeric `exp`.
    #[error("{0} is not a JWT with a numeric exp claim")]
    NotAJwt(&'static str),
    /// The stated expiry is not an RFC 3339 time.
    #[error("Expiration is not an RFC 3339 time")]
    BadExpiration,
    /// Already expired.
    #[error("the token expired at {expires_at} (now {now}); check the host's clock")]
    Expired {
        /// Its expiry.
        expires_at: u64,
        /// This host's time.
        now: u64,
    },
}

/// `client_assertion_type` of every assertion-based token request.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the token request authenticates, built once from the settings. Cloning shares the
/// certificate and the federated cache.
#[derive(Clone)]
pub enum ClientCredential {
    /// No credential: a public client (PKCE only).
    Public,
    /// `SSO_CLIENT_SECRET`, sent as `client_secret`.
    Secret(SecretString),
    /// An assertion signed with `SSO_CLIENT_CERTIFICATE`'s key, re-signed before it expires.
    Certificate(Arc<certificate::ClientCertificate>),
    /// A platform-issued assertion, fetched in the background and cached.
    Federated(Arc<renewal::FederatedCredential>),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ClientCredential {
    /// A federated credential from any source (the sources in this module, or a test's own).
    pub fn federated(kind: CredentialKind, source: Arc<dyn AssertionSource>) -> Self {
        ClientCredential::Federated(Arc::new(renewal::FederatedCredential::new(kind, source)))
    }

    /// The kind; `None` for a public client.
    pub fn kind(&self) -> Option<CredentialKind> {
        match self {
            ClientCredential::Public => None,
            ClientCredential::Secret(_) => Some(CredentialKind::Secret),
            ClientCredential::Certificate(_) => Some(CredentialKind::Certificate),
            ClientCredential::Federated(f) => Some(f.kind()),
        }
    }

    /// One line for logs and `doctor`; never the secret, key or token.
    pub fn describe(&self) -> String {
        match self {
            ClientCredential::Public => "public client (no credential)".into(),
            ClientCredential::Secret(_) => "client secret (SSO_CLIENT_SECRET)".into(),
            ClientCredential::Certificate(c) => c.describe(),
            ClientCredential::Federated(f) => format!("{}: {}", f.kind(), f.describe()),
        }
    }

    /// Starts the background fetch and renewal of a federated assertion; nothing for the
    /// other kinds. Call once the async runtime runs (`App::prefetch`).
    pub fn start(&self) {
        if let ClientCredential::Federated(f) = self {
            f.start();
        }
    }

    /// The token request's authentication fields for `token_endpoint` (the assertion's `aud`):
    /// none, `client_secret`, or `client_assertion_type` and `client_assertion`. Waits on the
    /// network only for a federated credential with nothing usable cached.
    pub async fn form_fields(
        &self,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, SecretString)>, CredentialError> {
        let assertion = match self {
            ClientCredential::Public => return Ok(Vec::new()),
            ClientCredential::Secret(s) => return Ok(vec![("client_secret", s.clone())]),
            ClientCredential::Certificate(c) => c.assertion(token_endpoint)?,
            ClientCredential::Federated(f) => f.assertion().await?,
        };
        Ok(vec![("client_assertion_type", SecretString::new(ASSERTION_TYPE)), ("client_assertion", assertion.token)])
    }
}

/// Builds the federated source for `kind` from the environment read through `lookup`:
/// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` (with `SSO_MANAGED_IDENTITY_CLIENT_ID`),
/// `AZURE_FEDERATED_TOKEN_FILE`, or the AWS region and role credentials. `authority` picks the
/// cloud's token-exchange audience. `None` for the kinds that are not federated.
pub fn federated_source(
    kind: CredentialKind,
    lookup: &dyn Fn(&str) -> Option<String>,
    authority: &str,
) -> Option<Result<Arc<dyn AssertionSource>, CredentialError>> {
    let audience = managed_identity::token_exchange_audience(authority);
    let source: Result<Arc<dyn AssertionSource>, CredentialError> = match kind {
        CredentialKind::Secret | CredentialKind::Certificate => return None,
        CredentialKind::ManagedIdentity => {
            managed_identity::ManagedIdentity::from_env(lookup, lookup("SSO_MANAGED_IDENTITY_CLIENT_ID"), authority)
                .map(|s| Arc::new(s) as Arc<dyn AssertionSource>)
        }
        CredentialKind::WorkloadIdentity => {
            workload_identity::WorkloadIdentity::from_env(lookup).map(|s| Arc::new(s) as Arc<dyn AssertionSource>)
        }
        CredentialKind::Aws => aws::AwsSts::from_env(lookup, audience).map(|s| Arc::new(s) as Arc<dyn AssertionSource>),
    };
    Some(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn kinds_round_trip_and_reject_other_spellings() {
        for kind in CredentialKind::ALL {
            assert_eq!(CredentialKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CredentialKind::parse("Secret"), None);
        assert_eq!(CredentialKind::parse("managed_identity"), None);
        assert_eq!(CredentialKind::parse(""), None);
        assert!(CredentialKind::Aws.is_federated());
        assert!(!CredentialKind::Certificate.is_federated());
    }

    #[test]
    fn expiry_is_read_from_the_payload() {
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":1700000000,"sub":"x"}"#)), Some(1_700_000_000));
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":"1700000000"}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_expiry(&jwt("[1]")), None);
        assert_eq!(jwt_expiry("a.b"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(jwt_expiry(&format!("{}.d", jwt(r#"{"exp":1}"#))), None);
    }

    #[test]
    fn assertion_debug_hides_the_token() {
        let a = Assertion::from_jwt(jwt(r#"{"exp":1700000000}"#)).unwrap();
        assert_eq!(a.expires_at, 1_700_000_000);
        assert!(!format!("{a:?}").contains("eyJ"));
        assert!(matches!(Assertion::from_jwt("opaque"), Err(CredentialError::Invalid { .. })));
    }
}
