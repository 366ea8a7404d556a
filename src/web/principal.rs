//! The identity headers of App Service Authentication ("Easy Auth"), so an app written for it
//! reads a signed-in user from `/api/auth` unchanged: `X-MS-CLIENT-PRINCIPAL` (base64 of the
//! claims as `{"typ","val"}` pairs), `-ID`, `-NAME` and `-IDP`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

use crate::tokens::session::SessionClaims;

/// The base64 JSON principal.
pub const PRINCIPAL: &str = "x-ms-client-principal";
/// The user's object id (`oid`; `sub` without one).
pub const PRINCIPAL_ID: &str = "x-ms-client-principal-id";
/// The user's sign-in name (`preferred_username`, else `email`, else `name`).
pub const PRINCIPAL_NAME: &str = "x-ms-client-principal-name";
/// The identity provider: always `aad`.
pub const PRINCIPAL_IDP: &str = "x-ms-client-principal-idp";

/// The claim types App Service uses for the standard claims.
const OID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
const TID: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
const SUB: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";
const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
const ROLE: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
const SCOPE: &str = "http://schemas.microsoft.com/identity/claims/scope";

#[derive(Serialize)]
struct Principal<'a> {
    auth_typ: &'static str,
    claims: Vec<Claim<'a>>,
    name_typ: &'static str,
    role_typ: &'static str,
}

#[derive(Serialize)]
struct Claim<'a> {
    typ: &'static str,
    val: &'a str,
}

/// `X-MS-CLIENT-PRINCIPAL` for a session: standard base64 of the App Service JSON. Roles and
/// groups are one claim each, typed `roles` and `groups` as App Service sends them.
pub fn encode(s: &SessionClaims) -> String {
    encode_with(s, &[])
}

/// The same with `extra` claims (a bearer caller's, from [`token_claims`]) after the identity's.
pub fn encode_with(s: &SessionClaims, extra: &[(&'static str, &str)]) -> String {
    let mut all = claims(s);
    all.extend(extra.iter().map(|&(typ, val)| Claim { typ, val }));
    let principal = Principal { auth_typ: "aad", claims: all, name_typ: EMAIL, role_typ: ROLE };
    STANDARD.encode(serde_json::to_vec(&principal).expect("principal serialises"))
}

/// A bearer caller's claims as App Service passes an access token's: the delegated scopes
/// (space-separated, as `scp`), the client that asked for the token (`azp`) and `idtyp`.
pub fn token_claims<'a>(scopes: &'a str, client: Option<&'a str>, idtyp: &'a str) -> Vec<(&'static str, &'a str)> {
    let mut extra = Vec::new();
    if !scopes.is_empty() {
        extra.push((SCOPE, scopes));
    }
    if let Some(client) = client {
        extra.push(("azp", client));
    }
    extra.push(("idtyp", idtyp));
    extra
}

/// `/.auth/me` as App Service Authentication answers it: one entry for the `aad` provider with
/// the user's id and claims. No `access_token`, `id_token` or `expires_on`: no token is kept.
pub fn easy_auth_me(s: &SessionClaims) -> serde_json::Value {
    serde_json::json!([{
        "provider_name": "aad",
        "user_id": name(s).unwrap_or_else(|| id(s)),
        "user_claims": claims(s),
    }])
}

/// The session's claims in App Service's `{"typ","val"}` form.
fn claims(s: &SessionClaims) -> Vec<Claim<'_>> {
    let optional = [
        (OID, s.oid.as_deref()),
        (TID, s.tid.as_deref()),
        ("name", s.name.as_deref()),
        ("preferred_username", s.preferred_username.as_deref()),
        (EMAIL, s.email.as_deref()),
    ];
    let mut claims = vec![Claim { typ: "iss", val: &s.idp }, Claim { typ: SUB, val: &s.sub }];
    claims.extend(optional.into_iter().filter_map(|(typ, val)| Some(Claim { typ, val: val? })));
    for role in &s.roles {
        claims.push(Claim { typ: "roles", val: role });
    }
    for group in &s.groups {
        claims.push(Claim { typ: "groups", val: group });
    }
    claims
}

/// `X-MS-CLIENT-PRINCIPAL-ID`.
pub fn id(s: &SessionClaims) -> &str {
    s.oid.as_deref().unwrap_or(&s.sub)
}

/// `X-MS-CLIENT-PRINCIPAL-NAME`, if the session has any name.
pub fn name(s: &SessionClaims) -> Option<&str> {
    s.preferred_username.as_deref().or(s.email.as_deref()).or(s.name.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_has_the_app_service_shape() {
        let s = SessionClaims {
            iss: "https://app/api".into(),
            aud: "c".into(),
            sub: "s".into(),
            idp: "https://login.microsoftonline.com/t/v2.0".into(),
            oid: Some("o".into()),
            tid: Some("t".into()),
            name: Some("Ådne".into()),
            preferred_username: Some("adne@example.com".into()),
            email: None,
            roles: vec!["Admin".into(), "Reader".into()],
            groups: vec!["g1".into()],
            groups_overage: false,
            login_hint: None,
            sid: None,
            iat: 1,
            exp: 2,
            auth_time: Some(1),
        };
        let json: serde_json::Value = serde_json::from_slice(&STANDARD.decode(encode(&s)).unwrap()).unwrap();
        assert_eq!(json["auth_typ"], "aad");
        assert_eq!(json["role_typ"], ROLE);
        assert_eq!(json["name_typ"], EMAIL);
        let claims = json["claims"].as_array().unwrap();
        let of = |typ: &str| -> Vec<&str> {
            claims.iter().filter(|c| c["typ"] == typ).map(|c| c["val"].as_str().unwrap()).collect()
        };
        assert_eq!(of(OID), ["o"]);
        assert_eq!(of(TID), ["t"]);
        assert_eq!(of(SUB), ["s"]);
        assert_eq!(of("roles"), ["Admin", "Reader"]);
        assert_eq!(of("groups"), ["g1"]);
        assert_eq!(of("name"), ["Ådne"]);
        assert!(of(EMAIL).is_empty());
        assert_eq!((id(&s), name(&s)), ("o", Some("adne@example.com")));
    }
}
