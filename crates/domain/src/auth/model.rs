//! Values produced by authentication.

use crate::ids::{ImpersonationId, OrganizationId, SessionId, UserId};
use crate::organizations::Organization;
use crate::scope::{PermissionSet, Role, RoleRef};
use crate::users::User;

/// Who an access token speaks for. It names no role: authorization reads the current
/// membership on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user.
    pub user_id: UserId,
    /// The organization the token is for.
    pub organization_id: OrganizationId,
    /// The session the token belongs to; revoking it stops the token at once.
    pub session_id: SessionId,
}

/// Who a platform token speaks for. Platform tokens are short-lived, have no refresh token,
/// and are checked against the user's current superuser flag on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformToken {
    /// A superuser administering the platform (`/admin`); no access to any tenant's data.
    Admin {
        /// The superuser.
        superuser: UserId,
    },
    /// A superuser impersonating an organization: read access to its data, every request
    /// audited there with the superuser as impersonator.
    Impersonation {
        /// The superuser.
        superuser: UserId,
        /// The organization.
        organization_id: OrganizationId,
        /// The impersonation, as recorded when it started.
        id: ImpersonationId,
    },
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
    pub role: RoleRef,
    /// What that role grants.
    pub permissions: PermissionSet,
}

/// One organization the user belongs to, with the role held there.
#[derive(Debug, Clone)]
pub struct OrganizationMembership {
    /// The organization.
    pub organization: Organization,
    /// The user's role there.
    pub role: RoleRef,
    /// When the user joined.
    pub joined_at: chrono::DateTime<chrono::Utc>,
}
