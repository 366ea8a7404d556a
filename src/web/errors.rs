//! The public error codes of docs/design.md, and the one type every failing request ends in.
//!
//! A [`Failure`] carries the code (what the user and API clients see), the operator's detail
//! (logged, never shown) and optionally text the user may see (an IdP's description, escaped
//! when rendered). Pages are rendered by [`crate::web::pages`].

use http::StatusCode;

/// Declares [`ErrorCode`] with its public name and HTTP status side by side, and the list of
/// all codes from the same table, so neither can drift from the enum.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $status:ident;)*) => {
        /// Every error code this service answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, for exhaustive tests and documentation.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it appears in pages, JSON and logs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The HTTP status of the answer.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    /// Callback without a `state`.
    StateMissing = "state_missing", BAD_REQUEST;
    /// `state` of the wrong shape, repeated or comma-joined.
    StateMalformed = "state_malformed", BAD_REQUEST;
    /// Bad signature or claims.
    StateInvalid = "state_invalid", BAD_REQUEST;
    /// Signed with a key this instance does not hold.
    StateKeyUnknown = "state_key_unknown", BAD_REQUEST;
    /// Sign-in took longer than the state lifetime.
    StateExpired = "state_expired", BAD_REQUEST;
    /// The browser does not hold this flow's cookie.
    FlowCookieMissing = "flow_cookie_missing", BAD_REQUEST;
    /// The flow cookie does not belong to this state.
    FlowMismatch = "flow_mismatch", BAD_REQUEST;
    /// `return_to` is not a same-site path or an allowed origin.
    ReturnToRejected = "return_to_rejected", BAD_REQUEST;
    /// The callback carries no usable authorization `code`.
    CodeMalformed = "code_malformed", BAD_REQUEST;
    /// A login parameter (`prompt`, `login_hint`, `domain_hint`) or a logout parameter is invalid.
    InvalidParameter = "invalid_parameter", BAD_REQUEST;
    /// `/api/login` was fetched by script instead of navigated to.
    NotANavigation = "not_a_navigation", BAD_REQUEST;
    /// The IdP answered with `error=`.
    IdpError = "idp_error", BAD_REQUEST;
    /// This flow already had its share of code redemptions on this instance.
    TooManyAttempts = "too_many_attempts", TOO_MANY_REQUESTS;
    /// Front-channel logout opened other than in a frame (a cross-site link, say).
    NotAFrame = "not_a_frame", BAD_REQUEST;
    /// The token endpoint refused or failed.
    TokenExchangeFailed = "token_exchange_failed", BAD_GATEWAY;
    /// The IdP's metadata or signing keys could not be fetched.
    IdpUnavailable = "idp_unavailable", BAD_GATEWAY;
    /// The ID token failed a check.
    IdTokenInvalid = "id_token_invalid", UNAUTHORIZED;
    /// Policy refused the signed-in user.
    AccessDeniedByPolicy = "access_denied_by_policy", FORBIDDEN;
    /// Microsoft Graph refused the group lookup of a user with groups overage: the app lacks
    /// its application permissions.
    GroupsForbidden = "groups_forbidden", BAD_GATEWAY;
    /// Microsoft Graph throttled the group lookup of a user with groups overage.
    GroupsThrottled = "groups_throttled", SERVICE_UNAVAILABLE;
    /// Microsoft Graph's group lookup failed, was unreachable or too slow.
    GroupsUnavailable = "groups_unavailable", BAD_GATEWAY;
    /// No valid session (`/api/me`).
    NotSignedIn = "not_signed_in", UNAUTHORIZED;
    /// A genuine session past its renewal lifetime, still renewable: a script's request is told
    /// where to send the browser (`renew_url`).
    SessionExpired = "session_expired", UNAUTHORIZED;
    /// The provider is not the configured authority: a setting to fix.
    Misconfigured = "misconfigured", INTERNAL_SERVER_ERROR;
    /// No such endpoint.
    NotFound = "not_found", NOT_FOUND;
    /// The endpoint exists but not for this method.
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED;
    /// The request body is too large.
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE;
    /// The request line (path and query) is too long.
    UriTooLong = "uri_too_long", URI_TOO_LONG;
    /// The request's headers are too large or too many.
    HeadersTooLarge = "headers_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE;
    /// The request could not be read at all (broken body, request target or event).
    BadRequest = "bad_request", BAD_REQUEST;
    /// The request body did not arrive within the adapter's time limit.
    RequestTimeout = "request_timeout", REQUEST_TIMEOUT;
    /// `entra-sso proxy`: the app behind it could not be reached or broke off.
    UpstreamUnavailable = "upstream_unavailable", BAD_GATEWAY;
    /// `entra-sso proxy`: the app behind it did not answer in time.
    UpstreamTimeout = "upstream_timeout", GATEWAY_TIMEOUT;
    /// A bearer token that is no JWT, too large, or lacks a claim Entra always sends.
    TokenMalformed = "token_malformed", UNAUTHORIZED;
    /// A bearer token not signed with RS256 by one of the provider's keys.
    TokenSignatureInvalid = "token_signature_invalid", UNAUTHORIZED;
    /// A bearer token past its lifetime (or not yet valid).
    TokenExpired = "token_expired", UNAUTHORIZED;
    /// A bearer token whose issuer is not the provider's for its tenant and version.
    TokenWrongIssuer = "token_wrong_issuer", UNAUTHORIZED;
    /// A bearer token of a tenant this deployment does not admit.
    TokenWrongTenant = "token_wrong_tenant", UNAUTHORIZED;
    /// A bearer token for another resource (Microsoft Graph, another app).
    TokenWrongAudience = "token_wrong_audience", UNAUTHORIZED;
    /// An app-only bearer token of a client not in `SSO_API_CLIENTS`.
    TokenClientNotAllowed = "token_client_not_allowed", UNAUTHORIZED;
}

