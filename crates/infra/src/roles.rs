//! Custom roles in SQL.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::roles::{CustomRole, RoleName, RoleRepository};
use bulkhead_domain::{
    DomainError, DomainResult, OrganizationId, PermissionSet, RoleId, TenantScope,
};
use sea_orm::prelude::Uuid;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::error::{conflict_or_domain, corrupt, to_domain};
use crate::store::Store;
use crate::tx::OrgTx;

use crate::entities::roles as entity;

use entity::{Column, Entity};

const DUPLICATE_NAME: &str = "the organization already has a role with this name";

fn to_role(row: entity::Model) -> DomainResult<CustomRole> {
    Ok(CustomRole {
        id: RoleId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        name: RoleName::parse(&row.name).map_err(corrupt("role name"))?,
        permissions: PermissionSet::from_names(&row.permissions)
            .ok_or_else(|| DomainError::Internal("stored role permissions are invalid".into()))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn to_row(role: &CustomRole) -> entity::ActiveModel {
    entity::ActiveModel {
        organization_id: Set(role.organization_id.as_uuid()),
        id: Set(role.id.as_uuid()),
        name: Set(role.name.as_str().to_owned()),
        name_key: Set(role.name.as_str().to_lowercase()),
        permissions: Set(role.permissions.to_names()),
        created_at: Set(role.created_at),
        updated_at: Set(role.updated_at),
    }
}

/// One of `org`'s custom roles, read inside `txn`.
pub(crate) async fn find(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    id: RoleId,
) -> DomainResult<Option<CustomRole>> {
    Entity::find_by_id((org.as_uuid(), id.as_uuid()))
        .one(txn)
        .await
        .map_err(to_domain)?
        .map(to_role)
        .transpose()
}

/// [`RoleRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlRoleRepository {
    store: Store,
}

impl SqlRoleRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl RoleRepository for SqlRoleRepository {
    async fn list(&self, scope: &TenantScope) -> DomainResult<Vec<CustomRole>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let rows = Entity::find()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .order_by_asc(Column::NameKey)
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        rows.into_iter().map(to_role).collect()
    }

    async fn get(&self, scope: &TenantScope, id: RoleId) -> DomainResult<CustomRole> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let role = find(&tx, scope.organization_id(), id).await?;
        tx.finish_read().await?;
        role.ok_or(DomainError::NotFound)
    }

    async fn create(
        &self,
        scope: &TenantScope,
        role: &CustomRole,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        to_row(role)
            .insert(&*tx)
            .await
            .map_err(conflict_or_domain(DUPLICATE_NAME))?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn update(
        &self,
        scope: &TenantScope,
        role: &CustomRole,
        end_sessions: bool,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let mut row = to_row(role);
        row.created_at = sea_orm::ActiveValue::NotSet;
        let updated = Entity::update_many()
            .set(row)
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(Column::Id.eq(role.id.as_uuid()))
            .exec(&*tx)
            .await
            .map_err(conflict_or_domain(DUPLICATE_NAME))?;
        if updated.rows_affected == 0 {
            return Err(DomainError::NotFound);
        }
        if end_sessions {
            let holders: Vec<Uuid> = crate::entities::memberships::Entity::find()
                .select_only()
                .column(crate::entities::memberships::Column::UserId)
                .filter(
                    crate::entities::memberships::Column::OrganizationId
                        .eq(scope.organization_id().as_uuid()),
                )
                .filter(crate::entities::memberships::Column::RoleId.eq(role.id.as_uuid()))
                .into_tuple()
                .all(&*tx)
                .await
                .map_err(to_domain)?;
            crate::sessions::end_downgraded(&tx, scope.organization_id(), &holders).await?;
        }
        tx.audit(scope, entry).await?;
        tx.commit_changing_grants(&self.store, scope).await
    }

    async fn delete(&self, scope: &TenantScope, id: RoleId, entry: AuditEntry) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let org = scope.organization_id().as_uuid();
        // Checked here for a clear answer on both stores; on PostgreSQL the foreign keys
        // refuse it anyway, also against a membership granted concurrently.
        let holders = crate::entities::memberships::Entity::find()
            .filter(crate::entities::memberships::Column::OrganizationId.eq(org))
            .filter(crate::entities::memberships::Column::RoleId.eq(id.as_uuid()))
            .count(&*tx)
            .await
            .map_err(to_domain)?;
        let offers = crate::entities::invitations::Entity::find()
            .filter(crate::entities::invitations::Column::OrganizationId.eq(org))
            .filter(crate::entities::invitations::Column::RoleId.eq(id.as_uuid()))
            .count(&*tx)
            .await
            .map_err(to_domain)?;
        if holders > 0 || offers > 0 {
            return Err(DomainError::Conflict(format!(
                "the role is held by {holders} member(s) and offered by {offers} invitation(s); \
                 give them another role first"
            )));
        }
        let deleted = Entity::delete_many()
            .filter(Column::OrganizationId.eq(org))
            .filter(Column::Id.eq(id.as_uuid()))
            .exec(&*tx)
            .await
            .map_err(crate::error::conflict_on_key(
                "the role was granted meanwhile; give its holders another role first",
            ))?;
        if deleted.rows_affected == 0 {
            return Err(DomainError::NotFound);
        }
        tx.audit(scope, entry).await?;
        tx.commit().await
    }
}
