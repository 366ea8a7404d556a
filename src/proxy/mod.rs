//! `entra-sso proxy`: one host in front of one app, as App Service Authentication stands in front
//! of a site, over the same stateless core (same settings, sessions and policy, no store).
//!
//! - [`settings`]: what only the proxy reads (`SSO_UPSTREAM`, the listen address, public paths,
//!   path rules, trusted proxies).
//! - [`gate`]: the request path as the app will read it, and the verdict for each request.
//! - [`forward`]: the pooled client to the app, streaming both ways, headers, upgrades.
//!
//! `/.auth/*` is answered by the core at App Service Authentication's paths
//! ([`crate::config::Mount::EasyAuth`]) and never forwarded; every other request passes the gate
//! and goes to the app with App Service's identity headers, or gets a sign-in answer.

pub mod forward;
pub mod gate;
pub mod metrics;
pub mod settings;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::adapters::server::accept_loop;
use crate::app::{App, Handler, MAX_BODY_BYTES};
use crate::config::Settings;
use crate::endpoints::failure_page;
use crate::support::text::cap;
use crate::web::errors::{ErrorCode, Failure};
use crate::web::pages;
use forward::{full, ProxyBody, Upstream};
use gate::Verdict;
use settings::ProxySettings;

/// How long a request head may take to arrive, and a body for `/.auth` (at most 16 KB).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request head read; larger ones are answered `431` by hyper.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long requests in flight may take after shutdown is signalled.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// One proxy instance: the sign-in core, the proxy's settings, and the way to the app.
pub struct Proxy {
    app: Arc<App>,
    settings: ProxySettings,
    upstream: Upstream,
}

impl Proxy {
    /// A proxy in front of `settings.upstream`, over an instance built from `core` (mounted at
    /// [`crate::config::Mount::EasyAuth`]). The groups its path rules name join the groups
    /// sessions keep first ([`Policy::keep_rule_groups`]), so a rule can always match.
    ///
    /// [`Policy::keep_rule_groups`]: crate::idp::policy::Policy::keep_rule_groups
    pub fn new(mut core: Settings, settings: ProxySettings) -> Arc<Self> {
        core.policy.keep_rule_groups(settings.rules.iter().flat_map(|r| r.groups.iter().map(String::as_str)));
        let app = App::new(core);
        let upstream = Upstream::new(&settings);
        Arc::new(Self { app, settings, upstream })
    }

    /// The sign-in core this proxy serves `/.auth` with.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The handler of the metrics listener (`SSO_METRICS_LISTEN`), over this proxy's counters.
    pub fn metrics_endpoint(&self) -> Arc<metrics::MetricsEndpoint> {
        metrics::MetricsEndpoint::new(Arc::clone(&self.app))
    }

    /// The proxy's settings.
    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// Answers one request from `peer`.
    async fn serve(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<ProxyBody> {
        let as_json = pages::wants_json(req.headers());
        let access =
            tracing::enabled!(tracing::Level::DEBUG).then(|| (req.method().clone(), cap(req.uri().path(), 128)));
        let response = match self.route(req, peer).await {
            Ok(response) => response,
            Err(failure) => self.page(&failure, as_json),
        };
        if let Some((method, path)) = access {
            tracing::debug!(%method, path, status = response.status().as_u16(), "proxied request");
        }
        response
    }

    async fn route(&self, req: Request<Incoming>, peer: SocketAddr) -> Result<Response<ProxyBody>, Failure> {
        if let Some(refused) = gate::refuse_target(&req) {
            return Err(refused);
        }
        crate::endpoints::check_head(&req)?;
        let path = gate::decoded_path(req.uri().path()).map_err(|why| Failure::new(ErrorCode::BadRequest, why))?;
        if gate::is_own(&path) {
            return self.own(req).await;
        }
        match gate::check(&self.app, &self.settings, &req, &path).await {
            Verdict::Forward(identity) => {
                self.upstream.forward(req, peer, self.settings.trusts(peer.ip()), identity).await
            }
            Verdict::Answer(answer) => Ok(answer.map(full)),
            Verdict::Refuse(failure) => Err(failure),
        }
    }

    /// A request for the sign-in routes: its (small) body read, then the core answers.
    async fn own(&self, req: Request<Incoming>) -> Result<Response<ProxyBody>, Failure> {
        let (parts, body) = req.into_parts();
        let body = match tokio::time::timeout(HEAD_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(Failure::new(ErrorCode::PayloadTooLarge, "body over 16 KB for a sign-in route"))
            }
            Ok(Err(_)) => return Err(Failure::new(ErrorCode::BadRequest, "the body broke off")),
            Err(_) => return Err(Failure::new(ErrorCode::RequestTimeout, "the body did not arrive in time")),
        };
        Ok(self.app.handle(Request::from_parts(parts, body)).await.map(full))
    }

    fn page(&self, failure: &Failure, as_json: bool) -> Response<ProxyBody> {
        failure_page(failure, as_json, self.app.settings().mount.login_path()).map(full)
    }
}

/// Serves `proxy` on `listener` until `shutdown` completes. HTTP/1.1 with upgrades; a request
/// head must arrive within 10 s and fit in 64 KB.
pub async fn run(listener: TcpListener, proxy: Arc<Proxy>, shutdown: impl Future<Output = ()> + Send + 'static) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
    accept_loop(listener, shutdown, SHUTDOWN_GRACE, move |stream, peer, drain| {
        let _ = stream.set_nodelay(true);
        let proxy = Arc::clone(&proxy);
        let service = hyper::service::service_fn(move |req| {
            let proxy = Arc::clone(&proxy);
            async move { Ok::<_, Infallible>(proxy.serve(req, peer).await) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let signalled = drain.signalled();
        async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = signalled => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "proxy connection closed with an error");
            }
        }
    })
    .await;
}
