//! The provider's calls as checks, for `entra-sso doctor`: discovery and keys fetched afresh
//! (nothing cached, nothing paused) with the provider's `Date`, and a client-credentials token
//! request that proves the client credential without a user.

use std::time::Duration;

use super::token::{TokenBody, TokenError};
use super::{jwks, FetchError, Metadata, Provider};
use crate::tokens::secret::SecretString;

/// Lifetime assumed for an app-only token whose answer has no usable `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Longest lifetime believed from `expires_in` (Entra's app-only tokens live 60 to 90 minutes).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// An app-only access token from the client-credentials grant: the token (never logged, see
/// [`SecretString`]) and how long the token endpoint said it lives.
#[derive(Debug, Clone)]
pub struct AppToken {
    /// The access token.
    pub token: SecretString,
    /// `expires_in`, capped at a day; five minutes when absent.
    pub lifetime: Duration,
}

/// What a discovery check found.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The discovery document, checked as at start-up (the issuer rule, public endpoints).
    pub metadata: Metadata,
    /// How many usable signing keys the JWKS holds (at least one).
    pub keys: usize,
    /// The discovery answer's `Date` header.
    pub date: Option<String>,
}

impl Provider {
    /// Fetches the discovery document and the JWKS now, with the checks the cached path makes.
    pub async fn check_discovery(&self) -> Result<Discovered, FetchError> {
        let what = "discovery document";
        let url = self.config.authority.discovery_url();
        let answer = self.http.get_json(&url, &[]).await.map_err(|source| FetchError::Unreachable { what, source })?;
        if !answer.is_success() {
            return Err(FetchError::Status { what, status: answer.status });
        }
        let metadata = self.read_metadata(&answer.body)?;
        let keys = jwks::parse_jwks(&self.get("JWKS", &metadata.jwks_uri).await?)?.len();
        Ok(Discovered { metadata, keys, date: answer.date })
    }

    /// Asks the token endpoint for an app-only token for `scope` with the configured client
    /// credential (`grant_type=client_credentials`): it needs no user and changes nothing.
    /// Doctor proves the credential with it; the Graph lookup ([`super::graph`]) calls Graph
    /// with the token.
    pub async fn client_credentials(&self, scope: &str) -> Result<AppToken, TokenError> {
        let token_endpoint = self.token_endpoint().await?;
        let credential = self.config.credential.form_fields(&token_endpoint).await?;
        let mut form =
            vec![("grant_type", "client_credentials"), ("client_id", self.config.client_id.as_str()), ("scope", scope)];
        form.extend(credential.iter().map(|(name, value)| (*name, value.expose())));
        match self.token_call(&token_endpoint, &form).await? {
            (200, TokenBody { access_token: Some(token), expires_in, .. }) => Ok(AppToken {
                token: SecretString::new(token),
                lifetime: expires_in.map_or(DEFAULT_LIFETIME, |s| Duration::from_secs(s).min(MAX_LIFETIME)),
            }),
            (status, _) => Err(TokenError::Invalid { status, reason: "no access_token and no error".into() }),
        }
    }
}
