//! `entra-sso`: stateless "Sign in with Microsoft" (Entra ID, OpenID Connect authorization-code
//! flow with PKCE) as a handful of serverless HTTP functions.
//!
//! Nothing is stored on the server. The OAuth `state` is a signed, expiring token that travels
//! with the browser, bound to it by a per-flow cookie whose secret is also the PKCE verifier; the
//! session is a signed cookie. Any instance with the same `SSO_SECRET` can finish any flow.
//!
//! # Layout
//!
//! * [`config`]: typed settings from the environment, validated once.
//! * [`authority`]: the OpenID Provider's URL and Entra's computed endpoints.
//! * [`jws`]: HKDF-derived keys and the compact HS256 tokens this service mints.
//! * [`state`], [`flow`], [`session`]: the state token, the flow secret (PKCE verifier, nonce,
//!   flow cookie) and the session token; [`random`]: the OS randomness new flows are drawn from.
//! * [`cookies`], [`params`], [`return_to`]: strict parsing of what the browser sends.
//! * [`provider`]: discovery, JWKS cache and code redemption (the only outbound calls);
//!   [`attempts`]: the per-flow cap on redemptions.
//! * [`id_token`], [`policy`]: ID-token validation, then tenant, role, group and domain rules.
//! * [`app`], [`routes`], [`login`], [`callback`], [`account`]: the framework-free core
//!   `http::Request<Bytes> -> http::Response<Bytes>` and its endpoints.
//! * [`errors`], [`pages`]: public error codes and the pages and JSON that carry them.
//! * [`server`]: the HTTP adapter, a warp filter served by hyper with time limits (`entra-sso
//!   serve`, the Azure Functions custom handler);
//!   [`lambda`]: the AWS Lambda adapter (cargo feature `lambda`).
//! * [`dev_idp`], [`dev`]: the embedded development identity provider and `entra-sso dev`
//!   (cargo feature `dev-idp`, on by default, off in deployment packages).

#![forbid(unsafe_code)]

pub mod account;
pub mod app;
pub mod attempts;
pub mod authority;
pub mod callback;
pub mod config;
pub mod cookies;
pub mod crypto;
#[cfg(feature = "dev-idp")]
pub mod dev;
#[cfg(feature = "dev-idp")]
pub mod dev_idp;
pub mod errors;
pub mod flow;
pub mod id_token;
pub mod jws;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod login;
pub mod pages;
pub mod params;
pub mod policy;
pub mod provider;
pub mod random;
pub mod return_to;
pub mod routes;
pub mod secret;
pub mod server;
pub mod session;
pub mod state;

pub use app::App;
pub use config::Settings;

/// Selects `jsonwebtoken`'s crypto provider ([`crypto::PROVIDER`]) for the process. Call once at
/// start-up, before any token is signed or verified; later calls are harmless.
pub fn install_crypto() {
    crypto::install();
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
