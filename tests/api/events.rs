//! Sign-in events as operators receive them: CloudWatch Embedded Metric Format lines checked
//! against the specification's required members, for every outcome the callback can have and
//! from the real binary's stdout; no secret in any of them.

use std::time::{Duration, Instant};

use entra_sso::telemetry::sign_in::{SignInEvent, EMF_NAMESPACE, RENEWAL_INTERACTIVE, SUCCESS};
use entra_sso::web::errors::ErrorCode;
use serde_json::Value;

use crate::helpers::{client, location, query_param, Jar};
use crate::support::binary::Dev;

/// The units CloudWatch accepts for a metric (MetricDatum's `Unit`).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one line against the EMF specification's required members: a JSON object whose
/// `_aws` holds a numeric `Timestamp` and a `CloudWatchMetrics` array of directives, each with
/// a `Namespace` (1–255 characters), `Dimensions` (arrays of at most 30 keys, each a string
/// member of the root) and `Metrics` (at most 100, each with a `Name` that is a numeric member
/// of the root, a known `Unit` if any). Returns the parsed line.
fn valid_emf(line: &str) -> Value {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let root = v.as_object().expect("an object");
    let aws = root["_aws"].as_object().expect("_aws is an object");
    assert!(aws["Timestamp"].is_u64(), "Timestamp: {line}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    for d in directives {
        let ns = d["Namespace"].as_str().expect("Namespace");
        assert!((1..=255).contains(&ns.len()), "{ns}");
        for set in d["Dimensions"].as_array().expect("Dimensions") {
            let keys = set.as_array().expect("a dimension set");
            assert!(keys.len() <= 30);
            for k in keys {
                let value = root.get(k.as_str().unwrap()).unwrap_or_else(|| panic!("dimension {k} not a member"));
                let value = value.as_str().unwrap_or_else(|| panic!("dimension {k} is not a string"));
                assert!(!value.is_empty() && value.len() <= 1024, "dimension {k}: {value:?}");
            }
        }
        let metrics = d["Metrics"].as_array().expect("Metrics");
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for m in metrics {
            let name = m["Name"].as_str().expect("Name");
            assert!(root.get(name).is_some_and(Value::is_number), "metric {name} is not a numeric member");
            if let Some(unit) = m.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap()), "unit {unit}");
            }
        }
    }
    v
}

fn event(outcome: &'static str, failed: bool) -> SignInEvent {
    SignInEvent {
        outcome,
        failed,
        tenant: String::new(),
        duration: Duration::from_millis(3),
        idp: Duration::ZERO,
        credential: "public",
        renewal: false,
        aadsts: String::new(),
        status: 400,
    }
}

#[test]
fn every_outcome_is_a_valid_emf_line_with_its_own_dimension() {
    let mut outcomes = vec![(SUCCESS, false), (RENEWAL_INTERACTIVE, false)];
    outcomes.extend(ErrorCode::ALL.iter().map(|c| (c.as_str(), true)));
    for (outcome, failed) in outcomes {
        let v = valid_emf(&event(outcome, failed).emf_line("fn-1", 1_764_000_000_000));
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], EMF_NAMESPACE);
        assert_eq!(v["Outcome"], outcome);
        assert_eq!(v["SignInFailures"], u8::from(failed), "{outcome}");
    }
}

/// `entra-sso dev` with `SSO_EVENTS=emf`: a sign-in and a callback without a state each write
/// one EMF line to stdout, and neither carries the code, the state or a token.
#[tokio::test]
async fn the_binary_writes_one_emf_line_per_sign_in_on_stdout() {
    let dev = Dev::start(&[("RUST_LOG", "warn"), ("SSO_EVENTS", "emf")]);
    let port = dev.port;
    let app = format!("http://localhost:{port}");
    let mut jar = Jar::default();
    let r = client().get(format!("{app}/api/login?return_to=/")).send().await.unwrap();
    jar.absorb(r.headers());
    let authorize = location(&r);
    let (endpoint, query) = authorize.split_once('?').unwrap();
    let form = client().post(endpoint).header("content-type", "application/x-www-form-urlencoded");
    let cb = location(&form.body(format!("{query}&user=alice")).send().await.unwrap());
    let code = query_param(&cb, "code").unwrap();
    let r = client().get(&cb).header("cookie", jar.header()).send().await.unwrap();
    assert_eq!(r.status(), 302);
    jar.absorb(r.headers());
    let no_state = client().get(format!("{app}/api/callback?code=abc")).send().await.unwrap();
    assert_eq!(no_state.status(), 400);

    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let lines: Vec<String> = dev
            .output
            .stdout()
            .lines()
            .filter(|l| l.starts_with('{') && l.contains("\"_aws\""))
            .map(str::to_owned)
            .collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (stdout, stderr) = dev.stop();
    let all = format!("{stdout}{stderr}");
    assert_eq!(lines.len(), 2, "{all}");
    let (ok, failed) = (valid_emf(&lines[0]), valid_emf(&lines[1]));
    assert_eq!(
        (ok["Outcome"].as_str(), ok["SignIns"].as_u64(), ok["SignInFailures"].as_u64()),
        (Some("success"), Some(1), Some(0))
    );
    assert_eq!((ok["Function"].as_str(), ok["credential"].as_str()), (Some("entra-sso"), Some("secret")));
    assert_eq!(ok["tenant"], entra_sso::dev_idp::DEV_TENANT);
    assert_eq!((failed["Outcome"].as_str(), failed["SignInFailures"].as_u64()), (Some("state_missing"), Some(1)));
    let state = query_param(&authorize, "state").unwrap();
    for secret in [code.as_str(), state.as_str(), jar.get("__Host-sso-session").expect("a session")] {
        assert!(!all.contains(secret), "the output carries a secret");
    }
    assert!(!lines.iter().any(|l| l.contains("eyJ")), "a JWT in an event");
}
