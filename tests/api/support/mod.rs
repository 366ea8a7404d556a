//! What several test files share beyond `helpers.rs`: the programmable identity provider and,
//! beside it, the other stand-ins the tests spin up (the emulated platforms: App Service's
//! managed-identity endpoint, AWS STS, Kubernetes token files), the settings builder, the
//! runner of the real binary, and the gate of tests that need more than Rust.

pub mod app_service;
pub mod aws_sts;
pub mod binary;
pub mod idp_fake;
pub mod kubernetes;
pub mod platform;
pub mod prerequisites;
pub mod settings;
