//! Microsoft Graph, asked which of the deployment's groups a user is in when the user's token
//! says the groups did not fit (groups overage): `POST /v1.0/users/{oid}/checkMemberGroups`, at
//! most [`MAX_IDS_PER_CALL`] ids a call and several calls at once, with an app-only token for
//! the Graph of the authority's cloud ([`crate::idp::authority::Authority::graph`]) obtained
//! by the configured client credential.
//!
//! The token is cached in memory until shortly before it expires (a cache: it is never stored,
//! and a restart simply fetches another). The whole lookup — token and calls — takes one permit
//! of the provider's token-call limiter and runs within the budget its caller gives it.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::token::TokenError;
use super::Provider;
use crate::idp::authority::{is_guid, GraphResource};
use crate::idp::outbound::OutboundError;
use crate::support::text::cap;
use crate::tokens::secret::SecretString;

/// Most group ids Graph takes in one `checkMemberGroups` call.
pub const MAX_IDS_PER_CALL: usize = 20;

/// Most group ids one lookup asks about; past that the setting is a mistake, not a policy.
pub const MAX_IDS: usize = 2000;

/// A cached app-only token is renewed this long before it expires (or at nine tenths of its
/// lifetime, when that is sooner).
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// What an operator must grant when Graph refuses: the fix in every `403` log line.
pub const PERMISSION_FIX: &str = "grant the app registration the Microsoft Graph application permissions \
GroupMember.Read.All and User.Read.All, with admin consent (docs/azure.md)";

/// Why a Graph lookup gave no answer. Every variant is logged with its fix; none is ever read
/// as "not a member".
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The user's `oid` is missing or not a GUID: nothing to ask Graph about.
    #[error("the token has no usable oid to look the user's groups up with")]
    NoUser,
    /// More group ids than [`MAX_IDS`].
    #[error("{0} group ids to check, more than {MAX_IDS}")]
    TooManyIds(usize),
    /// The lookup did not finish within its budget (the callback's token-call budget).
    #[error("Microsoft Graph did not answer within {0:?} (the rest of SSO_REQUEST_TIMEOUT's budget)")]
    TimedOut(Duration),
    /// No app-only token for Graph: the token endpoint refused or failed.
    #[error("no app-only token for Microsoft Graph: {0}")]
    Token(#[source] TokenError),
    /// Graph could not be reached.
    #[error("Microsoft Graph unreachable: {0}; this host must reach Graph over https")]
    Unreachable(#[source] OutboundError),
    /// `401` or `403`: the app lacks the permission (or the token was not accepted).
    #[error("Microsoft Graph refused (HTTP {status} {code}: {message}); {PERMISSION_FIX}")]
    Forbidden {
        /// HTTP status.
        status: u16,
        /// Graph's `error.code`, capped.
        code: String,
        /// Graph's `error.message`, capped.
        message: String,
    },
    /// `429`: Graph throttles this app.
    #[error("Microsoft Graph throttled the lookup (HTTP 429, Retry-After {}); sign-ins of users with many groups resume when it passes", .retry_after.map_or("absent".to_owned(), |s| format!("{s} s")))]
    Throttled {
        /// `Retry-After`, in seconds, when Graph sent a usable one.
        retry_after: Option<u64>,
    },
    /// Any other error status (`5xx`, say).
    #[error(
        "Microsoft Graph failed (HTTP {status} {code}); try again, and check Microsoft 365 service health if it lasts"
    )]
    Failed {
        /// HTTP status.
        status: u16,
        /// Graph's `error.code`, capped.
        code: String,
    },
    /// A `2xx` answer that is not the list `checkMemberGroups` returns.
    #[error("Microsoft Graph answered with an unusable body: {0}")]
    Invalid(&'static str),
}

/// Which public answer a [`GraphError`] gets: the one mapping for sign-ins and bearer callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFault {
    /// Graph refused: a permission to grant (`groups_forbidden`).
    Forbidden,
    /// Graph throttled (`groups_throttled`).
    Throttled,
    /// Anything else (`groups_unavailable`).
    Unavailable,
}

