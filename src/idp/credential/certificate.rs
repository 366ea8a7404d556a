//! Certificate credentials (`SSO_CLIENT_CERTIFICATE`): the PEM (a file path, or the text itself,
//! which is what a Key Vault reference yields) holds an RSA private key (PKCS#8 or PKCS#1) and
//! its certificate. Each token request carries a client assertion as Microsoft specifies it:
//! header `alg` PS256, `typ` JWT and `x5t#S256` (base64url SHA-256 of the DER certificate);
//! claims `aud` (the token endpoint), `iss` = `sub` (the client id), a random `jti`, `nbf`,
//! `iat` and an `exp` ten minutes ahead. The signed assertion is cached and re-signed two
//! minutes before it expires, a local operation.
//!
//! PEM sections are read by `rustls-pki-types`, the certificate by `x509-cert`, and the key is
//! used by *ring*, which also refuses keys shorter than 2048 bits.

use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PSS_SHA256};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_cert::der::Decode;

use super::{Assertion, CredentialError};
use crate::support::text::shape;
use crate::tokens::secret::SecretString;

/// The setting this module reads.
pub const SETTING: &str = "SSO_CLIENT_CERTIFICATE";
/// How long a signed assertion is valid.
pub const ASSERTION_LIFETIME_SECS: u64 = 10 * 60;
/// A cached assertion is re-signed when less than this remains.
pub const RESIGN_BEFORE_SECS: u64 = 2 * 60;
/// Start-up warns when the certificate expires within this many days.
pub const EXPIRY_WARNING_DAYS: u64 = 30;
/// Largest PEM read from a file or the setting.
pub const MAX_PEM_BYTES: usize = 256 * 1024;

/// `rsaEncryption`.
const OID_RSA: &str = "1.2.840.113549.1.1.1";
/// `id-ecPublicKey`.
const OID_EC: &str = "1.2.840.10045.2.1";
/// `id-Ed25519`.
const OID_ED25519: &str = "1.3.101.112";

/// What the dev identity provider and the signer need of one X.509 certificate.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    /// The DER certificate.
    pub der: Vec<u8>,
    /// base64url SHA-256 of the DER certificate: the `x5t#S256` header.
    pub x5t_s256: String,
    /// The SHA-1 thumbprint in upper-case hex, as the Azure portal lists it.
    pub thumbprint_sha1: String,
    /// The subject's distinguished name.
    pub subject: String,
    /// `notBefore`, Unix seconds.
    pub not_before: u64,
    /// `notAfter`, Unix seconds.
    pub not_after: u64,
    /// The public key's algorithm in words ("RSA", "EC", "Ed25519", or the OID).
    pub key_algorithm: String,
    /// The `subjectPublicKey` bits: for RSA, the DER `RSAPublicKey` *ring* verifies with.
    pub public_key: Vec<u8>,
}

/// Why DER bytes are no usable certificate.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// Not X.509.
    #[error("not an X.509 certificate ({0})")]
    NotX509(#[source] x509_cert::der::Error),
    /// The public key is not a whole number of bytes.
    #[error("a public key of partial bytes")]
    PartialKey,
}

impl CertificateInfo {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(CertificateError::NotX509)?;
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let oid = spki.algorithm.oid.to_string();
        let key_algorithm = match oid.as_str() {
            OID_RSA => "RSA".to_owned(),
            OID_EC => "EC".to_owned(),
            OID_ED25519 => "Ed25519".to_owned(),
            other => other.to_owned(),
        };
        let public_key = spki.subject_public_key.as_bytes().ok_or(CertificateError::PartialKey)?.to_vec();
        Ok(Self {
            x5t_s256: URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der)),
            thumbprint_sha1: ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect(),
            der: der.to_vec(),
            subject: tbs.subject.to_string(),
            not_before: tbs.validity.not_before.to_unix_duration().as_secs(),
            not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
            key_algorithm,
            public_key,
        })
    }

    /// Every certificate in a PEM text, in order.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<Self>, CredentialError> {
        let mut out = Vec::new();
        for (i, der) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let der = der.map_err(|e| material(format!("the PEM is malformed ({})", pem_error(&e))))?;
            out.push(Self::from_der(&der).map_err(|e| material(format!("certificate {} is {e}", i + 1)))?);
        }
        if out.is_empty() {
            return Err(material(
                "holds no certificate: add the certificate (-----BEGIN CERTIFICATE-----) after the private key".into(),
            ));
        }
        Ok(out)
    }
}

