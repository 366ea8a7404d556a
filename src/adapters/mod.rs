//! How requests reach the core: [`server`] serves it over HTTP/1.1 (`entra-sso serve`, the
//! Azure Functions custom handler, `entra-sso dev`); [`lambda`] answers AWS Lambda events
//! (cargo feature `lambda`). Both convert to and from `http::Request<Bytes>` /
//! `http::Response<Bytes>` and leave every rule to the core.

#[cfg(feature = "lambda")]
pub mod lambda;
pub mod server;
