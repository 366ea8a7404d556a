//! `entra-sso doctor`: checks a deployment's configuration before it serves anyone, and prints
//! one line per check: `✓` passed, `!` a warning, `✗` failed, with the fix after a dash.
//!
//! Offline, it reads the settings once, as the handler would ([`crate::config::Settings::read`]):
//! that reading reports every faulty variable, not only the first, and returns the warnings
//! start-up logs; doctor lists both. Then it looks closer at the settings a mistake in costs a
//! failed sign-in: `SSO_SECRET`'s strength, the redirect URI, the cookie scope and the client
//! credential. Online (unless `--offline`), it fetches the discovery document and keys,
//! compares the clock with the provider's `Date` header, and proves the client credential with a
//! client-credentials token request for `<client id>/.default`, which needs no user and changes
//! nothing. A deployment pipeline gates on its exit status.

use std::fmt;

mod offline;
mod online;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `✓`.
    Pass,
    /// `!`: works, but deserves a look.
    Warn,
    /// `✗`: sign-in will fail (or the configuration is refused) until it is fixed.
    Fail,
}

impl Status {
    /// The mark the line starts with.
    pub fn mark(self) -> char {
        match self {
            Status::Pass => '✓',
            Status::Warn => '!',
            Status::Fail => '✗',
        }
    }
}

/// One check's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Passed, warning or failed.
    pub status: Status,
    /// What was checked: a setting's name or a short word (`discovery`, `clock`, …).
    pub subject: String,
    /// What was found. Never a secret.
    pub finding: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn pass(subject: impl Into<String>, finding: impl Into<String>) -> Self {
        Self { status: Status::Pass, subject: subject.into(), finding: finding.into(), fix: None }
    }

    pub(crate) fn warn(subject: impl Into<String>, finding: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { status: Status::Warn, subject: subject.into(), finding: finding.into(), fix: Some(fix.into()) }
    }

    pub(crate) fn fail(subject: impl Into<String>, finding: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { status: Status::Fail, subject: subject.into(), finding: finding.into(), fix: Some(fix.into()) }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.mark(), self.subject, self.finding)?;
        match &self.fix {
            Some(fix) => write!(f, " — {fix}"),
            None => Ok(()),
        }
    }
}

/// Every check's line, in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The checks run.
    pub checks: Vec<Check>,
}

impl Report {
    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| c.status == Status::Fail).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        Ok(())
    }
}

/// Runs every check on the settings `lookup` yields; the online ones unless `offline`.
pub async fn run(lookup: impl Fn(&str) -> Option<String>, offline: bool) -> Report {
    let mut report = Report::default();
    let Some(settings) = offline::read_settings(&lookup, &mut report) else {
        return report;
    };
    offline::check_secret(&settings, &mut report);
    offline::check_redirect_uri(&settings, &mut report);
    offline::check_cookie_scope(&settings, &mut report);
    offline::check_credential(&settings, &mut report);
    if offline {
        report.checks.push(Check::warn(
            "online checks",
            "skipped (--offline)",
            "run without --offline where the provider is reachable",
        ));
    } else {
        online::run(&settings, &mut report).await;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_mark_and_the_fix() {
        let line = Check::fail("SSO_SECRET", "too short", "generate one").to_string();
        assert_eq!(line, "✗ SSO_SECRET: too short — generate one");
        assert_eq!(Check::pass("clock", "fine").to_string(), "✓ clock: fine");
    }
}