impl ErrorCode {
    /// Whether the code refuses a bearer token: answered `401` with RFC 6750's
    /// `WWW-Authenticate: Bearer error="invalid_token"`, as JSON, never with a redirect.
    pub fn is_token_refusal(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            TokenMalformed
                | TokenSignatureInvalid
                | TokenExpired
                | TokenWrongIssuer
                | TokenWrongTenant
                | TokenWrongAudience
                | TokenClientNotAllowed
        )
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
            GroupsForbidden => "This app may not read your group memberships",
            GroupsThrottled => "Microsoft is busy: your group memberships could not be checked",
            GroupsUnavailable => "Your group memberships could not be checked",
            NotSignedIn => "You are not signed in",
            SessionExpired => "Your session needs renewing",
            Misconfigured => "This app's sign-in is misconfigured",
            NotFound => "Not found",
            MethodNotAllowed => "Method not allowed",
            PayloadTooLarge => "The request is too large",
            UriTooLong => "The address is too long",
            HeadersTooLarge => "The request carries too many or too large headers",
            BadRequest => "The request could not be read",
            RequestTimeout => "The request took too long to arrive",
            UpstreamUnavailable => "The application is unavailable",
            UpstreamTimeout => "The application did not answer in time",
            TokenMalformed => "The access token is not a well-formed Entra access token",
            TokenSignatureInvalid => "The access token's signature is not valid",
            TokenExpired => "The access token has expired or is not yet valid",
            TokenWrongIssuer => "The access token was not issued by this app's identity provider",
            TokenWrongTenant => "The access token's tenant is not allowed",
            TokenWrongAudience => "The access token is for another resource",
            TokenClientNotAllowed => "The calling application is not allowed",
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
            GroupsForbidden => "You are in more groups than a sign-in token lists, so this app asks Microsoft Graph which of its groups you are in, and Graph refused. Nothing is wrong with your account. Operators: grant the app registration the Microsoft Graph application permissions GroupMember.Read.All and User.Read.All with admin consent (the log names the fix).",
            GroupsThrottled => "You are in more groups than a sign-in token lists, so this app asks Microsoft Graph which of its groups you are in, and Graph asked to slow down. Try again in a minute.",
            GroupsUnavailable => "You are in more groups than a sign-in token lists, so this app asks Microsoft Graph which of its groups you are in, and Graph did not answer in time or failed. Try again; operators find the cause in the log.",
            NotSignedIn => "Sign in first.",
            SessionExpired => "The session reached the end of its renewal lifetime (SSO_SESSION_TTL). Open renew_url in the browser as a page (a top-level navigation, not fetch() or a frame): it renews the session without showing a page while you are still signed in at Microsoft, and falls back to the sign-in page otherwise.",
            Misconfigured => "The operator must fix the setting named in the log.",
            NotFound | MethodNotAllowed => "Check the URL and method.",
            PayloadTooLarge => "Send a smaller request.",
            UriTooLong => "Sign-in addresses are short; this one was altered or padded. Start again from the app.",
            HeadersTooLarge => "Usually too many cookies for this site. Clear this site's cookies and try again.",
            BadRequest => "The request was cut short or malformed on the way. Try again.",
            RequestTimeout => "The connection was too slow or was interrupted while sending the request. Try again.",
            UpstreamUnavailable => "The application behind the sign-in could not be reached. Try again in a moment; operators should check that the app is running and listening where SSO_UPSTREAM points.",
            UpstreamTimeout => "The application behind the sign-in took too long to answer. Try again; operators should check the app, or raise SSO_UPSTREAM_TIMEOUT.",
            TokenMalformed => "Send an Entra access token for this API, as `Authorization: Bearer <token>`, once; the token must be the whole JWT as the token endpoint returned it.",
            TokenSignatureInvalid => "Only RS256 tokens signed by the identity provider are accepted. Request a new token from Microsoft Entra; a token made or altered elsewhere is refused.",
            TokenExpired => "Request a new access token (MSAL's acquireTokenSilent does), and check the caller's clock.",
            TokenWrongIssuer => "The token comes from another identity provider or cloud, or its version and issuer do not match. Request it from this app's authority.",
            TokenWrongTenant => "This API admits callers of certain tenants only (SSO_ALLOWED_TENANTS). Request the token in an allowed tenant.",
            TokenWrongAudience => "Request a token for this API (scope api://<client id>/.default, or one of the API's own scopes), not for Microsoft Graph or another app.",
            TokenClientNotAllowed => "This API admits app-only callers from listed applications only (SSO_API_CLIENTS). Ask the operator to add the calling app's client id.",
        }
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
    /// The methods the endpoint takes, for the `Allow` header of a `method_not_allowed`.
    pub allow: Option<String>,
}

impl Failure {
    /// A failure with an operator detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), shown: None, retry: None, allow: None }
    }

    /// `method_not_allowed` for an endpoint that takes `methods`.
    pub fn method_not_allowed(methods: &[&str]) -> Self {
        let allow = methods.join(", ");
        Self { allow: Some(allow.clone()), ..Self::new(ErrorCode::MethodNotAllowed, format!("allowed: {allow}")) }
    }

    /// Adds a validated `return_to` for the "try again" link, unless one is there already.
    pub fn retry(mut self, return_to: Option<String>) -> Self {
        if self.retry.is_none() {
            self.retry = return_to;
        }
        self
    }
}
