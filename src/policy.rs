//! Who may sign in, beyond a valid token: required app roles, allowed groups and e-mail domains.
//! Evaluated once at the callback on the ID token's claims; a refusal is
//! `403 access_denied_by_policy`.

use crate::id_token::IdClaims;

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

    /// Checks a validated ID token's claims; the error says which rule refused.
    pub fn check(&self, id: &IdClaims) -> Result<(), String> {
        if !self.required_roles.is_empty() && !id.roles.iter().any(|r| self.required_roles.contains(r)) {
            return Err(format!("none of the required roles {:?}", self.required_roles));
        }
        if !self.allowed_groups.is_empty() {
            // With overage the token does not say which groups the user is in: deny, never guess.
            if id.groups_overage() {
                return Err("groups overage: the token does not list the user's groups".into());
            }
            if !id.groups.iter().any(|g| self.allowed_groups.iter().any(|a| a.eq_ignore_ascii_case(g))) {
                return Err("in none of the allowed groups".into());
            }
        }
        if !self.email_domains.is_empty() {
            let address = id.email.as_deref().or(id.preferred_username.as_deref()).unwrap_or("");
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
    fn email_domains() {
        let p = Policy { email_domains: vec!["contoso.com".into()], ..Default::default() };
        assert!(p.check(&claims(serde_json::json!({"email": "a@Contoso.com"}))).is_ok());
        assert!(p.check(&claims(serde_json::json!({"preferred_username": "a@contoso.com"}))).is_ok());
        assert!(p.check(&claims(serde_json::json!({"email": "a@contoso.com.evil"}))).is_err());
        assert!(p.check(&claims(serde_json::json!({}))).is_err());
    }
}
