//! One way to write a test's settings: the shared test client's variables, with variables added,
//! replaced or removed, read in process as [`Settings`] or handed to the binary as its
//! environment.
//!
//! ```text
//! let s = TestSettings::new().with("SSO_AUTHORITY", &idp.authority).without("SSO_CLIENT_SECRET");
//! spawn_with(s.settings()).await;                    // in process
//! Command::new(bin).env_clear().envs(s.vars());      // the binary
//! ```

use entra_sso::config::Startup;
use entra_sso::Settings;

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SECRET_A};

/// Environment variables, each name once, in the order they were first set.
#[derive(Clone, Debug, Default)]
pub(crate) struct TestSettings {
    vars: Vec<(String, String)>,
}

impl TestSettings {
    /// The shared test client: `SSO_CLIENT_ID` ([`CLIENT_ID`]), `SSO_CLIENT_SECRET`
    /// ([`CLIENT_SECRET`]), `SSO_REDIRECT_URI` ([`REDIRECT_URI`]) and `SSO_SECRET`
    /// ([`SECRET_A`]). No authority: add `SSO_AUTHORITY` or `SSO_TENANT_ID`.
    pub(crate) fn new() -> Self {
        Self::empty()
            .with("SSO_CLIENT_ID", CLIENT_ID)
            .with("SSO_CLIENT_SECRET", CLIENT_SECRET)
            .with("SSO_REDIRECT_URI", REDIRECT_URI)
            .with("SSO_SECRET", SECRET_A)
    }

    /// No variable at all.
    pub(crate) fn empty() -> Self {
        Self::default()
    }

    /// `name` set to `value`, replacing an earlier value in its place.
    pub(crate) fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.vars.push((name.to_owned(), value)),
        }
        self
    }

    /// Each of `vars` set, in order, as by [`TestSettings::with`].
    pub(crate) fn with_all(self, vars: &[(&str, impl AsRef<str>)]) -> Self {
        vars.iter().fold(self, |s, (name, value)| s.with(name, value.as_ref()))
    }

    /// These variables with `more`'s set on top.
    pub(crate) fn and(self, more: &TestSettings) -> Self {
        more.vars().fold(self, |s, (name, value)| s.with(name, value))
    }

    /// `name` unset.
    pub(crate) fn without(mut self, name: &str) -> Self {
        self.vars.retain(|(n, _)| n != name);
        self
    }

    /// The value of `name`, if set.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The variables, for `Command::envs` (after `env_clear`, so nothing else leaks in).
    pub(crate) fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The variables as an environment lookup, for the `from_env` constructors.
    pub(crate) fn lookup(self) -> impl Fn(&str) -> Option<String> {
        move |name| self.get(name).map(str::to_owned)
    }

    /// The settings an instance reads from exactly these variables; panics with the reason
    /// when they are refused.
    pub(crate) fn settings(&self) -> Settings {
        self.read(Startup::default())
    }

    /// The same, read for `startup` (`entra-sso proxy`'s mount, a cloud marker).
    pub(crate) fn read(&self, startup: Startup) -> Settings {
        Settings::read(|name| self.get(name).map(str::to_owned), startup)
            .unwrap_or_else(|e| panic!("test settings refused: {e}\n{self:?}"))
    }
}
