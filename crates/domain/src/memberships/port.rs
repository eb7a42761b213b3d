//! Storage port for memberships.

use async_trait::async_trait;

use super::model::Membership;
use crate::error::DomainResult;
use crate::ids::{OrganizationId, UserId};

/// Reads memberships on the authentication path, before a [`crate::TenantScope`] exists:
/// these lookups are what a scope is made from.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MembershipRepository: Send + Sync {
    /// The user's current membership of the organization, if it still exists. Used on every
    /// authenticated request, so that removal or demotion takes effect at once.
    async fn find(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
    ) -> DomainResult<Option<Membership>>;

    /// Every membership of the user, oldest first (login picks the organization from these).
    async fn list_for_user(&self, user_id: UserId) -> DomainResult<Vec<Membership>>;
}
