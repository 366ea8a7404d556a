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
    /// How many more groups the user is in, [`many_group`]`(0..n)`: past [`OVERAGE_LIMIT`]
    /// in all, the tokens carry Entra's overage marker instead of `groups`.
    pub many_groups: u16,
    /// How the sign-in page describes the user.
    pub description: &'static str,
}

/// Every dev user: `alice` is a member, `bob` holds the app role `Admin`, `carol` is in 251
/// groups (her tokens carry the groups overage marker; Graph lists them).
pub const USERS: &[DevUser] = &[
    DevUser {
        id: "alice",
        oid: "a11ce000-0000-4000-8000-00000000a11c",
        name: "Alice Example",
        username: "alice@dev.example",
        roles: &[],
        groups: &["0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e"],
        many_groups: 0,
        description: "member, one group",
    },
    DevUser {
        id: "bob",
        oid: "b0b00000-0000-4000-8000-000000000b0b",
        name: "Bob Example",
        username: "bob@dev.example",
        roles: &["Admin"],
        groups: &[],
        many_groups: 0,
        description: "holds the app role Admin",
    },
    DevUser {
        id: "carol",
        oid: "ca201000-0000-4000-8000-00000000ca20",
        name: "Carol Example",
        username: "carol@dev.example",
        roles: &[],
        groups: &["0d1e6f3a-7c2b-4c53-9c1e-5a1d2b3c4d5e"],
        many_groups: 250,
        description: "in 251 groups: groups overage",
    },
];

/// Most groups Entra lists in an ID or access token (JWT); past it comes the overage marker.
pub const OVERAGE_LIMIT: usize = 200;

/// The `i`-th of the many groups ([`DevUser::many_groups`]): `ca20c000-0000-4000-8000-<i>`,
/// `i` as 12 hex digits, so tests can name any of them.
pub fn many_group(i: u16) -> String {
    format!("ca20c000-0000-4000-8000-{i:012x}")
}

impl DevUser {
    /// Every group the user is in.
    pub fn all_groups(&self) -> Vec<String> {
        self.groups.iter().map(|g| (*g).to_owned()).chain((0..self.many_groups).map(many_group)).collect()
    }

    /// Whether the user's groups are too many for a token (groups overage).
    pub fn has_overage(&self) -> bool {
        self.groups.len() + usize::from(self.many_groups) > OVERAGE_LIMIT
    }

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
