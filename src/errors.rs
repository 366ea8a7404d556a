//! The public error codes of docs/design.md, and the one type every failing request ends in.
//!
//! A [`Failure`] carries the code (what the user and API clients see), the operator's detail
//! (logged, never shown) and optionally text the user may see (an IdP's description, escaped
//! when rendered). Pages are rendered by [`crate::pages`].

use http::StatusCode;

/// Every error code this service answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Callback without a `state`.
    StateMissing,
    /// `state` of the wrong shape, repeated or comma-joined.
    StateMalformed,
    /// Bad signature or claims.
    StateInvalid,
    /// Signed with a key this instance does not hold.
    StateKeyUnknown,
    /// Sign-in took longer than the state lifetime.
    StateExpired,
    /// The browser does not hold this flow's cookie.
    FlowCookieMissing,
    /// The flow cookie does not belong to this state.
    FlowMismatch,
    /// `return_to` is not a same-site path or an allowed origin.
    ReturnToRejected,
    /// The callback carries no usable authorization `code`.
    CodeMalformed,
    /// A login parameter (`prompt`, `login_hint`, `domain_hint`) is invalid.
    InvalidParameter,
    /// `/api/login` was fetched by script instead of navigated to.
    NotANavigation,
    /// The IdP answered with `error=`.
    IdpError,
    /// This flow already had its share of code redemptions on this instance.
    TooManyAttempts,
    /// Front-channel logout opened other than in a frame (a cross-site link, say).
    NotAFrame,
    /// The token endpoint refused or failed.
    TokenExchangeFailed,
    /// The IdP's metadata or signing keys could not be fetched.
    IdpUnavailable,
    /// The ID token failed a check.
    IdTokenInvalid,
    /// Policy refused the signed-in user.
    AccessDeniedByPolicy,
    /// No valid session (`/api/me`).
    NotSignedIn,
    /// The instance cannot work as configured.
    Misconfigured,
    /// No such endpoint.
    NotFound,
    /// The endpoint exists but not for this method.
    MethodNotAllowed,
    /// The request body is too large.
    PayloadTooLarge,
    /// The request line (path and query) is too long.
    UriTooLong,
    /// The request's headers are too large or too many.
    HeadersTooLarge,
    /// The request could not be read at all (broken body or request target).
    BadRequest,
    /// The request body did not arrive within the adapter's time limit.
    RequestTimeout,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::StateMissing,
        ErrorCode::StateMalformed,
        ErrorCode::StateInvalid,
        ErrorCode::StateKeyUnknown,
        ErrorCode::StateExpired,
        ErrorCode::FlowCookieMissing,
        ErrorCode::FlowMismatch,
        ErrorCode::ReturnToRejected,
        ErrorCode::CodeMalformed,
        ErrorCode::InvalidParameter,
        ErrorCode::NotANavigation,
        ErrorCode::IdpError,
        ErrorCode::TooManyAttempts,
        ErrorCode::NotAFrame,
        ErrorCode::TokenExchangeFailed,
        ErrorCode::IdpUnavailable,
        ErrorCode::IdTokenInvalid,
        ErrorCode::AccessDeniedByPolicy,
        ErrorCode::NotSignedIn,
        ErrorCode::Misconfigured,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UriTooLong,
        ErrorCode::HeadersTooLarge,
        ErrorCode::BadRequest,
        ErrorCode::RequestTimeout,
    ];

    /// The code as it appears in pages, JSON and logs.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            StateMissing => "state_missing",
            StateMalformed => "state_malformed",
            StateInvalid => "state_invalid",
            StateKeyUnknown => "state_key_unknown",
            StateExpired => "state_expired",
            FlowCookieMissing => "flow_cookie_missing",
            FlowMismatch => "flow_mismatch",
            ReturnToRejected => "return_to_rejected",
            CodeMalformed => "code_malformed",
            InvalidParameter => "invalid_parameter",
            NotANavigation => "not_a_navigation",
            IdpError => "idp_error",
            TooManyAttempts => "too_many_attempts",
            NotAFrame => "not_a_frame",
            TokenExchangeFailed => "token_exchange_failed",
            IdpUnavailable => "idp_unavailable",
            IdTokenInvalid => "id_token_invalid",
            AccessDeniedByPolicy => "access_denied_by_policy",
            NotSignedIn => "not_signed_in",
            Misconfigured => "misconfigured",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            PayloadTooLarge => "payload_too_large",
            UriTooLong => "uri_too_long",
            HeadersTooLarge => "headers_too_large",
            BadRequest => "bad_request",
            RequestTimeout => "request_timeout",
        }
    }

    /// The HTTP status of the answer.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            IdTokenInvalid | NotSignedIn => StatusCode::UNAUTHORIZED,
            AccessDeniedByPolicy => StatusCode::FORBIDDEN,
            TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            TokenExchangeFailed | IdpUnavailable => StatusCode::BAD_GATEWAY,
            Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UriTooLong => StatusCode::URI_TOO_LONG,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A one-line title.
    pub fn title(self) -> &'static str {
        use ErrorCode::*;
        match self {
            StateMissing => "The sign-in response has no state",
            StateMalformed => "The sign-in response's state is unreadable",
            StateInvalid => "The sign-in response's state is not genuine",
            StateKeyUnknown => "This server cannot check the sign-in state",
            StateExpired => "The sign-in took too long",
            FlowCookieMissing => "This browser did not start this sign-in",
            FlowMismatch => "The sign-in does not match this browser",
            ReturnToRejected => "The return address is not allowed",
            CodeMalformed => "The sign-in response has no usable code",
            InvalidParameter => "A sign-in parameter is invalid",
            NotANavigation => "Sign-in must be opened in the browser",
            IdpError => "Microsoft sign-in reported an error",
            TooManyAttempts => "This sign-in was already tried",
            NotAFrame => "This sign-out address is only for the identity provider",
            TokenExchangeFailed => "The sign-in could not be completed with Microsoft",
            IdpUnavailable => "Microsoft sign-in is unreachable",
            IdTokenInvalid => "The identity token was rejected",
            AccessDeniedByPolicy => "Your account is not allowed to use this app",
            NotSignedIn => "You are not signed in",
            Misconfigured => "This app's sign-in is misconfigured",
            NotFound => "Not found",
            MethodNotAllowed => "Method not allowed",
            PayloadTooLarge => "The request is too large",
            UriTooLong => "The address is too long",
            HeadersTooLarge => "The request carries too many or too large headers",
            BadRequest => "The request could not be read",
            RequestTimeout => "The request took too long to arrive",
        }
    }

    /// Likely causes and what to do, for the page and the JSON `hint`.
    pub fn hint(self) -> &'static str {
        use ErrorCode::*;
        match self {
            StateMissing | StateMalformed => "The callback URL was opened without the parameters Microsoft sends, or they were altered (copied, truncated, or a parameter repeated). Start the sign-in again.",
            StateInvalid => "The state was altered or forged, or minted by another deployment. Start the sign-in again; if it persists, check that every instance has the same SSO_CLIENT_ID, authority and SSO_SECRET.",
            StateKeyUnknown => "The sign-in was started on an instance with a different SSO_SECRET. Operators: give every instance the same SSO_SECRET, and when rotating keep the old value second in the list until sign-ins started before the change have finished.",
            StateExpired => "Sign-in has a time limit (SSO_STATE_TTL). Start again and finish within it.",
            FlowCookieMissing => "The sign-in finished in a browser that does not hold the cookie set when it started: another browser or device, cookies blocked, a private window, or a different host name or scheme between the start and the callback (SSO_REDIRECT_URI must be on the host the app is opened on). Start the sign-in again in this browser.",
            FlowMismatch => "The browser's sign-in cookie belongs to another sign-in. This happens when two sign-ins cross, or when a sign-in link was forged. Start again.",
            ReturnToRejected => "return_to must be a path on this site starting with a single / or an origin listed in SSO_RETURN_ORIGINS.",
            CodeMalformed => "The callback carries no authorization code, several, or one of an impossible shape. Start the sign-in again.",
            InvalidParameter => "prompt must be login, none, consent, select_account or create; login_hint and domain_hint must be short plain text.",
            NotANavigation => "Open /api/login with a link or a redirect, not with fetch() or XMLHttpRequest: the sign-in cookie is only set on a page navigation.",
            IdpError => "Microsoft's sign-in did not complete. The details below come from Microsoft; the AADSTS code explains the reason. Try again, or ask your administrator.",
            TooManyAttempts => "The response of this sign-in was sent several times (a reload, a double submit, or a replay). Start the sign-in again.",
            NotAFrame => "The front-channel logout address is loaded by the identity provider in a hidden frame when you sign out elsewhere; opened directly it does nothing. To sign out, use the app's sign-out button.",
            TokenExchangeFailed => "Microsoft refused or did not answer the code redemption. Try again; operators find the AADSTS code, trace_id and correlation_id in the log.",
            IdpUnavailable => "The identity provider's configuration or signing keys could not be fetched. Try again in a moment; operators should check outbound connectivity to the authority.",
            IdTokenInvalid => "The token from the identity provider failed validation (which check is in the log). Try again; operators should check SSO_CLIENT_ID, the authority and the server clock.",
            AccessDeniedByPolicy => "You signed in, but this app only admits certain tenants, roles or groups. Ask the app's administrator for access, or sign in with another account.",
            NotSignedIn => "Sign in first.",
            Misconfigured => "The operator must fix the setting named in the log.",
            NotFound | MethodNotAllowed => "Check the URL and method.",
            PayloadTooLarge => "Send a smaller request.",
            UriTooLong => "Sign-in addresses are short; this one was altered or padded. Start again from the app.",
            HeadersTooLarge => "Usually too many cookies for this site. Clear this site's cookies and try again.",
            BadRequest => "The request was cut short or malformed on the way. Try again.",
            RequestTimeout => "The connection was too slow or was interrupted while sending the request. Try again.",
        }
    }
}

impl From<crate::provider::FetchError> for Failure {
    fn from(e: crate::provider::FetchError) -> Self {
        let code = match e {
            crate::provider::FetchError::Misconfigured(_) => ErrorCode::Misconfigured,
            crate::provider::FetchError::Unreachable { .. } | crate::provider::FetchError::Invalid { .. } => {
                ErrorCode::IdpUnavailable
            }
        };
        Failure::new(code, e.to_string())
    }
}

/// A failed request: the public code, the operator's detail, and what may be shown.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The public error code.
    pub code: ErrorCode,
    /// Why, for the operator's log (never rendered).
    pub detail: String,
    /// Text from the IdP that may be shown to the user (escaped when rendered).
    pub shown: Option<String>,
    /// A validated `return_to`, for "try again".
    pub retry: Option<String>,
}

impl Failure {
    /// A failure with an operator detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), shown: None, retry: None }
    }

    /// Adds a validated `return_to` for the "try again" link.
    pub fn retry(mut self, return_to: Option<String>) -> Self {
        self.retry = return_to;
        self
    }
}
