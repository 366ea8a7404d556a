//! Who may sign in, beyond a valid token: the tenant list, required app roles, allowed groups
//! and e-mail domains. Evaluated at the callback on the ID token's claims and again on every use
//! of a session, so a policy tightened later applies to sessions already issued; a refusal is
//! `403 access_denied_by_policy`.
//!
//! It also says which groups a session keeps ([`KeptGroups`]): with `SSO_SESSION_GROUPS` set,
//! only those, the allowed groups and the proxy's path-rule groups.

use crate::idp::authority::{is_guid, PERSONAL_ACCOUNTS_TENANT};
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
    /// A per-request group requirement (`?group=`) naming a group sessions do not keep: with
    /// `SSO_SESSION_GROUPS` set it could never match, for any user; an operator's mistake.
    #[error(
        "group {0} is not kept in sessions: add it to SSO_SESSION_GROUPS (sessions keep only those, \
         SSO_ALLOWED_GROUPS and the path rules' groups), or it can never match"
    )]
    GroupNotKept(String),
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
    /// The groups that matter (`SSO_SESSION_GROUPS`, `SSO_ALLOWED_GROUPS`, path-rule groups), and
    /// whether sessions keep only those. Built by the settings and joined by `entra-sso proxy`'s
    /// path rules ([`Policy::keep_rule_groups`]); empty, every group is kept.
    pub kept_groups: KeptGroups,
}

/// The groups that matter to a deployment: `SSO_SESSION_GROUPS` ∪ `SSO_ALLOWED_GROUPS` ∪ the
/// groups `entra-sso proxy`'s path rules name. With `SSO_SESSION_GROUPS` set, a session, the
/// identity headers and the assertion carry only the user's groups among these
/// ([`KeptGroups::retain_in`], the one place the rule is applied); unset, every group is kept,
/// cut only to fit the cookie (those named here survive the cut first). Ids compare without
/// regard to case; GUIDs are stored lower-case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptGroups {
    /// `SSO_SESSION_GROUPS` is set: sessions store only [`KeptGroups::ids`].
    only: bool,
    /// The ids, GUIDs lower-cased, each once, in the order they were named.
    ids: Vec<String>,
}

impl KeptGroups {
    /// `SSO_SESSION_GROUPS` (`None`: unset, every group is kept) joined with `SSO_ALLOWED_GROUPS`.
    pub fn new(session_groups: Option<Vec<String>>, allowed_groups: &[String]) -> Self {
        let mut kept = Self { only: session_groups.is_some(), ids: Vec::new() };
        kept.join(session_groups.iter().flatten().chain(allowed_groups).map(String::as_str));
        kept
    }

    /// Adds `ids` to the set (each once).
    pub fn join<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            if !self.contains(id) {
                self.ids.push(normalised(id));
            }
        }
    }

    /// The ids that matter, GUIDs lower-case, each once: what a session keeps when
    /// [`KeptGroups::only_these`], and what the rules can ask about in any case.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Whether sessions keep only these groups (`SSO_SESSION_GROUPS` is set).
    pub fn only_these(&self) -> bool {
        self.only
    }

    /// Whether `id` is one of the set, without regard to case.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.iter().any(|k| k.eq_ignore_ascii_case(id))
    }

    /// Cuts a user's `groups` to those a session keeps: with `SSO_SESSION_GROUPS` set, only the
    /// ones in the set, GUIDs lower-cased, each once; otherwise unchanged. A complete list stays
    /// complete with respect to the set, so this never changes `groups_overage`.
    pub fn retain_in(&self, groups: &mut Vec<String>) {
        if !self.only {
            return;
        }
        let mut kept: Vec<String> = Vec::with_capacity(groups.len().min(self.ids.len()));
        for g in groups.drain(..) {
            if self.contains(&g) && !kept.iter().any(|k| k.eq_ignore_ascii_case(&g)) {
                kept.push(normalised(&g));
            }
        }
        *groups = kept;
    }
}

/// A group id as kept: a GUID lower-case, anything else (an on-premises group name) as written.
fn normalised(id: &str) -> String {
    if is_guid(id) {
        id.to_ascii_lowercase()
    } else {
        id.to_owned()
    }
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
            kept_groups: KeptGroups::default(),
        }
    }
}

impl Keep for Policy {
    fn keep_role(&self, role: &str) -> bool {
        self.required_roles.iter().any(|r| r == role)
    }

