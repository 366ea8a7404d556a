//! `entra-sso`: stateless "Sign in with Microsoft" (Entra ID, OpenID Connect authorization-code
//! flow with PKCE) as a handful of serverless HTTP functions.
//!
//! Nothing is stored on the server. The OAuth `state` is a signed, expiring token that travels
//! with the browser, bound to it by a per-flow cookie whose secret is also the PKCE verifier; the
//! session is a signed cookie. Any instance with the same `SSO_SECRET` can finish any flow. The
//! contract is `docs/design.md`.
//!
//! # Layout
//!
//! The folders are the layers; each depends only on the ones listed before it.
//!
//! * [`support`]: rules every layer shares: time ([`support::time`]: the clock, dates,
//!   HTTP-dates), text ([`support::text`]: the one log-safe cleaner, GUIDs) and
//!   [`support::ct_eq`].
//! * [`telemetry`]: what operators see: log lines on the stream of their severity, one event
//!   per sign-in outcome (a log line, or CloudWatch EMF on Lambda), the counters
//!   `entra-sso proxy` serves to Prometheus.
//! * [`tokens`]: this service's own tokens and secrets: signing secrets and HKDF keys
//!   ([`tokens::secret`], [`tokens::jws`]), the `state` ([`tokens::state`]), the flow secret,
//!   PKCE and nonce ([`tokens::flow`], [`tokens::random`]), the session ([`tokens::session`]).
//! * [`web`]: the HTTP boundary without a framework: strict readers ([`web::cookies`],
//!   [`web::params`], [`web::return_to`], [`web::url`]), the cloud zones no session cookie may
//!   be scoped to ([`web::cloud_zones`]), the public error codes ([`web::errors`]) and the
//!   pages that carry them ([`web::pages`]).
//! * [`idp`]: the OpenID Provider: [`idp::authority`], [`idp::outbound`] (the one HTTP client
//!   for every outbound call), [`idp::provider`] (discovery, JWKS cache, code redemption, the
//!   Microsoft Graph lookup of users with groups overage),
//!   [`idp::credential`] (how the token request authenticates), [`idp::hints`] (AADSTS codes),
//!   [`idp::id_token`], [`idp::access_token`] (bearer tokens for this app), [`idp::policy`].
//! * [`config`]: typed settings from the environment, validated once, and the one list of
//!   variables that mark a cloud runtime ([`config::CLOUD_MARKERS`]).
//! * [`app`]: the core: one instance's shared state ([`App`]) and the [`app::Handler`] trait
//!   every adapter serves.
//! * [`endpoints`]: the route table, the handlers ([`endpoints::login`],
//!   [`endpoints::callback`], [`endpoints::account`], whose `current_caller` is the one answer
//!   to who is calling), silent renewal ([`endpoints::renewal`]) and the [`app::Handler`] of
//!   [`App`].
//! * [`adapters`]: how requests arrive: [`adapters::server`] (`entra-sso serve`, the Azure
//!   Functions custom handler) and [`adapters::lambda`] (AWS Lambda, cargo feature `lambda`).
//! * [`proxy`]: `entra-sso proxy`, one host in front of one app at App Service
//!   Authentication's paths ([`proxy::settings`], [`proxy::gate`], [`proxy::forward`]).
//! * [`doctor`]: `entra-sso doctor`, a client of the layers below: the configuration checked
//!   offline and, through the provider, online.
//! * [`dev_idp`]: the embedded development identity provider and `entra-sso dev`
//!   ([`dev_idp::dev`]); cargo feature `dev-idp`, on by default, off in deployment packages.

#![forbid(unsafe_code)]

pub mod adapters;
pub mod app;
pub mod config;
#[cfg(feature = "dev-idp")]
pub mod dev_idp;
pub mod doctor;
pub mod endpoints;
pub mod idp;
pub mod proxy;
pub mod support;
pub mod telemetry;
pub mod tokens;
pub mod web;

pub use app::App;
pub use config::Settings;

/// Selects `jsonwebtoken`'s crypto provider ([`tokens::crypto::PROVIDER`]) for the process.
/// Call once at start-up, before any token is signed or verified; later calls are harmless.
pub fn install_crypto() {
    tokens::crypto::install();
}
