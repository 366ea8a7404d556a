//! The dev identity provider's users.

/// A user of the dev identity provider.
#[derive(Debug)]
pub struct DevUser {
    /// The id the sign-in form posts (`user=<id>`).
    pub id: &'static str,
    /// Object id (`oid`).
    pub oid: &'static str,
    /// Display name (`name`).
    pub name: &'static str,
    /// Sign-in name and e-mail.
    pub username: &'static str,
    /// App roles (`roles`).
    pub roles: &'static [&'static str],
    /// Group ids (`groups`).
    pub groups: &'static [&'static str],
    /// How the sign-in page describes the user.
    pub description: &'static str,
}

/// Every dev user: `alice` is a member, `bob` holds the app role `Admin`.
pub const USERS: &[DevUser] = &[
    DevUser {
        id: "alice",
        oid: "a11ce000-0000-4000-8000-00000000a11c",
        name: "Alice Example",
        username: "alice@dev.example",
        roles: &[],
        groups: &["0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e"],
        description: "member, one group",
    },
    DevUser {
        id: "bob",
        oid: "b0b00000-0000-4000-8000-000000000b0b",
        name: "Bob Example",
        username: "bob@dev.example",
        roles: &["Admin"],
        groups: &[],
        description: "holds the app role Admin",
    },
];

impl DevUser {
    /// Whether a `login_hint` names this user: the sign-in name (any case), the form id, or the
    /// opaque `login_hint` claim of the user's ID tokens (`dev-hint-<id>`), which is what a
    /// renewal sends back, as Entra's `login_hint` claim is meant to be.
    pub fn is_named_by(&self, hint: &str) -> bool {
        hint.eq_ignore_ascii_case(self.username) || hint == self.id || hint.strip_prefix("dev-hint-") == Some(self.id)
    }
}

/// The user with form id `id`.
pub fn find(id: &str) -> Option<&'static DevUser> {
    USERS.iter().find(|u| u.id == id)
}
