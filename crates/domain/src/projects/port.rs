//! Storage port for the members of projects. Projects themselves are stored through the
//! kit's port, `TenantRepository<Projects>`.

use async_trait::async_trait;

use super::model::{ProjectMember, ProjectRole};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::{ProjectId, UserId};
use crate::scope::TenantScope;

/// Stores the members of projects. Every method is confined to `scope`'s organization; a
/// project of another organization is [`crate::DomainError::NotFound`].
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProjectMemberRepository: Send + Sync {
    /// The members of a live project, by when they were added.
    async fn members(
        &self,
        scope: &TenantScope,
        project: ProjectId,
    ) -> DomainResult<Vec<ProjectMember>>;

    /// `user`'s role in the project, if any.
    async fn role_of(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        user: UserId,
    ) -> DomainResult<Option<ProjectRole>>;

    /// Adds `member` to a live project (or changes their role), recording `entry`.
    /// [`crate::DomainError::Validation`] on `user_id` when the user is not a member of the
    /// organization (another organization's user reads exactly like an unknown one).
    async fn put(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        member: &ProjectMember,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Removes a member from a project ([`crate::DomainError::NotFound`] if not one),
    /// recording `entry`.
    async fn remove(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        user: UserId,
        entry: AuditEntry,
    ) -> DomainResult<()>;
}
