//! Workload identity: the token projected into `AZURE_FEDERATED_TOKEN_FILE`, used as the client
//! assertion (an [`super::AssertionSource`]).
//!
//! The platform (AKS's workload identity webhook, or any that projects a service-account
//! token) rewrites the file before the token in it expires. Every fetch reads the file afresh —
//! it is a small local file and fetches happen only at renewal — so a rewritten token is picked
//! up at the next renewal whatever its mtime or size. The expiry comes from the token's own
//! `exp`, read without verifying the signature (Entra verifies it), only to schedule renewal.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{jwt_expiry, Assertion, AssertionFuture, AssertionSource, CredentialError};
use crate::tokens::secret::SecretString;

/// Largest token file read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The token in a projected file.
#[derive(Debug, Clone)]
pub struct WorkloadIdentity {
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    path: PathBuf,
}

impl WorkloadIdentity {
    /// A source reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// A source for `AZURE_FEDERATED_TOKEN_FILE`, read through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialError> {
        match var("AZURE_FEDERATED_TOKEN_FILE").filter(|v| !v.trim().is_empty()) {
            Some(path) => Ok(Self::new(path)),
            None => Err(CredentialError::Setting {
                setting: "AZURE_FEDERATED_TOKEN_FILE",
                reason: "not set: no platform projects a token into this process — on AKS, label the pod \
                         `azure.workload.identity/use: \"true\"` and annotate its service account with \
                         `azure.workload.identity/client-id`; elsewhere set it to the projected token's path"
                    .into(),
            }),
        }
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn material(&self, reason: String) -> CredentialError {
        CredentialError::Material { what: format!("AZURE_FEDERATED_TOKEN_FILE {}", self.path.display()), reason }
    }
}

impl AssertionSource for WorkloadIdentity {
    fn fetch(&self) -> AssertionFuture<'_> {
        Box::pin(async move {
            let path = self.path.clone();
            let read = tokio::task::spawn_blocking(move || read_token_file(&path))
                .await
                .map_err(|_| self.material("the read was cancelled".into()))?;
            let text = read.map_err(|problem| self.material(problem.to_string()))?;
            assertion_from_text(&text, crate::support::time::now())
                .map_err(|problem| self.material(problem.to_string()))
        })
    }

    fn describe(&self) -> String {
        format!("workload identity token file {}", self.path.display())
    }
}

/// What to check when the file cannot be read.
const MOUNT_FIX: &str = "check that the token volume is mounted into this container and readable by its user";

/// Why the token file gives no assertion. Never carries the file's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum FileProblem {
    #[error("cannot be opened ({0}): {MOUNT_FIX}")]
    Open(String),
    #[error("cannot be read ({0}): {MOUNT_FIX}")]
    Read(String),
    #[error("is not a regular file: {MOUNT_FIX}")]
    NotAFile,
    #[error("is larger than {} KiB: it is not a projected token", MAX_FILE_BYTES / 1024)]
    TooLarge,
    #[error("is not text: it is not a projected token")]
    NotText,
    #[error("is empty: the platform has not written the token yet, or the wrong file is named")]
    Empty,
    #[error(
        "does not hold a JWT (three base64url parts whose payload has a numeric exp): name the projected \
         service-account token file, not a key or a config file"
    )]
    NotAJwt,
    #[error(
        "holds a token that expired at {exp} (now {now}): the platform has stopped refreshing it — check the token \
         projection (and the host's clock)"
    )]
    Expired { exp: u64, now: u64 },
}

/// The file's text, at most [`MAX_FILE_BYTES`].
fn read_token_file(path: &Path) -> Result<String, FileProblem> {
    let file = std::fs::File::open(path).map_err(|e| FileProblem::Open(io_reason(&e)))?;
    let meta = file.metadata().map_err(|e| FileProblem::Read(io_reason(&e)))?;
    if !meta.is_file() {
        return Err(FileProblem::NotAFile);
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| FileProblem::Read(io_reason(&e)))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FileProblem::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| FileProblem::NotText)
}

