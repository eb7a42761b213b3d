//! Reading and changing the scope's own organization.

use std::sync::Arc;

use super::model::{Organization, OrganizationName, OrganizationSettings};
use super::port::OrganizationRepository;
use crate::audit::{AuditEntry, AuditRepository};
use chrono::Duration;

use crate::error::{DomainError, DomainResult, Validator};
use crate::scope::{Permission, TenantScope};

/// The organization use cases.
#[derive(Clone)]
pub struct OrganizationService {
    organizations: Arc<dyn OrganizationRepository>,
    audit: Arc<dyn AuditRepository>,
    grace: Duration,
}

impl OrganizationService {
    /// Wires the service; a deleted organization can be restored for `grace` (then
    /// `bulkhead purge` removes it). Refusals are recorded through `audit`.
    pub fn new(
        organizations: Arc<dyn OrganizationRepository>,
        audit: Arc<dyn AuditRepository>,
        grace: Duration,
    ) -> Self {
        Self {
            organizations,
            audit,
            grace,
        }
    }

    /// Deletes the organization (organization:delete: owners), given its exact name as
    /// confirmation. It is suspended at once: every token and key of it stops working, except
    /// an owner's to restore it within the grace period.
    pub async fn delete(&self, scope: &TenantScope, confirm: &str) -> DomainResult<()> {
        scope
            .authorize(&*self.audit, Permission::OrganizationDelete)
            .await?;
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
        scope
            .authorize(&*self.audit, Permission::OrganizationDelete)
            .await?;
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
        scope
            .authorize(&*self.audit, Permission::OrganizationRead)
            .await?;
        self.organizations.current(scope).await
    }

    /// Renames the scope's organization or replaces its settings (organization:update);
    /// absent parts stay. Audited with what changed, before and after.
    pub async fn update(
        &self,
        scope: &TenantScope,
        name: Option<&str>,
        settings: Option<serde_json::Value>,
    ) -> DomainResult<Organization> {
        scope
            .authorize(&*self.audit, Permission::OrganizationUpdate)
            .await?;
        let mut v = Validator::new();
        let name = name.and_then(|n| v.check(OrganizationName::parse("name", n)));
        let settings = settings.and_then(|s| v.check(OrganizationSettings::parse(s)));
        v.finish()?;
        let before = self.organizations.current(scope).await?;
        let after = Organization {
            name: name.unwrap_or_else(|| before.name.clone()),
            settings: settings.unwrap_or_else(|| before.settings.clone()),
            ..before.clone()
        };
        if after == before {
            return Ok(before);
        }
        let entry = AuditEntry::updated("organization.updated", &before, &after);
        self.organizations.update(scope, &after, entry).await
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
        organizations.expect_update().never();
        organizations.expect_delete().never();
        let service = OrganizationService::new(
            Arc::new(organizations),
            crate::audit::accepting(),
            Duration::days(30),
        );
        let member = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Member);
        assert!(matches!(
            service.update(&member, Some("New name"), None).await,
            Err(DomainError::Forbidden(Permission::OrganizationUpdate))
        ));
        let admin = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Admin);
        assert!(matches!(
            service.delete(&admin, "whatever").await,
            Err(DomainError::Forbidden(Permission::OrganizationDelete))
        ));
    }
}
