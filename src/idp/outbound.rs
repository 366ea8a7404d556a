//! The one outbound HTTP client: every call this service makes (the provider's discovery,
//! keys and token endpoint, the platforms' identity endpoints, AWS STS, the dev IdP's fetch of
//! a federated issuer's keys, doctor's checks) goes through [`Outbound`]. It keeps the rules in
//! one place: connect and total time-outs, no redirects followed, a user agent, bodies read up
//! to a limit (before and while reading), and errors that never carry the URL's query (which
//! may hold a code) nor anything the peer sent.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, DATE, RETRY_AFTER};

/// How long a call may take and how much of an answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connect time-out.
    pub connect: Duration,
    /// Total time-out, connect to last byte.
    pub total: Duration,
    /// Largest answer body read.
    pub max_body: usize,
}

/// An answer of any status: callers decide what a status means.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `Date` header, when there is one (doctor compares clocks with it).
    pub date: Option<String>,
    /// The `Retry-After` header, when there is one (a throttled Graph call says when to retry).
    pub retry_after: Option<String>,
    /// The body, at most [`Limits::max_body`] bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Where a call went, for messages: scheme, host, port and path, never the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target(String);

impl Target {
    fn of(url: &reqwest::Url) -> Self {
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        Target(format!("{}://{}{port}{}", url.scheme(), url.host_str().unwrap_or(""), url.path()))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A call that produced no answer. `Display` names the kind and the [`Target`]; the source is
/// the transport error stripped of its URL.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// No answer within the time-out.
    #[error("timed out ({target})")]
    TimedOut {
        /// Where.
        target: Target,
        /// The transport error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// No connection (refused, unresolvable, TLS failure).
    #[error("connection failed ({target})")]
    Connect {
        /// Where.
        target: Target,
        /// The transport error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The answer broke off or could not be read.
    #[error("broken answer body ({target})")]
    Body {
        /// Where.
        target: Target,
        /// The transport error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was larger than the limit.
    #[error("answer larger than {limit} bytes ({target})")]
    TooLarge {
        /// Where.
        target: Target,
        /// The limit.
        limit: usize,
    },
    /// Any other transport failure.
    #[error("request failed ({target})")]
    Failed {
        /// Where.
        target: Target,
        /// The transport error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// Not an absolute http(s) URL.
    #[error("not an http(s) URL")]
    BadUrl,
}

impl OutboundError {
    fn from_reqwest(target: &Target, e: reqwest::Error) -> Self {
        let target = target.clone();
        let source = e.without_url();
        if source.is_timeout() {
            OutboundError::TimedOut { target, source }
        } else if source.is_connect() {
            OutboundError::Connect { target, source }
        } else if source.is_body() || source.is_decode() {
            OutboundError::Body { target, source }
        } else {
            OutboundError::Failed { target, source }
        }
    }

    /// Whether the call ran out of time (a provider outage, not a refusal).
    pub fn is_timeout(&self) -> bool {
        matches!(self, OutboundError::TimedOut { .. })
    }
}

/// The client: shared by every call of its owner; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    http: reqwest::Client,
    limits: Limits,
}

impl Outbound {
    /// A client with `limits`; makes no network call.
    pub fn new(limits: Limits) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect)
            .timeout(limits.total)
            .user_agent(concat!("entra-sso/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is valid");
        Self { http, limits }
    }

    /// The limits it was made with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// GETs `url` asking for JSON, with `headers` added.
    pub async fn get_json(&self, url: &str, headers: &[(&str, &str)]) -> Result<Answer, OutboundError> {
        let url = parse(url)?;
        let target = Target::of(&url);
        let request = self.http.get(url).header(ACCEPT, "application/json");
        self.send(&target, with_headers(request, headers)).await
    }

    /// POSTs `form` as `application/x-www-form-urlencoded`, asking for JSON.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Answer, OutboundError> {
        let body = serde_urlencoded::to_string(form).expect("form fields serialise");
        self.post(url, "application/x-www-form-urlencoded", body, &[(ACCEPT.as_str(), "application/json")]).await
    }

    /// POSTs `body` as `content_type` with `headers` (a signed request brings its own).
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: String,
        headers: &[(&str, &str)],
    ) -> Result<Answer, OutboundError> {
        let url = parse(url)?;
        let target = Target::of(&url);
        let request = self.http.post(url).header(CONTENT_TYPE, content_type);
        self.send(&target, with_headers(request, headers).body(body)).await
    }

    async fn send(&self, target: &Target, request: reqwest::RequestBuilder) -> Result<Answer, OutboundError> {
        let mut response = request.send().await.map_err(|e| OutboundError::from_reqwest(target, e))?;
        let status = response.status().as_u16();
        let header =
            |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(64).collect());
        let (date, retry_after) = (header(DATE), header(RETRY_AFTER));
        let limit = self.limits.max_body;
        let too_large = || OutboundError::TooLarge { target: target.clone(), limit };
        if response.content_length().is_some_and(|l| l > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| OutboundError::from_reqwest(target, e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, date, retry_after, body })
    }
}

