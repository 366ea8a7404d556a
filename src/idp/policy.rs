//! Who may sign in, beyond a valid token: the tenant list, required app roles, allowed groups
//! and e-mail domains. Evaluated at the callback on the ID token's claims and again on every use
//! of a session, so a policy tightened later applies to sessions already issued; a refusal is
//! `403 access_denied_by_policy`.

use crate::idp::authority::PERSONAL_ACCOUNTS_TENANT;
use crate::idp::id_token::IdClaims;
use crate::tokens::session::{Keep, SessionClaims};

/// Which tenants may sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantPolicy {
    /// No list: only meaningful for a fixed-tenant authority, whose issuer check pins the tenant.
    Unrestricted,
    /// `SSO_ALLOWED_TENANTS=*`: a multi-tenant app that explicitly accepts every tenant.
    Any,
    /// Only these tenant ids (lower-case).
    Only(Vec<String>),
}

/// The claims a policy looks at, from an ID token or a session.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Tenant id (lower-case).
    pub tid: Option<&'a str>,
    /// App roles.
    pub roles: &'a [String],
    /// Group ids; with `groups_overage`, possibly only some of the user's groups.
    pub groups: &'a [String],
    /// The groups listed are not all of the user's groups.
    pub groups_overage: bool,
    /// E-mail address.
    pub email: Option<&'a str>,
    /// Sign-in name.
    pub username: Option<&'a str>,
}

impl<'a> From<&'a IdClaims> for Subject<'a> {
    fn from(id: &'a IdClaims) -> Self {
        Subject {
            tid: id.tid.as_deref(),
            roles: &id.roles,
            groups: &id.groups,
            groups_overage: id.groups_overage(),
            email: id.email.as_deref(),
            username: id.preferred_username.as_deref(),
        }
    }
}

impl<'a> From<&'a SessionClaims> for Subject<'a> {
    fn from(s: &'a SessionClaims) -> Self {
        Subject {
            tid: s.tid.as_deref(),
            roles: &s.roles,
            groups: &s.groups,
            groups_overage: s.groups_overage,
            email: s.email.as_deref(),
            username: s.preferred_username.as_deref(),
        }
    }
}

/// Which rule refused a user (logged for the operator; the user sees `access_denied_by_policy`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `tid` is not on `SSO_ALLOWED_TENANTS`, or a personal account where the authority admits none.
    #[error("tenant {0} is not allowed")]
    Tenant(String),
    /// No `tid` although only listed tenants may sign in.
    #[error("no tenant id, and only listed tenants may sign in")]
    NoTenant,
    /// None of `SSO_REQUIRED_ROLES`.
    #[error("none of the required roles {0:?}")]
    Roles(Vec<String>),
    /// In none of `SSO_ALLOWED_GROUPS`, and the claims do not list all groups.
    #[error("groups overage: the token does not list the user's groups")]
    GroupsOverage,
    /// In none of `SSO_ALLOWED_GROUPS`.
    #[error("in none of the allowed groups")]
    Groups,
    /// The e-mail domain is not in `SSO_ALLOWED_EMAIL_DOMAINS`.
    #[error("e-mail domain `{0}` is not allowed")]
    EmailDomain(String),
    /// A role or group rule while every tenant may sign in: an operator's mistake, refused for
    /// every user rather than trusting a role anyone can grant themselves.
    #[error("{0} {RESTRICT}: every tenant's administrators assign roles and groups in their own tenant")]
    UntrustedRule(&'static str),
}

/// Why a role, group or e-mail rule is refused without a tenant restriction.
pub const RESTRICT: &str =
    "needs a tenant restriction (a single-tenant authority or SSO_ALLOWED_TENANTS with tenant ids)";

/// The sign-in policy of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `SSO_ALLOWED_TENANTS`.
    pub tenants: TenantPolicy,
    /// Whether personal Microsoft accounts may sign in (the authority's verdict).
    pub personal_accounts: bool,
    /// `SSO_REQUIRED_ROLES`: the user needs at least one of these app roles.
    pub required_roles: Vec<String>,
    /// `SSO_ALLOWED_GROUPS`: the user needs to be in at least one of these groups (object ids).
    pub allowed_groups: Vec<String>,
    /// `SSO_ALLOWED_EMAIL_DOMAINS`: the user's e-mail (or sign-in name) must be in one of these
    /// domains. Only accepted together with a tenant restriction.
    pub email_domains: Vec<String>,
    /// Whether only known tenants can sign in (a single-tenant authority, or a list in
    /// `SSO_ALLOWED_TENANTS`). Roles and groups mean something only then: with every tenant
    /// admitted, anyone can make a tenant and assign themselves any role or group.
    pub tenant_scoped: bool,
}

impl Default for Policy {
    /// Admits everyone a fixed-tenant authority's issuer check admits.
    fn default() -> Self {
        Self {
            tenants: TenantPolicy::Unrestricted,
            personal_accounts: true,
            required_roles: Vec::new(),
            allowed_groups: Vec::new(),
            email_domains: Vec::new(),
            tenant_scoped: true,
        }
    }
}

impl Keep for Policy {
    fn keep_role(&self, role: &str) -> bool {
        self.required_roles.iter().any(|r| r == role)
    }

    fn keep_group(&self, group: &str) -> bool {
        self.allowed_groups.iter().any(|g| g.eq_ignore_ascii_case(group))
    }
}

