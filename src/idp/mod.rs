//! The OpenID Provider side: the authority and Entra's computed endpoints ([`authority`]), the
//! one outbound HTTP client every call goes through ([`outbound`]), everything fetched from or
//! sent to the provider ([`provider`]: discovery, signing keys, code redemption), how the token
//! request authenticates ([`credential`]), what AADSTS codes mean ([`hints`]), ID-token
//! validation ([`id_token`]), access tokens for this app ([`access_token`]), and who may sign in ([`policy`]: tenants, roles, groups, e-mail
//! domains).

pub mod access_token;
pub mod authority;
pub mod credential;
pub mod hints;
pub mod id_token;
pub mod outbound;
pub mod policy;
pub mod provider;
