//! Storage port for platform administration.

use async_trait::async_trait;

use super::model::{
    NewOrganization, PlatformOrganization, PlatformOrganizationQuery, PlatformScope,
};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::{OrganizationId, UserId};
use crate::page::Page;
use crate::scope::TenantScope;

/// What the platform reads and changes across organizations. Adapters open only the
/// organizations' own records this way, never their data.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PlatformRepository: Send + Sync {
    /// Whether the user is a superuser now.
    async fn is_superuser(&self, user: UserId) -> DomainResult<bool>;

    /// A page of organizations, by name.
    async fn list(
        &self,
        scope: &PlatformScope,
        query: PlatformOrganizationQuery,
    ) -> DomainResult<Page<PlatformOrganization>>;

    /// One organization ([`crate::DomainError::NotFound`] if there is none).
    async fn get(
        &self,
        scope: &PlatformScope,
        id: OrganizationId,
    ) -> DomainResult<PlatformOrganization>;

    /// Stores a new organization with its owner's invitation and email, recording `entry` in
    /// its audit trail under `tenant` (the superuser acting in the new organization).
    async fn create(
        &self,
        scope: &PlatformScope,
        tenant: &TenantScope,
        new: &NewOrganization,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Suspends (or, with `false`, reactivates) `tenant`'s organization, recording `entry` in
    /// its audit trail. Answers it as it now is ([`crate::DomainError::NotFound`] if there is
    /// none).
    async fn set_suspended(
        &self,
        scope: &PlatformScope,
        tenant: &TenantScope,
        suspended: bool,
        entry: AuditEntry,
    ) -> DomainResult<PlatformOrganization>;
}