impl Policy {
    /// The one gate before any role or group is read, at start-up (`SSO_REQUIRED_ROLES`,
    /// `SSO_ALLOWED_GROUPS`) and per request (forward auth's `?role=` / `?group=`, path rules):
    /// refused unless tenants are restricted. `rule` names the rule for the operator.
    pub fn trust_roles_and_groups(&self, rule: &'static str) -> Result<(), PolicyError> {
        if self.tenant_scoped {
            Ok(())
        } else {
            Err(PolicyError::UntrustedRule(rule))
        }
    }

    /// Checks validated claims; the error says which rule refused.
    pub fn check<'a>(&self, who: impl Into<Subject<'a>>) -> Result<(), PolicyError> {
        let who = who.into();
        self.check_tenant(who.tid)?;
        if !self.required_roles.is_empty() && !who.roles.iter().any(|r| self.keep_role(r)) {
            return Err(PolicyError::Roles(self.required_roles.clone()));
        }
        if !self.allowed_groups.is_empty() && !who.groups.iter().any(|g| self.keep_group(g)) {
            // With overage the claims do not say which other groups the user is in: deny, never guess.
            return Err(if who.groups_overage { PolicyError::GroupsOverage } else { PolicyError::Groups });
        }
        if !self.email_domains.is_empty() {
            let address = who.email.or(who.username).unwrap_or("");
            let domain = address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
            if !self.email_domains.contains(&domain) {
                return Err(PolicyError::EmailDomain(domain));
            }
        }
        Ok(())
    }

    fn check_tenant(&self, tid: Option<&str>) -> Result<(), PolicyError> {
        let Some(tid) = tid else {
            return match self.tenants {
                TenantPolicy::Only(_) => Err(PolicyError::NoTenant),
                _ => Ok(()),
            };
        };
        let listed = match &self.tenants {
            TenantPolicy::Unrestricted | TenantPolicy::Any => true,
            TenantPolicy::Only(list) => list.iter().any(|t| t.eq_ignore_ascii_case(tid)),
        };
        if !listed || (!self.personal_accounts && tid.eq_ignore_ascii_case(PERSONAL_ACCOUNTS_TENANT)) {
            return Err(PolicyError::Tenant(tid.to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> IdClaims {
        let mut base = serde_json::json!({"iss": "i", "sub": "s", "exp": 1, "iat": 1});
        base.as_object_mut().unwrap().extend(json.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn tenants_and_personal_accounts() {
        let listed = Policy { tenants: TenantPolicy::Only(vec!["t1".into()]), ..Default::default() };
        assert!(listed.check(&claims(serde_json::json!({"tid": "T1"}))).is_ok());
        assert_eq!(listed.check(&claims(serde_json::json!({"tid": "t2"}))), Err(PolicyError::Tenant("t2".into())));
        assert_eq!(listed.check(&claims(serde_json::json!({}))), Err(PolicyError::NoTenant));
        let work_only = Policy { tenants: TenantPolicy::Any, personal_accounts: false, ..Default::default() };
        let upper = PERSONAL_ACCOUNTS_TENANT.to_ascii_uppercase();
        assert!(work_only.check(&claims(serde_json::json!({"tid": upper}))).is_err());
        assert!(work_only.check(&claims(serde_json::json!({"tid": "t2"}))).is_ok());
    }

    #[test]
    fn role_and_group_rules_are_trusted_only_with_tenants_restricted() {
        assert_eq!(Policy::default().trust_roles_and_groups("a ?role= requirement"), Ok(()));
        let open = Policy { tenants: TenantPolicy::Any, tenant_scoped: false, ..Default::default() };
        let why = open.trust_roles_and_groups("a ?role= requirement").unwrap_err();
        assert_eq!(why, PolicyError::UntrustedRule("a ?role= requirement"));
        let text = why.to_string();
        assert!(
            text.contains("SSO_ALLOWED_TENANTS") && text.contains("?role="),
            "the operator's log names both: {text}"
        );
    }

    #[test]
    fn roles_any_of() {
        let p = Policy { required_roles: vec!["Admin".into(), "Ops".into()], ..Default::default() };
        assert!(p.check(&claims(serde_json::json!({"roles": ["Reader"]}))).is_err());
        assert!(p.check(&claims(serde_json::json!({"roles": ["Reader", "Ops"]}))).is_ok());
    }

    #[test]
    fn groups_overage_denies() {
        let p = Policy { allowed_groups: vec!["g1".into()], ..Default::default() };
        assert!(p.check(&claims(serde_json::json!({"groups": ["g1"]}))).is_ok());
        assert_eq!(p.check(&claims(serde_json::json!({"groups": ["g2"]}))), Err(PolicyError::Groups));
        let overage = claims(serde_json::json!({"_claim_names": {"groups": "src1"}}));
        assert_eq!(p.check(&overage), Err(PolicyError::GroupsOverage));
    }

    #[test]
    fn a_session_cut_to_its_allowed_groups_still_passes() {
        let p = Policy { allowed_groups: vec!["G1".into()], ..Default::default() };
        let groups = vec!["g1".to_string()];
        let cut = Subject { tid: None, roles: &[], groups: &groups, groups_overage: true, email: None, username: None };
        assert!(p.check(cut).is_ok());
        assert_eq!(p.check(Subject { groups: &[], ..cut }), Err(PolicyError::GroupsOverage));
    }

    #[test]
    fn email_domains() {
        let p = Policy { email_domains: vec!["contoso.com".into()], ..Default::default() };
        assert!(p.check(&claims(serde_json::json!({"email": "a@Contoso.com"}))).is_ok());
        assert!(p.check(&claims(serde_json::json!({"preferred_username": "a@contoso.com"}))).is_ok());
        assert!(p.check(&claims(serde_json::json!({"email": "a@contoso.com.evil"}))).is_err());
        assert!(p.check(&claims(serde_json::json!({}))).is_err());
    }
}
