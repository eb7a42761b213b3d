//! Storage port for memberships.

use async_trait::async_trait;

use super::model::Membership;
use crate::auth::OrganizationMembership;
use crate::error::DomainResult;
use crate::ids::UserId;
use crate::scope::TenantScope;

/// Reads a user's memberships across organizations.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MembershipRepository: Send + Sync {
    /// Every membership of the user, oldest first. This is the login path, before a
    /// [`TenantScope`] exists: only the user's own rows are readable.
    async fn list_for_user(&self, user_id: UserId) -> DomainResult<Vec<Membership>>;

    /// The organizations `scope`'s user belongs to, with the role in each, oldest membership
    /// first. Only the user's own memberships, and the organizations they name, are read.
    async fn organizations_of(
        &self,
        scope: &TenantScope,
    ) -> DomainResult<Vec<OrganizationMembership>>;
}
