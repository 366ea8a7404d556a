//! One event per sign-in outcome at the callback, in the schema of docs/design.md §11.2: a log
//! line at INFO (target `entra_sso::sign_in`, fields KQL reads from JSON logs) or a CloudWatch
//! Embedded Metric Format line, so Lambda has metrics with no agent and no API call.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

/// The CloudWatch namespace of the EMF metrics.
pub const EMF_NAMESPACE: &str = "EntraSso";

/// The outcome of a silent renewal that needed a page and went on to the interactive sign-in.
pub const RENEWAL_INTERACTIVE: &str = "renewal_interactive";

/// The outcome of a sign-in that set a session.
pub const SUCCESS: &str = "success";

/// How sign-in events are written (`SSO_EVENTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFormat {
    /// A log line at INFO; with `SSO_LOG_FORMAT=json` its fields are JSON members.
    Log,
    /// A CloudWatch EMF line on stdout, whatever the log settings, its `Function` dimension this
    /// name (`AWS_LAMBDA_FUNCTION_NAME`, else `entra-sso`).
    Emf {
        /// The `Function` dimension.
        function: String,
    },
}

/// One sign-in outcome. Only outcomes, ids, durations and kinds: never a secret, code, state
/// or token.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInEvent {
    /// [`SUCCESS`], [`RENEWAL_INTERACTIVE`] or the public error code.
    pub outcome: &'static str,
    /// Whether the outcome is an error code.
    pub failed: bool,
    /// The user's tenant id, once an ID token said it; empty before.
    pub tenant: String,
    /// The whole callback.
    pub duration: Duration,
    /// Time spent waiting for the provider: the token call and a Graph lookup.
    pub idp: Duration,
    /// How the token call authenticates: `secret`, `certificate`, `managed-identity`,
    /// `workload-identity`, `aws` or `public`.
    pub credential: &'static str,
    /// A silent renewal (`prompt=none`) rather than an interactive sign-in.
    pub renewal: bool,
    /// The AADSTS code the provider gave (`AADSTS50011`), or empty.
    pub aadsts: String,
    /// The callback's HTTP status.
    pub status: u16,
}

impl SignInEvent {
    /// Writes the event as `format` says.
    pub fn emit(&self, format: &EventFormat) {
        match format {
            EventFormat::Log => self.log(),
            EventFormat::Emf { function } => {
                let line = self.emf_line(function, crate::support::time::now_millis());
                // A closed stdout loses the metric, never the request.
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        }
    }

    fn log(&self) {
        tracing::info!(
            target: "entra_sso::sign_in",
            event = "sign_in",
            outcome = self.outcome,
            tenant = %self.tenant,
            duration_ms = millis(self.duration),
            idp_ms = millis(self.idp),
            credential = self.credential,
            renewal = self.renewal,
            aadsts = %self.aadsts,
            status = self.status,
            "sign-in"
        );
    }

    /// The event as one EMF line (CloudWatch's "Embedded Metric Format" specification): the
    /// metrics `SignIns`, `SignInFailures` (counts), `SignInDuration` and `IdpRoundTrip`
    /// (milliseconds) under [`EMF_NAMESPACE`], by `Function` and by `Function` and `Outcome`;
    /// the other fields are properties Logs Insights can query.
    pub fn emf_line(&self, function: &str, timestamp_ms: u64) -> String {
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": EMF_NAMESPACE,
                    "Dimensions": [["Function"], ["Function", "Outcome"]],
                    "Metrics": [
                        {"Name": "SignIns", "Unit": "Count"},
                        {"Name": "SignInFailures", "Unit": "Count"},
                        {"Name": "SignInDuration", "Unit": "Milliseconds"},
                        {"Name": "IdpRoundTrip", "Unit": "Milliseconds"},
                    ],
                }],
            },
            "Function": function,
            "Outcome": self.outcome,
            "SignIns": 1,
            "SignInFailures": u8::from(self.failed),
            "SignInDuration": millis(self.duration),
            "IdpRoundTrip": millis(self.idp),
            "event": "sign_in",
            "tenant": self.tenant,
            "credential": self.credential,
            "renewal": self.renewal,
            "aadsts": self.aadsts,
            "status": self.status,
        })
        .to_string()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(outcome: &'static str) -> SignInEvent {
        SignInEvent {
            outcome,
            failed: outcome != SUCCESS,
            tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            duration: Duration::from_millis(42),
            idp: Duration::from_millis(30),
            credential: "secret",
            renewal: false,
            aadsts: String::new(),
            status: 302,
        }
    }

    #[test]
    fn an_emf_line_is_one_json_object_with_its_metrics_as_members() {
        let line = event(SUCCESS).emf_line("fn-a", 1_700_000_000_123);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_123u64);
        assert_eq!(v["SignIns"], 1);
        assert_eq!(v["SignInFailures"], 0);
        assert_eq!(v["SignInDuration"], 42);
        assert_eq!(v["IdpRoundTrip"], 30);
        assert_eq!((v["Function"].as_str(), v["Outcome"].as_str()), (Some("fn-a"), Some("success")));
        let failed = serde_json::from_str::<serde_json::Value>(&event("idp_unavailable").emf_line("f", 1)).unwrap();
        assert_eq!((failed["SignInFailures"].as_u64(), failed["Outcome"].as_str()), (Some(1), Some("idp_unavailable")));
    }
}
