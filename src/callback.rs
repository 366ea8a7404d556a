//! `GET|POST /api/callback`: verify the state and its browser binding, handle an IdP error,
//! redeem the code with the flow's PKCE verifier, validate the ID token, apply policy, and
//! exchange the flow cookie for a session cookie.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use subtle::ConstantTimeEq;

use crate::app::{now, App, MAX_BODY_BYTES};
use crate::cookies::{self, SESSION_COOKIE};
use crate::errors::{ErrorCode, Failure};
use crate::flow;
use crate::id_token::{self, IdTokenError};
use crate::pages;
use crate::params::{ParamError, Params};
use crate::provider::{cap, TokenError};
use crate::secret::SecretString;
use crate::session::{self, SessionClaims};
use crate::state::{self, StateClaims, StateError};

/// Longest authorization code accepted.
pub const MAX_CODE_LEN: usize = 4096;

/// Finishes a sign-in.
pub async fn callback(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    let raw: &[u8] =
        if req.method() == Method::POST { form_body(req)? } else { req.uri().query().unwrap_or("").as_bytes() };
    let params = Params::parse(raw).map_err(|_| Failure::new(ErrorCode::StateMalformed, "query or form too large"))?;
    let state_param = match params.single("state") {
        Ok(s) => s,
        Err(ParamError::Repeated) => return Err(Failure::new(ErrorCode::StateMalformed, "state repeated")),
        Err(ParamError::TooLarge) => return Err(Failure::new(ErrorCode::StateMalformed, "too many parameters")),
    };
    let verified = state_param.map(|s| verify_state(app, s));

    if let Ok(Some(error)) = params.single("error") {
        // The state alone proves nothing: anyone mints one with /api/login. Only the browser
        // that started this flow may see the IdP's own words.
        let verified = verified.and_then(Result::ok);
        let own_flow = verified.as_ref().is_some_and(|claims| flow_secret(req, claims).is_ok());
        return Err(idp_error(&params, error, verified, own_flow));
    }
    let claims = match verified {
        None => return Err(Failure::new(ErrorCode::StateMissing, "no state parameter")),
        Some(result) => result?,
    };
    let retry = Some(claims.rt.clone());
    let fail = |code: ErrorCode, detail: String| Failure::new(code, detail).retry(retry.clone());

    // Checks that need nothing from the provider come first: a request not bound to this
    // browser's flow never causes a discovery fetch.
    let verifier = flow_secret(req, &claims).map_err(|f| f.retry(retry.clone()))?;
    let code = match params.single("code") {
        Ok(Some(c)) if is_code(c) => c,
        Ok(Some(_)) => return Err(fail(ErrorCode::CodeMalformed, "code has invalid characters or length".into())),
        Ok(None) => return Err(fail(ErrorCode::CodeMalformed, "no code parameter".into())),
        Err(_) => return Err(fail(ErrorCode::CodeMalformed, "code repeated".into())),
    };
    check_issuer_param(app, &params).await.map_err(|f| f.retry(retry.clone()))?;

    if !app.redemption_attempts.try_attempt(&claims.jti, claims.exp, now()) {
        return Err(fail(ErrorCode::TooManyAttempts, "this flow used its token calls on this instance".into()));
    }
    let id_token = app.provider.redeem(code, &verifier).await.map_err(|e| token_failure(e).retry(retry.clone()))?;
    let id = validate_id_token(app, &id_token, verifier.expose()).await.map_err(|f| f.retry(retry.clone()))?;
    app.settings.policy.check(&id).map_err(|why| {
        let who = format!("oid={} tid={}", id.oid.as_deref().unwrap_or("?"), id.tid.as_deref().unwrap_or("?"));
        Failure::new(ErrorCode::AccessDeniedByPolicy, format!("{who}: {why}"))
    })?;
    tracing::info!(oid = id.oid.as_deref().unwrap_or(""), tid = id.tid.as_deref().unwrap_or(""), "signed in");

    let issued = now();
    let mut session =
        SessionClaims::from_id_token(id, &app.settings.client_id, issued, app.settings.session_ttl.as_secs());
    let token = session::mint(&app.session_keys, &mut session, &app.settings.policy)
        .map_err(|e| Failure::new(ErrorCode::IdTokenInvalid, format!("session: {e}")).retry(retry.clone()))?;
    let set_cookies = vec![
        cookies::set(SESSION_COOKIE, &token, app.settings.session_ttl.as_secs(), cookies::SameSite::Lax),
        cookies::expire(&flow::cookie_name(&claims.jti)),
    ];
    // A POST (form_post) must become a GET at the return address.
    let status = if req.method() == Method::POST { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    Ok(pages::redirect(status, claims.rt, set_cookies))
}

fn form_body(req: &Request<Bytes>) -> Result<&[u8], Failure> {
    let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(Failure::new(ErrorCode::StateMissing, "POST callback without a form body"));
    }
    if req.body().len() > MAX_BODY_BYTES {
        return Err(Failure::new(ErrorCode::PayloadTooLarge, "callback body too large"));
    }
    Ok(req.body())
}

