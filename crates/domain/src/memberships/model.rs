//! The membership entity.

use chrono::{DateTime, Utc};

use crate::ids::{OrganizationId, UserId};
use crate::scope::RoleRef;

/// A user's membership of one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The member.
    pub user_id: UserId,
    /// The member's current role there.
    pub role: RoleRef,
    /// When the user joined.
    pub created_at: DateTime<Utc>,
}
