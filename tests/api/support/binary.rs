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

type Stream = Box<dyn Read + Send>;
type Shared = std::sync::Arc<std::sync::Mutex<String>>;

/// A running child's two output streams, collected line by line as they come: INFO and DEBUG
/// log lines are on stdout, WARN and ERROR on stderr.
pub(crate) struct Collected {
    stdout: Shared,
    stderr: Shared,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Collected {
    /// Starts reading `child`'s piped stdout and stderr.
    pub(crate) fn from(child: &mut std::process::Child) -> Self {
        use std::io::BufRead;
        let (stdout, stderr) = (Default::default(), Default::default());
        let mut readers = Vec::new();
        let streams: [(Option<Stream>, &Shared); 2] = [
            (child.stdout.take().map(|s| Box::new(s) as Stream), &stdout),
            (child.stderr.take().map(|s| Box::new(s) as Stream), &stderr),
        ];
        for (stream, into) in streams {
            let (Some(stream), into) = (stream, std::sync::Arc::clone(into)) else { continue };
            readers.push(std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut s = into.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            }));
        }
        Collected { stdout, stderr, readers }
    }

    /// What stdout carried so far.
    pub(crate) fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// What stderr carried so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Both streams once the child is gone (its pipes closed), stdout then stderr, as one text.
    pub(crate) fn finish(self) -> String {
        let (stdout, stderr) = self.finish_split();
        format!("{stdout}{stderr}")
    }

    /// Both streams once the child is gone (its pipes closed): stdout and stderr.
    pub(crate) fn finish_split(self) -> (String, String) {
        for r in self.readers {
            let _ = r.join();
        }
        let read = |s: &Shared| s.lock().unwrap().clone();
        (read(&self.stdout), read(&self.stderr))
    }
}

/// `entra-sso dev` running on free ports, its output collected.
pub(crate) struct Dev {
    /// The app's port (`http://localhost:<port>`).
    pub port: u16,
    /// The dev IdP's port.
    pub idp_port: u16,
    pub output: Collected,
    pub child: crate::helpers::KillOnDrop,
}

impl Dev {
    /// Starts `entra-sso dev` with `env` on top of a clean cloud-marker-free environment and
    /// waits for its banner (on stdout), at most 15 s.
    pub(crate) fn start(env: &[(&str, &str)]) -> Dev {
        let (port, idp_port) = (crate::helpers::free_port(), crate::helpers::free_port());
        let mut child = crate::helpers::KillOnDrop(
            crate::helpers::without_cloud_markers(&mut Command::new(env!("CARGO_BIN_EXE_entra-sso")))
                .args(["dev", "--port", &port.to_string(), "--idp-port", &idp_port.to_string()])
                .envs(env.iter().copied())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary runs"),
        );
        let output = Collected::from(&mut child.0);
        let started = Instant::now();
        while !output.stdout().contains("Ctrl-C") {
            assert!(started.elapsed() < Duration::from_secs(15), "no banner: {}{}", output.stdout(), output.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        Dev { port, idp_port, output, child }
    }

    /// Stops it and returns both streams: stdout, then stderr.
    pub(crate) fn stop(self) -> (String, String) {
        drop(self.child);
        self.output.finish_split()
    }
}
