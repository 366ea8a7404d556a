//! `/<tenant>/oauth2/v2.0/token`: redeems single-use, expiring codes after checking the client's
//! credentials, the exact redirect URI and PKCE S256; errors in Entra's JSON shape.

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
            return client_credentials(&self.client.client_id, get("scope").unwrap_or_default());
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
        pages::json(
            StatusCode::OK,
            &serde_json::json!({
                "token_type": "Bearer",
                "scope": grant.scope,
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": random_token(32),
                "id_token": id_token,
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
        if !user.groups.is_empty() {
            claims["groups"] = user.groups.into();
        }
        claims
    }
}

/// The client-credentials grant (what `entra-sso doctor` uses to prove the credential): a token
/// for the app itself, `<client id>/.default` or `api://<client id>/.default`, as Entra issues.
fn client_credentials(client_id: &str, scope: &str) -> Response<Bytes> {
    let Some(resource) = scope.strip_suffix("/.default") else {
        return error(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).");
    };
    if resource != client_id && resource.strip_prefix("api://") != Some(client_id) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            "The resource principal was not found in the tenant.",
        );
    }
    pages::json(
        StatusCode::OK,
        &serde_json::json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": random_token(32),
        }),
    )
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
