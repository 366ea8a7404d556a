//! The HTTP client every provider call goes through: time-outs, no redirects followed, bodies
//! capped, and errors described without the URL's query (which may carry a code).

use reqwest::Client;

use super::{FetchError, Provider, ProviderConfig};

/// Largest response body read from the IdP.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The client for `config`'s time-outs.
pub(super) fn client(config: &ProviderConfig) -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(concat!("entra-sso/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid")
}

impl Provider {
    /// GETs `url` expecting JSON; `what` names it in errors.
    pub(super) async fn get(&self, what: &'static str, url: &str) -> Result<Vec<u8>, FetchError> {
        let unreachable = |reason: String| FetchError::Unreachable { what, reason };
        let response = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        if !response.status().is_success() {
            return Err(FetchError::Invalid { what, reason: format!("HTTP {}", response.status().as_u16()) });
        }
        read_capped(response).await.map_err(unreachable)
    }
}

pub(super) async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|l| l > MAX_RESPONSE_BYTES as u64) {
        return Err("response larger than 1 MiB".into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err("response larger than 1 MiB".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error without the URL's query (which may carry a code).
pub(super) fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    };
    match e.url() {
        Some(u) => format!("{kind} ({}://{}{})", u.scheme(), u.host_str().unwrap_or(""), u.path()),
        None => kind.to_owned(),
    }
}
