//! `/<tenant>/oauth2/v2.0/token`: redeems single-use, expiring codes after checking the client's
//! credentials, the exact redirect URI and PKCE S256, and issues app-only tokens by client
//! credentials; access tokens for this app's API are signed like Entra's v2 ones, others are
//! random strings; errors in Entra's JSON shape.

use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::{random_token, DevIdp};
use crate::support::text::guid;
use crate::support::time::{format_timestamp, now};
use crate::web::pages;

impl DevIdp {
    pub(super) async fn token(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(req.body()).into_owned().collect();
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

        if get("client_id") != Some(self.client.client_id.as_str()) {
            return error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                "Application with the given identifier was not found in the directory.",
            );
        }
        let asserted = super::assertion::check(
            &self.trust,
            &self.client.client_id,
            &self.token_endpoint(),
            get("client_assertion_type"),
            get("client_assertion"),
            now(),
        )
        .await;
        match asserted {
            Err((status, oauth_error, code, text)) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
                return error(status, oauth_error, code, &text);
            }
            Ok(true) => {}
            Ok(false) => {
                if let Some(secret) = &self.client.client_secret {
                    let given = get("client_secret").unwrap_or_default();
                    if !crate::support::ct_eq(given.as_bytes(), secret.expose().as_bytes()) {
                        return error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.");
                    }
                } else if self.trust.any() {
                    return error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        7000218,
                        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                    );
                }
            }
        }
        if get("grant_type") == Some("client_credentials") {
            return self.client_credentials(get("scope").unwrap_or_default());
        }
        if get("grant_type") != Some("authorization_code") {
            return error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            );
        }
        let code = get("code").unwrap_or_default();
        let grant = self.grants.lock().expect("grants lock").remove(code);
        let Some(grant) = grant else {
            return if self.redeemed.lock().expect("redeemed lock").contains(code) {
                error(StatusCode::BAD_REQUEST, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    70000,
                    "The provided value for the 'code' parameter is not valid.",
                )
            };
        };
        self.redeemed.lock().expect("redeemed lock").insert(code.to_owned());
        if grant.expires < Instant::now() {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity.",
            );
        }
        if get("redirect_uri") != Some(grant.redirect_uri.as_str()) || grant.client_id != self.client.client_id {
            return error(StatusCode::BAD_REQUEST, "invalid_grant", 50011, "The redirect URI specified in the request does not match the redirect URI used to obtain the authorization code.");
        }
        let verifier = get("code_verifier").unwrap_or_default();
        if crate::tokens::flow::challenge(verifier).as_str() != grant.code_challenge {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            );
        }
        let id_token = self.keys.sign(&self.id_token_claims(&grant));
        // As Entra: a token for this app's API when the scope names it, else one for another
        // resource (Microsoft Graph there), which the app can never use as its own.
        let access_token = match self.delegated_scopes(&grant.scope) {
            Some(scp) => self.keys.sign(&self.delegated_claims(&grant, &scp)),
            None => random_token(32),
        };
        pages::json(
            StatusCode::OK,
            &serde_json::json!({
                "token_type": "Bearer",
                "scope": grant.scope,
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": access_token,
                "id_token": id_token,
            }),
        )
    }

    /// The scopes of this app's API that `scope` asks for (`api://<client id>/<name>`, or
    /// `<client id>/<name>`), as `scp` lists them: names only, space-separated.
    fn delegated_scopes(&self, scope: &str) -> Option<String> {
        let client = &self.client.client_id;
        let names: Vec<&str> = scope
            .split(' ')
            .filter_map(|s| s.strip_prefix("api://").unwrap_or(s).strip_prefix(client.as_str())?.strip_prefix('/'))
            .filter(|name| !name.is_empty() && *name != ".default")
            .collect();
        (!names.is_empty()).then(|| names.join(" "))
    }

    /// The claims every access token of this app's API has, as Entra's v2 format
    /// (`accessTokenAcceptedVersion: 2`: `aud` is the client id).
    fn access_claims(&self, oid: &str, idtyp: &str) -> serde_json::Value {
        let issued = now();
        serde_json::json!({
            "aud": self.client.client_id,
            "iss": self.issuer,
            "iat": issued,
            "nbf": issued,
            "exp": issued + 3600,
            "azp": self.client.client_id,
            "azpacr": "1",
            "idtyp": idtyp,
            "oid": oid,
            "rh": "0.dev",
            "tid": self.tenant,
            "uti": random_token(16),
            "ver": "2.0",
        })
    }

    /// A delegated access token for the signed-in user with the scopes `scp`.
    fn delegated_claims(&self, grant: &super::Grant, scp: &str) -> serde_json::Value {
        let user = grant.user;
        let mut claims = self.access_claims(user.oid, "user");
        claims["scp"] = scp.into();
        claims["sub"] = pairwise_sub(user.oid, &self.client.client_id).into();
        claims["name"] = user.name.into();
        claims["preferred_username"] = user.username.into();
        if !user.roles.is_empty() {
            claims["roles"] = user.roles.into();
        }
        groups_claims(&mut claims, user);
        claims
    }

    /// The client-credentials grant (what `entra-sso doctor` uses to prove the credential, and
    /// what a daemon calls the API with): an app-only token for the app itself,
    /// `<client id>/.default` or `api://<client id>/.default`, as Entra issues one: no `scp`,
    /// `idtyp: app`, the service principal as `oid` and `sub`, and no app roles (none are
    /// assigned to the dev app).
    fn client_credentials(&self, scope: &str) -> Response<Bytes> {
        let client_id = &self.client.client_id;
        let Some(resource) = scope.strip_suffix("/.default") else {
            return error(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).");
        };
        if resource == super::graph::GRAPH_RESOURCE {
            return self.token_answer(&self.graph_claims());
        }
        if resource != client_id && resource.strip_prefix("api://") != Some(client_id) {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                500011,
                "The resource principal was not found in the tenant.",
            );
        }
        let principal = service_principal_id(client_id);
        let mut claims = self.access_claims(&principal, "app");
        claims["sub"] = principal.into();
        self.token_answer(&claims)
    }

    /// An app-only token for Microsoft Graph (`https://graph.microsoft.com/.default`), as
    /// Entra issues one to an app granted `GroupMember.Read.All` and `User.Read.All` with admin
    /// consent: `aud` Graph, those `roles`; what the emulated Graph requires.
    fn graph_claims(&self) -> serde_json::Value {
        let principal = service_principal_id(&self.client.client_id);
        let mut claims = self.access_claims(&principal, "app");
        claims["sub"] = principal.into();
        claims["aud"] = super::graph::GRAPH_RESOURCE.into();
        claims["roles"] = serde_json::json!(super::graph::GRAPH_ROLES);
        claims
    }

    /// The client-credentials answer carrying `claims`, signed.
    fn token_answer(&self, claims: &serde_json::Value) -> Response<Bytes> {
        pages::json(
            StatusCode::OK,
            &serde_json::json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": self.keys.sign(claims),
            }),
        )
    }

    fn id_token_claims(&self, grant: &super::Grant) -> serde_json::Value {
        let user = grant.user;
        let issued = now();
        let mut claims = serde_json::json!({
            "ver": "2.0",
            "iss": self.issuer,
            "aud": self.client.client_id,
            "iat": issued,
            "nbf": issued,
            "exp": issued + 3600,
            "tid": self.tenant,
            "oid": user.oid,
            "sub": pairwise_sub(user.oid, &self.client.client_id),
            "name": user.name,
            "preferred_username": user.username,
            "email": user.username,
            "login_hint": format!("dev-hint-{}", user.id),
            "rh": "0.dev",
            "uti": random_token(16),
            "sid": random_token(16),
        });
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = nonce.clone().into();
        }
        if !user.roles.is_empty() {
            claims["roles"] = user.roles.into();
        }
        groups_claims(&mut claims, user);
        claims
    }
}