fn verify_state(app: &App, raw: &str) -> Result<StateClaims, Failure> {
    state::verify(&app.state_keys, raw, &app.redirect_uri, now()).map_err(|e| {
        let (code, retry) = match &e {
            StateError::Missing => (ErrorCode::StateMissing, None),
            StateError::Malformed(_) => (ErrorCode::StateMalformed, None),
            StateError::KeyUnknown => (ErrorCode::StateKeyUnknown, None),
            StateError::Invalid(_) => (ErrorCode::StateInvalid, None),
            StateError::Expired { return_to } => (ErrorCode::StateExpired, Some(return_to.clone())),
        };
        Failure::new(code, e.to_string()).retry(retry)
    })
}

/// The IdP's `error=` answer. Its description is shown only when the state verifies and the
/// browser holds that flow's cookie (`own_flow`), so a crafted link cannot put text on our page.
fn idp_error(params: &Params<'_>, error: &str, verified: Option<StateClaims>, own_flow: bool) -> Failure {
    let error = if error.len() <= 64 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        error
    } else {
        "(invalid error code)"
    };
    let description = params.single("error_description").ok().flatten().map(|d| cap(d, 600)).unwrap_or_default();
    let aadsts = aadsts_code(&description).unwrap_or_default();
    let ids = |label: &str| labelled_id(&description, label).unwrap_or_default();
    let mut failure = Failure::new(
        ErrorCode::IdpError,
        format!(
            "IdP error={error} {aadsts} trace_id={} correlation_id={} state_valid={} flow_cookie={own_flow}",
            ids("Trace ID: "),
            ids("Correlation ID: "),
            verified.is_some(),
        ),
    );
    failure.shown =
        Some(if own_flow && !description.is_empty() { format!("{error}: {description}") } else { error.to_owned() });
    failure.retry = verified.map(|claims| claims.rt);
    failure
}

/// The `AADSTS<digits>` code in an Entra error description.
pub fn aadsts_code(description: &str) -> Option<String> {
    let start = description.find("AADSTS")?;
    let digits: String = description[start + 6..].chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

/// The id after `label` in an Entra description (`Trace ID: <guid>`), if it looks like one.
fn labelled_id(description: &str, label: &str) -> Option<String> {
    let start = description.find(label)? + label.len();
    let id: String = description[start..].chars().take_while(|c| c.is_ascii_hexdigit() || *c == '-').take(36).collect();
    (!id.is_empty()).then_some(id)
}

/// RFC 9207: when the response names its issuer it must be ours, and it must name it when the
/// provider advertises that it always does (mix-up defence).
async fn check_issuer_param(app: &App, params: &Params<'_>) -> Result<(), Failure> {
    let iss = params.single("iss").map_err(|_| Failure::new(ErrorCode::IdTokenInvalid, "iss parameter repeated"))?;
    // Cached after the first callback; the ID-token check needs it right after anyway.
    let metadata = app.provider.metadata().await?;
    match iss {
        None if metadata.authorization_response_iss_parameter_supported => Err(Failure::new(
            ErrorCode::IdTokenInvalid,
            "authorization response has no iss although the provider advertises it (RFC 9207)",
        )),
        None => Ok(()),
        Some(iss) if issuer_matches(&metadata.issuer, iss) => Ok(()),
        Some(iss) => Err(Failure::new(
            ErrorCode::IdTokenInvalid,
            format!("authorization response iss {} is not the provider's issuer", cap(iss, 200)),
        )),
    }
}

/// Whether `actual` is `expected`, or `expected`'s `{tenantid}` template filled with a GUID.
pub(crate) fn issuer_matches(expected: &str, actual: &str) -> bool {
    let Some((head, tail)) = expected.split_once("{tenantid}") else {
        return expected == actual;
    };
    actual
        .strip_prefix(head)
        .and_then(|rest| rest.strip_suffix(tail))
        .is_some_and(|tid| tid.len() == 36 && tid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
}

/// The flow cookie's secret, after checking that it belongs to this state.
fn flow_secret(req: &Request<Bytes>, claims: &StateClaims) -> Result<SecretString, Failure> {
    let name = flow::cookie_name(&claims.jti);
    let value = cookies::get(req.headers(), &name).ok_or_else(|| {
        Failure::new(ErrorCode::FlowCookieMissing, "no (or a duplicated) flow cookie for this state's flow id")
    })?;
    if !flow::is_flow_secret(value) {
        return Err(Failure::new(ErrorCode::FlowMismatch, "flow cookie value has the wrong shape"));
    }
    let hash = flow::challenge(value);
    if !bool::from(hash.as_str().as_bytes().ct_eq(claims.vh.as_bytes())) {
        return Err(Failure::new(ErrorCode::FlowMismatch, "flow cookie does not hash to the state's vh"));
    }
    Ok(SecretString::new(value))
}

/// Authorization codes: base64url-like characters plus `.`, `~`, `+`, `/`, `=`, bounded length.
fn is_code(c: &str) -> bool {
    !c.is_empty() && c.len() <= MAX_CODE_LEN && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b))
}

