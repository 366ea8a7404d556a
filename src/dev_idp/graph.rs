//! The dev identity provider's Microsoft Graph, as much of it as entra-sso uses:
//! `POST /<tenant>/graph/v1.0/users/{oid}/checkMemberGroups`, at the path the authority rule
//! derives for a loopback authority ([`crate::idp::authority::Authority::graph`]). It requires
//! an app-only token of this provider for Graph holding `GroupMember.Read.All`, takes at most 20
//! ids, and answers with those the user is in, in Graph's JSON shapes, errors included.

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::{users, DevIdp};
use crate::idp::authority::is_guid;
use crate::web::pages;

/// Graph's resource (`aud` of its tokens; the scope is `<resource>/.default`).
pub(super) const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// The application permissions the dev app holds for Graph, as an administrator grants them.
pub(super) const GRAPH_ROLES: &[&str] = &["GroupMember.Read.All", "User.Read.All"];

/// Most ids Graph takes in one `checkMemberGroups` call.
const MAX_IDS: usize = 20;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckMemberGroups {
    group_ids: Vec<String>,
}

impl DevIdp {
    /// Checks the caller's app-only token: signed by this provider for Graph, holding
    /// `GroupMember.Read.All`. Returns Graph's `401` or `403` when it is not; `None` when it is.
    fn graph_refusal(&self, req: &Request<Bytes>) -> Option<Response<Bytes>> {
        let token = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(claims) = token.and_then(|t| self.keys.verify(t, GRAPH_RESOURCE)) else {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty, invalid or not for Microsoft Graph.",
            ));
        };
        let granted = claims["roles"].as_array().is_some_and(|r| r.iter().any(|r| r == "GroupMember.Read.All"));
        if !granted {
            return Some(error(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ));
        }
        None
    }

    /// `GET /graph/v1.0/groups/{id}` (doctor's proof of the permission): the group's `id` when
    /// some dev user is in it.
    pub(super) fn graph_group(&self, rest: &str, req: &Request<Bytes>) -> Response<Bytes> {
        if let Some(refused) = self.graph_refusal(req) {
            return refused;
        }
        let id = rest.strip_prefix("/graph/v1.0/groups/").unwrap_or("");
        if users::USERS.iter().any(|u| u.all_groups().iter().any(|g| g.eq_ignore_ascii_case(id))) {
            return pages::json(StatusCode::OK, &serde_json::json!({"id": id}));
        }
        error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "Resource does not exist.")
    }

    /// `POST /graph/v1.0/users/{oid}/checkMemberGroups`, `rest` being the path after the tenant.
    pub(super) fn graph(&self, rest: &str, req: &Request<Bytes>) -> Response<Bytes> {
        let Some(oid) = rest.strip_prefix("/graph/v1.0/users/").and_then(|r| r.strip_suffix("/checkMemberGroups"))
        else {
            return error(StatusCode::BAD_REQUEST, "Request_BadRequest", "Unsupported request for this emulation.");
        };
        if let Some(refused) = self.graph_refusal(req) {
            return refused;
        }
        let Some(user) = users::USERS.iter().find(|u| u.oid.eq_ignore_ascii_case(oid)) else {
            return error(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                "Resource does not exist or one of its queried reference-property objects are not present.",
            );
        };
        let asked = match serde_json::from_slice::<CheckMemberGroups>(req.body()) {
            Ok(b)
                if !b.group_ids.is_empty()
                    && b.group_ids.len() <= MAX_IDS
                    && b.group_ids.iter().all(|g| is_guid(g)) =>
            {
                b.group_ids
            }
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "groupIds must list 1 to 20 group object ids.",
                )
            }
        };
        // Membership here is flat; Graph's is transitive, which the caller cannot tell apart.
        let member_of = user.all_groups();
        let value: Vec<&String> =
            asked.iter().filter(|g| member_of.iter().any(|m| m.eq_ignore_ascii_case(g))).collect();
        pages::json(
            StatusCode::OK,
            &serde_json::json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)",
                "value": value,
            }),
        )
    }
}

/// An error in Graph's shape: `{"error":{"code","message","innerError"}}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response<Bytes> {
    pages::json(
        status,
        &serde_json::json!({"error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": crate::support::text::guid(), "date": crate::support::time::format_timestamp(crate::support::time::now())},
        }}),
    )
}
