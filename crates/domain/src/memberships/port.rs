//! Storage port for memberships.

use async_trait::async_trait;

use super::model::Membership;
use crate::error::DomainResult;
use crate::ids::{OrganizationId, SessionId, UserId};
use crate::scope::Grant;

/// Reads a user's memberships across organizations.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MembershipRepository: Send + Sync {
    /// Every membership of the user, oldest first. This is the login path, before a
    /// [`TenantScope`] exists: only the user's own rows are readable.
    async fn list_for_user(&self, user_id: UserId) -> DomainResult<Vec<Membership>>;

    /// What `user` holds in `organization` right now: the role and its current permissions,
    /// provided the organization exists and is not suspended, the user is a member, and
    /// `session` (when given) is live and in that organization. `None` otherwise. A deleted
    /// organization still gives its members a grant, so that an owner can restore it; every
    /// other unit of work in it is refused when it begins. This is what authorization reads on
    /// every request, instead of anything a token claims.
    async fn grant(
        &self,
        organization: OrganizationId,
        user: UserId,
        session: Option<SessionId>,
    ) -> DomainResult<Option<Grant>>;
}
