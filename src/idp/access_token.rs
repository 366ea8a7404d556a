//! Entra access tokens issued for this app, accepted wherever a session is (docs/design.md
//! §2.10): v1 and v2 formats, RS256 only with the provider's issuer-bound keys (the ones ID
//! tokens are checked with), `aud` one of `SSO_API_AUDIENCES`, `exp`/`nbf`/`iat` with the ID
//! token's leeway, the issuer of the token's version for its tenant, and for app-only callers
//! `SSO_API_CLIENTS`. Who may call (tenants, roles, groups) is [`crate::idp::policy`]'s concern,
//! applied on every use like a session's.
//!
//! A verified token is remembered by its SHA-256 (bounded, like sessions), so a client that
//! repeats its token pays for the signature once; expiry is checked on every use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{errors::ErrorKind, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::idp::authority::{issuer_in_version, issuer_tenant, TokenVersion};
use crate::idp::id_token::{expected_issuer, rs256_kid, rs256_validation, Audience, IdTokenError, LEEWAY_SECS};
use crate::idp::policy::KeptGroups;
use crate::idp::provider::{Provider, VerifyKey};
use crate::support::text::cap;
use crate::tokens::session::{Keep, SessionClaims, SessionError, Sessions};

/// Longest access token accepted (Entra's stay far below: groups beyond 200 become overage).
pub const MAX_ACCESS_TOKEN_LEN: usize = 16 * 1024;

/// Largest number of verified tokens an instance remembers.
const CACHE_ENTRIES: usize = 4096;

/// Microsoft Graph's application id, the `aud` of the access token a plain sign-in gets.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Microsoft Graph's resource URIs in each cloud.
const GRAPH_HOSTS: &[&str] =
    &["https://graph.microsoft.com", "https://graph.microsoft.us", "https://microsoftgraph.chinacloudapi.cn"];

/// Why an access token was refused. Each refusal has its own public code (`token_*`, 401);
/// the text is the operator's log detail and never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    /// Not a JWT, too large, unreadable claims, or a claim Entra always sends is missing.
    #[error("malformed access token: {0}")]
    Malformed(&'static str),
    /// `alg` other than RS256, no `kid`, a `kid` the provider does not publish, or a signature
    /// that does not verify.
    #[error("access token signature: {0}")]
    Signature(String),
    /// Outside its lifetime: past `exp`, before `nbf`, or `iat` in the future (with leeway).
    #[error("access token expired or not yet valid")]
    Expired,
    /// `iss` is not the provider's for the token's tenant and version (a v1/v2 swap included),
    /// or the key is published for another issuer.
    #[error("access token issuer: {0}")]
    Issuer(String),
    /// The tenant is not the authority's, or not admitted by the tenant list.
    #[error("access token tenant {0} is not admitted")]
    Tenant(String),
    /// `aud` is not one of `SSO_API_AUDIENCES`: a token for another resource.
    #[error("access token audience is not this API ({})", if *.graph { "Microsoft Graph" } else { "another resource" })]
    Audience {
        /// The token is Microsoft Graph's (what a plain sign-in gets).
        graph: bool,
        /// What the client should request instead, e.g. `api://<client id>/.default`.
        request: String,
    },
    /// An app-only caller whose client id is not in `SSO_API_CLIENTS`.
    #[error("app-only caller {0} is not in SSO_API_CLIENTS")]
    ClientNotAllowed(String),
    /// The provider's metadata or keys could not be fetched.
    #[error("{0}")]
    Unavailable(String),
    /// A token with groups overage whose Microsoft Graph lookup failed (not a refusal of the
    /// token: `groups_forbidden`, `groups_throttled` or `groups_unavailable`).
    #[error("groups overage lookup: {detail}")]
    Groups {
        /// Which public answer.
        fault: crate::idp::provider::graph::GraphFault,
        /// The lookup's error, with its fix.
        detail: String,
    },
}

impl From<IdTokenError> for AccessTokenError {
    /// The header checks shared with ID tokens: the algorithm and `kid` are the signature's.
    fn from(e: IdTokenError) -> Self {
        match e {
            IdTokenError::Algorithm(_) | IdTokenError::NoKid => AccessTokenError::Signature(e.to_string()),
            _ => AccessTokenError::Malformed("not a JWT"),
        }
    }
}