fn parse(url: &str) -> Result<reqwest::Url, OutboundError> {
    let url = reqwest::Url::parse(url).map_err(|_| OutboundError::BadUrl)?;
    if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() {
        Ok(url)
    } else {
        Err(OutboundError::BadUrl)
    }
}

fn with_headers(mut request: reqwest::RequestBuilder, headers: &[(&str, &str)]) -> reqwest::RequestBuilder {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(*name), HeaderValue::try_from(*value)) {
            request = request.header(n, v);
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { connect: Duration::from_secs(2), total: Duration::from_secs(5), max_body: 16 };

    /// A one-shot server answering `response` to whatever arrives.
    async fn serve(response: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(response.as_bytes()).await;
        });
        format!("http://{addr}/path?code=SECRET")
    }

    #[tokio::test]
    async fn answers_of_any_status_come_back_with_their_date() {
        let url =
            serve("HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\n\r\n{}").await;
        let answer = Outbound::new(LIMITS).get_json(&url, &[]).await.unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (404, b"{}".as_slice()));
        assert_eq!(answer.date.as_deref(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(!answer.is_success());
    }

    #[tokio::test]
    async fn bodies_past_the_limit_are_refused_declared_or_not() {
        let declared = serve("HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n01234567890123456").await;
        let e = Outbound::new(LIMITS).get_json(&declared, &[]).await.unwrap_err();
        assert!(matches!(e, OutboundError::TooLarge { limit: 16, .. }), "{e}");
        let streamed = serve("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n01234567890123456").await;
        let e = Outbound::new(LIMITS).get_json(&streamed, &[]).await.unwrap_err();
        assert!(matches!(e, OutboundError::TooLarge { .. }), "{e}");
    }

    #[tokio::test]
    async fn redirects_are_answers_not_followed() {
        let url =
            serve("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\n\r\n").await;
        let answer = Outbound::new(LIMITS).get_json(&url, &[]).await.unwrap();
        assert_eq!(answer.status, 302);
    }

    #[tokio::test]
    async fn errors_name_the_target_without_the_query() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let e = Outbound::new(LIMITS)
            .post_form(&format!("http://127.0.0.1:{port}/token?code=SECRET"), &[("code", "SECRET")])
            .await
            .unwrap_err();
        assert!(matches!(e, OutboundError::Connect { .. }), "{e}");
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            chain.push_str(&format!(": {s}"));
            source = s.source();
        }
        assert!(chain.starts_with(&format!("connection failed (http://127.0.0.1:{port}/token)")), "{chain}");
        assert!(!chain.contains("SECRET"), "{chain}");
        assert!(matches!(Outbound::new(LIMITS).get_json("file:///etc/passwd", &[]).await, Err(OutboundError::BadUrl)));
    }
}
