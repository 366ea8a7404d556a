//! Kubernetes workload identity: the projected service-account token file that
//! `AZURE_FEDERATED_TOKEN_FILE` names, which the kubelet writes and rewrites.

use std::path::{Path, PathBuf};

use super::settings::TestSettings;

/// A fresh folder for this process's token files named `name`; the test writes (and rewrites) the
/// token files in it, and removes it.
pub(crate) fn token_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("entra-sso-federated-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the workload-identity webhook sets in the pod's environment for the token at `path`.
pub(crate) fn env(path: &Path) -> TestSettings {
    TestSettings::empty().with("AZURE_FEDERATED_TOKEN_FILE", path.display().to_string())
}
