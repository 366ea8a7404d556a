//! The real `entra-sso` binary run with exactly a test's settings as its environment.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::settings::TestSettings;

/// What one run of the binary printed and how it ended.
pub(crate) struct Run {
    /// The exit code; -1 when the run was killed at its time limit (or ended by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both outputs, for failure messages.
    pub(crate) fn both(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// [`run_for`] with a limit of 10 s.
pub(crate) fn run(args: &[&str], vars: &TestSettings) -> Run {
    run_for(args, vars, Duration::from_secs(10))
}

/// Runs `entra-sso <args>` with exactly `vars` and `RUST_LOG=warn` (nothing inherited: no cloud
/// marker, no SSO_* setting of the developer's shell); kills it if it still runs after `limit`.
pub(crate) fn run_for(args: &[&str], vars: &TestSettings, limit: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_entra-sso"))
        .args(args)
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(vars.vars())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run { code, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}