fn token_failure(e: TokenError) -> Failure {
    let detail = match &e {
        TokenError::Refused { description, .. } => format!("{e} {}", aadsts_code(description).unwrap_or_default()),
        _ => e.to_string(),
    };
    Failure::new(ErrorCode::TokenExchangeFailed, detail)
}

async fn validate_id_token(app: &App, token: &str, verifier: &str) -> Result<crate::id_token::IdClaims, Failure> {
    let invalid = |e: IdTokenError| {
        let code = if matches!(e, IdTokenError::Tenant(_)) {
            ErrorCode::AccessDeniedByPolicy
        } else {
            ErrorCode::IdTokenInvalid
        };
        Failure::new(code, format!("ID token: {e}"))
    };
    let kid = id_token::rs256_kid(token).map_err(invalid)?;
    let metadata = app.provider.metadata().await?;
    let key = app.provider.key(&kid).await?.ok_or_else(|| invalid(IdTokenError::UnknownKid(cap(&kid, 64))))?;
    app.id_tokens.verify(token, &key, &metadata.issuer, flow::nonce(verifier).as_str(), now()).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_found() {
        assert_eq!(
            aadsts_code("AADSTS54005: OAuth2 Authorization code was already redeemed").as_deref(),
            Some("AADSTS54005")
        );
        assert_eq!(aadsts_code("nothing here"), None);
    }

    #[test]
    fn entra_trace_and_correlation_ids_are_found() {
        let d = "AADSTS65004: User declined. Trace ID: 0b8f2bd1-2c5e-4f31-9a51-0f0e3a9b1b00 Correlation ID: 7d2c6b9e-8a7f Timestamp: x";
        assert_eq!(labelled_id(d, "Trace ID: ").as_deref(), Some("0b8f2bd1-2c5e-4f31-9a51-0f0e3a9b1b00"));
        assert_eq!(labelled_id(d, "Correlation ID: ").as_deref(), Some("7d2c6b9e-8a7f"));
        assert_eq!(labelled_id("none", "Trace ID: "), None);
    }

    #[test]
    fn issuer_templates() {
        let t = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert!(issuer_matches(t, "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0"));
        assert!(!issuer_matches(t, "https://evil.example/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0"));
        assert!(!issuer_matches(t, "https://login.microsoftonline.com/x/y/v2.0"));
        assert!(issuer_matches("https://a/v2.0", "https://a/v2.0"));
    }

    #[test]
    fn code_syntax() {
        assert!(is_code("0.AXYA-abc_def.ghi~"));
        assert!(!is_code("a,b"));
        assert!(!is_code(""));
        assert!(!is_code(&"a".repeat(MAX_CODE_LEN + 1)));
    }
}
