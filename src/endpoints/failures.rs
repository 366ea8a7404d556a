//! Every lower layer's error becomes a [`Failure`] here, by `From`, so a handler writes `?` and
//! the public code for each kind of error is decided in one place.

use crate::idp::access_token::AccessTokenError;
use crate::idp::hints;
use crate::idp::id_token::IdTokenError;
use crate::idp::policy::PolicyError;
use crate::idp::provider::graph::{GraphError, GraphFault};
use crate::idp::provider::{FetchError, TokenError};
use crate::tokens::session::SessionError;
use crate::tokens::state::StateError;
use crate::web::errors::{ErrorCode, Failure};
use crate::web::return_to::ReturnToError;

impl From<StateError> for Failure {
    fn from(e: StateError) -> Self {
        let code = match &e {
            StateError::Missing => ErrorCode::StateMissing,
            StateError::Malformed(_) => ErrorCode::StateMalformed,
            StateError::KeyUnknown => ErrorCode::StateKeyUnknown,
            StateError::Invalid(_) => ErrorCode::StateInvalid,
            StateError::Expired { .. } => ErrorCode::StateExpired,
        };
        // An expired state is still genuine: "try again" may keep its return address.
        let retry = match &e {
            StateError::Expired { return_to } => Some(return_to.clone()),
            _ => None,
        };
        Failure::new(code, e.to_string()).retry(retry)
    }
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        let code = match e {
            FetchError::Misconfigured(_) => ErrorCode::Misconfigured,
            FetchError::Unreachable { .. }
            | FetchError::Paused { .. }
            | FetchError::Status { .. }
            | FetchError::Invalid { .. } => ErrorCode::IdpUnavailable,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<TokenError> for Failure {
    fn from(e: TokenError) -> Self {
        let code = match e {
            TokenError::TooManyAttempts => ErrorCode::TooManyAttempts,
            TokenError::Busy(_)
            | TokenError::Credential(_)
            | TokenError::Unreachable(_)
            | TokenError::Discovery(_)
            | TokenError::Refused { .. }
            | TokenError::Invalid { .. } => ErrorCode::TokenExchangeFailed,
        };
        let detail = match &e {
            TokenError::Refused { description, .. } => {
                format!("{e} {}", hints::aadsts_code(description).map(|c| format!("AADSTS{c}")).unwrap_or_default())
            }
            _ => e.to_string(),
        };
        Failure::new(code, detail)
    }
}

impl From<GraphError> for Failure {
    /// Graph's refusal (the permission is missing) and its throttling each have their own code;
    /// every other failure is `groups_unavailable`. None is ever a policy refusal: a user whose
    /// groups could not be checked is not "not a member".
    fn from(e: GraphError) -> Self {
        let code = groups_code(e.fault());
        let detail = match &e {
            GraphError::Token(TokenError::Refused { description, .. }) => {
                format!("{e} {}", hints::aadsts_code(description).map(|c| format!("AADSTS{c}")).unwrap_or_default())
            }
            _ => e.to_string(),
        };
        Failure::new(code, format!("groups overage lookup: {detail}"))
    }
}

/// The public code of a Graph fault, at the callback and for a bearer caller alike.
fn groups_code(fault: GraphFault) -> ErrorCode {
    match fault {
        GraphFault::Forbidden => ErrorCode::GroupsForbidden,
        GraphFault::Throttled => ErrorCode::GroupsThrottled,
        GraphFault::Unavailable => ErrorCode::GroupsUnavailable,
    }
}

impl From<IdTokenError> for Failure {
    fn from(e: IdTokenError) -> Self {
        Failure::new(ErrorCode::IdTokenInvalid, format!("ID token: {e}"))
    }
}

impl From<PolicyError> for Failure {
    /// A rule the policy cannot apply safely is the operator's to fix; every other refusal is
    /// the user's policy verdict.
    fn from(e: PolicyError) -> Self {
        let code = match e {
            PolicyError::UntrustedRule(_) | PolicyError::GroupNotKept(_) => ErrorCode::Misconfigured,
            PolicyError::Tenant(_)
            | PolicyError::NoTenant
            | PolicyError::Roles(_)
            | PolicyError::GroupsOverage
            | PolicyError::Groups
            | PolicyError::EmailDomain(_) => ErrorCode::AccessDeniedByPolicy,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<SessionError> for Failure {
    /// Only minting fails this way at the callback: identifiers too large for a cookie.
    fn from(e: SessionError) -> Self {
        Failure::new(ErrorCode::IdTokenInvalid, format!("session: {e}"))
    }
}

impl From<ReturnToError> for Failure {
    fn from(e: ReturnToError) -> Self {
        Failure::new(ErrorCode::ReturnToRejected, e.to_string())
    }
}

impl From<AccessTokenError> for Failure {
    /// Each refusal its own `token_*` code; a token for another resource also tells the client,
    /// in words it may see, which audience to request (never the token or its claims).
    fn from(e: AccessTokenError) -> Self {
        let code = match &e {
            AccessTokenError::Malformed(_) => ErrorCode::TokenMalformed,
            AccessTokenError::Signature(_) => ErrorCode::TokenSignatureInvalid,
            AccessTokenError::Expired => ErrorCode::TokenExpired,
            AccessTokenError::Issuer(_) => ErrorCode::TokenWrongIssuer,
            AccessTokenError::Tenant(_) => ErrorCode::TokenWrongTenant,
            AccessTokenError::Audience { .. } => ErrorCode::TokenWrongAudience,
            AccessTokenError::ClientNotAllowed(_) => ErrorCode::TokenClientNotAllowed,
            AccessTokenError::Unavailable(_) => ErrorCode::IdpUnavailable,
            AccessTokenError::Groups { fault, .. } => groups_code(*fault),
        };
        let mut failure = Failure::new(code, format!("bearer token: {e}"));
        if let AccessTokenError::Audience { graph, request } = &e {
            let what = if *graph { "Microsoft Graph" } else { "another resource" };
            failure.shown = Some(format!(
                "This token is for {what}. Request a token for this API: scope {request}, or one of its delegated scopes."
            ));
        }
        failure
    }
}
