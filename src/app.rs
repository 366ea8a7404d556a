//! The core: one instance's shared state ([`App`]), built once from validated settings and
//! never mutated but for the provider's caches, and the [`Handler`] trait every adapter serves
//! (the endpoints implement it for [`App`]; the dev identity provider for itself).

use std::future::Future;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Request, Response};

use crate::config::{ResponseMode, Settings};
use crate::idp::access_token::{AccessTokenConfig, AccessTokenVerifier};
use crate::idp::id_token::IdTokenVerifier;
use crate::idp::provider::{FetchError, Provider, ProviderConfig};
use crate::telemetry::Telemetry;
use crate::tokens::flow::FLOW_COOKIE_LEEWAY_SECS;
use crate::tokens::jws::{Deployment, Purpose, TokenKeys};
use crate::tokens::session::Sessions;
use crate::tokens::session_keys::SessionKeys;
use crate::web::cookies::{self, SameSite, SessionCookie};
use crate::web::url::with_query;

/// Largest request body the core reads (the form_post callback is the only body it needs).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Something that answers requests: the sign-in core, or the dev identity provider.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. Never panics on input and never answers 500 for bad input.
    fn handle(&self, req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send;
}

/// One instance's state: settings, derived keys, the provider client. Built once, shared by all
/// requests.
pub struct App {
    pub(crate) settings: Settings,
    pub(crate) state_keys: TokenKeys,
    pub(crate) sessions: Sessions,
    /// The session cookie's name and scope (`SSO_COOKIE_DOMAIN`).
    pub(crate) session_cookie: SessionCookie,
    pub(crate) provider: Arc<Provider>,
    pub(crate) id_tokens: IdTokenVerifier,
    /// Access tokens for this API (`Authorization: Bearer`), with their cache.
    pub(crate) access_tokens: AccessTokenVerifier,
    /// `SSO_REDIRECT_URI` as a string, the state's audience.
    pub(crate) redirect_uri: String,
    /// The authorize URL up to and including `code_challenge_method=S256`: computed at start for
    /// Entra authorities, after discovery for others.
    authorize_prefix: OnceLock<String>,
    /// What follows `name=value` in every flow cookie (see [`App::flow_cookie_attributes`]).
    flow_cookie_attributes: String,
    /// Sign-in events and their counters.
    pub(crate) telemetry: Telemetry,
}

impl App {
    /// Builds an instance from validated settings. Makes no network call: call
    /// [`App::prefetch`] to load the provider's metadata in the background.
    pub fn new(settings: Settings) -> Arc<Self> {
        crate::install_crypto();
        let deployment = Deployment {
            client_id: &settings.client_id,
            authority: settings.authority.as_str(),
            redirect_uri: settings.redirect_uri.as_str(),
        };
        let app = App {
            state_keys: TokenKeys::derive(&settings.secrets, Purpose::State, deployment),
            sessions: Sessions::new(
                SessionKeys::derive(&settings.secrets, deployment),
                settings.issuer(),
                settings.session_audience.clone(),
                settings.session_not_before,
            ),
            session_cookie: SessionCookie::new(settings.cookie_domain.as_deref()),
            provider: Arc::new(Provider::new(ProviderConfig::from(&settings))),
            id_tokens: IdTokenVerifier::new(&settings.client_id),
            access_tokens: AccessTokenVerifier::new(AccessTokenConfig {
                audiences: &settings.api.audiences,
                clients: settings.api.clients.as_deref(),
                issuer: &settings.issuer(),
                session_audience: &settings.session_audience,
                kept_groups: &settings.policy.kept_groups,
            }),
            redirect_uri: settings.redirect_uri.to_string(),
            authorize_prefix: OnceLock::new(),
            flow_cookie_attributes: flow_cookie_attributes(&settings),
            telemetry: Telemetry::new(settings.events.clone()),
            settings,
        };
        if let Some(endpoints) = app.settings.authority.entra_endpoints() {
            let _ = app.authorize_prefix.set(app.build_authorize_prefix(&endpoints.authorize));
        }
        Arc::new(app)
    }

    /// Starts fetching discovery metadata and signing keys in the background, and a federated
    /// client assertion (then renews it before it expires).
    pub fn prefetch(&self) {
        self.provider.prefetch();
        self.settings.credential.start();
    }

    /// The settings this instance runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn build_authorize_prefix(&self, authorize_endpoint: &str) -> String {
        let mut scope = String::from("openid profile email");
        for s in &self.settings.extra_scopes {
            scope.push(' ');
            scope.push_str(s);
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_mode", self.settings.response_mode.as_str())
            .append_pair("scope", &scope)
            .append_pair("code_challenge_method", "S256")
            .finish();
        with_query(authorize_endpoint, &query)
    }

    /// The flow cookie's attributes: it outlives the state by a minute, so an old flow reports
    /// `state_expired` rather than `flow_cookie_missing`, and it is `SameSite=None` only when the
    /// IdP answers with a cross-site form POST.
    pub(crate) fn flow_cookie_attributes(&self) -> &str {
        &self.flow_cookie_attributes
    }

    /// The constant part of the authorize URL; for non-Entra authorities it needs discovery once.
    pub(crate) async fn authorize_prefix(&self) -> Result<&str, FetchError> {
        if let Some(p) = self.authorize_prefix.get() {
            return Ok(p);
        }
        let metadata = self.provider.metadata().await?;
        let prefix = self.build_authorize_prefix(&metadata.authorization_endpoint);
        Ok(self.authorize_prefix.get_or_init(|| prefix))
    }
}

fn flow_cookie_attributes(settings: &Settings) -> String {
    let same_site = match settings.response_mode {
        ResponseMode::Query => SameSite::Lax,
        ResponseMode::FormPost => SameSite::None,
    };
    cookies::attributes(settings.state_ttl.as_secs() + FLOW_COOKIE_LEEWAY_SECS, same_site)
}
