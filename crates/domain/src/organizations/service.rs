//! Reading and changing the scope's own organization.

use std::sync::Arc;

use super::model::{Organization, OrganizationName};
use super::port::OrganizationRepository;
use crate::audit::AuditEntry;
use chrono::Duration;

use crate::error::{DomainError, DomainResult};
use crate::scope::{Permission, TenantScope};

/// The organization use cases.
#[derive(Clone)]
pub struct OrganizationService {
    organizations: Arc<dyn OrganizationRepository>,
    grace: Duration,
}

impl OrganizationService {
    /// Wires the service; a deleted organization can be restored for `grace` (then
    /// `bulkhead purge` removes it).
    pub fn new(organizations: Arc<dyn OrganizationRepository>, grace: Duration) -> Self {
        Self {
            organizations,
            grace,
        }
    }

    /// Deletes the organization (organization:delete: owners), given its exact name as
    /// confirmation. It is suspended at once: every token and key of it stops working, except
    /// an owner's to restore it within the grace period.
    pub async fn delete(&self, scope: &TenantScope, confirm: &str) -> DomainResult<()> {
        scope.require(Permission::OrganizationDelete)?;
        let organization = self.organizations.current(scope).await?;
        if confirm != organization.name.as_str() {
            return Err(DomainError::invalid(
                "confirm",
                "mismatch",
                "type the organization's exact name to confirm",
            ));
        }
        let entry = AuditEntry::about(
            "organization.deleted",
            &organization,
            serde_json::json!({ "grace_days": self.grace.num_days() }),
        );
        self.organizations.delete(scope, entry).await
    }

    /// Restores a deleted organization within the grace period (organization:delete).
    pub async fn restore(&self, scope: &TenantScope) -> DomainResult<Organization> {
        scope.require(Permission::OrganizationDelete)?;
        let entry = AuditEntry::event(
            "organization.restored",
            "organization",
            Some(scope.organization_id().to_string()),
            serde_json::Value::Null,
        );
        self.organizations
            .restore(scope, crate::now() - self.grace, entry)
            .await
    }

    /// The scope's organization (organization:read).
    pub async fn current(&self, scope: &TenantScope) -> DomainResult<Organization> {
        scope.require(Permission::OrganizationRead)?;
        self.organizations.current(scope).await
    }

    /// Renames the scope's organization (organization:update); audited with the old and new
    /// name.
    pub async fn rename(&self, scope: &TenantScope, name: &str) -> DomainResult<Organization> {
        scope.require(Permission::OrganizationUpdate)?;
        let name = OrganizationName::parse("name", name)?;
        let before = self.organizations.current(scope).await?;
        let after = Organization {
            name: name.clone(),
            ..before.clone()
        };
        let entry = AuditEntry::updated("organization.updated", &before, &after);
        self.organizations.rename(scope, &name, entry).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrganizationId, UserId};
    use crate::organizations::MockOrganizationRepository;
    use crate::scope::Role;

    #[tokio::test]
    async fn only_admins_and_owners_rename() {
        let mut organizations = MockOrganizationRepository::new();
        organizations.expect_rename().never();
        organizations.expect_delete().never();
        let service = OrganizationService::new(Arc::new(organizations), Duration::days(30));
        let member = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Member);
        assert!(matches!(
            service.rename(&member, "New name").await,
            Err(DomainError::Forbidden(Permission::OrganizationUpdate))
        ));
        let admin = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Admin);
        assert!(matches!(
            service.delete(&admin, "whatever").await,
            Err(DomainError::Forbidden(Permission::OrganizationDelete))
        ));
    }
}
