//! `GET|POST /api/callback`: verify the state and its browser binding, handle an IdP error,
//! redeem the code with the flow's PKCE verifier, validate the ID token, apply policy, and
//! exchange the flow cookie for a session cookie.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use crate::app::{App, MAX_BODY_BYTES};
use crate::idp::authority::issuer_matches;
use crate::idp::hints;
use crate::idp::id_token::{self, IdClaims, IdTokenError};
use crate::support::text::cap;
use crate::telemetry::sign_in::{SignInEvent, RENEWAL_INTERACTIVE, SUCCESS};
use crate::tokens::flow;
use crate::tokens::secret::SecretString;
use crate::tokens::state::{self, StateClaims};
use crate::web::cookies;
use crate::web::errors::{ErrorCode, Failure};
use crate::web::pages;
use crate::web::params::{ParamError, Params};

/// Longest authorization code accepted.
pub const MAX_CODE_LEN: usize = 4096;

/// Finishes a sign-in, and reports its outcome as one sign-in event (docs/design.md §11.2).
pub async fn callback(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    let started = Instant::now();
    let mut progress = Progress::default();
    let result = finish(app, req, &mut progress).await;
    app.telemetry.sign_in(&progress.event(app, started.elapsed(), &result));
    result
}

/// What a callback learnt on its way, for its sign-in event.
#[derive(Debug, Default)]
struct Progress {
    /// Time spent waiting for the provider (token call, Graph).
    idp: Duration,
    /// The user's tenant, once the ID token said it.
    tenant: String,
    /// A silent renewal's callback.
    renewal: bool,
    /// Ended by sending the browser to the interactive sign-in.
    interactive: bool,
}

impl Progress {
    fn event(self, app: &App, duration: Duration, result: &Result<Response<Bytes>, Failure>) -> SignInEvent {
        let (outcome, failed, status, aadsts) = match result {
            Ok(r) if self.interactive => (RENEWAL_INTERACTIVE, false, r.status().as_u16(), None),
            Ok(r) => (SUCCESS, false, r.status().as_u16(), None),
            Err(f) => (f.code.as_str(), true, f.code.status().as_u16(), hints::aadsts_code(&f.detail)),
        };
        SignInEvent {
            outcome,
            failed,
            tenant: self.tenant,
            duration,
            idp: self.idp,
            credential: app.settings.credential.kind().map_or("public", |k| k.as_str()),
            renewal: self.renewal,
            aadsts: aadsts.map(|c| format!("AADSTS{c}")).unwrap_or_default(),
            status,
        }
    }
}