/// The claims read from an access token (v1 and v2 alike; absent ones are `None`).
#[derive(Debug, Clone, Deserialize)]
struct AccessClaims {
    iss: String,
    #[serde(default)]
    aud: Audience,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    ver: Option<String>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    /// v2: the client that asked for the token.
    #[serde(default)]
    azp: Option<String>,
    /// v1: the client that asked for the token.
    #[serde(default)]
    appid: Option<String>,
    /// Delegated scopes, space-separated; absent in app-only tokens.
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default, rename = "_claim_names")]
    claim_names: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    hasgroups: Option<bool>,
    /// `user` or `app` (an optional claim).
    #[serde(default)]
    idtyp: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    /// v1's sign-in name.
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// Only the audience, read before the signature is checked (never trusted: it decides only
/// which refusal a token for another resource gets).
#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    aud: Audience,
}

/// A caller proven by an access token: the identity in a session's shape (so the policy, the
/// route rules and the identity headers read it as they read a session) and what only a token
/// has.
#[derive(Debug)]
pub struct ApiCaller {
    /// The identity: `sub`, `oid`, `tid`, names, `roles`, `groups`; `idp` is the token's issuer
    /// and `exp` its expiry.
    pub claims: SessionClaims,
    /// Delegated scopes (`scp`); empty for an app-only caller.
    pub scopes: Vec<String>,
    /// An app-only token (a daemon, a managed identity): no user.
    pub app_only: bool,
    /// The client that asked for the token (`azp`, v1 `appid`).
    pub client: Option<String>,
    /// The token's format.
    pub version: TokenVersion,
    /// The token had groups overage and a Graph lookup answered for every group a rule names
    /// (`groups` then decides those rules even if `claims.groups_overage` stays set).
    pub groups_looked_up: bool,
    /// `X-SSO-Assertion` for this caller, minted when first asked for.
    assertion: OnceLock<Option<String>>,
}

impl ApiCaller {
    /// `idtyp`: `app` for an app-only caller, else `user`.
    pub fn identity_type(&self) -> &'static str {
        if self.app_only {
            "app"
        } else {
            "user"
        }
    }

    /// The claims only a token caller has, as the assertion and `/api/me` carry them: `idtyp`
    /// always (which is what keeps an assertion from passing as a session), `azp` and `scp`
    /// when present.
    pub fn token_claims(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut extra = serde_json::Map::new();
        extra.insert("idtyp".into(), self.identity_type().into());
        if let Some(client) = &self.client {
            extra.insert("azp".into(), client.clone().into());
        }
        if !self.scopes.is_empty() {
            extra.insert("scp".into(), self.scopes.join(" ").into());
        }
        extra
    }

    /// A short-lived ES256 assertion of this caller signed with the session keys (expiring
    /// with the token), for apps that verify `X-SSO-Assertion`; minted once per verified token.
    /// `None` only when the identifiers cannot fit, which a verified token cannot cause.
    pub fn assertion(&self, sessions: &Sessions, keep: &impl Keep) -> Option<&str> {
        self.assertion
            .get_or_init(|| {
                let mut claims = self.claims.clone();
                let minted = sessions.mint_assertion(&mut claims, keep, &self.token_claims());
                minted.map_err(|e: SessionError| tracing::warn!(reason = %e, "no assertion for a bearer caller")).ok()
            })
            .as_deref()
    }
}

/// Checks access tokens for this API; built once per instance.
pub struct AccessTokenVerifier {
    audiences: Vec<String>,
    clients: Option<Vec<String>>,
    /// What a client should request instead of a token for another resource.
    request: String,
    /// This deployment's session issuer and audience, given to the identity of every caller.
    issuer: String,
    session_audience: String,
    /// The groups a caller's identity keeps.
    kept_groups: KeptGroups,
    validation: Validation,
    verified: Mutex<HashMap<[u8; 32], Arc<ApiCaller>>>,
}