/// The user's groups as Entra puts them in a token: the list, or, past
/// [`super::users::OVERAGE_LIMIT`], no list and the overage marker (`_claim_names` naming a
/// `_claim_sources` entry with Graph's endpoint for the user's groups).
fn groups_claims(claims: &mut serde_json::Value, user: &super::users::DevUser) {
    if user.has_overage() {
        claims["_claim_names"] = serde_json::json!({"groups": "src1"});
        claims["_claim_sources"] = serde_json::json!({"src1": {
            "endpoint": format!("https://graph.microsoft.com/v1.0/users/{}/getMemberObjects", user.oid),
        }});
    } else if !user.groups.is_empty() {
        claims["groups"] = user.groups.into();
    }
}

/// The dev app's service principal id: a GUID stable for the client id, as an app has one
/// object id per tenant.
fn service_principal_id(client_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("service-principal|{client_id}"));
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Entra's `sub` is pairwise: stable per user and app, different across apps.
fn pairwise_sub(oid: &str, client_id: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{oid}|{client_id}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..32])
}

/// A token-endpoint error in Entra's shape.
fn error(status: StatusCode, error: &str, code: u32, text: &str) -> Response<Bytes> {
    let (trace_id, correlation_id, timestamp) = (guid(), guid(), format_timestamp(now()));
    pages::json(
        status,
        &serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}
