//! Role use cases.

use std::sync::Arc;

use super::model::{CustomRole, RoleDefinition, RoleName, parse_permissions};
use super::port::RoleRepository;
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::RoleId;
use crate::scope::{Permission, Role, RoleRef, TenantScope};

/// Raw changes to a custom role; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct RoleChanges {
    /// A new name.
    pub name: Option<String>,
    /// The complete new set of permission names.
    pub permissions: Option<Vec<String>>,
}

/// The roles of the scope's organization.
#[derive(Clone)]
pub struct RoleService {
    roles: Arc<dyn RoleRepository>,
    audit: Arc<dyn AuditRepository>,
}

impl RoleService {
    /// Wires the service; refusals are recorded through `audit`.
    pub fn new(roles: Arc<dyn RoleRepository>, audit: Arc<dyn AuditRepository>) -> Self {
        Self { roles, audit }
    }

    /// Every role the organization offers (roles:read): the system roles, most powerful
    /// first, then its custom roles by name.
    pub async fn list(&self, scope: &TenantScope) -> DomainResult<Vec<RoleDefinition>> {
        scope.authorize(&*self.audit, Permission::RolesRead).await?;
        let custom = self.roles.list(scope).await?;
        Ok(Role::ALL
            .into_iter()
            .map(RoleDefinition::system)
            .chain(custom.into_iter().map(RoleDefinition::from))
            .collect())
    }

    /// One role (roles:read); another organization's custom role is
    /// [`DomainError::NotFound`].
    pub async fn get(&self, scope: &TenantScope, role: RoleRef) -> DomainResult<RoleDefinition> {
        scope.authorize(&*self.audit, Permission::RolesRead).await?;
        match role {
            RoleRef::System(role) => Ok(RoleDefinition::system(role)),
            RoleRef::Custom(id) => self.roles.get(scope, id).await.map(Into::into),
        }
    }

    /// Creates a custom role (roles:manage) with permissions the caller holds.
    pub async fn create(
        &self,
        scope: &TenantScope,
        name: &str,
        permissions: &[String],
    ) -> DomainResult<CustomRole> {
        scope
            .authorize(&*self.audit, Permission::RolesManage)
            .await?;
        let mut v = Validator::new();
        let name = v.check(RoleName::parse(name));
        let permissions = v.check(parse_permissions("permissions", permissions));
        let (name, permissions) = v.values((name, permissions))?;
        scope.authorize_all(&*self.audit, permissions).await?;
        let now = crate::now();
        let role = CustomRole {
            id: RoleId::new(),
            organization_id: scope.organization_id(),
            name,
            permissions,
            created_at: now,
            updated_at: now,
        };
        let entry = AuditEntry::created("role.created", &role);
        self.roles.create(scope, &role, entry).await?;
        Ok(role)
    }

    /// Renames a custom role or replaces its permissions (roles:manage). The caller must hold
    /// every permission the role grants before and after; members holding the role get the
    /// new permissions on their next request, and when a permission is taken away their
    /// sessions in the organization end. System roles cannot be changed (409).
    pub async fn update(
        &self,
        scope: &TenantScope,
        role: RoleRef,
        changes: RoleChanges,
    ) -> DomainResult<CustomRole> {
        scope
            .authorize(&*self.audit, Permission::RolesManage)
            .await?;
        let id = custom(role)?;
        let mut v = Validator::new();
        let name = changes
            .name
            .as_deref()
            .and_then(|n| v.check(RoleName::parse(n)));
        let permissions = changes
            .permissions
            .as_deref()
            .and_then(|p| v.check(parse_permissions("permissions", p)));
        v.finish()?;
        let before = self.roles.get(scope, id).await?;
        scope
            .authorize_all(&*self.audit, before.permissions)
            .await?;
        let after = CustomRole {
            name: name.unwrap_or_else(|| before.name.clone()),
            permissions: permissions.unwrap_or(before.permissions),
            updated_at: crate::now(),
            ..before.clone()
        };
        scope.authorize_all(&*self.audit, after.permissions).await?;
        // Taking a permission away is a downgrade of every holder: their sessions here end,
        // as when a member's role is lowered.
        let narrowed = !before.permissions.is_subset(after.permissions);
        let entry = AuditEntry::updated("role.updated", &before, &after);
        self.roles.update(scope, &after, narrowed, entry).await?;
        Ok(after)
    }

    /// Deletes a custom role (roles:manage) that nobody holds and no pending invitation
    /// offers (409 otherwise). System roles cannot be deleted (409).
    pub async fn delete(&self, scope: &TenantScope, role: RoleRef) -> DomainResult<()> {
        scope
            .authorize(&*self.audit, Permission::RolesManage)
            .await?;
        let id = custom(role)?;
        let role = self.roles.get(scope, id).await?;
        scope.authorize_all(&*self.audit, role.permissions).await?;
        let entry = AuditEntry::deleted("role.deleted", &role);
        self.roles.delete(scope, id, entry).await
    }