impl GraphError {
    /// The public answer this error gets.
    pub fn fault(&self) -> GraphFault {
        match self {
            GraphError::Forbidden { .. } => GraphFault::Forbidden,
            GraphError::Throttled { .. } => GraphFault::Throttled,
            GraphError::NoUser
            | GraphError::TooManyIds(_)
            | GraphError::TimedOut(_)
            | GraphError::Token(_)
            | GraphError::Unreachable(_)
            | GraphError::Failed { .. }
            | GraphError::Invalid(_) => GraphFault::Unavailable,
        }
    }
}

/// An app-only token for Graph and when to stop using it.
pub(super) struct CachedToken {
    token: SecretString,
    renew_at: Instant,
}

/// Graph's error body: `{"error":{"code":…,"message":…}}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The error of a non-`2xx` Graph answer, from its status, `Retry-After` and error body.
fn refusal(answer: &crate::idp::outbound::Answer) -> GraphError {
    let ErrorDetail { code, message } =
        serde_json::from_slice::<ErrorBody>(&answer.body).map(|b| b.error).unwrap_or_default();
    let (code, message) = (cap(&code, 64), cap(&message, 300));
    match answer.status {
        401 | 403 => GraphError::Forbidden { status: answer.status, code, message },
        429 => GraphError::Throttled {
            retry_after: answer
                .retry_after
                .as_deref()
                .and_then(|v| crate::support::time::retry_after_secs(v, crate::support::time::now())),
        },
        status => GraphError::Failed { status, code },
    }
}

/// `checkMemberGroups`' answer: the ids of those asked about that the user is a member of.
#[derive(Deserialize)]
struct MemberGroups {
    value: Vec<String>,
}

impl Provider {
    /// Which of `groups` the user `oid` is a member of, transitively, according to Microsoft
    /// Graph; `Ok(None)` when the authority has no Graph (another OpenID Provider). Finishes
    /// within `budget`, and takes one permit of the token-call limiter for the whole lookup.
    /// The ids come back as `groups` spells them.
    pub async fn member_groups(
        &self,
        oid: &str,
        groups: &[String],
        budget: Duration,
    ) -> Result<Option<Vec<String>>, GraphError> {
        let Some(graph) = self.config.authority.graph() else { return Ok(None) };
        if !is_guid(oid) {
            return Err(GraphError::NoUser);
        }
        if groups.len() > MAX_IDS {
            return Err(GraphError::TooManyIds(groups.len()));
        }
        // Graph knows groups by object id only: anything else can never be a membership.
        let groups: Vec<String> = groups.iter().filter(|g| is_guid(g)).cloned().collect();
        if groups.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let lookup = async {
            let _permit = self.redemptions.acquire().await.map_err(|_| GraphError::TimedOut(budget))?;
            self.ask_graph(&graph, oid, &groups).await
        };
        tokio::time::timeout(budget, lookup).await.map_err(|_| GraphError::TimedOut(budget))?.map(Some)
    }

    async fn ask_graph(&self, graph: &GraphResource, oid: &str, groups: &[String]) -> Result<Vec<String>, GraphError> {
        let token = self.graph_token(&graph.scope).await?;
        let url = format!("{}/v1.0/users/{oid}/checkMemberGroups", graph.base);
        let calls = groups.chunks(MAX_IDS_PER_CALL).map(|chunk| self.check_member_groups(&url, &token, chunk));
        let answers = futures_util::future::try_join_all(calls).await;
        if let Err(GraphError::Forbidden { status: 401, .. }) = answers {
            // A token Graph no longer takes (revoked, rotated keys): the next sign-in asks anew.
            *self.graph_token.lock().await = None;
        }
        Ok(answers?.into_iter().flatten().collect())
    }