/// The app's certificate credential: its key, certificate and cached assertion.
pub struct ClientCertificate {
    client_id: String,
    key: RsaKeyPair,
    cert: CertificateInfo,
    /// The last assertion and its audience.
    cached: Mutex<Option<(String, Assertion)>>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn material(reason: String) -> CredentialError {
    CredentialError::Material { what: SETTING.into(), reason }
}

/// A PEM error in words, without the text it quotes.
fn pem_error(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section is not base64",
        pem::Error::NoItemsFound => "no section found",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "unreadable",
    }
}

/// Reads `SSO_CLIENT_CERTIFICATE`: the PEM itself when it contains a `-----BEGIN` line (also
/// with `\n` written as two characters, as some settings editors store it), else a file path.
///
/// The value may hold key material (a key or PFX pasted without PEM markers, a client secret in
/// the wrong setting), so no error quotes it, not even a path: it says what the value looks like
/// and how long it is ([`shape`]).
pub fn read_setting(value: &str) -> Result<Vec<u8>, CredentialError> {
    let value = value.trim();
    if value.contains("-----BEGIN") {
        let text = if value.contains('\n') { value.to_owned() } else { value.replace("\\n", "\n") };
        if text.len() > MAX_PEM_BYTES {
            return Err(material(format!("is longer than 256 KiB ({})", shape(value, ""))));
        }
        return Ok(text.into_bytes());
    }
    if value.starts_with("@Microsoft.KeyVault(") {
        return Err(material(format!(
            "is a Key Vault reference the platform did not resolve ({}); give the app's managed identity \
             permission to read the secret (Key Vault Secrets User), check the reference, and restart the app",
            shape(value, "")
        )));
    }
    if looks_like_base64(value) {
        return Err(material(format!(
            "{} without PEM markers (a PKCS#12/PFX file, or a bare key?); export the certificate as PEM with its \
             private key, or in Key Vault create it with content type PEM",
            shape(value, "base64 text")
        )));
    }
    if value.len() > 4096 || value.chars().any(char::is_control) {
        return Err(material(format!(
            "is neither PEM text nor a file path ({}); set the PEM (-----BEGIN …) or the path of a PEM file",
            shape(value, "")
        )));
    }
    let path_shaped = value.contains(['/', '\\']) || value.ends_with(".pem");
    let cannot_read = |e: std::io::Error| {
        let (looks, fix) = if path_shaped {
            ("", "set the path of a readable PEM file, or the PEM itself")
        } else {
            (
                ", without a directory or .pem: a client secret?",
                "a client secret goes in SSO_CLIENT_SECRET (with SSO_CLIENT_CREDENTIAL=secret); this setting takes \
                 the path of a PEM file, or the PEM itself",
            )
        };
        material(format!("cannot read the file it names ({}{looks}): {e}; {fix}", shape(value, "")))
    };
    let meta = std::fs::metadata(value).map_err(cannot_read)?;
    if !meta.is_file() {
        return Err(material(format!("names something that is not a file ({})", shape(value, ""))));
    }
    if meta.len() > MAX_PEM_BYTES as u64 {
        return Err(material(format!("names a file larger than 256 KiB ({})", shape(value, ""))));
    }
    std::fs::read(value).map_err(cannot_read)
}

/// Whether a value without PEM markers is base64 text (a DER key or PFX pasted as is): only
/// base64 or base64url characters once line breaks (real or written as `\n`) are dropped, and
/// longer than a path would be.
fn looks_like_base64(value: &str) -> bool {
    let text = value.replace("\\n", "").replace("\\r", "");
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let lines = text.lines().count();
    (compact.len() >= 200 || (lines > 1 && compact.len() >= 64))
        && compact.iter().all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(b))
}

