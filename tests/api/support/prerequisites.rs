//! Tests that need more than Rust: Node.js 20+ with the locked packages of `tests/browser` and
//! `tests/interop`, Debian's `chromium`, the packages `scripts/package-*.sh` leave in `dist/`.
//!
//! Each such test is `#[ignore = "needs …"]`, so a plain `cargo test` lists it as ignored, with
//! what it needs, rather than as a pass. `cargo test -- --include-ignored` runs them all (CI
//! does, after `.ci/run` installed everything); there a missing prerequisite fails the test with
//! what to install ([`require`]), and a CI run that leaves them out fails
//! ([`under_ci_the_ignored_tests_run_too`]).

/// Fails `test` when anything is `missing`, naming each missing prerequisite and how to get it.
pub(crate) fn require(test: &str, missing: &[String]) {
    assert!(missing.is_empty(), "{test}: prerequisites missing:\n  {}", missing.join("\n  "));
}

/// Under CI every test runs: a CI run whose command lacks `--include-ignored` (or `--ignored`)
/// would report the prerequisite-gated tests as ignored and still pass, so it fails here.
#[test]
fn under_ci_the_ignored_tests_run_too() {
    let under_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    let with_ignored = std::env::args().any(|a| a == "--include-ignored" || a == "--ignored");
    assert!(
        !under_ci || with_ignored,
        "CI is set, but this run leaves out the tests that need Node.js, Chromium or dist/: \
         run `cargo test -- --include-ignored`"
    );
}

/// What is missing to run the Node-driven suite in `tests/<suite>` (whose locked packages
/// include `package`), after installing those packages with `npm ci` if Node is there and they
/// are not: so on a machine with Node, the suite runs for real on first use.
pub(crate) fn node_suite_missing(suite: &str, package: &str) -> Vec<String> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(node) = node_missing() {
        return vec![node];
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(suite);
    let installed = || dir.join("node_modules").join(package).is_dir();
    // Tests of one suite run in parallel: one installs, the others wait and find it done.
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if installed() {
        return Vec::new();
    }
    say(&format!("installing the locked Node packages of tests/{suite} (npm ci) ..."));
    let npm = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
        .arg(&dir)
        .output();
    match npm {
        Ok(out) if out.status.success() && installed() => Vec::new(),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            vec![format!(
                "`npm ci --prefix tests/{suite}` failed: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )]
        }
        Err(e) => vec![format!("npm could not be run ({e}); install Node.js 20 or newer with npm")],
    }
}

/// A line on the terminal even when the test passes (the harness captures `eprintln!`, not
/// writes to the stderr handle).
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\n*** {line}");
}

/// Why Node.js cannot run the JavaScript-driven tests (it needs 20 or newer), if it cannot.
pub(crate) fn node_missing() -> Option<String> {
    let major =
        std::process::Command::new("node").arg("--version").output().ok().filter(|out| out.status.success()).and_then(
            |out| {
                let version = String::from_utf8_lossy(&out.stdout).trim().trim_start_matches('v').to_string();
                version.split('.').next()?.parse::<u32>().ok()
            },
        );
    match major {
        None => Some("node is not on PATH (Node.js 20 or newer)".to_string()),
        Some(major) if major < 20 => Some(format!("Node.js 20 or newer (found {major})")),
        Some(_) => None,
    }
}
