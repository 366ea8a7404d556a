//! Client assertions at the dev identity provider's token endpoint, checked as Entra checks
//! them, with Entra's AADSTS codes: a certificate's PS256 assertion (`x5t#S256` names the
//! certificate, `aud` is the token endpoint, `iss` = `sub` = the client id, `exp` and `nbf`), or
//! a federated token from a trusted issuer (its `iss`, `sub` and `aud` must match the federated
//! credential, its RS256 signature one of the issuer's keys).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::idp::credential::certificate::CertificateInfo;
use crate::idp::credential::{CredentialError, ASSERTION_TYPE};
use crate::idp::outbound::{Limits, Outbound, OutboundError};
use crate::idp::provider::jwks::Jwks;
use crate::support::text::cap;

/// Clock skew tolerated on `exp` and `nbf`, as Entra allows.
pub const SKEW_SECS: u64 = 300;

/// The audience a federated credential expects by default.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A dev-IdP setting for client assertions that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// `SSO_CLIENT_CERTIFICATE` holds no readable certificate.
    #[error("{0}")]
    Certificate(#[from] CredentialError),
    /// `DEV_IDP_FEDERATED_JWKS` names a file that cannot be read.
    #[error("DEV_IDP_FEDERATED_JWKS: cannot read `{path}`: {source}")]
    JwksFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `DEV_IDP_FEDERATED_JWKS`'s file is no JWKS with an RSA key.
    #[error("DEV_IDP_FEDERATED_JWKS: {0}")]
    Jwks(#[from] JwksProblem),
    /// Some of the three federated settings are set, not all.
    #[error(
        "DEV_IDP_FEDERATED_ISSUER, DEV_IDP_FEDERATED_SUBJECT and DEV_IDP_FEDERATED_JWKS go together: set all three or \
         none"
    )]
    Incomplete,
}

/// Why a federated issuer's keys are unusable.
#[derive(Debug, thiserror::Error)]
pub enum JwksProblem {
    /// Not a JWKS document.
    #[error("not a JWKS document")]
    NotJwks,
    /// No RSA key in it.
    #[error("the JWKS holds no RSA key")]
    NoRsaKey,
    /// The URL gave no answer.
    #[error("{0}")]
    Unreachable(#[from] OutboundError),
    /// The URL answered with an error status.
    #[error("HTTP {0}")]
    Status(u16),
}

/// The limits of fetching a federated issuer's keys.
const JWKS_LIMITS: Limits = Limits {
    connect: std::time::Duration::from_secs(5),
    total: std::time::Duration::from_secs(5),
    max_body: 256 * 1024,
};

/// Where a trusted federated issuer's keys come from.
#[derive(Debug, Clone)]
pub enum FederatedKeys {
    /// A JWKS document, already read.
    Jwks(String),
    /// A JWKS URL, fetched at each check (the issuer may rotate).
    Url(String),
}

/// A federated identity credential of the dev client: tokens of `issuer` about `subject` for
/// `audience`, signed by one of `keys`.
#[derive(Debug, Clone)]
pub struct FederatedTrust {
    /// The token's `iss`, exactly.
    pub issuer: String,
    /// The token's `sub`, exactly.
    pub subject: String,
    /// The token's `aud` (default `api://AzureADTokenExchange`).
    pub audience: String,
    /// The issuer's signing keys.
    pub keys: FederatedKeys,
}

/// What the dev client may authenticate with besides its secret.
#[derive(Debug, Clone, Default)]
pub struct AssertionTrust {
    /// The certificate whose assertions are accepted (`SSO_CLIENT_CERTIFICATE`'s certificate).
    pub certificate: Option<CertificateInfo>,
    /// A federated identity credential.
    pub federated: Option<FederatedTrust>,
}

impl AssertionTrust {
    /// Whether any assertion is accepted.
    pub fn any(&self) -> bool {
        self.certificate.is_some() || self.federated.is_some()
    }

