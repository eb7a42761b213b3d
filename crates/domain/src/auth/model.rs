//! Values produced by authentication.

use crate::ids::{OrganizationId, SessionId, UserId};
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
    /// The session the token belongs to; revoking it stops the token at once.
    pub session_id: SessionId,
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
    /// Tokens of the new user's first session, in the new organization.
    pub tokens: crate::sessions::TokenPair,
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

/// One organization the user belongs to, with the role held there.
#[derive(Debug, Clone)]
pub struct OrganizationMembership {
    /// The organization.
    pub organization: Organization,
    /// The user's role there.
    pub role: Role,
    /// When the user joined.
    pub joined_at: chrono::DateTime<chrono::Utc>,
}
