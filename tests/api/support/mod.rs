//! What several test files share beyond `helpers.rs`: the programmable identity provider and,
//! beside it, the other stand-ins the tests spin up (the emulated platforms: App Service's
//! managed-identity endpoint, AWS STS, Kubernetes token files), the settings builder, the
//! runner of the real binary, and the gate of tests that need more than Rust.

pub(crate) mod app_service;
pub(crate) mod aws_sts;
pub(crate) mod binary;
pub(crate) mod idp_fake;
pub(crate) mod kubernetes;
pub(crate) mod platform;
pub(crate) mod prerequisites;
pub(crate) mod settings;