    fn keep_group(&self, group: &str) -> bool {
        self.allowed_groups.iter().any(|g| g.eq_ignore_ascii_case(group)) || self.kept_groups.contains(group)
    }

    fn retain_groups(&self, groups: &mut Vec<String>) {
        self.kept_groups.retain_in(groups);
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

    /// The group ids that matter to this deployment: `SSO_SESSION_GROUPS`, `SSO_ALLOWED_GROUPS`
    /// and the proxy's path-rule groups, GUIDs lower-case, each once; empty when nothing names a
    /// group. The groups a Graph lookup asks about when a token signals overage.
    pub fn relevant_groups(&self) -> &[String] {
        self.kept_groups.ids()
    }

    /// Adds the groups `entra-sso proxy`'s path rules name to those sessions keep, so a rule can
    /// always match; called once at start-up, before the instance is built.
    pub fn keep_rule_groups<'a>(&mut self, groups: impl IntoIterator<Item = &'a str>) {
        self.kept_groups.join(groups);
    }

    /// Whether a per-request requirement of `group` (`?group=`) can ever match: always, unless
    /// sessions keep only listed groups and this is not one of them
    /// ([`PolicyError::GroupNotKept`], `500 misconfigured`).
    pub fn group_requirement_kept(&self, group: &str) -> Result<(), PolicyError> {
        if self.kept_groups.only_these() && !self.kept_groups.contains(group) {
            return Err(PolicyError::GroupNotKept(crate::support::text::cap(group, 64)));
        }
        Ok(())
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

    const G1: &str = "0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e";
    const G2: &str = "7f3c0000-0000-4000-8000-000000000002";
    const G3: &str = "7f3c0000-0000-4000-8000-000000000003";

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn kept_groups_are_the_union_each_once_lower_case() {
        let allowed = strings(&[&G2.to_ascii_uppercase(), G1]);
        let mut p = Policy {
            kept_groups: KeptGroups::new(Some(strings(&[G1])), &allowed),
            allowed_groups: allowed,
            ..Default::default()
        };
        p.keep_rule_groups([G3, G1, "Contoso\\Admins"]);
        assert_eq!(p.relevant_groups(), strings(&[G1, G2, G3, "Contoso\\Admins"]));
        assert!(p.kept_groups.only_these());
        let unset = KeptGroups::new(None, &strings(&[G1]));
        assert_eq!((unset.only_these(), unset.ids()), (false, &strings(&[G1])[..]), "allowed groups matter unset too");
        assert!(KeptGroups::default().ids().is_empty());
    }

    #[test]
    fn sessions_keep_only_kept_groups_when_listed_and_every_group_otherwise() {
        let listed = KeptGroups::new(Some(strings(&[G1, G2])), &[]);
        let mut groups = strings(&[G3, &G1.to_ascii_uppercase(), "x", G2, G1]);
        listed.retain_in(&mut groups);
        assert_eq!(groups, strings(&[G1, G2]), "others dropped, lower-case, each once, in the token's order");
        let p = Policy { kept_groups: listed, ..Default::default() };
        let mut groups = strings(&[G3, G2]);
        p.retain_groups(&mut groups);
        assert_eq!(groups, strings(&[G2]), "the policy applies the same rule");
        let unset = Policy { allowed_groups: strings(&[G1]), ..Default::default() };
        let mut groups = strings(&[G3, &G2.to_ascii_uppercase()]);
        unset.retain_groups(&mut groups);
        assert_eq!(groups, strings(&[G3, &G2.to_ascii_uppercase()]), "unset: today's behaviour");
        assert!(unset.keep_group(&G1.to_ascii_uppercase()) && !unset.keep_group(G3), "allowed groups survive cuts");
    }

    #[test]
    fn group_requirements_outside_the_kept_groups_are_the_operators_mistake() {
        let p = Policy { kept_groups: KeptGroups::new(Some(strings(&[G1])), &[]), ..Default::default() };
        assert_eq!(p.group_requirement_kept(&G1.to_ascii_uppercase()), Ok(()));
        let why = p.group_requirement_kept(G2).unwrap_err();
        assert_eq!(why, PolicyError::GroupNotKept(G2.into()));
        assert!(why.to_string().contains("SSO_SESSION_GROUPS"), "{why}");
        assert_eq!(Policy::default().group_requirement_kept(G2), Ok(()), "unset: every group is kept");
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