    /// Reads `SSO_CLIENT_CERTIFICATE` (only its certificate; a private key in it is ignored) and
    /// `DEV_IDP_FEDERATED_ISSUER`, `DEV_IDP_FEDERATED_SUBJECT`, `DEV_IDP_FEDERATED_JWKS` (an
    /// `http(s)://` URL or a file) and `DEV_IDP_FEDERATED_AUDIENCE` through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, TrustError> {
        let var = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let certificate = match var("SSO_CLIENT_CERTIFICATE") {
            None => None,
            Some(value) => {
                let pem = crate::idp::credential::certificate::read_setting(&value)?;
                let mut certs = CertificateInfo::all_from_pem(&pem)?;
                Some(certs.swap_remove(0))
            }
        };
        let federated =
            match (var("DEV_IDP_FEDERATED_ISSUER"), var("DEV_IDP_FEDERATED_SUBJECT"), var("DEV_IDP_FEDERATED_JWKS")) {
                (None, None, None) => None,
                (Some(issuer), Some(subject), Some(jwks)) => {
                    let keys = if jwks.starts_with("http://") || jwks.starts_with("https://") {
                        FederatedKeys::Url(jwks)
                    } else {
                        let text = std::fs::read_to_string(&jwks)
                            .map_err(|source| TrustError::JwksFile { path: jwks.clone(), source })?;
                        parse_jwks(&text)?;
                        FederatedKeys::Jwks(text)
                    };
                    let audience =
                        var("DEV_IDP_FEDERATED_AUDIENCE").unwrap_or_else(|| TOKEN_EXCHANGE_AUDIENCE.to_owned());
                    Some(FederatedTrust { issuer, subject, audience, keys })
                }
                _ => return Err(TrustError::Incomplete),
            };
        Ok(Self { certificate, federated })
    }
}

/// A refusal in Entra's terms: HTTP status, OAuth error, AADSTS code, message.
pub type Refusal = (u16, &'static str, u32, String);

fn refuse(status: u16, error: &'static str, code: u32, text: impl Into<String>) -> Refusal {
    (status, error, code, text.into())
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default, rename = "x5t#S256")]
    x5t_s256: Option<String>,
    #[serde(default)]
    x5t: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
}

impl Claims {
    fn has_audience(&self, expected: &str) -> bool {
        match &self.aud {
            Some(serde_json::Value::String(a)) => a == expected,
            Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected)),
            _ => false,
        }
    }

    fn timely(&self, now: u64) -> bool {
        self.exp.is_some_and(|exp| exp + SKEW_SECS > now) && self.nbf.is_none_or(|nbf| nbf <= now + SKEW_SECS)
    }
}

/// Entra's `401 invalid_client` with AADSTS `code`.
fn invalid_client(code: u32, text: impl Into<String>) -> Refusal {
    refuse(401, "invalid_client", code, text)
}

/// AADSTS700024 unless the assertion is within its time range (with [`SKEW_SECS`]).
fn timely(claims: &Claims, now: u64) -> Result<(), Refusal> {
    if claims.timely(now) {
        Ok(())
    } else {
        Err(invalid_client(700024, "Client assertion is not within its valid time range."))
    }
}

fn malformed(why: &str) -> Refusal {
    refuse(400, "invalid_client", 50027, format!("JWT token is invalid or malformed: {why}."))
}

/// The three parts of a compact JWT, decoded: header, claims, signing input, signature.
fn split(token: &str) -> Result<(Header, Claims, &str, Vec<u8>), Refusal> {
    if token.len() > 16 * 1024 {
        return Err(malformed("too long"));
    }
    let (signing_input, sig) = token.rsplit_once('.').ok_or_else(|| malformed("not a JWT"))?;
    let (header, payload) = signing_input.split_once('.').ok_or_else(|| malformed("not a JWT"))?;
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed("not base64url"));
    let header: Header = serde_json::from_slice(&decode(header)?).map_err(|_| malformed("header is not JSON"))?;
    let claims: Claims = serde_json::from_slice(&decode(payload)?).map_err(|_| malformed("claims are not JSON"))?;
    Ok((header, claims, signing_input, decode(sig)?))
}