/// The callback's work: its response, or the failure its page shows.
async fn finish(app: &App, req: &Request<Bytes>, progress: &mut Progress) -> Result<Response<Bytes>, Failure> {
    let raw: &[u8] =
        if req.method() == Method::POST { form_body(req)? } else { req.uri().query().unwrap_or("").as_bytes() };
    let params = Params::parse(raw).map_err(|_| Failure::new(ErrorCode::StateMalformed, "query or form too large"))?;
    let state_param = match params.single("state") {
        Ok(s) => s,
        Err(ParamError::Repeated) => return Err(Failure::new(ErrorCode::StateMalformed, "state repeated")),
        Err(ParamError::TooLarge) => return Err(Failure::new(ErrorCode::StateMalformed, "too many parameters")),
    };
    let verified =
        state_param.map(|s| state::verify(&app.state_keys, s, &app.redirect_uri, crate::support::time::now()));

    if let Ok(Some(error)) = params.single("error") {
        // The state alone proves nothing: anyone mints one with /api/login. Only the browser
        // that started this flow may see the IdP's own words.
        let verified = verified.and_then(Result::ok);
        let own_flow = verified.as_ref().is_some_and(|claims| flow_secret(req, claims).is_ok());
        if let Some(claims) = verified.as_ref().filter(|c| own_flow && c.pn && NEEDS_A_PAGE.contains(&error)) {
            let description = params.single("error_description").ok().flatten().unwrap_or_default();
            let aadsts = hints::aadsts_code(description).map(|c| format!("AADSTS{c}")).unwrap_or_default();
            tracing::info!(error, aadsts, "silent renewal needs a page; falling back to the interactive sign-in");
            progress.renewal = true;
            progress.interactive = true;
            return Ok(interactive(app, req, claims));
        }
        return Err(idp_error(&params, error, verified, own_flow));
    }
    let claims = verified.ok_or_else(|| Failure::new(ErrorCode::StateMissing, "no state parameter"))??;
    progress.renewal = claims.pn;
    if let Some(limit) = past_max_age(app, &claims) {
        if flow_secret(req, &claims).is_ok() {
            tracing::info!(limit, "silent renewal past the absolute limit; falling back to the interactive sign-in");
            progress.interactive = true;
            return Ok(interactive(app, req, &claims));
        }
    }
    // From here on the state is genuine: every failure offers "try again" to its return address.
    let (session, max_age) =
        sign_in(app, req, &params, &claims, progress).await.map_err(|f| f.retry(Some(claims.rt.clone())))?;
    let mut set_cookies = app.session_cookie.set(&session, max_age);
    set_cookies.push(cookies::expire(&flow::cookie_name(&claims.jti)));
    // A POST (form_post) must become a GET at the return address.
    let status = if req.method() == Method::POST { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    Ok(pages::redirect(status, claims.rt, set_cookies))
}

/// The IdP's answers to a silent flow (`prompt=none`) that mean "show the user a page": the
/// sign-in then starts again interactively instead of failing (OpenID Connect Core 3.1.2.6).
const NEEDS_A_PAGE: &[&str] =
    &["login_required", "interaction_required", "consent_required", "account_selection_required"];

/// `302` (`303` after a form post) to the interactive sign-in for the flow's return address,
/// with the flow cookie expired: where a silent renewal goes when it cannot finish silently.
fn interactive(app: &App, req: &Request<Bytes>, claims: &StateClaims) -> Response<Bytes> {
    let login = crate::web::url::public_path(req, app.settings.mount.login_path());
    let target = format!("{login}?return_to={}", pages::encode_query_value(&claims.rt));
    let status = if req.method() == Method::POST { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    pages::redirect(status, target, vec![cookies::expire(&flow::cookie_name(&claims.jti))])
}

/// The absolute limit of the session a silent flow renews, when it has passed: that renewal
/// must become an interactive sign-in.
fn past_max_age(app: &App, claims: &StateClaims) -> Option<u64> {
    let limit = app.settings.session_lifetimes().limit(carried(claims)?);
    (crate::support::time::now() >= limit).then_some(limit)
}

/// The `auth_time` a silent flow carried from the session it renews.
fn carried(claims: &StateClaims) -> Option<u64> {
    claims.at.filter(|_| claims.pn)
}

/// The checks and calls behind a genuine state, in order: everything local before anything
/// remote, so a request not bound to this browser's flow never causes a provider call. Returns
/// the session token and its cookie's `Max-Age`: the time left to the absolute limit, so the
/// browser still sends an expired session for its renewal.
async fn sign_in(
    app: &App,
    req: &Request<Bytes>,
    params: &Params<'_>,
    claims: &StateClaims,
    progress: &mut Progress,
) -> Result<(String, u64), Failure> {
    let verifier = flow_secret(req, claims)?;
    let code = code_param(params)?;
    // The provider calls share one budget: a Graph lookup gets what the token call left of it.
    let deadline = Instant::now() + app.settings.request_timeout;
    check_issuer_param(app, params).await?;
    let asked = Instant::now();
    let redeemed = app.provider.redeem(&claims.jti, claims.exp, code, &verifier).await;
    progress.idp += asked.elapsed();
    let mut id = validate_id_token(app, &redeemed?, verifier.expose()).await?;
    progress.tenant = id.tid.as_deref().map(|t| cap(t, 64)).unwrap_or_default();
    let asked = Instant::now();
    let resolved = resolve_overage(app, &mut id, deadline).await;
    progress.idp += asked.elapsed();
    resolved?;
    let (oid, tid) = (id.oid.as_deref().unwrap_or(""), id.tid.as_deref().unwrap_or(""));
    if let Err(refusal) = app.settings.policy.check(&id) {
        tracing::info!(oid, tid, reason = %refusal, "sign-in refused by policy");
        return Err(refusal.into());
    }
    let renewed = carried(claims).is_some();
    tracing::info!(oid, tid, renewed, "signed in");
    // A renewal keeps the interactive sign-in's time (never a later one); a sign-in starts anew.
    let now = crate::support::time::now();
    let auth_time = carried(claims).map_or(now, |at| at.min(now));
    let lifetimes = app.settings.session_lifetimes();
    let mut session = id.into_session(now, lifetimes.ttl);
    session.auth_time = Some(auth_time);
    session.exp = lifetimes.expiry(now, auth_time);
    let token = app.sessions.mint(&mut session, &app.settings.policy)?;
    Ok((token, lifetimes.limit(auth_time).saturating_sub(now)))
}

/// A token with groups overage, when groups matter: asks Microsoft Graph which of the
/// deployment's groups the user is in ([`crate::idp::policy::Policy::relevant_groups`]), by
/// `deadline`, and records them in the claims, overage resolved. Otherwise nothing: no Graph
/// call for a user whose token lists the groups, nor for a deployment without group rules.
async fn resolve_overage(app: &App, id: &mut IdClaims, deadline: Instant) -> Result<(), Failure> {
    let relevant = app.settings.policy.relevant_groups();
    if !id.groups_overage() || relevant.is_empty() {
        return Ok(());
    }
    let oid = id.oid.as_deref().unwrap_or("");
    let budget = deadline.saturating_duration_since(Instant::now());
    let started = Instant::now();
    match app.provider.member_groups(oid, relevant, budget).await {
        Ok(Some(found)) => {
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(
                oid,
                asked = relevant.len(),
                member_of = found.len(),
                ms,
                "groups overage resolved by Microsoft Graph"
            );
            id.resolve_groups(found, app.settings.policy.kept_groups.only_these());
            Ok(())
        }
        // Another provider has no Graph: the overage stands, and the policy says so.
        Ok(None) => Ok(()),
        // Logged with its fix as the request's failure.
        Err(e) => Err(e.into()),
    }
}

/// The `code` parameter: once, of a shape an authorization code can have.
fn code_param<'a>(params: &'a Params<'_>) -> Result<&'a str, Failure> {
    let malformed = |why: &str| Failure::new(ErrorCode::CodeMalformed, why);
    match params.single("code") {
        Ok(Some(c)) if is_code(c) => Ok(c),
        Ok(Some(_)) => Err(malformed("code has invalid characters or length")),
        Ok(None) => Err(malformed("no code parameter")),
        Err(_) => Err(malformed("code repeated")),
    }
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

/// The IdP's `error=` answer. Its description is shown only when the state verifies and the
/// browser holds that flow's cookie (`own_flow`), so a crafted link cannot put text on our page.
fn idp_error(params: &Params<'_>, error: &str, verified: Option<StateClaims>, own_flow: bool) -> Failure {
    let error = if error.len() <= 64 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        error
    } else {
        "(invalid error code)"
    };
    let description = params.single("error_description").ok().flatten().map(|d| cap(d, 600)).unwrap_or_default();
    let aadsts = hints::aadsts_code(&description).map(|c| format!("AADSTS{c}")).unwrap_or_default();
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
    if !crate::support::ct_eq(hash.as_str().as_bytes(), claims.vh.as_bytes()) {
        return Err(Failure::new(ErrorCode::FlowMismatch, "flow cookie does not hash to the state's vh"));
    }
    Ok(SecretString::new(value))
}

/// Authorization codes: base64url-like characters plus `.`, `~`, `+`, `/`, `=`, bounded length.
fn is_code(c: &str) -> bool {
    !c.is_empty() && c.len() <= MAX_CODE_LEN && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b))
}