    /// One `checkMemberGroups` call for `chunk`; returns the members of `chunk` Graph named.
    async fn check_member_groups(
        &self,
        url: &str,
        token: &SecretString,
        chunk: &[String],
    ) -> Result<Vec<String>, GraphError> {
        let body = serde_json::json!({ "groupIds": chunk }).to_string();
        let authorization = format!("Bearer {}", token.expose());
        let headers = [("authorization", authorization.as_str()), ("accept", "application/json")];
        let answer = self.http.post(url, "application/json", body, &headers).await.map_err(GraphError::Unreachable)?;
        if !answer.is_success() {
            return Err(refusal(&answer));
        }
        let named: MemberGroups =
            serde_json::from_slice(&answer.body).map_err(|_| GraphError::Invalid("not {\"value\":[ids]}"))?;
        if named.value.len() > chunk.len() || !named.value.iter().all(|id| is_guid(id)) {
            return Err(GraphError::Invalid("more ids than asked about, or ids that are no GUIDs"));
        }
        // Only ids that were asked about count, in the spelling of the setting.
        Ok(chunk.iter().filter(|g| named.value.iter().any(|id| id.eq_ignore_ascii_case(g))).cloned().collect())
    }

    /// `entra-sso doctor`'s proof of the permission: an app-only token for Graph and one read
    /// of `group` (`GET /v1.0/groups/{id}?$select=id`), which `GroupMember.Read.All` allows.
    /// `Ok(None)` when the authority has no Graph.
    pub async fn check_graph(&self, group: &str) -> Result<Option<()>, GraphError> {
        let Some(graph) = self.config.authority.graph() else { return Ok(None) };
        if !is_guid(group) {
            return Err(GraphError::Invalid("the group id is no GUID"));
        }
        let token = self.graph_token(&graph.scope).await?;
        let url = format!("{}/v1.0/groups/{group}?$select=id", graph.base);
        let authorization = format!("Bearer {}", token.expose());
        let answer = self
            .http
            .get_json(&url, &[("authorization", authorization.as_str())])
            .await
            .map_err(GraphError::Unreachable)?;
        if !answer.is_success() {
            return Err(refusal(&answer));
        }
        Ok(Some(()))
    }

    /// The app-only token for Graph: the cached one, or a fresh one (callers queue behind one
    /// fetch).
    async fn graph_token(&self, scope: &str) -> Result<SecretString, GraphError> {
        let mut cached = self.graph_token.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let fresh = self.client_credentials(scope).await.map_err(GraphError::Token)?;
        let early = RENEW_BEFORE.min(fresh.lifetime / 10);
        *cached = Some(CachedToken {
            token: fresh.token.clone(),
            renew_at: Instant::now() + fresh.lifetime.saturating_sub(early),
        });
        Ok(fresh.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::outbound::Answer;

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Answer {
        Answer { status, date: None, retry_after: retry_after.map(str::to_owned), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn refusals_name_their_fix() {
        let denied = r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges"}}"#;
        let e = refusal(&answer(403, None, denied));
        assert!(matches!(e, GraphError::Forbidden { status: 403, .. }), "{e}");
        let line = e.to_string();
        assert!(line.contains("Authorization_RequestDenied") && line.contains("GroupMember.Read.All"), "{line}");
        assert!(line.contains("User.Read.All") && line.contains("admin consent"), "{line}");
        let e = refusal(&answer(429, Some("37"), "{}"));
        assert!(matches!(e, GraphError::Throttled { retry_after: Some(37) }), "{e}");
        assert!(e.to_string().contains("Retry-After 37 s"), "{e}");
        assert!(refusal(&answer(429, Some("soon"), "")).to_string().contains("Retry-After absent"));
        let e = refusal(&answer(503, None, "<html>gateway</html>"));
        assert!(matches!(e, GraphError::Failed { status: 503, .. }), "{e}");
    }

    #[test]
    fn hostile_error_bodies_are_capped() {
        let long = format!(r#"{{"error":{{"code":"{}","message":"{}"}}}}"#, "c".repeat(5000), "m".repeat(5000));
        let line = refusal(&answer(403, None, &long)).to_string();
        assert!(line.len() < 1000, "{}", line.len());
    }
}
