//! The Azure Functions layout (`host.json`, `function_app/*/function.json`) held to the
//! Functions host's contract and to the handler's route table, and the real binary, started
//! the way the host starts it, serving every route the layout declares.
//!
//! Nothing here can run the Functions host itself; what it does with the files is taken from
//! its documented and observed behaviour (see docs/azure.md).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{free_port, TestSettings};

/// Methods an HTTP trigger accepts; anything else in `methods` is a typo the host rejects.
const TRIGGER_METHODS: &[&str] = &["get", "post", "put", "delete", "head", "patch", "options", "trace"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn host_json() -> Value {
    read_json(&root().join("host.json"))
}

fn route_prefix() -> String {
    host_json()["extensions"]["http"]["routePrefix"]
        .as_str()
        .expect("host.json: extensions.http.routePrefix")
        .to_owned()
}

/// One HTTP function as declared in `function_app/<name>/function.json`.
struct Function {
    name: String,
    bindings: Vec<Value>,
}

impl Function {
    fn trigger(&self) -> &Value {
        let triggers: Vec<&Value> = self.bindings.iter().filter(|b| b["type"] == "httpTrigger").collect();
        assert_eq!(triggers.len(), 1, "{}: exactly one httpTrigger binding", self.name);
        triggers[0]
    }

    fn route(&self) -> &str {
        self.trigger()["route"].as_str().unwrap_or_else(|| panic!("{}: httpTrigger needs a route", self.name))
    }

    /// Upper-case, as HTTP spells them and as the handler's route table lists them.
    fn methods(&self) -> BTreeSet<String> {
        self.trigger()["methods"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: httpTrigger needs a methods array", self.name))
            .iter()
            .map(|m| m.as_str().unwrap_or_else(|| panic!("{}: methods are strings", self.name)).to_ascii_uppercase())
            .collect()
    }

    /// The public path, as the host matches it: `/<routePrefix>/<route>`.
    fn path(&self, prefix: &str) -> String {
        format!("/{prefix}/{}", self.route())
    }
}

fn functions() -> Vec<Function> {
    let dir = root().join("function_app");
    let mut out: Vec<Function> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("function_app entry").path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let json = read_json(&p.join("function.json"));
            let bindings =
                json["bindings"].as_array().unwrap_or_else(|| panic!("{name}/function.json: a bindings array")).clone();
            Function { name, bindings }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!out.is_empty(), "function_app/ holds no function");
    out
}

#[test]
fn host_json_starts_the_handler_with_forwarding() {
    let host = host_json();
    assert_eq!(host["version"], "2.0");
    let handler = &host["customHandler"];
    assert_eq!(handler["description"]["defaultExecutablePath"], "entra-sso");
    assert_eq!(handler["description"]["arguments"], serde_json::json!(["serve"]));
    // Forwarding sends the original request (method, path, query, headers, body) instead of the
    // invocation payload, and since host 4.6 it does not follow the handler's redirects.
    assert_eq!(handler["enableForwardingHttpRequest"], true);
    assert_eq!(route_prefix(), "api");
}

#[test]
fn every_function_is_an_anonymous_http_in_http_out_function() {
    let mut routes = BTreeSet::new();
    for f in functions() {
        // The host's rule for function names (the folder name).
        let valid_name = f.name.len() <= 128
            && f.name.starts_with(|c: char| c.is_ascii_alphabetic())
            && f.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        assert!(valid_name, "{}: not a valid function name", f.name);

        // Forwarding applies only to functions with exactly one binding in (the HTTP trigger)
        // and one out (the HTTP response); any other binding switches the host to the
        // invocation-payload protocol, which the handler does not speak.
        assert_eq!(f.bindings.len(), 2, "{}: only the httpTrigger and the http output", f.name);
        let trigger = f.trigger();
        assert_eq!(trigger["direction"], "in", "{}", f.name);
        // The host would read the callback's `?code=` as a function key: every route is anonymous.
        assert_eq!(trigger["authLevel"], "anonymous", "{}", f.name);
        let output =
            f.bindings.iter().find(|b| b["type"] == "http").unwrap_or_else(|| panic!("{}: http output", f.name));
        assert_eq!(output["direction"], "out", "{}", f.name);

        let route = f.route();
        assert!(!route.is_empty() && !route.starts_with('/') && !route.contains('{'), "{}: route `{route}`", f.name);
        assert!(routes.insert(route.to_owned()), "route `{route}` declared twice");

        let raw: Vec<&str> = trigger["methods"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(!raw.is_empty(), "{}: at least one method", f.name);
        for m in raw {
            assert!(TRIGGER_METHODS.contains(&m), "{}: method `{m}` (lower-case HTTP methods only)", f.name);
        }
    }
}

#[test]
fn function_routes_and_handler_routes_are_the_same() {
    let prefix = route_prefix();
    let declared: BTreeSet<(String, String)> = functions()
        .iter()
        .flat_map(|f| {
            let path = f.path(&prefix);
            f.methods().into_iter().map(move |m| (path.clone(), m))
        })
        .collect();
    let served: BTreeSet<(String, String)> = entra_sso::endpoints::ROUTES
        .iter()
        .flat_map(|r| r.methods.iter().map(move |m| (r.path.to_owned(), m.to_ascii_uppercase())))
        .collect();

    let unserved: Vec<_> = declared.difference(&served).collect();
    let undeclared: Vec<_> = served.difference(&declared).collect();
    assert!(
        unserved.is_empty() && undeclared.is_empty(),
        "declared in function.json but not served by the handler: {unserved:?}; \
         served by the handler but without a function.json (unreachable on Azure): {undeclared:?}"
    );
}

#[cfg(unix)]
#[test]
fn package_script_is_executable() {
    use std::os::unix::fs::PermissionsExt;
    let script = root().join("scripts/package-azure.sh");
    let meta = std::fs::metadata(&script).unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    assert!(meta.is_file());
    assert_ne!(meta.permissions().mode() & 0o111, 0, "{} is not executable", script.display());
}

/// The handler process; killed when the test ends, also on panic.
struct Handler {
    child: Child,
    stderr: Option<JoinHandle<String>>,
}

impl Handler {
    /// What the process wrote to stderr, once it has exited.
    fn exit_report(&mut self) -> String {
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        let log = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        format!("entra-sso serve exited ({status}):\n{log}")
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary as the Functions host does: `entra-sso serve`, port in the environment.
fn start_handler(port: u16) -> Handler {
    let mut child = Command::new(env!("CARGO_BIN_EXE_entra-sso"))
        .arg("serve")
        // Only the settings below: a developer's own SSO_* variables must not leak in.
        .env_clear()
        .envs(
            TestSettings::new()
                .with("SSO_TENANT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
                .with("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .with("RUST_LOG", "warn")
                .vars(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn entra-sso serve");
    // Drained on a thread so a chatty handler never blocks on a full pipe.
    let mut pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = pipe.read_to_string(&mut log);
        log
    });
    Handler { child, stderr: Some(stderr) }
}

#[tokio::test]
async fn binary_serves_every_function_route() {
    let port = free_port();
    let mut handler = start_handler(port);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    // The host pings `GET /` until the handler answers before it routes any traffic.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_)) = handler.child.try_wait() {
            panic!("{}", handler.exit_report());
        }
        match client.get(format!("{base}/")).timeout(Duration::from_secs(1)).send().await {
            Ok(resp) => {
                assert_eq!(resp.status(), 200, "GET / (the host's ping)");
                break;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("entra-sso serve did not answer GET / within 10 s: {e}"),
        }
    }

    // The host forwards `/api/<route>` with the original method. Any answer but 404/405
    // proves the route is served (errors such as 400, 401 or a redirect are expected here:
    // the requests carry no state, cookies or session).
    let prefix = route_prefix();
    for f in functions() {
        for method in f.methods() {
            let url = format!("{base}{}", f.path(&prefix));
            let mut req = client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url);
            if method == "POST" {
                req = req.header("content-type", "application/x-www-form-urlencoded").body("");
            }
            let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
            let status = resp.status().as_u16();
            assert!(status != 404 && status != 405, "{method} {url} ({}): {status}, not served", f.name);
        }
        // The host matches routes ignoring case and with a trailing slash, and forwards the path
        // as written: such a spelling reaches the handler's route too.
        let url = format!("{base}{}/", f.path(&prefix).to_ascii_uppercase());
        let resp = client.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let expected = if f.methods().contains("GET") { status != 404 && status != 405 } else { status == 405 };
        assert!(expected, "GET {url} ({}): {status}, not routed as the host routes it", f.name);
    }

    let ping = client.get(format!("{base}/")).send().await.expect("GET /");
    assert_eq!(ping.status(), 200, "GET /");
}
