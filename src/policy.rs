//! Who may sign in, beyond a valid token: required app roles, allowed groups and e-mail domains.
//! Evaluated at the callback on the ID token's claims and again on every use of a session, so
//! a policy tightened later applies to sessions already issued; a refusal is
//! `403 access_denied_by_policy`.

use crate::id_token::IdClaims;

/// The claims a policy looks at, from an ID token or a session.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
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
            roles: &id.roles,
            groups: &id.groups,
            groups_overage: id.groups_overage(),
            email: id.email.as_deref(),
            username: id.preferred_username.as_deref(),
        }
    }
}

/// The sign-in policy of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `SSO_REQUIRED_ROLES`: the user needs at least one of these app roles.
    pub required_roles: Vec<String>,
    /// `SSO_ALLOWED_GROUPS`: the user needs to be in at least one of these groups (object ids).
    pub allowed_groups: Vec<String>,
    /// `SSO_ALLOWED_EMAIL_DOMAINS`: the user's e-mail (or sign-in name) must be in one of these
    /// domains. Only accepted together with a tenant restriction.
    pub email_domains: Vec<String>,
}

impl Policy {
    /// Whether the policy restricts anything.
    pub fn is_open(&self) -> bool {
        self.required_roles.is_empty() && self.allowed_groups.is_empty() && self.email_domains.is_empty()
    }

    /// Whether group `g` is one of the allowed groups.
    pub fn allows_group(&self, g: &str) -> bool {
        self.allowed_groups.iter().any(|a| a.eq_ignore_ascii_case(g))
    }

    /// Whether role `r` is one of the required roles.
    pub fn wants_role(&self, r: &str) -> bool {
        self.required_roles.iter().any(|a| a == r)
    }

    /// Checks validated claims; the error says which rule refused.
    pub fn check<'a>(&self, who: impl Into<Subject<'a>>) -> Result<(), String> {
        let who = who.into();
        if !self.required_roles.is_empty() && !who.roles.iter().any(|r| self.wants_role(r)) {
            return Err(format!("none of the required roles {:?}", self.required_roles));
        }
        if !self.allowed_groups.is_empty() && !who.groups.iter().any(|g| self.allows_group(g)) {
            // With overage the claims do not say which other groups the user is in: deny, never guess.
            if who.groups_overage {
                return Err("groups overage: the token does not list the user's groups".into());
            }
            return Err("in none of the allowed groups".into());
        }
        if !self.email_domains.is_empty() {
            let address = who.email.or(who.username).unwrap_or("");
            let domain = address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
            if !self.email_domains.contains(&domain) {
                return Err(format!("e-mail domain `{domain}` is not allowed"));
            }
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
    fn roles_any_of() {
        let p = Policy { required_roles: vec!["Admin".into(), "Ops".into()], ..Default::default() };
        assert!(p.check(&claims(serde_json::json!({"roles": ["Reader"]}))).is_err());
        assert!(p.check(&claims(serde_json::json!({"roles": ["Reader", "Ops"]}))).is_ok());
    }

    #[test]
    fn groups_overage_denies() {
        let p = Policy { allowed_groups: vec!["g1".into()], ..Default::default() };
        assert!(p.check(&claims(serde_json::json!({"groups": ["g1"]}))).is_ok());
        assert!(p.check(&claims(serde_json::json!({"groups": ["g2"]}))).is_err());
        let overage = claims(serde_json::json!({"_claim_names": {"groups": "src1"}}));
        assert!(p.check(&overage).unwrap_err().contains("overage"));
    }

    #[test]
    fn a_session_cut_to_its_allowed_groups_still_passes() {
        let p = Policy { allowed_groups: vec!["G1".into()], ..Default::default() };
        let groups = vec!["g1".to_string()];
        let cut = Subject { roles: &[], groups: &groups, groups_overage: true, email: None, username: None };
        assert!(p.check(cut).is_ok());
        assert!(p.check(Subject { groups: &[], ..cut }).unwrap_err().contains("overage"));
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