/// What the verifier needs from the settings.
#[derive(Debug, Clone)]
pub struct AccessTokenConfig<'a> {
    /// `SSO_API_AUDIENCES` (never empty: the default is the client id and `api://<client id>`).
    pub audiences: &'a [String],
    /// `SSO_API_CLIENTS`; `None` admits every app-only caller of an admitted tenant.
    pub clients: Option<&'a [String]>,
    /// This deployment's session issuer.
    pub issuer: &'a str,
    /// This deployment's session audience.
    pub session_audience: &'a str,
    /// The groups a caller's identity keeps, as a session's (`SSO_SESSION_GROUPS`).
    pub kept_groups: &'a KeptGroups,
}

impl AccessTokenVerifier {
    /// A verifier for tokens whose `aud` is one of `config.audiences`.
    pub fn new(config: AccessTokenConfig<'_>) -> Self {
        let mut validation = rs256_validation(&["exp", "iss"]);
        validation.validate_aud = false; // checked against the list, before the signature too
        let app_id_uri = config.audiences.iter().find(|a| a.starts_with("api://"));
        let request = match (app_id_uri, config.audiences.first()) {
            (Some(uri), _) => format!("{uri}/.default"),
            (None, Some(aud)) => format!("{aud}/.default"),
            (None, None) => String::new(),
        };
        Self {
            audiences: config.audiences.to_vec(),
            clients: config.clients.map(<[String]>::to_vec),
            request,
            issuer: config.issuer.to_owned(),
            session_audience: config.session_audience.to_owned(),
            kept_groups: config.kept_groups.clone(),
            validation,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies `token` at `now` with the provider's metadata and keys: a remembered token is
    /// only checked for expiry; a new one is checked whole ([`AccessTokenVerifier::verify_with_key`]).
    /// An unknown `kid` triggers the provider's rate-limited refetch.
    pub async fn verify(&self, token: &str, provider: &Provider, now: u64) -> Result<Arc<ApiCaller>, AccessTokenError> {
        if let Some(hit) = self.remembered(token, now) {
            return hit;
        }
        let kid = self.precheck(token)?;
        let unavailable = |e: crate::idp::provider::FetchError| AccessTokenError::Unavailable(e.to_string());
        let metadata = provider.metadata().await.map_err(unavailable)?;
        let key = provider.key(&kid).await.map_err(unavailable)?;
        let key = key.ok_or_else(|| {
            AccessTokenError::Signature(format!("kid {} is not in the provider's keys", cap(&kid, 64)))
        })?;
        self.check(token, &key, &metadata.issuer, now)
    }

    /// The same with the key and the provider's issuer at hand (benchmarks, tests): a
    /// remembered token is only checked for expiry.
    pub fn verify_with_key(
        &self,
        token: &str,
        key: &VerifyKey,
        issuer: &str,
        now: u64,
    ) -> Result<Arc<ApiCaller>, AccessTokenError> {
        if let Some(hit) = self.remembered(token, now) {
            return hit;
        }
        self.precheck(token)?;
        self.check(token, key, issuer, now)
    }

    /// A token verified before, still within its lifetime (or its expiry as the refusal).
    fn remembered(&self, token: &str, now: u64) -> Option<Result<Arc<ApiCaller>, AccessTokenError>> {
        let caller = self.cache().get(&digest(token)).cloned()?;
        Some(if now > caller.claims.exp + LEEWAY_SECS { Err(AccessTokenError::Expired) } else { Ok(caller) })
    }

    /// What is checked before any key is looked up: the size, RS256 and a `kid`, then the
    /// audience read without trusting it, so a token for another resource (a Graph token,
    /// whose signature no one else can verify by design) hears which audience to ask for.
    /// Nothing read here admits a token. Returns the `kid`.
    fn precheck(&self, token: &str) -> Result<String, AccessTokenError> {
        if token.len() > MAX_ACCESS_TOKEN_LEN {
            return Err(AccessTokenError::Malformed("longer than any access token"));
        }
        let kid = rs256_kid(token).map_err(|e| match e {
            // `none` and algorithms the JWT library does not know are unreadable to it.
            IdTokenError::Malformed if header_alg(token).is_some_and(|alg| alg != "RS256") => {
                AccessTokenError::Signature("algorithm not allowed".into())
            }
            e => e.into(),
        })?;
        let payload = token.split('.').nth(1).ok_or(AccessTokenError::Malformed("not a JWT"))?;
        let bytes =
            URL_SAFE_NO_PAD.decode(payload).map_err(|_| AccessTokenError::Malformed("payload not base64url"))?;
        let peek: Peek = serde_json::from_slice(&bytes).map_err(|_| AccessTokenError::Malformed("claims not JSON"))?;
        self.audience(&peek.aud)?;
        Ok(kid)
    }

    /// `aud` is this API's, or the refusal that says what to request instead.
    fn audience(&self, aud: &Audience) -> Result<(), AccessTokenError> {
        if aud.is_among(&self.audiences) {
            return Ok(());
        }
        let graph = aud.values().iter().any(|a| a == GRAPH_APP_ID || GRAPH_HOSTS.iter().any(|g| a.starts_with(g)));
        Err(AccessTokenError::Audience { graph, request: self.request.clone() })
    }

    /// The signature and every claim check, then the token is remembered.
    fn check(&self, token: &str, key: &VerifyKey, issuer: &str, now: u64) -> Result<Arc<ApiCaller>, AccessTokenError> {
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &key.key, &self.validation).map_err(|e| match e.kind() {
                // Header and claims were decoded before: a base64 fault here is the signature's.
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::Base64(_) => AccessTokenError::Signature("the signature does not verify".into()),
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => AccessTokenError::Expired,
                ErrorKind::MissingRequiredClaim(_) => AccessTokenError::Malformed("exp or iss missing"),
                _ => AccessTokenError::Malformed("claims unreadable"),
            })?;
        let mut c = data.claims;
        self.audience(&c.aud)?;
        // GUIDs compare case-insensitively; every later comparison sees one spelling.
        for id in [&mut c.tid, &mut c.oid].into_iter().flatten() {
            id.make_ascii_lowercase();
        }
        if c.iat.is_some_and(|iat| iat > now + LEEWAY_SECS) {
            return Err(AccessTokenError::Expired);
        }
        let version = match c.ver.as_deref() {
            Some("1.0") => TokenVersion::V1,
            Some("2.0") => TokenVersion::V2,
            _ => return Err(AccessTokenError::Malformed("ver is neither 1.0 nor 2.0")),
        };
        let tid = c.tid.clone().ok_or(AccessTokenError::Malformed("no tid"))?;
        check_sizes(&c)?;
        if issuer_tenant(issuer).is_some_and(|t| !t.eq_ignore_ascii_case(&tid)) {
            return Err(AccessTokenError::Tenant(cap(&tid, 64)));
        }
        let in_version = |v2: &str| -> Result<String, AccessTokenError> {
            let filled =
                expected_issuer(v2, Some(&tid)).map_err(|_| AccessTokenError::Issuer("tid is not a GUID".into()))?;
            issuer_in_version(&filled, version)
                .ok_or_else(|| AccessTokenError::Issuer("no v1 issuer for this authority".into()))
        };
        if c.iss != in_version(issuer)? {
            let other = match version {
                TokenVersion::V1 => TokenVersion::V2,
                TokenVersion::V2 => TokenVersion::V1,
            };
            let swapped = expected_issuer(issuer, Some(&tid)).ok().and_then(|v2| issuer_in_version(&v2, other));
            return Err(AccessTokenError::Issuer(if swapped.as_deref() == Some(c.iss.as_str()) {
                format!("a ver {} token with the other version's issuer", c.ver.as_deref().unwrap_or(""))
            } else {
                format!("{} is not the expected issuer", cap(&c.iss, 128))
            }));
        }
        if let Some(key_issuer) = &key.issuer {
            if in_version(key_issuer)? != c.iss {
                return Err(AccessTokenError::Issuer(format!("the key is published for {}", cap(key_issuer, 128))));
            }
        }
        let app_only = match (c.idtyp.as_deref(), &c.scp) {
            (Some("app"), Some(_)) | (Some("user"), None) => {
                return Err(AccessTokenError::Malformed("idtyp contradicts scp"));
            }
            (_, scp) => scp.is_none(),
        };
        let client = c.azp.clone().or_else(|| c.appid.clone());
        if app_only {
            if let Some(allowed) = &self.clients {
                let client = client.as_deref().unwrap_or("");
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(client)) {
                    return Err(AccessTokenError::ClientNotAllowed(cap(client, 64)));
                }
            }
        }
        let caller = Arc::new(self.caller(c, tid, version, app_only, client));
        let mut cache = self.cache();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(digest(token), Arc::clone(&caller));
        Ok(caller)
    }

