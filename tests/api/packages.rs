//! Deployment packages and infrastructure templates, without building anything:
//!
//! - the package scripts' assembly step, run for real with a stand-in executable (`--binary`),
//!   and the zips it writes read back here with a small central-directory reader (names, Unix
//!   modes, CRCs), plus the layout checker refusing what a platform could not run;
//! - the release build command (`scripts/build-release.sh --dry-run`): never the dev IdP;
//! - packages already in `dist/` (from a real build), when present;
//! - `deploy/aws/template.yaml` and `deploy/azure/main.bicep` held to the runtime contract and to
//!   the configuration names the crate reads (text checks: no YAML or Bicep parser is a
//!   dependency; `cfn-lint` and a Bicep parser check the syntax outside the tests, see
//!   docs/aws.md and docs/azure.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `SSO_*` name the crate reads: the quoted `"SSO_…"` literals in `src/` (`config.rs` for
/// the settings, `main.rs` for `SSO_LOG_FORMAT`).
fn known_settings() -> BTreeSet<String> {
    fn walk(dir: &Path, names: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            // `entra-sso proxy`'s own settings belong to no serverless template.
            if path.is_dir() && path.file_name().is_some_and(|n| n == "proxy") {
                continue;
            }
            if path.is_dir() {
                walk(&path, names);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                names.extend(
                    text.split('"')
                        .skip(1)
                        .step_by(2)
                        .filter(|s| {
                            s.starts_with("SSO_")
                                && s.len() > 4
                                && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                        })
                        .map(str::to_owned),
                );
            }
        }
    }
    let mut names = BTreeSet::new();
    walk(&root().join("src"), &mut names);
    for required in
        ["SSO_CLIENT_ID", "SSO_TENANT_ID", "SSO_AUTHORITY", "SSO_REDIRECT_URI", "SSO_SECRET", "SSO_LOG_FORMAT"]
    {
        assert!(names.contains(required), "src/ no longer names {required}; update this test");
    }
    names
}

/// The `SSO_…` names in `text`, each with its line.
fn sso_words(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("SSO_") {
            let word: String =
                rest[at..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            if word.len() > "SSO_".len() {
                // `SSO_*` (the family) is not a name.
                out.entry(word.clone()).or_insert_with(|| line.to_owned());
            }
            rest = &rest[at + word.len()..];
        }
    }
    out
}

// ---- zip reading --------------------------------------------------------------------------

#[derive(Debug)]
struct Entry {
    name: String,
    /// Unix permission bits, when the entry was written by a Unix host (made-by 3).
    mode: Option<u32>,
    crc: u32,
    size: u64,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The central directory of a (non-zip64) zip file.
fn zip_entries(path: &Path) -> Vec<Entry> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let eocd = (0..=b.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(&b, i) == 0x0605_4b50)
        .unwrap_or_else(|| panic!("{}: no end of central directory", path.display()));
    let count = u16_at(&b, eocd + 10);
    let mut at = u32_at(&b, eocd + 16) as usize;
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(&b, at), 0x0201_4b50, "{}: bad central directory header", path.display());
        let made_by_host = b[at + 5];
        let crc = u32_at(&b, at + 16);
        let size = u64::from(u32_at(&b, at + 24));
        let (name_len, extra_len, comment_len) = (u16_at(&b, at + 28), u16_at(&b, at + 30), u16_at(&b, at + 32));
        let external = u32_at(&b, at + 38);
        let name = String::from_utf8(b[at + 46..at + 46 + name_len].to_vec()).expect("UTF-8 entry name");
        let mode = (made_by_host == 3).then_some((external >> 16) & 0o7777);
        entries.push(Entry { name, mode, crc, size });
        at += 46 + name_len + extra_len + comment_len;
    }
    entries
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn entry<'a>(entries: &'a [Entry], name: &str, zip: &Path) -> &'a Entry {
    entries.iter().find(|e| e.name == name).unwrap_or_else(|| {
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        panic!("{}: no `{name}` entry; it has {names:?}", zip.display())
    })
}