/// The RSA key pair in a PEM text, or why there is none usable.
fn rsa_key(pem: &[u8]) -> Result<RsaKeyPair, CredentialError> {
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => material(
            "holds no private key: the PEM needs the private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA \
             PRIVATE KEY-----) as well as the certificate; an encrypted key must be decrypted first"
                .into(),
        ),
        other => material(format!("the PEM is malformed ({})", pem_error(&other))),
    })?;
    let rejected = |e: ring::error::KeyRejected| material(format!("the RSA private key is unusable ({e})"));
    match key {
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(rejected),
        PrivateKeyDer::Pkcs8(k) => {
            RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()).map_err(|e| match non_rsa_pkcs8(k.secret_pkcs8_der()) {
                Some(kind) => not_rsa(kind),
                None => rejected(e),
            })
        }
        PrivateKeyDer::Sec1(_) => Err(not_rsa("an EC (SEC1)")),
        _ => Err(material("holds a private key of an unknown format".into())),
    }
}

/// The algorithm of a PKCS#8 key *ring* can read as something other than RSA.
fn non_rsa_pkcs8(der: &[u8]) -> Option<&'static str> {
    use ring::signature::{
        EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
    };
    let rng = SystemRandom::new();
    if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng).is_ok() {
        Some("an EC P-256")
    } else if EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der, &rng).is_ok() {
        Some("an EC P-384")
    } else if Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).is_ok() {
        Some("an Ed25519")
    } else {
        None
    }
}

fn not_rsa(kind: &str) -> CredentialError {
    material(format!(
        "holds {kind} private key: Entra's certificate credentials need RSA (2048 bits or more); create an RSA \
         certificate"
    ))
}

impl ClientCertificate {
    /// Loads the credential from the value of `SSO_CLIENT_CERTIFICATE` for `client_id`,
    /// refusing anything that cannot sign an assertion Entra accepts; at `now` (Unix seconds)
    /// the certificate must be valid. Warns in the log when it expires within 30 days.
    pub fn load(value: &str, client_id: &str, now: u64) -> Result<Self, CredentialError> {
        let pem = read_setting(value)?;
        let cert = Self::from_pem(&pem, client_id, now)?;
        if let Some(warning) = cert.expiry_warning(now) {
            tracing::warn!(certificate = %cert.describe(), "{warning}");
        }
        Ok(cert)
    }

    /// A warning when the certificate expires within [`EXPIRY_WARNING_DAYS`] of `now`.
    pub fn expiry_warning(&self, now: u64) -> Option<String> {
        let days = self.cert.not_after.saturating_sub(now) / 86_400;
        (days < EXPIRY_WARNING_DAYS).then(|| {
            format!(
                "SSO_CLIENT_CERTIFICATE expires in {days} day(s), on {}: create a new certificate, upload it to the \
                 app registration, then replace this one",
                crate::support::time::format_date(self.cert.not_after)
            )
        })
    }

    /// The same from the PEM text.
    pub fn from_pem(pem: &[u8], client_id: &str, now: u64) -> Result<Self, CredentialError> {
        let certs = CertificateInfo::all_from_pem(pem)?;
        let key = rsa_key(pem)?;
        let public = key.public().as_ref();
        let Some(cert) = certs.iter().find(|c| c.public_key == public).cloned() else {
            let first = &certs[0];
            if first.key_algorithm != "RSA" {
                return Err(material(format!(
                    "the certificate ({}) has {} key, the private key is RSA: they do not belong together",
                    first.subject, first.key_algorithm
                )));
            }
            return Err(material(format!(
                "the private key does not match the certificate ({}, thumbprint {}): put the key and the \
                 certificate of the same pair in the PEM",
                first.subject, first.thumbprint_sha1
            )));
        };
        if cert.not_after <= now {
            return Err(material(format!(
                "the certificate ({}, thumbprint {}) expired {} day(s) ago: create a new one and upload it to the app \
                 registration",
                cert.subject,
                cert.thumbprint_sha1,
                (now - cert.not_after) / 86_400
            )));
        }
        if cert.not_before > now + 300 {
            return Err(material(format!(
                "the certificate ({}) is not valid yet (notBefore is in the future): check the clock",
                cert.subject
            )));
        }
        Ok(Self { client_id: client_id.to_owned(), key, cert, cached: Mutex::new(None) })
    }

    /// The certificate.
    pub fn certificate(&self) -> &CertificateInfo {
        &self.cert
    }

    /// The certificate in words for logs and `doctor`: subject, thumbprint, expiry.
    pub fn describe(&self) -> String {
        format!(
            "certificate {} (thumbprint {}, expires {})",
            self.cert.subject,
            self.cert.thumbprint_sha1,
            crate::support::time::format_date(self.cert.not_after)
        )
    }

