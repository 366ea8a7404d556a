//! What several test files share beyond `helpers.rs`: the programmable identity provider and,
//! beside it, the other stand-ins the tests spin up.

pub mod binary;
pub mod idp_fake;
pub mod settings;