async fn validate_id_token(app: &App, token: &str, verifier: &str) -> Result<IdClaims, Failure> {
    let kid = id_token::rs256_kid(token)?;
    let metadata = app.provider.metadata().await?;
    let key = app.provider.key(&kid).await?.ok_or_else(|| IdTokenError::UnknownKid(cap(&kid, 64)))?;
    Ok(app.id_tokens.verify(
        token,
        &key,
        &metadata.issuer,
        flow::nonce(verifier).as_str(),
        crate::support::time::now(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_trace_and_correlation_ids_are_found() {
        let d = "AADSTS65004: User declined. Trace ID: 0b8f2bd1-2c5e-4f31-9a51-0f0e3a9b1b00 Correlation ID: 7d2c6b9e-8a7f Timestamp: x";
        assert_eq!(labelled_id(d, "Trace ID: ").as_deref(), Some("0b8f2bd1-2c5e-4f31-9a51-0f0e3a9b1b00"));
        assert_eq!(labelled_id(d, "Correlation ID: ").as_deref(), Some("7d2c6b9e-8a7f"));
        assert_eq!(labelled_id("none", "Trace ID: "), None);
    }

    #[test]
    fn code_syntax() {
        assert!(is_code("0.AXYA-abc_def.ghi~"));
        assert!(!is_code("a,b"));
        assert!(!is_code(""));
        assert!(!is_code(&"a".repeat(MAX_CODE_LEN + 1)));
    }
}