/// The assertion in the file's text; errors never carry the text.
fn assertion_from_text(text: &str, now: u64) -> Result<Assertion, FileProblem> {
    let token = text.trim();
    if token.is_empty() {
        return Err(FileProblem::Empty);
    }
    let exp = jwt_expiry(token).ok_or(FileProblem::NotAJwt)?;
    if exp <= now {
        return Err(FileProblem::Expired { exp, now });
    }
    Ok(Assertion { token: SecretString::new(token), expires_at: exp })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    fn jwt(exp: u64) -> String {
        format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp},"sub":"s"}}"#)))
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("entra-sso-wi-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("token")
    }

    #[test]
    fn missing_variable_names_the_platform_fix() {
        let err = WorkloadIdentity::from_env(|_| None).unwrap_err();
        assert!(matches!(err, CredentialError::Setting { setting: "AZURE_FEDERATED_TOKEN_FILE", .. }));
        assert!(err.to_string().contains("azure.workload.identity/use"), "{err}");
        assert!(WorkloadIdentity::from_env(|_| Some(" ".into())).is_err());
        let s = WorkloadIdentity::from_env(|_| Some("/var/run/secrets/token".into())).unwrap();
        assert_eq!(s.path(), Path::new("/var/run/secrets/token"));
        assert!(s.describe().contains("/var/run/secrets/token"));
    }

    #[test]
    fn text_must_be_a_live_jwt() {
        let now = 1_800_000_000;
        let a = assertion_from_text(&format!("  {}\n", jwt(now + 60)), now).unwrap();
        assert_eq!(a.expires_at, now + 60);
        assert!(!a.token.expose().contains('\n'));
        assert!(assertion_from_text("", now).unwrap_err().to_string().contains("empty"));
        let err = assertion_from_text("-----BEGIN PRIVATE KEY-----", now).unwrap_err().to_string();
        assert!(err.contains("does not hold a JWT") && !err.contains("BEGIN"), "{err}");
        assert!(assertion_from_text(&jwt(now), now).unwrap_err().to_string().contains("expired"));
    }

    #[tokio::test]
    async fn rereads_the_file_when_it_changes() {
        let path = temp("reread");
        let now = crate::support::time::now();
        let source = WorkloadIdentity::new(&path);
        std::fs::write(&path, jwt(now + 600)).unwrap();
        let first = source.fetch().await.unwrap();
        // Same size and (likely) same mtime second: still re-read.
        std::fs::write(&path, jwt(now + 700)).unwrap();
        let second = source.fetch().await.unwrap();
        assert_eq!((first.expires_at, second.expires_at), (now + 600, now + 700));
        std::fs::remove_file(&path).unwrap();
    }

    /// A file its user may not read (the test runs as root in CI, which reads anyway, so the
    /// mapping is checked on the error itself).
    #[test]
    fn permission_denied_is_named() {
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(io_reason(&e), "permission denied");
    }

    #[tokio::test]
    async fn unreadable_files_name_the_file_and_the_fix() {
        let path = temp("missing");
        let _ = std::fs::remove_file(&path);
        let err = WorkloadIdentity::new(&path).fetch().await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CredentialError::Material { .. }));
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("no such file") && msg.contains("mounted"),
            "{msg}"
        );
        let dir = path.parent().unwrap().to_owned();
        let err = WorkloadIdentity::new(&dir).fetch().await.unwrap_err();
        assert!(err.to_string().contains("not a regular file") || err.to_string().contains("cannot be read"), "{err}");
        std::fs::write(&path, vec![b'a'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        assert!(WorkloadIdentity::new(&path).fetch().await.unwrap_err().to_string().contains("larger than"));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(WorkloadIdentity::new(&path).fetch().await.unwrap_err().to_string().contains("not text"));
        std::fs::remove_file(&path).unwrap();
    }
}