// ---- running the scripts ------------------------------------------------------------------

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("packages-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A stand-in for the release binary: a 64-bit x86-64 ELF header followed by `body`. The
/// scripts only copy it; the layout checker reads the header and looks for feature markers.
fn fake_elf(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2; // 64-bit
    bytes[5] = 1; // little-endian
    bytes[6] = 1; // ELF version
    bytes[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    bytes[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    bytes[20..24].copy_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(body);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A directory whose `cargo` fails loudly, put first on PATH: with `--binary` and `--dry-run`
/// the scripts must not run cargo (no build, no lock, milliseconds).
fn no_cargo_path() -> String {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("packages-no-cargo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cargo = dir.join("cargo");
        std::fs::write(&cargo, "#!/bin/sh\necho 'cargo must not run here' >&2\nexit 97\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    });
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

fn run_script(script: &str, args: &[&str]) -> Output {
    let path = root().join(script);
    Command::new(&path)
        .args(args)
        .env("PATH", no_cargo_path())
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn report(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What the Lambda adapter's binary contains (src/main.rs reads it to enter Lambda mode).
const LAMBDA_MARKER: &[u8] = b"AWS_LAMBDA_RUNTIME_API";
/// What only a binary with the dev identity provider contains (src/main.rs, feature `dev-idp`).
const DEV_IDP_MARKER: &[u8] = b"entra-sso dev-idp: FOR DEVELOPMENT ONLY";

#[test]
fn dev_idp_marker_is_still_in_the_source() {
    // The layout checker (scripts/package-zip.py) refuses binaries that contain this banner.
    let main = read("src/main.rs");
    assert!(main.contains(std::str::from_utf8(DEV_IDP_MARKER).unwrap()), "src/main.rs: dev IdP banner changed");
    let checker = read("scripts/package-zip.py");
    assert!(checker.contains("FOR DEVELOPMENT ONLY") && checker.contains("AWS_LAMBDA_RUNTIME_API"));
}

#[cfg(unix)]
#[test]
fn scripts_are_executable() {
    use std::os::unix::fs::PermissionsExt;
    for script in [
        "scripts/build-release.sh",
        "scripts/package-lambda.sh",
        "scripts/package-azure.sh",
        "scripts/package-zip.py",
        "scripts/lambda-e2e.sh",
    ] {
        let meta = std::fs::metadata(root().join(script)).unwrap_or_else(|e| panic!("{script}: {e}"));
        assert_ne!(meta.permissions().mode() & 0o111, 0, "{script} is not executable");
    }
}

#[test]
fn release_builds_never_include_the_dev_idp() {
    for (target, expect) in [
        ("gnu", "cargo build --release --locked --no-default-features"),
        ("gnu-2.17", "cargo zigbuild --release --locked --no-default-features --features lambda --target x86_64-unknown-linux-gnu.2.17"),
    ] {
        let features: &[&str] = if target == "gnu" { &[] } else { &["--features", "lambda"] };
        let mut args = vec!["--dry-run", "--target", target];
        args.extend_from_slice(features);
        let out = run_script("scripts/build-release.sh", &args);
        assert!(out.status.success(), "{}", report(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let command = stderr.lines().find(|l| l.starts_with("+ ")).unwrap_or_else(|| panic!("{}", report(&out)));
        assert_eq!(command, format!("+ {expect}"), "{}", report(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.trim_end().ends_with("release/entra-sso"), "binary path on stdout: {}", report(&out));
    }
    let out = run_script("scripts/build-release.sh", &["--dry-run", "--features", "lambda,dev-idp"]);
    assert_eq!(out.status.code(), Some(2), "dev-idp must be refused: {}", report(&out));

    // The package scripts build through build-release.sh with these features only.
    assert!(read("scripts/package-common.sh").contains("scripts/build-release.sh\" --target \"$target\""));
    assert!(read("scripts/package-lambda.sh").contains("BUILD_ARGS=(--features lambda)"));
    assert!(read("scripts/package-azure.sh").contains("BUILD_ARGS=()"));
}

#[test]
fn lambda_package_has_bootstrap_alone_at_the_root_with_its_run_bit() {
    let scratch = Scratch::new("lambda");
    let mut body = b"stand-in for the release binary ".to_vec();
    body.extend_from_slice(LAMBDA_MARKER);
    let binary = fake_elf(&scratch.0, "entra-sso", &body);
    let out_dir = scratch.0.join("out");
    let out = run_script(
        "scripts/package-lambda.sh",
        &["--binary", binary.to_str().unwrap(), "--out", out_dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", report(&out));

    let zip = out_dir.join("entra-sso-lambda.zip");
    let entries = zip_entries(&zip);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let bootstrap = entry(&entries, "bootstrap", &zip);
    assert_eq!(bootstrap.mode, Some(0o755), "bootstrap mode");
    let original = std::fs::read(&binary).unwrap();
    assert_eq!((bootstrap.size, bootstrap.crc), (original.len() as u64, crc32(&original)), "bootstrap content");

    let unpacked = out_dir.join("lambda/bootstrap");
    assert_eq!(std::fs::read(&unpacked).unwrap(), original);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&unpacked).unwrap().permissions().mode() & 0o777, 0o755);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("entra-sso-lambda.zip") && stdout.contains("bytes"), "sizes printed: {}", report(&out));
}

#[test]
fn azure_package_has_host_json_functions_and_the_executable_at_the_root() {
    let scratch = Scratch::new("azure");
    let binary = fake_elf(&scratch.0, "entra-sso", b"stand-in for the release binary");
    let out_dir = scratch.0.join("out");
    let out = run_script(
        "scripts/package-azure.sh",
        &["--binary", binary.to_str().unwrap(), "--out", out_dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", report(&out));

    let zip = out_dir.join("entra-sso-azure.zip");
    let entries = zip_entries(&zip);
    let host = read("host.json");
    let host_entry = entry(&entries, "host.json", &zip);
    assert_eq!(host_entry.crc, crc32(host.as_bytes()), "host.json content");
    let exe = entry(&entries, "entra-sso", &zip);
    assert_eq!(exe.mode, Some(0o755), "entra-sso mode");
    assert_eq!(exe.crc, crc32(&std::fs::read(&binary).unwrap()), "entra-sso content");

    let mut expected: BTreeSet<String> = ["host.json".to_owned(), "entra-sso".to_owned()].into();
    for dir in std::fs::read_dir(root().join("function_app")).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            let name = format!("{}/function.json", dir.file_name().unwrap().to_string_lossy());
            let e = entry(&entries, &name, &zip);
            assert_eq!(e.crc, crc32(&std::fs::read(dir.join("function.json")).unwrap()), "{name} content");
            expected.insert(name);
        }
    }
    let actual: BTreeSet<String> = entries.iter().map(|e| e.name.clone()).collect();
    // Nothing else: in particular no local.settings.json (secrets) and no .funcignore.
    assert_eq!(actual, expected);
    assert!(out_dir.join("azure/.funcignore").is_file(), "dist/azure/.funcignore for Core Tools");
    assert_publishable_with_core_tools(&out_dir.join("azure"));
}

/// `func azure functionapp publish`, run in the package, refuses to start without a worker
/// runtime, which it reads from `FUNCTIONS_WORKER_RUNTIME` in the environment, else from
/// `local.settings.json` there: the package carries one with the runtime, so publishing works on
/// a clean machine. Core Tools never uploads that file, and `.funcignore` says so too.
fn assert_publishable_with_core_tools(app: &Path) {
    let path = app.join("local.settings.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let settings: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    assert_eq!(settings["Values"]["FUNCTIONS_WORKER_RUNTIME"], "custom", "{}: {text}", path.display());
    if !root().join("local.settings.json").exists() {
        // Without the developer's own settings, the runtime and nothing else: no secret, and no
        // placeholder that `func start` would take for a value.
        assert_eq!(
            settings,
            serde_json::json!({"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "custom"}})
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: it may hold the developer's secrets", path.display());
    }
    let ignore = std::fs::read_to_string(app.join(".funcignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "local.settings.json"), ".funcignore: {ignore}");
}

#[test]
fn layout_checker_refuses_what_the_platforms_cannot_run() {
    let scratch = Scratch::new("refuse");
    let out_dir = scratch.0.join("out");
    let args = |bin: &Path| {
        vec!["--binary".to_owned(), bin.display().to_string(), "--out".to_owned(), out_dir.display().to_string()]
    };
    let run = |script: &str, bin: &Path| {
        let a = args(bin);
        run_script(script, &a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // A binary with the dev identity provider in it.
    let mut body = LAMBDA_MARKER.to_vec();
    body.extend_from_slice(DEV_IDP_MARKER);
    let with_dev_idp = fake_elf(&scratch.0, "with-dev-idp", &body);
    for script in ["scripts/package-lambda.sh", "scripts/package-azure.sh"] {
        let out = run(script, &with_dev_idp);
        assert!(!out.status.success(), "{script} accepted a dev-idp binary: {}", report(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("dev identity provider"), "{}", report(&out));
    }

    // A Lambda binary built without the `lambda` feature.
    let without_lambda = fake_elf(&scratch.0, "without-lambda", b"no runtime client here");
    let out = run("scripts/package-lambda.sh", &without_lambda);
    assert!(!out.status.success(), "{}", report(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`lambda` feature"), "{}", report(&out));

    // Not a Linux x86-64 executable (a script, or an ELF for another machine).
    let script = scratch.0.join("not-elf");
    std::fs::write(&script, b"#!/bin/sh\necho AWS_LAMBDA_RUNTIME_API\n").unwrap();
    let mut arm = std::fs::read(fake_elf(&scratch.0, "arm", LAMBDA_MARKER)).unwrap();
    arm[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    let arm_path = scratch.0.join("arm");
    std::fs::write(&arm_path, arm).unwrap();
    for bin in [&script, &arm_path] {
        let out = run("scripts/package-lambda.sh", bin);
        assert!(!out.status.success(), "{}: {}", bin.display(), report(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("Linux x86-64"), "{}", report(&out));
    }
}

#[test]
#[ignore = "needs dist/ from scripts/package-*.sh (cargo test -- --include-ignored)"]
fn packages_in_dist_have_the_platform_layout() {
    // The packages a real build left (`.ci/run` runs scripts/package-*.sh before the tests);
    // the tests above check the layout of packages built here from a stand-in binary.
    let dist = root().join("dist");
    let lambda = dist.join("entra-sso-lambda.zip");
    let azure = dist.join("entra-sso-azure.zip");
    let missing: Vec<String> = [(&lambda, "scripts/package-lambda.sh"), (&azure, "scripts/package-azure.sh")]
        .into_iter()
        .filter(|(zip, _)| !zip.is_file())
        .map(|(zip, script)| format!("{} (built by {script})", zip.display()))
        .collect();
    crate::support::prerequisites::require("packages::packages_in_dist_have_the_platform_layout", &missing);
    {
        let entries = zip_entries(&lambda);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["bootstrap"], "{}", lambda.display());
        assert_eq!(entries[0].mode, Some(0o755), "{}: bootstrap mode", lambda.display());
    }
    {
        let entries = zip_entries(&azure);
        entry(&entries, "host.json", &azure);
        assert_eq!(entry(&entries, "entra-sso", &azure).mode, Some(0o755), "{}: entra-sso mode", azure.display());
        assert!(entries.iter().any(|e| e.name.ends_with("/function.json")), "{}: no function", azure.display());
        for e in &entries {
            assert!(!e.name.ends_with("local.settings.json"), "{}: {} holds secrets", azure.display(), e.name);
        }
    }
    assert_publishable_with_core_tools(&dist.join("azure"));
}

// ---- templates ----------------------------------------------------------------------------

/// The keys of the YAML mapping under the line `Variables:` (one per line, deeper indent).
fn yaml_variables(text: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "Variables:").expect("template: Environment.Variables");
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = indent(lines[start]);
    let mut vars = BTreeMap::new();
    let mut key_indent = None;
    for line in &lines[start + 1..] {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if indent(line) <= base {
            break;
        }
        let depth = *key_indent.get_or_insert(indent(line));
        if indent(line) == depth {
            let (k, v) = line.trim().split_once(':').unwrap_or_else(|| panic!("not a mapping entry: {line}"));
            vars.insert(k.to_owned(), v.trim().to_owned());
        }
    }
    vars
}

/// Settings of one platform's credential only, with the template that passes them; the other
/// template leaves them out.
const ONE_PLATFORM_ONLY: &[(&str, &str)] = &[
    ("SSO_AWS_STS_ENDPOINT", "deploy/aws/template.yaml"),
    ("SSO_MANAGED_IDENTITY_CLIENT_ID", "deploy/azure/main.bicep"),
];

fn assert_settings_complete(file: &str, set: &BTreeSet<String>) {
    let known = known_settings();
    let unknown: Vec<_> = set.difference(&known).collect();
    assert!(unknown.is_empty(), "{file} sets {unknown:?}, which the crate (src/) does not read");
    let elsewhere = |name: &str| ONE_PLATFORM_ONLY.iter().any(|(n, f)| *n == name && *f != file);
    for name in set {
        assert!(!elsewhere(name), "{file} sets {name}, which belongs to the other platform's template");
    }
    let missing: Vec<_> = known.difference(set).filter(|name| !elsewhere(name)).collect();
    assert!(
        missing.is_empty(),
        "{file} does not pass {missing:?}: every setting the crate reads is a template parameter \
         (deploy/aws/template.yaml and deploy/azure/main.bicep)"
    );
}

#[test]
fn aws_template_runs_bootstrap_on_provided_al2023_behind_a_public_function_url() {
    let t = read("deploy/aws/template.yaml");
    for needle in [
        "Type: AWS::Lambda::Function",
        "Handler: bootstrap",
        "Runtime: provided.al2023",
        "Architectures: [x86_64]",
        "MemorySize: 128",
        "Type: AWS::Lambda::Url",
        "AuthType: NONE",
        "Action: lambda:InvokeFunctionUrl",
        "FunctionUrlAuthType: NONE",
        "Action: lambda:InvokeFunction\n",
        "InvokedViaFunctionUrl: true",
        "CallbackUrl:",
        "FrontChannelLogoutUrl:",
    ] {
        assert!(t.contains(needle), "deploy/aws/template.yaml: no `{}`", needle.trim_end());
    }

    let vars = yaml_variables(&t);
    let sso: BTreeSet<String> = vars.keys().filter(|k| k.starts_with("SSO_")).cloned().collect();
    assert_settings_complete("deploy/aws/template.yaml", &sso);
    // Every SSO_* word anywhere in the file is a real setting (descriptions included).
    let known = known_settings();
    for (word, line) in sso_words(&t) {
        assert!(known.contains(&word), "deploy/aws/template.yaml mentions unknown {word}: {line}");
    }
    // Secrets come from Secrets Manager through dynamic references, never as plain parameters.
    for secret in ["SSO_SECRET", "SSO_CLIENT_SECRET", "SSO_CLIENT_CERTIFICATE"] {
        let start = t.find(&format!("{secret}:")).unwrap();
        let value: String = t[start..].lines().take(4).collect();
        assert!(value.contains("{{resolve:secretsmanager:"), "{secret}: {value}");
    }
    // The callback output is the Function URL's /api/callback (its URL ends with `/`).
    assert!(t.contains("${EntraSsoUrl.FunctionUrl}api/callback"));
    assert!(t.contains("${EntraSsoUrl.FunctionUrl}api/logout/frontchannel"));
}

#[test]
fn azure_template_is_a_custom_handler_app_reading_its_secret_from_key_vault() {
    let t = read("deploy/azure/main.bicep");
    for needle in [
        "'Microsoft.Web/sites@",
        "kind: 'functionapp,linux'",
        "reserved: true",
        "name: 'FUNCTIONS_WORKER_RUNTIME'\n    value: 'custom'",
        "name: 'FUNCTIONS_EXTENSION_VERSION'\n    value: '~4'",
        "'Microsoft.Storage/storageAccounts@",
        "name: 'AzureWebJobsStorage'",
        "'Microsoft.KeyVault/vaults@",
        "enableRbacAuthorization: true",
        "'@Microsoft.KeyVault(SecretUri=${",
        "type: 'SystemAssigned'",
        "'Microsoft.Authorization/roleAssignments@",
        // Key Vault Secrets User
        "4633458b-17de-408a-b874-0445c86b69e6",
        "'Microsoft.Insights/components@",
        "/api/callback",
        "/api/logout/frontchannel",
    ] {
        assert!(t.contains(needle), "deploy/azure/main.bicep: no `{needle}`");
    }

    // App settings are `name: 'SSO_…'` entries; the secrets are Key Vault references.
    let mut settings = BTreeSet::new();
    for (i, line) in t.lines().enumerate() {
        if let Some(rest) = line.trim().strip_prefix("name: 'SSO_") {
            let name = format!("SSO_{}", rest.trim_end_matches('\''));
            if ["SSO_SECRET", "SSO_CLIENT_SECRET", "SSO_CLIENT_CERTIFICATE"].contains(&name.as_str()) {
                let mut value = t.lines().nth(i + 1).unwrap_or_default().trim().to_owned();
                // `value: someVariable`: follow it to `var someVariable = …`.
                if let Some(var) = value.strip_prefix("value: ").filter(|v| v.chars().all(char::is_alphanumeric)) {
                    let decl = format!("var {var} = ");
                    value = t.lines().find(|l| l.starts_with(&decl)).unwrap_or_default().to_owned();
                }
                assert!(value.contains("@Microsoft.KeyVault(SecretUri="), "{name}: {value}");
            }
            settings.insert(name);
        }
    }
    assert_settings_complete("deploy/azure/main.bicep", &settings);
    let known = known_settings();
    for (word, line) in sso_words(&t) {
        assert!(known.contains(&word), "deploy/azure/main.bicep mentions unknown {word}: {line}");
    }
    // The secret is a secure parameter, never a default in the file.
    assert!(t.contains("@secure()\n@minLength(32)"), "ssoSecret: @secure() with at least 32 characters");
}

// ---- dashboards and alerts ----------------------------------------------------------------

/// The sign-in event contract the dashboards read: metric names of the Lambda EMF line, and the
/// fields of the event (the `fields` object of the JSON log line on Azure).
const EMF_NAMESPACE: &str = entra_sso::telemetry::sign_in::EMF_NAMESPACE;
const EMF_METRICS: &[&str] = &["SignIns", "SignInFailures", "SignInDuration", "IdpRoundTrip"];
const EVENT_FIELDS: &[&str] =
    &["event", "outcome", "tenant", "duration_ms", "idp_ms", "credential", "renewal", "aadsts", "status"];

/// One EMF line as the function prints it (`SignInEvent::emf_line`, the crate's own): the
/// members a Logs Insights query over the log group can read.
fn sample_emf_line() -> serde_json::Value {
    let event = entra_sso::telemetry::sign_in::SignInEvent {
        outcome: "token_exchange_failed",
        failed: true,
        tenant: String::new(),
        duration: std::time::Duration::from_millis(180),
        idp: std::time::Duration::from_millis(170),
        credential: "secret",
        renewal: false,
        aadsts: "AADSTS7000215".into(),
        status: 502,
    };
    serde_json::from_str(&event.emf_line("entra-sso-EntraSso-1", 1_764_748_800_000)).unwrap()
}

/// The lines of the YAML block under the first line that is `header` (indentation included, trailing
/// spaces not): every following line indented deeper (blank lines included), up to the first that
/// is not.
fn yaml_block<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let start = lines.iter().position(|l| l.trim_end() == header).unwrap_or_else(|| panic!("no `{header}` line"));
    let base = indent(lines[start]);
    lines[start + 1..].iter().take_while(|l| l.trim().is_empty() || indent(l) > base).copied().collect()
}

/// The template's resources, each logical id with its block's text.
fn cfn_resources(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in yaml_block(text, "Resources:") {
        let is_id = line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':');
        if is_id && !line.trim_start().starts_with('#') {
            if let Some((id, body)) = current.take() {
                out.insert(id, body);
            }
            current = Some((line.trim().trim_end_matches(':').to_owned(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.extend(current);
    out
}

/// The values of `key: value` lines in a block (trimmed, first occurrence per line).
fn yaml_values<'a>(block: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}: ");
    block.lines().filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix(prefix.as_str())).collect()
}

#[test]
fn aws_dashboard_is_valid_json_over_the_emf_metrics_and_the_log_group() {
    let t = read("deploy/aws/template.yaml");
    let resources = cfn_resources(&t);
    let (id, dashboard) = resources
        .iter()
        .find(|(_, body)| body.contains("Type: AWS::CloudWatch::Dashboard"))
        .expect("deploy/aws/template.yaml: no AWS::CloudWatch::Dashboard");
    let body = yaml_block(dashboard, "      DashboardBody: !Sub |").join("\n");

    // !Sub placeholders: the function, its log group and the region, nothing else; the values
    // stand in for what CloudFormation substitutes.
    let (function, log_group, region) = ("entra-sso-EntraSso-AbC123", "entra-sso-EntraSsoLogs-XyZ789", "eu-west-1");
    let mut json = String::new();
    let mut rest = body.as_str();
    let mut seen = BTreeSet::new();
    while let Some(at) = rest.find("${") {
        json.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("unclosed ${") + at;
        let name = &rest[at + 2..end];
        json.push_str(match name {
            "EntraSso" => function,
            "EntraSsoLogs" => log_group,
            "AWS::Region" => region,
            other => panic!("DashboardBody substitutes unexpected ${{{other}}}"),
        });
        seen.insert(name.to_owned());
        rest = &rest[end + 1..];
    }
    json.push_str(rest);
    assert_eq!(seen, ["AWS::Region", "EntraSso", "EntraSsoLogs"].map(str::to_owned).into(), "placeholders");
    for logical in ["EntraSso", "EntraSsoLogs"] {
        assert!(resources.contains_key(logical), "${{{logical}}} is not a resource of the template");
    }
    let body: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("DashboardBody is not JSON after !Sub: {e}\n{json}"));
    let widgets = body["widgets"].as_array().expect("widgets");

    let mut metrics = BTreeMap::<String, BTreeSet<String>>::new(); // name -> stats
    let mut searches = Vec::new();
    let mut expressions = Vec::new();
    let mut queries = Vec::new();
    for w in widgets {
        let props = &w["properties"];
        for key in ["x", "y", "width", "height"] {
            assert!(w[key].is_u64(), "widget without {key}: {w}");
        }
        match w["type"].as_str().unwrap() {
            "text" => assert!(props["markdown"].is_string()),
            "metric" => {
                assert_eq!(props["region"], region, "{w}");
                for row in props["metrics"].as_array().expect("metrics") {
                    let row = row.as_array().unwrap();
                    if let Some(expr) = row[0].get("expression").and_then(|e| e.as_str()) {
                        if expr.starts_with("SEARCH(") {
                            searches.push(expr.to_owned());
                        } else {
                            expressions.push(expr.to_owned());
                        }
                        continue;
                    }
                    assert_eq!(row[0], EMF_NAMESPACE, "{w}");
                    let name = row[1].as_str().unwrap();
                    assert!(EMF_METRICS.contains(&name), "unknown metric {name}");
                    assert_eq!(&row[2..4], ["Function", function].map(serde_json::Value::from), "{w}");
                    let stat = row.get(4).and_then(|o| o["stat"].as_str()).or(props["stat"].as_str()).unwrap();
                    metrics.entry(name.to_owned()).or_default().insert(stat.to_owned());
                }
            }
            "log" => {
                assert_eq!(props["region"], region, "{w}");
                queries.push(props["query"].as_str().expect("query").to_owned());
            }
            other => panic!("unexpected widget type {other}"),
        }
    }

    // Sign-ins per outcome: a search over the {Function, Outcome} dimension set.
    let by_outcome = format!("{{{EMF_NAMESPACE},Function,Outcome}} MetricName=\"SignIns\" Function=\"{function}\"");
    assert!(searches.iter().any(|s| s.contains(&by_outcome)), "no sign-ins by outcome: {searches:?}");
    assert!(searches.iter().any(|s| s.contains("MetricName=\"SignInFailures\"")), "no failures by outcome");
    for s in &searches {
        let name = s.split("MetricName=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
        assert!(EMF_METRICS.contains(&name), "search for unknown metric {name}: {s}");
    }
    // Failures, the rate from them, and p50/p95 of both timings.
    assert!(metrics["SignInFailures"].contains("Sum") && metrics["SignIns"].contains("Sum"), "{metrics:?}");
    assert!(expressions.iter().any(|e| e.contains("100 * failures / signins")), "{expressions:?}");
    for timing in ["SignInDuration", "IdpRoundTrip"] {
        let stats = metrics.get(timing).unwrap_or_else(|| panic!("no {timing} widget"));
        assert!(stats.contains("p50") && stats.contains("p95"), "{timing}: {stats:?}");
    }

    // Logs Insights over the function's log group, reading members the EMF line has.
    let query = queries.iter().find(|q| q.contains("aadsts")).expect("a Logs Insights widget by AADSTS code");
    assert!(query.starts_with(&format!("SOURCE '{log_group}' |")), "{query}");
    assert!(query.contains("filter event = 'sign_in'"), "{query}");
    let line = sample_emf_line();
    let by = query.split(" by ").nth(1).and_then(|r| r.split('|').next()).expect("stats … by");
    let mut grouped: Vec<&str> = by.split(',').map(str::trim).collect();
    grouped.push("SignInFailures");
    assert!(grouped.contains(&"Outcome") && grouped.contains(&"aadsts"), "{query}");
    for member in grouped {
        assert!(line.get(member).is_some(), "the query reads `{member}`, which the EMF line does not have");
    }

    // The dashboard's address is an output.
    let outputs = yaml_block(&t, "Outputs:").join("\n");
    assert!(outputs.contains(&format!("#dashboards/dashboard/${{{id}}}")), "no DashboardUrl output");
}

#[test]
fn aws_alarms_watch_the_failure_rate_and_two_outcomes() {
    let t = read("deploy/aws/template.yaml");
    let alarms: BTreeMap<String, String> =
        cfn_resources(&t).into_iter().filter(|(_, body)| body.contains("Type: AWS::CloudWatch::Alarm")).collect();
    assert_eq!(alarms.len(), 3, "alarms: {:?}", alarms.keys());
    for (id, body) in &alarms {
        assert_eq!(yaml_values(body, "TreatMissingData"), ["notBreaching"], "{id}");
        for namespace in yaml_values(body, "Namespace") {
            assert_eq!(namespace, EMF_NAMESPACE, "{id}");
        }
        for name in yaml_values(body, "MetricName") {
            assert!(EMF_METRICS.contains(&name), "{id}: unknown metric {name}");
        }
        // Every metric is the function's.
        let functions = body.matches("- Name: Function\n").count();
        assert!(functions >= 1 && functions == body.matches("Value: !Ref EntraSso\n").count(), "{id}");
        assert_eq!(
            yaml_values(body, "AlarmActions"),
            ["!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]"],
            "{id}: notifies the optional topic"
        );
    }

    // The failure rate: metric math over the two counters, 15 minutes, parameterised.
    let (id, rate) = alarms.iter().find(|(_, b)| b.contains("Expression:")).expect("a metric-math alarm");
    let ids: BTreeMap<&str, &str> = yaml_values(rate, "Id").into_iter().zip(yaml_values(rate, "MetricName")).collect();
    assert_eq!(ids.get("failures"), Some(&"SignInFailures"), "{id}: {ids:?}");
    assert_eq!(ids.get("signins"), Some(&"SignIns"), "{id}: {ids:?}");
    let expression = yaml_values(rate, "Expression")[0];
    assert!(expression.contains("100 * failures / signins"), "{id}: {expression}");
    assert!(expression.contains("signins >= ${AlarmMinimumSignIns}"), "{id}: {expression}");
    assert_eq!(yaml_values(rate, "Threshold"), ["!Ref AlarmFailureRatePercent"], "{id}");
    assert_eq!(yaml_values(rate, "Period"), ["900", "900"], "{id}");
    assert_eq!(yaml_values(rate, "ComparisonOperator"), ["GreaterThanThreshold"], "{id}");

    // Any idp_unavailable, any token_exchange_failed: SignIns with that Outcome, at least one.
    for outcome in ["idp_unavailable", "token_exchange_failed"] {
        let (id, body) = alarms
            .iter()
            .find(|(_, b)| b.contains(&format!("- Name: Outcome\n          Value: {outcome}\n")))
            .unwrap_or_else(|| panic!("no alarm on Outcome={outcome}"));
        assert_eq!(yaml_values(body, "MetricName"), ["SignIns"], "{id}");
        assert_eq!(yaml_values(body, "Statistic"), ["Sum"], "{id}");
        assert_eq!(yaml_values(body, "Threshold"), ["1"], "{id}");
        assert_eq!(yaml_values(body, "ComparisonOperator"), ["GreaterThanOrEqualToThreshold"], "{id}");
    }

    // The parameters they use, with the documented defaults.
    let parameters = yaml_block(&t, "Parameters:").join("\n");
    for (name, default) in [("AlarmTopicArn", "\"\""), ("AlarmFailureRatePercent", "20"), ("AlarmMinimumSignIns", "10")]
    {
        let block = yaml_block(&parameters, &format!("  {name}:")).join("\n");
        assert_eq!(yaml_values(&block, "Default"), [default], "{name}");
    }
    assert!(t.contains("HasAlarmTopic: !Not [!Equals [!Ref AlarmTopicArn, \"\"]]"));
}

/// The strings of a Bicep array literal `var <name> = [ … ]`, one single-quoted string a line,
/// unescaped.
fn bicep_string_array(text: &str, name: &str) -> Vec<String> {
    let decl = format!("var {name} = [");
    let start = text.find(&decl).unwrap_or_else(|| panic!("deploy/azure/main.bicep: no `{decl}`")) + decl.len();
    let end = text[start..].find("\n]").expect("array end") + start;
    text[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let inner = l.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')).unwrap_or_else(|| panic!("{l}"));
            let (mut out, mut chars) = (String::new(), inner.chars());
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.push(match chars.next() {
                        Some('n') => '\n',
                        Some(e @ ('\\' | '\'' | '$')) => e,
                        other => panic!("unexpected escape {other:?} in {l}"),
                    });
                } else {
                    assert_ne!(c, '\'', "unescaped quote in {l}");
                    out.push(c);
                }
            }
            out
        })
        .collect()
}

#[test]
fn azure_workbook_reads_the_sign_in_events_from_traces() {
    let t = read("deploy/azure/main.bicep");
    let kql = bicep_string_array(&t, "signInEvents").join("\n");
    assert!(kql.starts_with("traces\n"), "{kql}");
    assert!(kql.contains("| where message has '\"event\":\"sign_in\"'"), "{kql}");
    assert!(kql.contains("parse_json(message).fields"), "{kql}");
    assert!(kql.contains("failed = outcome !in ('success', 'renewal_interactive')"), "{kql}");
    // Every field of the event is read, and nothing the event does not have.
    let read_fields: BTreeSet<&str> = kql
        .split("e.")
        .skip(1)
        .map(|r| r.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap())
        .collect();
    assert_eq!(read_fields, EVENT_FIELDS.iter().copied().collect(), "fields the KQL reads");

    // The workbook: shared, on the Application Insights component, only with it.
    for needle in [
        "resource signInWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = if (enableApplicationInsights) {",
        "kind: 'shared'",
        "sourceId: insights.id",
        "serializedData: string(workbookContent)",
        "version: 'Notebook/1.0'",
        "timeContextFromParameter: 'TimeRange'",
        "name: 'TimeRange'",
        "resourceType: 'microsoft.insights/components'",
    ] {
        assert!(t.contains(needle), "deploy/azure/main.bicep: no `{needle}`");
    }
    // Each chart's query builds on the events above, with the chart it is drawn as.
    let items = &t[t.find("var workbookContent = {").expect("workbookContent")..];
    let items = &items[..items.find("\n}\n").unwrap()];
    for (query, title, visualization, needle) in [
        ("byOutcome", "Sign-ins per minute by outcome", "timechart", "by bin(timestamp, 1m), outcome"),
        ("failuresByCode", "Failures by code", "barchart", "| where failed"),
        ("failuresByAadsts", "Failures by AADSTS code", "table", "by aadsts, outcome"),
        ("idpRoundTrip", "IdP round trip", "timechart", "percentile(idp_ms, 95)"),
        ("callbackDuration", "Callback duration", "timechart", "percentile(duration_ms, 95)"),
    ] {
        let decl = format!("  {query}: join(concat(signInEvents, [");
        let at = t.find(&decl).unwrap_or_else(|| panic!("no workbook query {query} on signInEvents"));
        let body = &t[at..at + t[at..].find("]), '\\n')").unwrap()];
        assert!(body.contains(needle), "{query}: no `{needle}`");
        let item = items.find(&format!("query: workbookQueries.{query}\n")).unwrap_or_else(|| panic!("{query} unused"));
        let item = &items[item..(item + 200).min(items.len())];
        assert!(item.contains(&format!("title: '{title}")), "{query}: title");
        assert!(item.contains(&format!("visualization: '{visualization}'")), "{query}: {visualization}");
    }
    assert!(t.contains("percentile(idp_ms, 50)"), "IdP round trip p50");
}

#[test]
fn azure_alert_rules_fire_on_failure_rate_idp_unavailable_and_token_exchange() {
    let t = read("deploy/azure/main.bicep");
    let start = t.find("var alertRules = [").expect("alertRules");
    let rules_text = &t[start..start + t[start..].find("\n]\n").unwrap()];
    let rules: Vec<&str> = rules_text.split("\n  {\n").skip(1).collect();
    let names: Vec<&str> = rules.iter().map(|r| yaml_values(r, "name")[0]).collect();
    assert_eq!(names, ["'sign-in-failure-rate'", "'sign-in-idp-unavailable'", "'sign-in-token-exchange-failed'"]);
    for (rule, needle) in rules.iter().zip([
        "'| where sign_ins >= ${alertMinimumSignIns} and failure_percent > ${alertFailureRatePercent}'",
        "'| where outcome == \\'idp_unavailable\\''",
        "'| where outcome == \\'token_exchange_failed\\''",
    ]) {
        assert!(rule.contains("query: join(concat(signInEvents, ["), "{rule}");
        assert!(rule.contains(needle), "no `{needle}` in {rule}");
    }
    assert!(rules[0].contains("windowSize: 'PT15M'") && rules[0].contains("failures = countif(failed)"));

    // One scheduled query rule per entry, on the component, only with Application Insights.
    for needle in [
        "resource signInAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in (enableApplicationInsights ? alertRules : []): {",
        "kind: 'LogAlert'",
        "scopes: [\n      insights.id\n    ]",
        "query: rule.query",
        "timeAggregation: 'Count'",
        "operator: 'GreaterThan'",
        "threshold: 0",
        "actions: alertActions",
        // Optional e-mail: an action group only when given.
        "param alertEmail string = ''",
        "var hasAlertEmail = enableApplicationInsights && !empty(alertEmail)",
        "resource alertActionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (hasAlertEmail) {",
        "actionGroups: hasAlertEmail ? [",
        "param alertFailureRatePercent int = 20",
        "param alertMinimumSignIns int = 10",
    ] {
        assert!(t.contains(needle), "deploy/azure/main.bicep: no `{needle}`");
    }
    // Bicep strings: no multi-line strings (the docs' parser), no stray escapes.
    assert!(!t.contains("'''"), "multi-line strings");
    assert_eq!(t.matches("resource signInAlerts ").count(), 1);
}
