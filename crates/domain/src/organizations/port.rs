//! Storage port for organizations.

use async_trait::async_trait;

use super::model::{Organization, OrganizationName, Registration};
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

    /// Renames the organization, recording `entry`; answers it renamed.
    async fn rename(
        &self,
        scope: &TenantScope,
        name: &OrganizationName,
        entry: AuditEntry,
    ) -> DomainResult<Organization>;
}
