//! Values produced by authentication.

use crate::organizations::Organization;
use crate::scope::{PermissionSet, Role, RoleRef};
use crate::users::User;

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
