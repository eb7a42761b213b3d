//! Values produced by authentication.

use crate::ids::{OrganizationId, UserId};
use crate::organizations::Organization;
use crate::scope::Role;
use crate::users::User;

/// Who an access token speaks for. The role is informational: authorization always reads the
/// current membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user.
    pub user_id: UserId,
    /// The organization the token is for.
    pub organization_id: OrganizationId,
    /// The role when the token was issued.
    pub role: Role,
}

/// A signed access token, ready for the client.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The encoded token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The outcome of a sign-up.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The new user.
    pub user: User,
    /// The new organization.
    pub organization: Organization,
    /// The new user's role (owner).
    pub role: Role,
    /// An access token for the new organization.
    pub token: AccessToken,
}

/// The acting user, organization and role of a scope.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user.
    pub user: User,
    /// The organization.
    pub organization: Organization,
    /// The user's current role there.
    pub role: Role,
}