    /// Records the groups a Microsoft Graph lookup found for `caller`, a user token with groups
    /// overage: the caller remembered for `token` from now on lists them, overage resolved, so
    /// the lookup happens once per token and instance, for the token's lifetime.
    ///
    /// `complete` as for [`crate::idp::id_token::IdClaims::resolve_groups`]: without it the
    /// caller keeps `groups_overage`, as the groups outside those asked about remain unknown.
    pub fn resolve_groups(
        &self,
        token: &str,
        caller: &ApiCaller,
        groups: Vec<String>,
        complete: bool,
    ) -> Arc<ApiCaller> {
        let mut claims = caller.claims.clone();
        claims.groups = groups;
        claims.groups_overage = !complete;
        let resolved = Arc::new(ApiCaller {
            claims,
            scopes: caller.scopes.clone(),
            app_only: caller.app_only,
            client: caller.client.clone(),
            version: caller.version,
            groups_looked_up: true,
            assertion: OnceLock::new(),
        });
        let mut cache = self.cache();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(digest(token), Arc::clone(&resolved));
        resolved
    }

    /// The caller a verified token proves.
    fn caller(
        &self,
        c: AccessClaims,
        tid: String,
        version: TokenVersion,
        app_only: bool,
        client: Option<String>,
    ) -> ApiCaller {
        let overage = c.hasgroups == Some(true) || c.claim_names.as_ref().is_some_and(|m| m.contains_key("groups"));
        let scopes = c.scp.as_deref().map(|s| s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect());
        let sub = c.sub.or_else(|| c.oid.clone()).unwrap_or_default();
        let claims = SessionClaims {
            iss: self.issuer.clone(),
            aud: self.session_audience.clone(),
            sub,
            idp: c.iss,
            oid: c.oid,
            tid: Some(tid),
            name: c.name,
            preferred_username: c.preferred_username.or(c.upn),
            email: c.email,
            roles: c.roles,
            groups: if overage { Vec::new() } else { self.kept(c.groups) },
            groups_overage: overage,
            login_hint: None,
            sid: None,
            iat: c.iat.unwrap_or_default(),
            exp: c.exp,
            // An access token is no sign-in of ours: nothing here is renewed.
            auth_time: None,
        };
        ApiCaller {
            claims,
            scopes: scopes.unwrap_or_default(),
            app_only,
            client,
            version,
            groups_looked_up: false,
            assertion: OnceLock::new(),
        }
    }

