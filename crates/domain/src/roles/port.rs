//! Storage port for custom roles.

use async_trait::async_trait;

use super::model::CustomRole;
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::RoleId;
use crate::scope::TenantScope;

/// Reads and changes the custom roles of `scope`'s organization.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// The organization's custom roles, by name.
    async fn list(&self, scope: &TenantScope) -> DomainResult<Vec<CustomRole>>;

    /// One custom role ([`crate::DomainError::NotFound`] for any other organization's).
    async fn get(&self, scope: &TenantScope, id: RoleId) -> DomainResult<CustomRole>;

    /// Stores a new role, recording `entry`; a name the organization already uses (in any
    /// case) is a [`crate::DomainError::Conflict`].
    async fn create(
        &self,
        scope: &TenantScope,
        role: &CustomRole,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Replaces a role's name and permissions, recording `entry`, under the same name rule.
    /// With `end_sessions`, the sessions of its holders in this organization end in the same
    /// transaction.
    async fn update(
        &self,
        scope: &TenantScope,
        role: &CustomRole,
        end_sessions: bool,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Deletes a role, recording `entry`. A role a member holds, or a pending invitation
    /// offers, is a [`crate::DomainError::Conflict`] and stays.
    async fn delete(&self, scope: &TenantScope, id: RoleId, entry: AuditEntry) -> DomainResult<()>;
}