    /// An assertion for the token endpoint `audience`: the cached one while more than two
    /// minutes of it remain, else a freshly signed one.
    pub fn assertion(&self, audience: &str) -> Result<Assertion, CredentialError> {
        let now = crate::support::time::now();
        let mut cached = self.cached.lock().expect("assertion cache lock");
        if let Some((aud, a)) = cached.as_ref() {
            if aud == audience && a.expires_at > now + RESIGN_BEFORE_SECS {
                return Ok(a.clone());
            }
        }
        let fresh = self.sign(audience, now)?;
        *cached = Some((audience.to_owned(), fresh.clone()));
        Ok(fresh)
    }

    /// Signs a new assertion for `audience`, issued at `now`.
    pub fn sign(&self, audience: &str, now: u64) -> Result<Assertion, CredentialError> {
        let header = serde_json::json!({ "alg": "PS256", "typ": "JWT", "x5t#S256": self.cert.x5t_s256 });
        let exp = now + ASSERTION_LIFETIME_SECS;
        let claims = serde_json::json!({
            "aud": audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": crate::support::text::guid(),
            "nbf": now,
            "iat": now,
            "exp": exp,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PSS_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| material("signing the client assertion failed".into()))?;
        Ok(Assertion {
            token: SecretString::new(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))),
            expires_at: exp,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePrivateKey;

    const DAY: u64 = 86_400;
    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
    const TOKEN_ENDPOINT: &str = "https://login.microsoftonline.com/t/oauth2/v2.0/token";

    /// One of two 2048-bit RSA keys, made once per test binary (generation is slow).
    pub(crate) fn rsa_key(n: usize) -> rsa::RsaPrivateKey {
        static KEYS: std::sync::OnceLock<Vec<rsa::RsaPrivateKey>> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            (0..2).map(|_| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key")).collect()
        })[n]
            .clone()
    }

    fn ymd(secs: u64) -> (i32, u8, u8) {
        let text = crate::support::time::format_date(secs);
        let p: Vec<&str> = text.split('-').collect();
        (p[0].parse().unwrap(), p[1].parse().unwrap(), p[2].parse().unwrap())
    }

    /// A self-signed certificate (PEM) for `key`, valid from `not_before` to `not_after`.
    pub(crate) fn certificate(key: &rsa::RsaPrivateKey, not_before: u64, not_after: u64) -> String {
        let der = key.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec();
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls_pki_types::PrivatePkcs8KeyDer::from(der),
            &rcgen::PKCS_RSA_SHA256,
        )
        .expect("rcgen key");
        let mut params = rcgen::CertificateParams::new(vec!["entra-sso.test".to_owned()]).expect("params");
        let (y, m, d) = ymd(not_before);
        params.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = ymd(not_after);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        params.self_signed(&pair).expect("self-signed").pem()
    }

    fn pkcs8_pem(key: &rsa::RsaPrivateKey) -> String {
        key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("PEM").to_string()
    }

    fn reason(e: CredentialError) -> String {
        match e {
            CredentialError::Material { what, reason } => {
                assert_eq!(what, SETTING);
                reason
            }
            other => panic!("not a material error: {other}"),
        }
    }

    fn b64json(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn assertion_follows_microsofts_format_and_verifies() {
        let now = crate::support::time::now();
        let key = rsa_key(0);
        let cert_pem = certificate(&key, now - DAY, now + 365 * DAY);
        let pem = format!("{}{cert_pem}", pkcs8_pem(&key));
        let cred = ClientCertificate::from_pem(pem.as_bytes(), CLIENT, now).unwrap();
        let a = cred.sign(TOKEN_ENDPOINT, now).unwrap();
        let token = a.token.expose();
        let parts: Vec<&str> = token.split('.').collect();
        let (header, claims) = (b64json(parts[0]), b64json(parts[1]));
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        let x5t = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &der));
        assert_eq!(header, serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": x5t}));
        assert_eq!(claims["aud"], TOKEN_ENDPOINT);
        assert_eq!(claims["iss"], CLIENT);
        assert_eq!(claims["sub"], CLIENT);
        assert_eq!(claims["iat"], now);
        assert_eq!(claims["nbf"], now);
        assert_eq!(claims["exp"], now + ASSERTION_LIFETIME_SECS);
        assert_eq!(a.expires_at, now + ASSERTION_LIFETIME_SECS);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
        let other = cred.sign(TOKEN_ENDPOINT, now).unwrap();
        assert_ne!(b64json(other.token.expose().split('.').nth(1).unwrap())["jti"], claims["jti"], "jti is fresh");

        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PSS_2048_8192_SHA256,
            cred.certificate().public_key.clone(),
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(public.verify(input.as_bytes(), &sig).is_ok());
        assert!(public.verify(b"x.y", &sig).is_err());
        assert!(!format!("{cred:?}").contains("PRIVATE"), "Debug shows no key");
        assert!(!format!("{a:?}").contains(parts[2]), "Debug shows no assertion");
    }

