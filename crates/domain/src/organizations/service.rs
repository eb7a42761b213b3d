//! Reading and changing the scope's own organization.

use std::sync::Arc;

use super::model::{Organization, OrganizationName};
use super::port::OrganizationRepository;
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::scope::{Permission, Role, TenantScope};

/// The organization use cases.
#[derive(Clone)]
pub struct OrganizationService {
    organizations: Arc<dyn OrganizationRepository>,
}

impl OrganizationService {
    /// Wires the service.
    pub fn new(organizations: Arc<dyn OrganizationRepository>) -> Self {
        Self { organizations }
    }

    /// The scope's organization (organization:read).
    pub async fn current(&self, scope: &TenantScope) -> DomainResult<Organization> {
        scope.require(Permission::OrganizationRead)?;
        self.organizations.current(scope).await
    }

    /// The organization's roles (roles:read): the four system roles, whose permissions are
    /// fixed.
    pub fn roles(&self, scope: &TenantScope) -> DomainResult<&'static [Role]> {
        scope.require(Permission::RolesRead)?;
        Ok(&Role::ALL)
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
    use crate::DomainError;
    use crate::ids::{OrganizationId, UserId};
    use crate::organizations::MockOrganizationRepository;

    #[tokio::test]
    async fn only_admins_and_owners_rename() {
        let mut organizations = MockOrganizationRepository::new();
        organizations.expect_rename().never();
        let service = OrganizationService::new(Arc::new(organizations));
        let member = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Member);
        assert!(matches!(
            service.rename(&member, "New name").await,
            Err(DomainError::Forbidden(Permission::OrganizationUpdate))
        ));
    }
}
