//! What every emulated platform shares: the platform issuers' signing key, the tokens they hand
//! out and the JWKS that verifies them, and a dev identity provider that trusts such an issuer
//! (a federated credential). The platforms themselves have a file each: `app_service.rs` (the
//! managed-identity endpoint), `aws_sts.rs` (STS) and `kubernetes.rs` (projected token files).

use bytes::Bytes;
use entra_sso::dev_idp::{AssertionTrust, FederatedKeys, FederatedTrust};
use entra_sso::idp::credential::Assertion;
use http::{Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use super::idp_fake::{jwk, sign_rs256, test_key};
use crate::helpers::{spawn_idp_trusting, TestIdp};

/// The platform issuers' key: `test_key(1)` as `platform-k1`.
pub(crate) const KID: &str = "platform-k1";

/// A platform token: RS256 by the platform key, `aud` `audience`, valid for `lifetime` seconds.
pub(crate) fn platform_token(iss: &str, sub: &str, audience: &str, lifetime: u64) -> String {
    signed_token(1, iss, sub, audience, lifetime)
}

/// The same claims signed by another key (`test_key(0)`) under the platform's `kid`.
pub(crate) fn impostor_token(iss: &str, sub: &str, audience: &str) -> String {
    signed_token(0, iss, sub, audience, 3600)
}

fn signed_token(key: usize, iss: &str, sub: &str, audience: &str, lifetime: u64) -> String {
    let now = entra_sso::support::time::now();
    let claims = json!({"iss": iss, "sub": sub, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime});
    sign_rs256(test_key(key), KID, &claims)
}

/// The platform's JWKS, as the dev IdP would be told to trust.
pub(crate) fn platform_jwks() -> Value {
    json!({"keys": [jwk(test_key(1), KID, None)]})
}

/// Verifies `assertion` against the platform JWKS and returns its claims.
pub(crate) fn verify(assertion: &Assertion, iss: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(platform_jwks()).unwrap();
    let key = DecodingKey::from_jwk(jwks.find(KID).unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[audience]);
    v.set_issuer(&[iss]);
    let data = jsonwebtoken::decode::<Value>(assertion.token.expose(), &key, &v).expect("the assertion verifies");
    assert_eq!(data.header.kid.as_deref(), Some(KID));
    assert_eq!(data.claims["exp"].as_u64(), Some(assertion.expires_at), "the expiry is the token's own");
    data.claims
}

/// A dev identity provider whose client (no secret) has a federated credential: it accepts
/// `issuer`'s platform tokens about `subject` for `audience`.
pub(crate) async fn idp_trusting(issuer: &str, subject: &str, audience: &str) -> TestIdp {
    spawn_idp_trusting(AssertionTrust {
        certificate: None,
        federated: Some(FederatedTrust {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: audience.into(),
            keys: FederatedKeys::Jwks(platform_jwks().to_string()),
        }),
    })
    .await
}

/// A platform endpoint's answer.
pub(crate) fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", content_type.parse().unwrap());
    r
}