    #[test]
    fn the_assertion_is_cached_per_audience_and_resigned() {
        let now = crate::support::time::now();
        let key = rsa_key(0);
        let pem = format!("{}{}", certificate(&key, now - DAY, now + 365 * DAY), pkcs8_pem(&key));
        let cred = ClientCertificate::from_pem(pem.as_bytes(), CLIENT, now).unwrap();
        let first = cred.assertion(TOKEN_ENDPOINT).unwrap();
        assert_eq!(cred.assertion(TOKEN_ENDPOINT).unwrap().token, first.token, "cached");
        let other = cred.assertion("https://login.microsoftonline.us/t/oauth2/v2.0/token").unwrap();
        assert_ne!(other.token, first.token, "another audience signs anew");
        // An assertion about to expire is replaced.
        *cred.cached.lock().unwrap() = Some((TOKEN_ENDPOINT.into(), cred.sign(TOKEN_ENDPOINT, now - 500).unwrap()));
        let renewed = cred.assertion(TOKEN_ENDPOINT).unwrap();
        assert!(renewed.expires_at >= now + ASSERTION_LIFETIME_SECS);
    }

    #[test]
    fn pkcs1_keys_pem_text_with_escaped_newlines_and_files_are_read() {
        let now = crate::support::time::now();
        let key = rsa_key(1);
        let pkcs1 = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap().to_string();
        let pem = format!("{pkcs1}{}", certificate(&key, now - DAY, now + 90 * DAY));
        assert!(ClientCertificate::load(&pem, CLIENT, now).is_ok(), "PEM text, PKCS#1");
        assert!(ClientCertificate::load(&pem.replace('\n', "\\n"), CLIENT, now).is_ok(), "one-line PEM");
        let dir = std::env::temp_dir().join(format!("entra-sso-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cert.pem");
        std::fs::write(&path, &pem).unwrap();
        assert!(ClientCertificate::load(path.to_str().unwrap(), CLIENT, now).is_ok(), "a file path");
        let missing = reason(ClientCertificate::load(dir.join("nope.pem").to_str().unwrap(), CLIENT, now).unwrap_err());
        assert!(missing.contains("cannot read the file"), "{missing}");
        let not_file = reason(ClientCertificate::load(dir.to_str().unwrap(), CLIENT, now).unwrap_err());
        assert!(not_file.contains("is not a file"), "{not_file}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unusable_material_is_refused_with_the_reason() {
        let now = crate::support::time::now();
        let (key, other) = (rsa_key(0), rsa_key(1));
        let cert = certificate(&key, now - DAY, now + 365 * DAY);
        let load = |pem: &str| reason(ClientCertificate::load(pem, CLIENT, now).unwrap_err());

        assert!(load(&cert).contains("holds no private key"), "certificate only");
        let key_only = load(&pkcs8_pem(&key));
        assert!(key_only.contains("holds no certificate"), "{key_only}");
        let mismatch = load(&format!("{}{cert}", pkcs8_pem(&other)));
        assert!(mismatch.contains("does not match the certificate"), "{mismatch}");
        let expired = load(&format!("{}{}", pkcs8_pem(&key), certificate(&key, now - 400 * DAY, now - 3 * DAY)));
        assert!(expired.contains("expired") && expired.contains("day(s) ago"), "{expired}");
        let garbled = load("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
        assert!(garbled.contains("malformed") || garbled.contains("not an X.509"), "{garbled}");
        let pfx = load(&STANDARD.encode([7u8; 600]));
        assert!(pfx.contains("PKCS#12"), "{pfx}");

        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let ec_cert = rcgen::CertificateParams::new(vec!["ec.test".to_owned()]).unwrap().self_signed(&ec).unwrap();
        let ec_reason = load(&format!("{}{}", ec.serialize_pem(), ec_cert.pem()));
        assert!(ec_reason.contains("EC P-256") && ec_reason.contains("need RSA"), "{ec_reason}");
        let ec_with_rsa_key = load(&format!("{}{}", pkcs8_pem(&key), ec_cert.pem()));
        assert!(ec_with_rsa_key.contains("has EC key"), "{ec_with_rsa_key}");
        for text in [&key_only, &mismatch, &ec_reason] {
            assert!(!text.contains("MII"), "no key material in errors: {text}");
        }
    }

    /// Fails when `text` holds any 16-character run of `value` (white space left out of both).
    pub(crate) fn assert_not_echoed(value: &str, text: &str) {
        let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<Vec<char>>();
        let shown: String = compact(text).into_iter().collect();
        for run in compact(value).windows(16) {
            let run: String = run.iter().collect();
            assert!(!text.contains(&run) && !shown.contains(&run), "`{run}` of the value is in: {text}");
        }
    }

    /// Base64 of `n` bytes of a DER header and noise, in lines of `width` characters (0: one line).
    pub(crate) fn base64_blob(header: &[u8], n: usize, width: usize) -> String {
        let mut der = header.to_vec();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        der.extend((0..n).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        }));
        let text = STANDARD.encode(der);
        if width == 0 {
            return text;
        }
        text.as_bytes().chunks(width).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\n")
    }

    /// `n` with a comma every three digits, as the errors write lengths.
    fn grouped(n: usize) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn credential_values_are_described_never_shown() {
        let key = base64_blob(&[0x30, 0x82, 0x04, 0xbd, 0x02, 0x01, 0x00], 1200, 64);
        let pfx = base64_blob(&[0x30, 0x82, 0x0a, 0x3c, 0x02, 0x01, 0x03], 2600, 76);
        let one_line_pfx = base64_blob(&[0x30, 0x82, 0x0a, 0x3c, 0x02, 0x01, 0x03], 2600, 0);
        let escaped = key.replace('\n', "\\n");
        let cases: [(&str, &str); 6] = [
            (&key, "base64 text"),
            (&pfx, "base64 text"),
            (&one_line_pfx, "base64 text"),
            (&escaped, "base64 text"),
            ("Qx48Q~mZ1v.Rk3Yt_PwE7nHcL-9sFdJ2aB4uVg0e", "a client secret?"),
            ("@Microsoft.KeyVault(SecretUri=https://contoso-vault.vault.azure.net/secrets/sso-cert/)", "Key Vault"),
        ];
        for (value, kind) in cases {
            let why = reason(read_setting(value).unwrap_err());
            assert!(why.contains(kind), "{kind}: {why}");
            let length = format!("{} characters", grouped(value.chars().count()));
            assert!(why.contains(&length) || kind == "base64 text", "{length}: {why}");
            assert!(!why.contains('\n'), "one line: {why}");
            assert_not_echoed(value, &why);
        }
        let why = reason(read_setting(&key).unwrap_err());
        assert!(why.contains(&format!("{} characters", grouped(key.len()))) && why.contains("on 26 lines"), "{why}");
        assert!(why.contains("; ") && why.contains("content type PEM"), "the fix after `; `: {why}");
    }

    #[test]
    fn a_chain_picks_the_certificate_of_the_key() {
        let now = crate::support::time::now();
        let (key, other) = (rsa_key(0), rsa_key(1));
        let pem = format!(
            "{}{}{}",
            certificate(&other, now - DAY, now + DAY * 30),
            pkcs8_pem(&key),
            certificate(&key, now - DAY, now + 365 * DAY)
        );
        let cred = ClientCertificate::from_pem(pem.as_bytes(), CLIENT, now).unwrap();
        assert!(cred.certificate().not_after >= now + 364 * DAY);
        assert_eq!(cred.expiry_warning(now), None);
        let warning = cred.expiry_warning(cred.certificate().not_after - 10 * DAY).unwrap();
        assert!(warning.contains("expires in 10 day(s)") && warning.contains("upload it"), "{warning}");
        assert!(cred.describe().contains("CN=") && cred.describe().contains("thumbprint"), "{}", cred.describe());
    }
}
