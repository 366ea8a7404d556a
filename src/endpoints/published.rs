//! What consumers fetch to verify a session without any secret: `GET /api/jwks` (the session
//! keys) and `GET /api/.well-known/openid-configuration` (the issuer and where its keys are),
//! so stock JWT middleware can be pointed at this deployment like at any issuer.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::app::App;
use crate::web::pages;

/// How long consumers may cache the keys and the discovery document. Short enough that a key
/// added at the end of `SSO_SECRET` is seen everywhere before it is moved first to sign.
pub const MAX_AGE_SECS: u64 = 300;

/// `GET /api/jwks`: every session key, the signing one first.
pub fn jwks(app: &App) -> Response<Bytes> {
    cacheable(app.sessions.keys().jwks().to_owned())
}

/// `GET /api/.well-known/openid-configuration`: the issuer of sessions and its JWKS URL.
pub fn discovery(app: &App) -> Response<Bytes> {
    let issuer = app.sessions.issuer();
    let document = serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "id_token_signing_alg_values_supported": [crate::tokens::session_keys::ALG],
    });
    cacheable(document.to_string())
}

fn cacheable(body: String) -> Response<Bytes> {
    let mut r = pages::json_text(StatusCode::OK, body);
    let cache = HeaderValue::from_str(&format!("public, max-age={MAX_AGE_SECS}")).expect("ASCII header value");
    r.headers_mut().insert(header::CACHE_CONTROL, cache);
    // Browser-side consumers (a single-page app checking its own session) may read them too.
    r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}
