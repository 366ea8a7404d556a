//! Everything this service asks of the OpenID Provider, behind one client shared by all requests
//! of an instance: discovery metadata ([`discovery`]), signing keys ([`jwks`]) and code
//! redemption ([`token`], capped per flow by [`attempts`]), the same calls as checks for
//! doctor ([`check`]), and Microsoft Graph's group lookup for users with groups overage
//! ([`graph`]). Every call goes through the one [`Outbound`] client and reads at most
//! [`MAX_RESPONSE_BYTES`].
//!
//! Metadata and keys are cached for the life of the process and prefetched at start-up; an
//! unknown `kid` triggers one refetch, rate-limited, with concurrent callers waiting on the same
//! fetch rather than starting their own.

pub mod attempts;
pub mod check;
pub mod discovery;
pub mod graph;
pub mod jwks;
pub mod token;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

use crate::idp::authority::Authority;
use crate::idp::credential::ClientCredential;
use crate::idp::outbound::{Limits, Outbound, OutboundError};
use crate::support::time::Clock;

pub use check::Discovered;
pub use discovery::Metadata;
pub use jwks::VerifyKey;
pub use token::TokenError;

/// How long fetching pauses after a failed metadata or JWKS fetch, so an outage costs each
/// caller one quick error rather than a queue of time-outs.
pub const FAILED_FETCH_PAUSE: Duration = Duration::from_secs(1);

/// Largest answer read from the provider.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A failed metadata or key fetch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Network error or time-out.
    #[error("{what} unreachable: {source}")]
    Unreachable {
        /// What was fetched.
        what: &'static str,
        /// The transport error.
        #[source]
        source: OutboundError,
    },
    /// A fetch failed moments ago; callers fail fast until [`FAILED_FETCH_PAUSE`] passes.
    #[error("{what} unreachable: a fetch failed moments ago")]
    Paused {
        /// What was fetched.
        what: &'static str,
    },
    /// The provider answered with an error status.
    #[error("{what} unusable: HTTP {status}")]
    Status {
        /// What was fetched.
        what: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// A response that is not what the protocol requires.
    #[error("{what} unusable: {reason}")]
    Invalid {
        /// What was fetched.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The provider answers, but not as the configured authority: a setting to fix, not an
    /// outage to wait out.
    #[error("SSO_AUTHORITY does not match the provider: {0}")]
    Misconfigured(String),
}

/// What the provider client needs from the settings.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The authority: Entra's computed endpoints, or where discovery lives.
    pub authority: Authority,
    /// `SSO_CLIENT_ID`.
    pub client_id: String,
    /// How every redemption authenticates: a secret, an assertion, or nothing (public client).
    pub credential: ClientCredential,
    /// `SSO_REDIRECT_URI`, repeated in every redemption.
    pub redirect_uri: String,
    /// Connect time-out of every call.
    pub connect_timeout: Duration,
    /// Total time-out of every call.
    pub request_timeout: Duration,
    /// Shortest interval between two JWKS refetches caused by an unknown `kid`.
    pub jwks_refetch_interval: Duration,
    /// Longest a redemption waits for a permit.
    pub redemption_wait: Duration,
    /// Where attempt limits read the time.
    pub clock: Clock,
}

/// A "not before" instant for the next fetch attempt.
#[derive(Default)]
struct Pause(std::sync::Mutex<Option<Instant>>);

impl Pause {
    fn active(&self) -> bool {
        self.0.lock().expect("pause lock").is_some_and(|until| Instant::now() < until)
    }

    fn pause(&self, d: Duration) {
        *self.0.lock().expect("pause lock") = Some(Instant::now() + d);
    }
}

/// The OpenID Provider client, shared by all requests of an instance.
pub struct Provider {
    /// Settings, read-only.
    config: ProviderConfig,
    /// The outbound client: time-outs, no redirects, capped bodies.
    http: Outbound,
    /// The discovery document once fetched; it never changes for the life of the process.
    metadata: RwLock<Option<Arc<Metadata>>>,
    /// Held while fetching discovery: concurrent callers wait for one fetch (single flight).
    metadata_fetch: Mutex<()>,
    /// After a failed discovery fetch, callers fail fast until this passes.
    metadata_pause: Pause,
    /// The signing keys by `kid`, and when they were fetched; swapped whole on a refetch.
    keys: RwLock<Arc<jwks::KeyCache>>,
    /// Held while fetching the JWKS: single flight, as for discovery.
    keys_fetch: Mutex<()>,
    /// After a failed fetch (1 s) or an unknown `kid` the fresh set lacked (the refetch
    /// interval), no JWKS fetch happens until this passes: random `kid`s cannot hammer the IdP.
    keys_pause: Pause,
    /// Token calls in flight; callers queue in order, so a flood of callbacks delays a genuine
    /// one by at most the time its predecessors take, never refuses it outright.
    redemptions: Semaphore,
    /// Token calls per flow id on this instance.
    attempts: attempts::RedemptionCounter,
    /// The app-only token for Microsoft Graph, in memory until shortly before it expires; held
    /// while fetching one (single flight).
    graph_token: Mutex<Option<graph::CachedToken>>,
}

impl Provider {
    /// Builds the client; makes no network call.
    pub fn new(config: ProviderConfig) -> Self {
        Self {
            http: Outbound::new(Limits {
                connect: config.connect_timeout,
                total: config.request_timeout,
                max_body: MAX_RESPONSE_BYTES,
            }),
            config,
            metadata: RwLock::new(None),
            metadata_fetch: Mutex::new(()),
            metadata_pause: Pause::default(),
            keys: RwLock::new(Arc::default()),
            keys_fetch: Mutex::new(()),
            keys_pause: Pause::default(),
            redemptions: Semaphore::new(token::MAX_CONCURRENT_REDEMPTIONS),
            attempts: attempts::RedemptionCounter::default(),
            graph_token: Mutex::new(None),
        }
    }

    /// Fetches metadata and keys in the background so the first callback does not wait.
    pub fn prefetch(self: &Arc<Self>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            match this.metadata().await {
                Ok(_) => {
                    if let Err(e) = this.refresh_keys(None).await {
                        tracing::warn!(error = %e, "prefetch of signing keys failed; will retry at the first callback");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "prefetch of discovery metadata failed; will retry at the first callback")
                }
            }
        });
    }

    /// GETs `url` expecting a 2xx JSON answer; `what` names it in errors.
    async fn get(&self, what: &'static str, url: &str) -> Result<Vec<u8>, FetchError> {
        let answer = self.http.get_json(url, &[]).await.map_err(|source| FetchError::Unreachable { what, source })?;
        if !answer.is_success() {
            return Err(FetchError::Status { what, status: answer.status });
        }
        Ok(answer.body)
    }
}