/// Checks the client authentication of a token request for `client_id` at `token_endpoint`:
/// the assertion when one is sent, else the secret rules the caller applies (`Ok(false)`: no
/// assertion was sent). `Ok(true)`: a valid assertion.
pub async fn check(
    trust: &AssertionTrust,
    client_id: &str,
    token_endpoint: &str,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
    now: u64,
) -> Result<bool, Refusal> {
    let Some(assertion) = assertion else {
        return Ok(false);
    };
    if assertion_type != Some(ASSERTION_TYPE) {
        return Err(refuse(
            400,
            "invalid_request",
            7000219,
            format!("'client_assertion_type' must be '{ASSERTION_TYPE}'."),
        ));
    }
    let (header, claims, signing_input, signature) = split(assertion)?;
    if header.x5t_s256.is_some() || header.x5t.is_some() {
        check_certificate(trust, client_id, token_endpoint, &header, &claims, signing_input, &signature, now)?;
    } else {
        check_federated(trust, &header, &claims, signing_input, &signature, now).await?;
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn check_certificate(
    trust: &AssertionTrust,
    client_id: &str,
    token_endpoint: &str,
    header: &Header,
    claims: &Claims,
    signing_input: &str,
    signature: &[u8],
    now: u64,
) -> Result<(), Refusal> {
    let not_found =
        || invalid_client(700027, "Client assertion failed signature validation. [Reason - The key was not found.]");
    let cert = trust.certificate.as_ref().ok_or_else(not_found)?;
    if header.x5t_s256.as_deref() != Some(cert.x5t_s256.as_str()) {
        return Err(not_found());
    }
    if header.alg != "PS256" {
        return Err(malformed("alg must be PS256 for a certificate assertion"));
    }
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PSS_2048_8192_SHA256, &cert.public_key);
    if key.verify(signing_input.as_bytes(), signature).is_err() {
        return Err(invalid_client(700027,
            "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]",
        ));
    }
    if !claims.has_audience(token_endpoint) {
        return Err(invalid_client(700023, "Client assertion audience claim does not match Realm issuer."));
    }
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err(invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    timely(claims, now)
}

async fn check_federated(
    trust: &AssertionTrust,
    header: &Header,
    claims: &Claims,
    signing_input: &str,
    signature: &[u8],
    now: u64,
) -> Result<(), Refusal> {
    let no_record = |code: u32, claim: &str, value: &str| {
        let value = cap(value, 200);
        invalid_client(
            code,
            format!("No matching federated identity record found for presented assertion {claim} '{value}'."),
        )
    };
    let iss = claims.iss.as_deref().unwrap_or("");
    let Some(fed) = trust.federated.as_ref().filter(|fed| iss == fed.issuer) else {
        return Err(no_record(700211, "issuer", iss));
    };
    let sub = claims.sub.as_deref().unwrap_or("");
    if sub != fed.subject {
        return Err(no_record(700213, "subject", sub));
    }
    if !claims.has_audience(&fed.audience) {
        return Err(no_record(700212, "audience", &fed.audience));
    }
    if header.alg != "RS256" {
        return Err(malformed("a federated assertion must be RS256 here"));
    }
    let jwks = match &fed.keys {
        FederatedKeys::Jwks(text) => text.clone(),
        FederatedKeys::Url(url) => fetch(url).await.map_err(|e| {
            invalid_client(700027,
                format!("Client assertion failed signature validation. [Reason - the issuer's keys could not be fetched: {e}]"),
            )
        })?,
    };
    let keys = parse_jwks(&jwks)
        .map_err(|e| invalid_client(700027, format!("Client assertion failed signature validation. [Reason - {e}]")))?;
    let verified = keys.iter().filter(|k| header.kid.is_none() || k.kid == header.kid).any(|k| {
        ring::signature::RsaPublicKeyComponents { n: &k.n, e: &k.e }
            .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signing_input.as_bytes(), signature)
            .is_ok()
    });
    if !verified {
        return Err(invalid_client(
            700027,
            "Client assertion failed signature validation. [Reason - The key was not found.]",
        ));
    }
    timely(claims, now)
}

/// One RSA key of a JWKS.
struct RsaJwk {
    kid: Option<String>,
    n: Vec<u8>,
    e: Vec<u8>,
}

fn parse_jwks(text: &str) -> Result<Vec<RsaJwk>, JwksProblem> {
    let jwks: Jwks = serde_json::from_str(text).map_err(|_| JwksProblem::NotJwks)?;
    let keys: Vec<RsaJwk> = jwks
        .rsa_signing_keys()
        .filter_map(|(kid, n, e, _)| {
            Some(RsaJwk { kid, n: URL_SAFE_NO_PAD.decode(n).ok()?, e: URL_SAFE_NO_PAD.decode(e).ok()? })
        })
        .collect();
    if keys.is_empty() {
        return Err(JwksProblem::NoRsaKey);
    }
    Ok(keys)
}

/// The JWKS at `url`, through the one outbound client.
async fn fetch(url: &str) -> Result<String, JwksProblem> {
    let answer = Outbound::new(JWKS_LIMITS).get_json(url, &[]).await?;
    if !answer.is_success() {
        return Err(JwksProblem::Status(answer.status));
    }
    String::from_utf8(answer.body).map_err(|_| JwksProblem::NotJwks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn federated_settings_go_together_and_files_must_hold_rsa_keys() {
        assert!(!AssertionTrust::from_env(env(&[])).unwrap().any());
        let err = AssertionTrust::from_env(env(&[("DEV_IDP_FEDERATED_ISSUER", "https://i")])).unwrap_err();
        assert!(err.to_string().contains("set all three or none"), "{err}");
        let url = AssertionTrust::from_env(env(&[
            ("DEV_IDP_FEDERATED_ISSUER", "https://issuer.example"),
            ("DEV_IDP_FEDERATED_SUBJECT", "sub"),
            ("DEV_IDP_FEDERATED_JWKS", "http://127.0.0.1:9/keys"),
        ]))
        .unwrap();
        let fed = url.federated.unwrap();
        assert!(matches!(fed.keys, FederatedKeys::Url(_)));
        assert_eq!(fed.audience, TOKEN_EXCHANGE_AUDIENCE);

        let dir = std::env::temp_dir().join(format!("entra-sso-jwks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jwks.json");
        std::fs::write(&path, r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#).unwrap();
        let file = |p: &str| {
            AssertionTrust::from_env(env(&[
                ("DEV_IDP_FEDERATED_ISSUER", "https://issuer.example"),
                ("DEV_IDP_FEDERATED_SUBJECT", "sub"),
                ("DEV_IDP_FEDERATED_JWKS", p),
                ("DEV_IDP_FEDERATED_AUDIENCE", "api://custom"),
            ]))
        };
        let err = file(path.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("no RSA key"), "{err}");
        std::fs::write(&path, r#"{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]}"#).unwrap();
        let trust = file(path.to_str().unwrap()).unwrap();
        assert_eq!(trust.federated.unwrap().audience, "api://custom");
        let err = file(dir.join("missing.json").to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_certificate_setting_without_a_certificate_is_refused() {
        let err = AssertionTrust::from_env(env(&[(
            "SSO_CLIENT_CERTIFICATE",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("holds no certificate"), "{err}");
    }

    #[test]
    fn audiences_may_be_a_string_or_a_list_and_time_has_skew() {
        let claims = |aud: serde_json::Value, exp: u64, nbf: Option<u64>| Claims {
            iss: None,
            sub: None,
            aud: Some(aud),
            exp: Some(exp),
            nbf,
        };
        assert!(claims("a".into(), 0, None).has_audience("a"));
        assert!(claims(serde_json::json!(["b", "a"]), 0, None).has_audience("a"));
        assert!(!claims(serde_json::json!(["b"]), 0, None).has_audience("a"));
        assert!(!claims(serde_json::json!(1), 0, None).has_audience("a"));
        let now = 10_000;
        assert!(claims("a".into(), now - 100, None).timely(now), "expired within the skew");
        assert!(!claims("a".into(), now - SKEW_SECS, None).timely(now));
        assert!(claims("a".into(), now + 600, Some(now + 200)).timely(now));
        assert!(!claims("a".into(), now + 600, Some(now + SKEW_SECS + 1)).timely(now));
    }
}
