//! Azure App Service's managed-identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), as
//! App Service, Functions and Container Apps expose it to the app.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde_json::json;

use super::platform::{platform_token, respond};
use super::settings::TestSettings;
use crate::helpers::{serve, Running};

/// The issuer of the identity's tokens (Entra's, for the app's tenant).
pub(crate) const MI_ISSUER: &str = "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0";
/// The system-assigned identity's principal: the `sub` of its tokens.
pub(crate) const MI_PRINCIPAL: &str = "4d1f1a7e-0000-4000-8000-00000000a11c";
/// The client id of the one user-assigned identity.
pub(crate) const USER_ASSIGNED: &str = "0f6c5d5a-1234-4abc-9def-0123456789ab";
/// The `IDENTITY_HEADER` value the endpoint expects.
pub(crate) const IDENTITY_HEADER: &str = "platform-identity-header-value";

/// App Service's identity endpoint (`/msi/token`, api-version 2019-08-01): checks the header,
/// the API version, the resource and the client id as the platform does.
pub(crate) struct IdentityEndpoint {
    /// The only `client_id` assigned to the app besides the system-assigned identity.
    user_assigned: &'static str,
    /// The `resource` a federated credential expects.
    resource: &'static str,
    /// `expires_on` as a JSON number rather than a string.
    numeric_expiry: bool,
    /// Requests received.
    pub requests: AtomicUsize,
    /// The query of the last request.
    pub last_query: Mutex<HashMap<String, String>>,
}

impl IdentityEndpoint {
    /// An endpoint on loopback for a federated credential expecting `resource`.
    pub(crate) async fn spawn(resource: &'static str, numeric_expiry: bool) -> (Arc<Self>, Running) {
        let me = Arc::new(Self {
            user_assigned: USER_ASSIGNED,
            resource,
            numeric_expiry,
            requests: AtomicUsize::new(0),
            last_query: Mutex::new(HashMap::new()),
        });
        let running = serve(Arc::clone(&me)).await;
        (me, running)
    }

    fn answer(&self, req: Request<Bytes>) -> Response<Bytes> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let q = query(&req);
        *self.last_query.lock().unwrap() = q.clone();
        let error = |status: StatusCode, message: &str| {
            let body = json!({"statusCode": status.as_u16(), "message": message, "correlationId": "c0ffee"});
            respond(status, "application/json", body.to_string())
        };
        if req.method() != http::Method::GET || req.uri().path() != "/msi/token" {
            return error(StatusCode::NOT_FOUND, "Not found");
        }
        if req.headers().get("x-identity-header").and_then(|h| h.to_str().ok()) != Some(IDENTITY_HEADER) {
            return error(StatusCode::UNAUTHORIZED, "The X-IDENTITY-HEADER header is missing or invalid.");
        }
        if q.get("api-version").map(String::as_str) != Some("2019-08-01") {
            return error(StatusCode::BAD_REQUEST, "Unsupported api-version.");
        }
        if q.get("resource").map(String::as_str) != Some(self.resource) {
            return error(StatusCode::BAD_REQUEST, "The resource is not valid for token exchange.");
        }
        let subject = match q.get("client_id") {
            None => MI_PRINCIPAL.to_owned(),
            Some(id) if id == self.user_assigned => format!("ua-{id}"),
            Some(_) => return error(StatusCode::BAD_REQUEST, "Identity not found"),
        };
        let token = platform_token(MI_ISSUER, &subject, self.resource, 86_400);
        let exp = entra_sso::support::time::now() + 86_400;
        let expires_on = if self.numeric_expiry { json!(exp) } else { json!(exp.to_string()) };
        let body = json!({
            "access_token": token, "expires_on": expires_on, "resource": self.resource,
            "token_type": "Bearer", "client_id": q.get("client_id").cloned().unwrap_or_default(),
        });
        respond(StatusCode::OK, "application/json", body.to_string())
    }
}

impl entra_sso::app::Handler for IdentityEndpoint {
    fn handle(&self, req: Request<Bytes>) -> impl std::future::Future<Output = Response<Bytes>> + Send {
        std::future::ready(self.answer(req))
    }
}

/// What App Service sets in the app's environment for the endpoint at `endpoint`.
pub(crate) fn env(endpoint: &str, header: &str) -> TestSettings {
    TestSettings::empty().with("IDENTITY_ENDPOINT", endpoint).with("IDENTITY_HEADER", header)
}

/// [`env`] as a lookup.
pub(crate) fn mi_env(endpoint: &str, header: &str) -> impl Fn(&str) -> Option<String> {
    env(endpoint, header).lookup()
}

fn query(req: &Request<Bytes>) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect()
}
