//! The framework-free core: shared, immutable per-instance state and the request handler
//! `http::Request<Bytes> -> http::Response<Bytes>` that every adapter (warp, Lambda) calls.

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};

use crate::config::{ResponseMode, Settings};
use crate::cookies::SameSite;
use crate::errors::{ErrorCode, Failure};
use crate::id_token::IdTokenVerifier;
use crate::jws::{Deployment, Purpose, TokenKeys};
use crate::pages;
use crate::provider::Provider;

/// Largest request body the core reads (the form_post callback is the only body it needs).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// One instance's state: settings, derived keys, the provider client. Built once, shared by all
/// requests, never mutated except for the provider's caches.
pub struct App {
    pub(crate) settings: Settings,
    pub(crate) state_keys: TokenKeys,
    pub(crate) session_keys: TokenKeys,
    pub(crate) provider: Arc<Provider>,
    pub(crate) id_tokens: IdTokenVerifier,
    pub(crate) redemption_attempts: crate::attempts::RedemptionCounter,
    pub(crate) redirect_uri: String,
    /// The authorize URL up to and including `code_challenge_method=S256`.
    pub(crate) authorize_prefix: OnceLock<String>,
    /// What follows `name=value` in every flow cookie (see [`App::flow_cookie_attributes`]).
    flow_cookie_attributes: String,
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
            session_keys: TokenKeys::derive(&settings.secrets, Purpose::Session, deployment),
            provider: Arc::new(Provider::new(&settings)),
            id_tokens: IdTokenVerifier::new(
                &settings.client_id,
                settings.tenants.clone(),
                settings.authority.admits_personal_accounts(),
            ),
            redemption_attempts: Default::default(),
            redirect_uri: settings.redirect_uri.to_string(),
            authorize_prefix: OnceLock::new(),
            flow_cookie_attributes: flow_cookie_attributes(&settings),
            settings,
        };
        if let Some(endpoints) = app.settings.authority.entra_endpoints() {
            let _ = app.authorize_prefix.set(app.build_authorize_prefix(&endpoints.authorize));
        }
        Arc::new(app)
    }

    /// Starts fetching discovery metadata and signing keys in the background.
    pub fn prefetch(&self) {
        self.provider.prefetch();
    }

    /// The settings this instance runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles one request. Never panics on input and never answers 500 for bad input.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        // The path only: queries carry codes and states, which never reach logs. Captured only
        // when debug logging is on, to keep the hot path free of allocations for it.
        let access = tracing::enabled!(tracing::Level::DEBUG)
            .then(|| (req.method().clone(), crate::provider::cap(req.uri().path(), 128)));
        let response = self.answer(&req).await;
        if let Some((method, path)) = access {
            tracing::debug!(%method, path, status = response.status().as_u16(), "request");
        }
        response
    }

    async fn answer(&self, req: &Request<Bytes>) -> Response<Bytes> {
        match crate::routes::dispatch(self, req).await {
            Ok(response) => response,
            Err(failure) => {
                let request_id = request_id();
                tracing::warn!(
                    request_id = %request_id,
                    code = failure.code.as_str(),
                    status = failure.code.status().as_u16(),
                    detail = %failure.detail,
                    "request failed"
                );
                let mut response = pages::error(&failure, pages::wants_json(req.headers()), &request_id);
                if failure.code == ErrorCode::MethodNotAllowed {
                    if let Ok(v) = http::HeaderValue::from_str(&failure.detail) {
                        response.headers_mut().insert(http::header::ALLOW, v);
                    }
                }
                response
            }
        }
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
        let sep = if authorize_endpoint.contains('?') { '&' } else { '?' };
        format!("{authorize_endpoint}{sep}{query}")
    }

    /// The flow cookie's attributes: it outlives the state by a minute, so an old flow reports
    /// `state_expired` rather than `flow_cookie_missing`, and it is `SameSite=None` only when the
    /// IdP answers with a cross-site form POST.
    pub(crate) fn flow_cookie_attributes(&self) -> &str {
        &self.flow_cookie_attributes
    }

    /// The constant part of the authorize URL; for non-Entra authorities it needs discovery once.
    pub(crate) async fn authorize_prefix(&self) -> Result<&str, Failure> {
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
    crate::cookies::attributes(settings.state_ttl.as_secs() + crate::login::FLOW_COOKIE_LEEWAY_SECS, same_site)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A short random id that ties an error page to its log line.
fn request_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
