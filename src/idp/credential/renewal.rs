//! A federated assertion kept fresh: fetched in the background at start-up, cached, renewed
//! before it expires, and retried with backoff after a failure. A callback waits for a fetch
//! only when nothing usable is cached, and concurrent callers then share one fetch.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::{Assertion, AssertionSource, CredentialError, CredentialKind};
use crate::support::time::Clock;

/// Renew when less than this much of the lifetime remains…
pub const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// …or less than this fraction (in thirds) of the lifetime, whichever comes first.
const RENEW_FRACTION_DIVISOR: u64 = 3;
/// A cached assertion is handed out only while at least this much of it remains, so it does
/// not expire on its way to the provider.
pub const MIN_REMAINING: Duration = Duration::from_secs(60);
/// First pause after a failed fetch; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between two failed background fetches.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One cached assertion with the time it was fetched (Unix seconds).
#[derive(Clone)]
struct Cached {
    assertion: Assertion,
    fetched_at: u64,
}

/// A federated source with its cache.
pub struct FederatedCredential {
    kind: CredentialKind,
    source: Arc<dyn AssertionSource>,
    cached: Mutex<Option<Cached>>,
    /// Held while fetching: single flight for callers that found nothing usable.
    fetching: tokio::sync::Mutex<()>,
    /// Set once the background renewal has been started.
    started: std::sync::atomic::AtomicBool,
    /// Where expiry and renewal times are read.
    clock: Clock,
}

impl std::fmt::Debug for FederatedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedCredential")
            .field("kind", &self.kind)
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

/// When an assertion fetched at `fetched_at` and expiring at `expires_at` should be renewed.
pub fn renew_at(fetched_at: u64, expires_at: u64) -> u64 {
    let lifetime = expires_at.saturating_sub(fetched_at);
    let margin = (lifetime / RENEW_FRACTION_DIVISOR).max(RENEW_BEFORE.as_secs()).min(lifetime);
    expires_at - margin
}

/// The pause after `failures` consecutive failed fetches (1 s, 2 s, 4 s, … up to a minute).
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(6);
    (FIRST_BACKOFF * 2u32.pow(exp)).min(MAX_BACKOFF)
}

impl FederatedCredential {
    /// Wraps `source`; nothing is fetched until [`FederatedCredential::start`] or the first
    /// [`FederatedCredential::assertion`].
    pub fn new(kind: CredentialKind, source: Arc<dyn AssertionSource>) -> Self {
        Self {
            kind,
            source,
            cached: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            started: Default::default(),
            clock: Clock::Wall,
        }
    }

    /// The same, reading time from `clock` (tests run it on paused time).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The credential's kind.
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    /// The source, as it describes itself.
    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// The cached assertion while at least [`MIN_REMAINING`] of it is left at `now`.
    fn usable(&self, now: u64) -> Option<Assertion> {
        let cached = self.cached.lock().expect("assertion cache lock");
        cached.as_ref().filter(|c| c.assertion.expires_at >= now + MIN_REMAINING.as_secs()).map(|c| c.assertion.clone())
    }

    /// Whether the cached assertion is due for renewal at `now` (or there is none).
    fn due(&self, now: u64) -> Option<u64> {
        let cached = self.cached.lock().expect("assertion cache lock");
        cached.as_ref().map(|c| renew_at(c.fetched_at, c.assertion.expires_at)).filter(|at| *at > now)
    }

    /// Fetches once, stores the result, and returns it.
    async fn fetch_and_store(&self) -> Result<Assertion, CredentialError> {
        let fetched_at = self.clock.now();
        let assertion = self.source.fetch().await?;
        if assertion.expires_at < fetched_at + MIN_REMAINING.as_secs() {
            return Err(CredentialError::Invalid {
                origin: self.source.describe(),
                reason: format!(
                    "the token expires {}",
                    if assertion.expires_at <= fetched_at { "in the past" } else { "in less than a minute" }
                ),
            });
        }
        *self.cached.lock().expect("assertion cache lock") = Some(Cached { assertion: assertion.clone(), fetched_at });
        Ok(assertion)
    }

    /// An assertion for a token request: the cached one, or (only when none is usable) one
    /// fetched now, shared with every caller waiting at the same time.
    pub async fn assertion(&self) -> Result<Assertion, CredentialError> {
        if let Some(a) = self.usable(self.clock.now()) {
            return Ok(a);
        }
        let _guard = self.fetching.lock().await;
        if let Some(a) = self.usable(self.clock.now()) {
            return Ok(a);
        }
        self.fetch_and_store().await.inspect_err(|e| {
            tracing::warn!(credential = %self.kind, error = %e, "client assertion fetch failed");
        })
    }

    /// Starts the background renewal (once; later calls do nothing). The task ends when the
    /// credential is dropped.
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(renew_forever(weak));
    }
}