    /// The role named `role` in the scope's organization and what it grants, for deciding
    /// whether the caller may grant it. A custom role the organization does not have is a validation error on
    /// `field`, since the caller named it in a request body.
    /// Needs no roles:read: granting a role is decided by the permissions it grants.
    pub async fn resolve(
        &self,
        scope: &TenantScope,
        field: &str,
        role: RoleRef,
    ) -> DomainResult<RoleDefinition> {
        match role {
            RoleRef::System(role) => Ok(RoleDefinition::system(role)),
            RoleRef::Custom(id) => match self.roles.get(scope, id).await {
                Ok(role) => Ok(role.into()),
                Err(DomainError::NotFound) => Err(DomainError::invalid(
                    field,
                    "unknown_role",
                    "no such role in this organization (see GET /roles)",
                )),
                Err(e) => Err(e),
            },
        }
    }
}

fn custom(role: RoleRef) -> DomainResult<RoleId> {
    match role {
        RoleRef::Custom(id) => Ok(id),
        RoleRef::System(role) => Err(DomainError::Conflict(format!(
            "{role} is a system role; system roles cannot be changed or deleted"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrganizationId, UserId};
    use crate::roles::MockRoleRepository;
    use crate::scope::Grant;

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), Grant::system(role))
    }

    fn stored(scope: &TenantScope, permissions: &[Permission]) -> CustomRole {
        CustomRole {
            id: RoleId::new(),
            organization_id: scope.organization_id(),
            name: RoleName::from_stored("Billing".into()),
            permissions: permissions.iter().copied().collect(),
            created_at: crate::now(),
            updated_at: crate::now(),
        }
    }

    #[tokio::test]
    async fn nobody_creates_a_role_with_a_permission_they_lack() {
        let mut roles = MockRoleRepository::new();
        roles.expect_create().times(1).returning(|_, _, _| Ok(()));
        let service = RoleService::new(Arc::new(roles), crate::audit::accepting());
        let admin = scope(Role::Admin);
        let err = service
            .create(&admin, "Billing", &["billing:manage".into()])
            .await;
        assert!(matches!(
            err,
            Err(DomainError::Forbidden(Permission::BillingManage))
        ));
        let made = service
            .create(
                &admin,
                "Auditor",
                &["audit:read".into(), "projects:read".into()],
            )
            .await
            .expect("admin holds both");
        assert!(made.permissions.contains(Permission::AuditRead));
    }

    #[tokio::test]
    async fn members_cannot_manage_roles_and_bad_input_is_422() {
        let service = RoleService::new(
            Arc::new(MockRoleRepository::new()),
            crate::audit::accepting(),
        );
        let err = service
            .create(&scope(Role::Member), "Auditor", &["projects:read".into()])
            .await;
        assert!(matches!(
            err,
            Err(DomainError::Forbidden(Permission::RolesManage))
        ));
        let err = service
            .create(&scope(Role::Owner), "admin", &["nope".into()])
            .await;
        match err {
            Err(DomainError::Validation(fields)) => assert_eq!(fields.len(), 2),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_admin_cannot_touch_a_role_granting_more_than_they_hold() {
        let owner = scope(Role::Owner);
        let billing = stored(&owner, &[Permission::BillingManage]);
        let id = billing.id;
        let mut roles = MockRoleRepository::new();
        roles
            .expect_get()
            .returning(move |_, _| Ok(billing.clone()));
        let service = RoleService::new(Arc::new(roles), crate::audit::accepting());
        let admin = scope(Role::Admin);
        let changes = RoleChanges {
            permissions: Some(vec!["projects:read".into()]),
            ..Default::default()
        };
        assert!(matches!(
            service.update(&admin, RoleRef::Custom(id), changes).await,
            Err(DomainError::Forbidden(Permission::BillingManage))
        ));
        assert!(matches!(
            service.delete(&admin, RoleRef::Custom(id)).await,
            Err(DomainError::Forbidden(Permission::BillingManage))
        ));
    }

    #[tokio::test]
    async fn system_roles_cannot_be_changed_or_deleted() {
        let service = RoleService::new(
            Arc::new(MockRoleRepository::new()),
            crate::audit::accepting(),
        );
        let owner = scope(Role::Owner);
        assert!(matches!(
            service.delete(&owner, Role::Viewer.into()).await,
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            service
                .update(&owner, Role::Admin.into(), RoleChanges::default())
                .await,
            Err(DomainError::Conflict(_))
        ));
    }
}
