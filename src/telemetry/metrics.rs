//! In-process counters of sign-in outcomes, served in the OpenMetrics text format by
//! `entra-sso proxy` on its own listen address (`SSO_METRICS_LISTEN`), never the public one.
//! A serverless instance has nobody to scrape it; there the events of [`super::sign_in`] are
//! the metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::sign_in::SignInEvent;

/// The OpenMetrics content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The registry and the metrics sign-ins update: `entra_sso_sign_ins_total{outcome}`,
/// `entra_sso_sign_in_duration_seconds` and `entra_sso_idp_round_trip_seconds`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sign_ins: Family<OutcomeLabel, Counter>,
    duration: Histogram,
    idp: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("entra_sso");
        let sign_ins = Family::<OutcomeLabel, Counter>::default();
        // 5 ms to about 10 s: a callback is a few ms locally and bounded by SSO_REQUEST_TIMEOUT.
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        let idp = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register("sign_ins", "Sign-ins by outcome (success or the error code)", sign_ins.clone());
        registry.register("sign_in_duration_seconds", "Time of the whole callback", duration.clone());
        registry.register("idp_round_trip_seconds", "Time waiting for the IdP (token call, Graph)", idp.clone());
        Metrics { registry, sign_ins, duration, idp }
    }
}

impl Metrics {
    /// Counts one sign-in.
    pub fn observe(&self, e: &SignInEvent) {
        self.sign_ins.get_or_create(&OutcomeLabel { outcome: e.outcome }).inc();
        self.duration.observe(e.duration.as_secs_f64());
        if !e.idp.is_zero() {
            self.idp.observe(e.idp.as_secs_f64());
        }
    }

    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn outcomes_are_counted_by_label_and_durations_observed() {
        let m = Metrics::default();
        let mut e = SignInEvent {
            outcome: "success",
            failed: false,
            tenant: String::new(),
            duration: Duration::from_millis(20),
            idp: Duration::from_millis(10),
            credential: "secret",
            renewal: false,
            aadsts: String::new(),
            status: 302,
        };
        m.observe(&e);
        m.observe(&e);
        e.outcome = "idp_unavailable";
        m.observe(&e);
        let text = m.encode();
        assert!(text.contains("entra_sso_sign_ins_total{outcome=\"success\"} 2"), "{text}");
        assert!(text.contains("entra_sso_sign_ins_total{outcome=\"idp_unavailable\"} 1"), "{text}");
        assert!(text.contains("entra_sso_sign_in_duration_seconds_count 3"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