/// The background loop: fetch, sleep until renewal is due, repeat; after a failure, pause with
/// backoff (never past the point where a cached assertion stops being usable).
async fn renew_forever(weak: Weak<FederatedCredential>) {
    let mut failures: u32 = 0;
    loop {
        let Some(this) = weak.upgrade() else { return };
        let now = this.clock.now();
        let pause = match this.due(now) {
            Some(at) => Duration::from_secs(at - now),
            None => {
                let result = {
                    let _guard = this.fetching.lock().await;
                    match this.due(this.clock.now()) {
                        Some(_) => Ok(()),
                        None => this.fetch_and_store().await.map(|_| ()),
                    }
                };
                match result {
                    Ok(()) => {
                        if failures > 0 {
                            tracing::info!(credential = %this.kind, source = %this.describe(), "client assertion fetched after {failures} failed attempt(s)");
                        }
                        failures = 0;
                        continue;
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        let pause = backoff(failures);
                        tracing::warn!(credential = %this.kind, error = %e, retry_in_secs = pause.as_secs(), "client assertion fetch failed; retrying");
                        pause
                    }
                }
            }
        };
        drop(this);
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::credential::AssertionFuture;
    use crate::tokens::secret::SecretString;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Hands out assertions valid for `lifetime` seconds, or fails while `fail` is set.
    struct Counting {
        calls: AtomicU32,
        lifetime: u64,
        fail: std::sync::atomic::AtomicBool,
        clock: Clock,
    }

    /// Tests run on tokio's paused time, starting here.
    const START: u64 = 1_800_000_000;

    impl AssertionSource for Counting {
        fn fetch(&self) -> AssertionFuture<'_> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                if self.fail.load(Ordering::SeqCst) {
                    return Err(CredentialError::Unreachable { origin: "test".into(), reason: "down".into() });
                }
                Ok(Assertion {
                    token: SecretString::new(format!("token-{n}")),
                    expires_at: self.clock.now() + self.lifetime,
                })
            })
        }
        fn describe(&self) -> String {
            "test source".into()
        }
    }

    /// A source and a credential around it, on one paused clock.
    fn pair(kind: CredentialKind, lifetime: u64, fail: bool) -> (Arc<Counting>, Arc<FederatedCredential>) {
        let clock = Clock::tokio_at(START);
        let src = Arc::new(Counting { calls: AtomicU32::new(0), lifetime, fail: fail.into(), clock });
        let source: Arc<dyn AssertionSource> = src.clone();
        (src, Arc::new(FederatedCredential::new(kind, source).with_clock(clock)))
    }

    #[test]
    fn renewal_comes_a_third_or_five_minutes_before_expiry() {
        assert_eq!(renew_at(1000, 1000 + 3600), 1000 + 2400, "an hour: renew with 20 minutes left");
        assert_eq!(renew_at(1000, 1000 + 900), 1000 + 600, "15 minutes: renew with 5 left");
        assert_eq!(renew_at(1000, 1000 + 120), 1000, "shorter than the margin: renew at once");
        assert_eq!(renew_at(1000, 900), 900, "already expired");
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let pauses: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch_and_then_the_cache() {
        let (src, cred) = pair(CredentialKind::ManagedIdentity, 3600, false);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let c = Arc::clone(&cred);
                tokio::spawn(async move { c.assertion().await.unwrap().token.expose().to_owned() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "token-1");
        }
        assert_eq!(cred.assertion().await.unwrap().token.expose(), "token-1");
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn background_start_fills_the_cache_before_any_caller() {
        let (src, cred) = pair(CredentialKind::Aws, 3600, false);
        cred.start();
        cred.start();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(cred.usable(START).is_some(), "prefetched");
        assert_eq!(cred.assertion().await.unwrap().token.expose(), "token-1");
        assert_eq!(src.calls.load(Ordering::SeqCst), 1, "one background fetch, then the cache");
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_task_renews_with_a_third_of_the_lifetime_left() {
        let (src, cred) = pair(CredentialKind::ManagedIdentity, 3600, false);
        cred.start();
        tokio::time::sleep(Duration::from_secs(2399)).await;
        assert_eq!(src.calls.load(Ordering::SeqCst), 1, "not yet due");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(src.calls.load(Ordering::SeqCst), 2, "renewed 40 minutes into an hour");
        assert_eq!(cred.assertion().await.unwrap().token.expose(), "token-2");
        tokio::time::sleep(Duration::from_secs(2400)).await;
        assert_eq!(src.calls.load(Ordering::SeqCst), 3, "and again 40 minutes later");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_retried_and_short_lived_tokens_refused() {
        let (src, cred) = pair(CredentialKind::WorkloadIdentity, 3600, true);
        assert!(matches!(cred.assertion().await, Err(CredentialError::Unreachable { .. })));
        cred.start();
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert!(src.calls.load(Ordering::SeqCst) >= 3, "initial call, first try, a retry after 1 s");
        src.fail.store(false, Ordering::SeqCst);
        assert!(cred.assertion().await.is_ok(), "recovers at the next caller");

        let (_, cred) = pair(CredentialKind::WorkloadIdentity, 30, false);
        let err = cred.assertion().await.unwrap_err();
        assert!(err.to_string().contains("less than a minute"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_task_ends_with_the_credential() {
        let (src, cred) = pair(CredentialKind::Aws, 3600, true);
        cred.start();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(cred);
        let calls = src.calls.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(src.calls.load(Ordering::SeqCst), calls, "no fetch after the drop");
    }
}
