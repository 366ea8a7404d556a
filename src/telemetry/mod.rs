//! What operators see: log lines on the stream whose severity the platform reads
//! ([`init_logging`]), one event per sign-in outcome ([`sign_in`]: a log line, or a CloudWatch
//! Embedded Metric Format line on Lambda) and the counters `entra-sso proxy` serves to
//! Prometheus ([`metrics`]). Nothing here ever sees a secret, code or token: events carry
//! outcomes, ids, durations and kinds (docs/design.md §11).

pub mod metrics;
pub mod sign_in;

use std::io::IsTerminal;

use tracing_subscriber::fmt::writer::MakeWriterExt;

use metrics::Metrics;
use sign_in::{EventFormat, SignInEvent};

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// INFO and DEBUG to stdout, WARN and ERROR to stderr: the Azure Functions host logs a
    /// custom handler's stderr at Error (Warning when the line says "warn") and its stdout at
    /// Information, and CloudWatch keeps both; the split makes each line's severity the one
    /// it was written at.
    Split,
    /// Everything to stderr, for commands whose stdout is their answer (`doctor`, `keygen`).
    Stderr,
}

/// Installs the process's logger: text (coloured only on a terminal, so collectors get plain
/// text) or, with `SSO_LOG_FORMAT=json`, one JSON object per line; level from `RUST_LOG`
/// (default `info`).
pub fn init_logging(streams: Streams, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match streams {
        Streams::Split => {
            let ansi = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
            let writer = std::io::stderr.with_max_level(tracing::Level::WARN).or_else(std::io::stdout);
            let builder = builder.with_writer(writer).with_ansi(ansi);
            if json {
                builder.json().init()
            } else {
                builder.init()
            }
        }
        Streams::Stderr => {
            let builder = builder.with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
            if json {
                builder.json().init()
            } else {
                builder.init()
            }
        }
    }
}

/// What an instance reports about its sign-ins: each event written in its [`EventFormat`] and
/// counted in its [`Metrics`].
#[derive(Debug)]
pub struct Telemetry {
    format: EventFormat,
    metrics: Metrics,
}

impl Telemetry {
    /// Events in `format`, counters from zero.
    pub fn new(format: EventFormat) -> Self {
        Telemetry { format, metrics: Metrics::default() }
    }

    /// Reports one sign-in outcome.
    pub fn sign_in(&self, event: &SignInEvent) {
        self.metrics.observe(event);
        event.emit(&self.format);
    }

    /// The counters, for `entra-sso proxy`'s metrics listener.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
