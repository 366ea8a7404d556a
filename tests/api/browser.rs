//! Real-browser end-to-end tests: run `entra-sso dev` and drive headless Chromium through
//! `tests/browser/signin.mjs` (sign-in, cookies, parallel tabs, sign-out, cancel) and
//! `tests/browser/renewal.mjs` (silent renewal, its fallback, a disabled user) and
//! `tests/browser/groups.mjs` (a user in 251 groups admitted through Graph).
//!
//! Needs Node 20+ (the test installs its locked packages with `npm ci` on first run) and
//! Debian's `chromium` (or `CHROMIUM_PATH`), so it is ignored unless asked for:
//! `cargo test -- --include-ignored` (see `support/prerequisites.rs`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::helpers::KillOnDrop;
use crate::support::prerequisites::{node_suite_missing, require};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
// The scripts stop themselves (after 60 s, and 150 s for renewal, which waits out three
// 30-second lifetimes); these are the backstops should node itself hang.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);
const RENEWAL_TIMEOUT: Duration = Duration::from_secs(180);

/// Collects a child's output lines in the background: an undrained pipe would block the child,
/// and the lines explain a failure.
fn capture(stream: impl Read + Send + 'static, into: &Arc<Mutex<Vec<String>>>) -> JoinHandle<()> {
    let into = Arc::clone(into);
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    })
}

fn joined(lines: &Arc<Mutex<Vec<String>>>) -> String {
    lines.lock().unwrap().join("\n")
}

fn free_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Status code of `GET path`, or None while nothing answers yet.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).ok()?;
    // "HTTP/1.1 200 OK"
    status_line.split_whitespace().nth(1)?.parse().ok()
}

/// What is missing to run the browser test, as install hints.
fn missing_prerequisites() -> Vec<String> {
    let mut missing = node_suite_missing("browser", "playwright-core");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    if !Path::new(&chromium).is_file() {
        missing.push(format!("{chromium} (apt-get install -y chromium, or set CHROMIUM_PATH)"));
    }
    missing
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("poll child") {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
#[ignore = "needs Node.js 20+ and Chromium (cargo test -- --include-ignored)"]
fn browser_sign_in_flow() {
    run_browser_script("browser::browser_sign_in_flow", "tests/browser/signin.mjs", &[], SCRIPT_TIMEOUT);
}

/// Silent renewal in Chromium: with a 30 s renewal lifetime, three renewals in a row without a
/// page, the fallback to the sign-in page, and a disabled user out within one lifetime
/// (`tests/browser/renewal.mjs`; about 100 s).
#[test]
#[ignore = "needs Node.js 20+ and Chromium (cargo test -- --include-ignored)"]
fn browser_silent_renewal() {
    let env = [("SSO_SESSION_TTL", "30s"), ("SSO_SESSION_MAX_AGE", "10m")];
    run_browser_script("browser::browser_silent_renewal", "tests/browser/renewal.mjs", &env, RENEWAL_TIMEOUT);
}

/// Groups overage in Chromium: carol, in 251 groups, admitted by `SSO_ALLOWED_GROUPS` and by
/// `?group=` through the dev IdP's emulated Graph, with a small session; bob refused
/// (`tests/browser/groups.mjs`).
#[test]
#[ignore = "needs Node.js 20+ and Chromium (cargo test -- --include-ignored)"]
fn browser_groups_overage() {
    let (wanted, other) = (entra_sso::dev_idp::users::many_group(7), "ffffffff-ffff-4fff-8fff-ffffffffffff");
    let kept = format!("{wanted},{other}");
    let env =
        [("SSO_ALLOWED_GROUPS", wanted.as_str()), ("SSO_SESSION_GROUPS", &kept), ("WANTED", &wanted), ("OTHER", other)];
    run_browser_script("browser::browser_groups_overage", "tests/browser/groups.mjs", &env, SCRIPT_TIMEOUT);
}

/// Starts `entra-sso dev` on free ports with `env` (given to the script too), runs the Node `script` against it in
/// Chromium, and fails with both outputs unless the script exits 0 within `timeout`. Without
/// Node or Chromium it says SKIPPED and fails, naming what to install: never a silent pass.
fn run_browser_script(test: &str, script: &str, env: &[(&str, &str)], timeout: Duration) {
    let missing = missing_prerequisites();
    if !missing.is_empty() {
        crate::support::prerequisites::say(&format!("SKIPPED {test}: {}", missing.join("; ")));
    }
    require(test, &missing);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    // Hold both listeners until both ports are known, so the two ports differ.
    let (app_listener, app_port) = free_port();
    let (idp_listener, idp_port) = free_port();
    drop((app_listener, idp_listener));

    let server_output = Arc::new(Mutex::new(Vec::new()));
    let mut server = KillOnDrop(
        // The dev IdP refuses to start inside a cloud runtime; a developer's shell may have its markers.
        crate::helpers::without_cloud_markers(&mut Command::new(env!("CARGO_BIN_EXE_entra-sso")))
            .args(["dev", "--port", &app_port.to_string(), "--idp-port", &idp_port.to_string()])
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn entra-sso dev"),
    );
    capture(server.0.stdout.take().unwrap(), &server_output);
    capture(server.0.stderr.take().unwrap(), &server_output);

    let started = Instant::now();
    loop {
        if http_status(app_port, "/api/health") == Some(200) {
            break;
        }
        if let Some(status) = server.0.try_wait().expect("poll entra-sso dev") {
            panic!("entra-sso dev exited early ({status}):\n{}", joined(&server_output));
        }
        assert!(
            started.elapsed() < STARTUP_TIMEOUT,
            "entra-sso dev did not answer /api/health on port {app_port} within {STARTUP_TIMEOUT:?}:\n{}",
            joined(&server_output)
        );
        thread::sleep(Duration::from_millis(100));
    }

    let script_output = Arc::new(Mutex::new(Vec::new()));
    let mut node = KillOnDrop(
        Command::new("node")
            .arg(script)
            .arg(format!("http://localhost:{app_port}"))
            .envs(env.iter().copied())
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node"),
    );
    let readers = [
        capture(node.0.stdout.take().unwrap(), &script_output),
        capture(node.0.stderr.take().unwrap(), &script_output),
    ];
    let status = wait_with_timeout(&mut node.0, timeout);
    if status.is_none() {
        let _ = node.0.kill();
    }
    // The pipes close once node is gone; joining keeps its last lines.
    for reader in readers {
        let _ = reader.join();
    }

    match status {
        Some(status) if status.success() => println!("{}", joined(&script_output)),
        outcome => panic!(
            "{test} failed ({}):\n{}\n--- entra-sso dev output ---\n{}",
            outcome.map_or("timed out".to_string(), |s| s.to_string()),
            joined(&script_output),
            joined(&server_output)
        ),
    }
}
