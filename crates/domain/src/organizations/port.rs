//! Storage port for organizations.

use async_trait::async_trait;

use super::model::{Organization, OrganizationMembership, Registration};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::scope::TenantScope;

/// Stores organizations.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OrganizationRepository: Send + Sync {
    /// Creates the organization, its first user and the owner membership, and records
    /// `organization.created`, in one transaction. `scope` is the new owner's scope in the new
    /// organization. Fails with [`crate::DomainError::Conflict`] when the email is already
    /// registered, and then stores nothing.
    async fn register(&self, scope: &TenantScope, registration: &Registration) -> DomainResult<()>;

    /// The organization `scope` is confined to.
    async fn current(&self, scope: &TenantScope) -> DomainResult<Organization>;

    /// Deletes (suspends) the organization, recording `entry`: from then on no token or key of
    /// it works, except to restore it.
    async fn delete(&self, scope: &TenantScope, entry: AuditEntry) -> DomainResult<()>;

    /// Restores the deleted organization if it was deleted after `deleted_after` (within the
    /// grace period; [`crate::DomainError::Conflict`] otherwise), recording `entry`.
    async fn restore(
        &self,
        scope: &TenantScope,
        deleted_after: chrono::DateTime<chrono::Utc>,
        entry: AuditEntry,
    ) -> DomainResult<Organization>;

    /// Stores the organization's new name and settings, recording `entry`; answers it as
    /// stored.
    async fn update(
        &self,
        scope: &TenantScope,
        changed: &Organization,
        entry: AuditEntry,
    ) -> DomainResult<Organization>;

    /// The organizations `scope`'s user belongs to, with the role in each, oldest membership
    /// first. Only the user's own memberships, and the organizations they name, are read.
    async fn of_user(&self, scope: &TenantScope) -> DomainResult<Vec<OrganizationMembership>>;
}
