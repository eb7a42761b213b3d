//! Storage port for memberships.

use async_trait::async_trait;

use super::model::Membership;
use crate::error::DomainResult;
use crate::ids::UserId;

/// Reads memberships on the login path, before a [`crate::TenantScope`] exists.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MembershipRepository: Send + Sync {
    /// Every membership of the user, oldest first (login picks the organization from these).
    async fn list_for_user(&self, user_id: UserId) -> DomainResult<Vec<Membership>>;
}
