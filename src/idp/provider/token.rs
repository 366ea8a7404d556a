//! Code redemption at the token endpoint: queued for one of a fixed number of permits, and
//! capped per flow, so no flood of callbacks can exhaust the provider or lock real users out.

use std::time::Duration;

use serde::Deserialize;

use super::Provider;
use crate::idp::credential::CredentialError;
use crate::idp::hints;
use crate::idp::outbound::OutboundError;
use crate::support::text::cap;
use crate::tokens::secret::SecretString;

/// Most token-endpoint calls in flight at once per instance.
pub const MAX_CONCURRENT_REDEMPTIONS: usize = 64;

/// The token endpoint's refusal or failure.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// This flow already had its token calls on this instance.
    #[error("this flow used its token calls on this instance")]
    TooManyAttempts,
    /// Every permit stayed taken for the whole wait.
    #[error("too many concurrent token requests: no permit within {0:?}")]
    Busy(Duration),
    /// Network error or time-out.
    #[error("token endpoint unreachable: {0}")]
    Unreachable(#[source] OutboundError),
    /// The token endpoint is unknown: discovery failed.
    #[error("token endpoint unknown: {0}")]
    Discovery(#[source] super::FetchError),
    /// The client credential (assertion) could not be produced.
    #[error("client credential unavailable: {0}")]
    Credential(#[from] CredentialError),
    /// An OAuth error response.
    #[error("token endpoint refused (HTTP {status}): {error} {description} trace_id={trace_id} correlation_id={correlation_id}{}", hint.as_deref().map(|h| format!(" hint: {h}")).unwrap_or_default())]
    Refused {
        /// HTTP status.
        status: u16,
        /// OAuth `error`.
        error: String,
        /// `error_description`, capped.
        description: String,
        /// Entra's `trace_id`.
        trace_id: String,
        /// Entra's `correlation_id`.
        correlation_id: String,
        /// The likely cause and fix of an AADSTS code that refuses the client credential.
        hint: Option<String>,
    },
    /// Not a usable token response.
    #[error("token endpoint answered HTTP {status} with an unusable body: {reason}")]
    Invalid {
        /// HTTP status.
        status: u16,
        /// What is wrong.
        reason: String,
    },
}

/// A token endpoint's JSON answer: tokens, or an OAuth error with Entra's ids.
#[derive(Deserialize)]
pub(super) struct TokenBody {
    #[serde(default)]
    pub(super) id_token: Option<String>,
    #[serde(default)]
    pub(super) access_token: Option<String>,
    /// Seconds the access token lives; Entra sends a number (a string, from some, is ignored).
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub(super) expires_in: Option<u64>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// `expires_in` when it is a whole number of seconds; anything else is as good as absent.
fn lenient_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_u64())
}

impl Provider {
    /// Redeems an authorization code with the PKCE verifier for flow `flow_id` (whose state
    /// expires at `flow_expires`); returns the ID token.
    pub async fn redeem(
        &self,
        flow_id: &str,
        flow_expires: u64,
        code: &str,
        verifier: &SecretString,
    ) -> Result<String, TokenError> {
        if !self.attempts.try_attempt(flow_id, flow_expires, self.config.clock.now()) {
            return Err(TokenError::TooManyAttempts);
        }
        let busy = TokenError::Busy(self.config.redemption_wait);
        let _permit = match tokio::time::timeout(self.config.redemption_wait, self.redemptions.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(busy),
        };
        let token_endpoint = self.token_endpoint().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("code_verifier", verifier.expose()),
        ];
        let credential = self.config.credential.form_fields(&token_endpoint).await?;
        form.extend(credential.iter().map(|(name, value)| (*name, value.expose())));
        match self.token_call(&token_endpoint, &form).await? {
            (200, TokenBody { id_token: Some(t), .. }) => Ok(t),
            (status, _) => Err(TokenError::Invalid { status, reason: "no id_token and no error".into() }),
        }
    }

    /// The token endpoint: Entra's computed one, or the discovery document's.
    pub(super) async fn token_endpoint(&self) -> Result<String, TokenError> {
        match self.config.authority.entra_endpoints() {
            Some(e) => Ok(e.token),
            None => Ok(self.metadata().await.map_err(TokenError::Discovery)?.token_endpoint.clone()),
        }
    }

    /// POSTs `form` to the token endpoint; an OAuth error answer becomes [`TokenError::Refused`]
    /// with the fix of its AADSTS code, anything else comes back with its status.
    pub(super) async fn token_call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, TokenBody), TokenError> {
        let answer = self.http.post_form(endpoint, form).await.map_err(TokenError::Unreachable)?;
        let status = answer.status;
        let parsed: TokenBody = serde_json::from_slice(&answer.body)
            .map_err(|_| TokenError::Invalid { status, reason: "not JSON".into() })?;
        match parsed {
            TokenBody { error: Some(error), error_description, trace_id, correlation_id, .. } => {
                let hint = error_description
                    .as_deref()
                    .and_then(hints::aadsts_code)
                    .and_then(|code| hints::hint(code, self.config.credential.kind()));
                Err(TokenError::Refused {
                    hint,
                    status,
                    error: cap(&error, 64),
                    description: cap(error_description.as_deref().unwrap_or(""), 512),
                    trace_id: cap(trace_id.as_deref().unwrap_or(""), 64),
                    correlation_id: cap(correlation_id.as_deref().unwrap_or(""), 64),
                })
            }
            body => Ok((status, body)),
        }
    }
}