    /// The token's groups as a caller keeps them: the sessions' rule ([`KeptGroups::retain_in`]).
    fn kept(&self, mut groups: Vec<String>) -> Vec<String> {
        self.kept_groups.retain_in(&mut groups);
        groups
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<ApiCaller>>> {
        // The map holds no invariant a panic elsewhere could break.
        self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `alg` of a JWT header the JWT library could not read (`none`, say).
fn header_alg(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Alg {
        alg: String,
    }
    let bytes = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    serde_json::from_slice::<Alg>(&bytes).ok().map(|h| h.alg)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Identifiers are short in every real token; longer ones are refused so they cannot crowd the
/// identity headers.
fn check_sizes(c: &AccessClaims) -> Result<(), AccessTokenError> {
    let too_long = |v: &Option<String>, max: usize| v.as_ref().is_some_and(|v| v.is_empty() || v.len() > max);
    if too_long(&c.sub, 255) || too_long(&c.oid, 64) || too_long(&c.tid, 64) || c.sub.is_none() && c.oid.is_none() {
        return Err(AccessTokenError::Malformed("sub or oid missing, empty or too long"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

    const TID: &str = "b9419818-09af-49c2-b0c3-653adc1f376e";
    const CLIENT: &str = "6cb04018-a3f5-46a7-b995-940c78f5aef3";
    const SECRET: &[u8] = b"a shared secret of thirty-two bytes!";

    fn verifier(clients: Option<&[String]>) -> AccessTokenVerifier {
        let audiences = [CLIENT.to_owned(), format!("api://{CLIENT}")];
        AccessTokenVerifier::new(AccessTokenConfig {
            audiences: &audiences,
            clients,
            issuer: "https://app/api",
            session_audience: CLIENT,
            kept_groups: &KeptGroups::default(),
        })
    }

    /// An HMAC "key" stands in for the provider's: these tests are about the claims.
    fn hs_key(issuer: Option<&str>) -> VerifyKey {
        VerifyKey { key: DecodingKey::from_secret(SECRET), issuer: issuer.map(str::to_owned) }
    }

    fn hs_token(claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k".into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    #[test]
    fn only_rs256_reaches_a_key_and_foreign_audiences_are_named() {
        let v = verifier(None);
        let now = crate::support::time::now();
        let claims = serde_json::json!({"aud": CLIENT, "iss": "x", "exp": now + 60});
        let err = v.verify_with_key(&hs_token(&claims), &hs_key(None), "x", now).unwrap_err();
        assert!(matches!(err, AccessTokenError::Signature(_)), "{err:?}");
        // {"alg":"RS256","kid":"k","nonce":"n"} . {"aud":"00000003-…"} . sig
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k","nonce":"n"}"#);
        let body = URL_SAFE_NO_PAD.encode(br#"{"aud":"00000003-0000-0000-c000-000000000000"}"#);
        let graph = format!("{header}.{body}.c2ln");
        let err = v.verify_with_key(&graph, &hs_key(None), "x", now).unwrap_err();
        assert_eq!(err, AccessTokenError::Audience { graph: true, request: format!("api://{CLIENT}/.default") });
        assert!(!err.to_string().contains(&graph), "the detail never holds the token");
        assert_eq!(
            v.verify_with_key(&"a".repeat(MAX_ACCESS_TOKEN_LEN + 1), &hs_key(None), "x", now).unwrap_err(),
            AccessTokenError::Malformed("longer than any access token")
        );
    }

    /// A verifier whose signature check is HS256 with [`SECRET`]: `check` is called directly,
    /// past the RS256 gate, so these tests are about the claims.
    fn hs_verifier(clients: Option<&[String]>) -> AccessTokenVerifier {
        let mut v = verifier(clients);
        v.validation = Validation::new(Algorithm::HS256);
        v.validation.validate_aud = false;
        v
    }

    #[test]
    fn each_cloud_admits_its_own_v1_and_v2_issuers_only() {
        let v = hs_verifier(None);
        let now = crate::support::time::now();
        let clouds = [
            ("https://login.microsoftonline.com", "https://sts.windows.net"),
            ("https://login.microsoftonline.us", "https://sts.windows.net"),
            ("https://login.partner.microsoftonline.cn", "https://sts.chinacloudapi.cn"),
        ];
        for (login, sts) in clouds {
            let template = format!("{login}/{{tenantid}}/v2.0");
            let key = hs_key(Some(&template));
            let token = |ver: &str, iss: String| {
                hs_token(
                    &serde_json::json!({"aud": CLIENT, "iss": iss, "ver": ver, "tid": TID, "oid": "o", "exp": now + 600, "scp": "s"}),
                )
            };
            let (v1, v2) = (format!("{sts}/{TID}/"), format!("{login}/{TID}/v2.0"));
            assert!(v.check(&token("2.0", v2.clone()), &key, &template, now).is_ok(), "{login} v2");
            assert!(v.check(&token("1.0", v1.clone()), &key, &template, now).is_ok(), "{login} v1");
            for (ver, iss) in [("1.0", v2), ("2.0", v1)] {
                let swap = v.check(&token(ver, iss), &key, &template, now).unwrap_err();
                assert!(
                    matches!(&swap, AccessTokenError::Issuer(why) if why.contains("other version")),
                    "{login} {ver}: {swap:?}"
                );
            }
        }
        // External ID has no v1 tokens: a v1 token there names no issuer it could have.
        let template = "https://contoso.ciamlogin.com/{tenantid}/v2.0";
        let v1 = hs_token(
            &serde_json::json!({"aud": CLIENT, "iss": format!("https://sts.windows.net/{TID}/"), "ver": "1.0", "tid": TID, "oid": "o", "exp": now + 600}),
        );
        assert!(matches!(v.check(&v1, &hs_key(Some(template)), template, now), Err(AccessTokenError::Issuer(_))));
    }

    #[test]
    fn claims_checks_after_the_signature() {
        let v = hs_verifier(Some(&["daemon".to_owned()]));
        let now = crate::support::time::now();
        let v2 = format!("https://login.microsoftonline.com/{TID}/v2.0");
        let v1 = format!("https://sts.windows.net/{TID}/");
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let base = serde_json::json!({"aud": CLIENT, "iss": v2, "ver": "2.0", "tid": TID, "oid": "o", "sub": "s", "exp": now + 600, "iat": now, "scp": "access_as_user", "azp": "spa"});
        let with = |changes: serde_json::Value| {
            let mut c = base.clone();
            c.as_object_mut().unwrap().extend(changes.as_object().unwrap().clone());
            hs_token(&c)
        };
        let key = hs_key(Some(template));
        let ok = v.check(&with(serde_json::json!({})), &key, template, now).unwrap();
        assert_eq!(
            (ok.scopes.as_slice(), ok.app_only, ok.client.as_deref()),
            (&["access_as_user".to_owned()][..], false, Some("spa"))
        );
        let v1_ok = v
            .check(
                &with(serde_json::json!({"ver": "1.0", "iss": v1, "azp": null, "appid": "spa"})),
                &key,
                template,
                now,
            )
            .unwrap();
        assert_eq!(
            (v1_ok.version, v1_ok.client.as_deref()),
            (TokenVersion::V1, Some("spa")),
            "a v1 token signed by the v2-bound key"
        );
        let swap = v.check(&with(serde_json::json!({"iss": v1})), &key, template, now).unwrap_err();
        assert!(matches!(&swap, AccessTokenError::Issuer(why) if why.contains("other version")), "{swap:?}");
        let swap = v.check(&with(serde_json::json!({"ver": "1.0"})), &key, template, now).unwrap_err();
        assert!(matches!(swap, AccessTokenError::Issuer(_)), "{swap:?}");
        let other_tenant = "22222222-2222-4222-8222-222222222222";
        let fixed = v.check(&with(serde_json::json!({"tid": other_tenant})), &key, &v2, now).unwrap_err();
        assert_eq!(fixed, AccessTokenError::Tenant(other_tenant.into()));
        let expired =
            v.check(&with(serde_json::json!({"exp": now - LEEWAY_SECS - 10})), &key, template, now).unwrap_err();
        assert_eq!(expired, AccessTokenError::Expired);
        let app = v.check(
            &with(serde_json::json!({"scp": null, "idtyp": "app", "azp": "other", "roles": ["Job"]})),
            &key,
            template,
            now,
        );
        assert_eq!(app.unwrap_err(), AccessTokenError::ClientNotAllowed("other".into()));
        let app = v
            .check(&with(serde_json::json!({"scp": null, "idtyp": "app", "azp": "daemon"})), &key, template, now)
            .unwrap();
        assert!(app.app_only && app.identity_type() == "app");
        let bound = v.check(
            &with(serde_json::json!({})),
            &hs_key(Some("https://login.microsoftonline.com/consumers-key/v2.0")),
            template,
            now,
        );
        assert!(matches!(bound.unwrap_err(), AccessTokenError::Issuer(_)), "the key-issuer binding holds");
        assert_eq!(
            v.check(&with(serde_json::json!({"ver": null})), &key, template, now).unwrap_err(),
            AccessTokenError::Malformed("ver is neither 1.0 nor 2.0")
        );
        // A remembered token still expires.
        let t = with(serde_json::json!({}));
        v.check(&t, &key, template, now).unwrap();
        assert!(v.remembered(&t, now).is_some_and(|r| r.is_ok()));
        assert_eq!(v.remembered(&t, now + 600 + LEEWAY_SECS + 1).unwrap().unwrap_err(), AccessTokenError::Expired);
    }
}
