//! Project members in SQL.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::projects::{ProjectMember, ProjectMemberRepository, ProjectRole};
use bulkhead_domain::{DomainError, DomainResult, ProjectId, TenantScope, UserId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};

use crate::error::to_domain;
use crate::projects::ProjectTable;
use crate::resources;
use crate::store::Store;
use crate::tx::OrgTx;

use crate::entities::project_members as entity;

use entity::{Column, Entity};

fn role(name: &str) -> DomainResult<ProjectRole> {
    ProjectRole::parse(name)
        .ok_or_else(|| DomainError::Internal(format!("stored project role {name:?}")))
}

/// Fails with [`DomainError::NotFound`] unless the project is live in the scope's organization.
async fn require_project(tx: &OrgTx, scope: &TenantScope, project: ProjectId) -> DomainResult<()> {
    resources::require_live::<ProjectTable>(tx, scope, project.as_uuid(), false).await
}

/// [`ProjectMemberRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlProjectMemberRepository {
    store: Store,
}

impl SqlProjectMemberRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl ProjectMemberRepository for SqlProjectMemberRepository {
    async fn members(
        &self,
        scope: &TenantScope,
        project: ProjectId,
    ) -> DomainResult<Vec<ProjectMember>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        require_project(&tx, scope, project).await?;
        let rows = Entity::find()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(Column::ProjectId.eq(project.as_uuid()))
            .order_by_asc(Column::AddedAt)
            .order_by_asc(Column::UserId)
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        rows.into_iter()
            .map(|row| {
                Ok(ProjectMember {
                    user_id: UserId::from_uuid(row.user_id),
                    role: role(&row.role)?,
                    added_by: UserId::from_uuid(row.added_by),
                    added_at: row.added_at,
                })
            })
            .collect()
    }

    async fn role_of(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        user: UserId,
    ) -> DomainResult<Option<ProjectRole>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let row = Entity::find_by_id((
            scope.organization_id().as_uuid(),
            project.as_uuid(),
            user.as_uuid(),
        ))
        .one(&*tx)
        .await
        .map_err(to_domain)?;
        tx.finish_read().await?;
        row.map(|r| role(&r.role)).transpose()
    }

    async fn put(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        member: &ProjectMember,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let org = scope.organization_id().as_uuid();
        let tx = OrgTx::begin(&self.store, scope).await?;
        require_project(&tx, scope, project).await?;
        let is_member = crate::entities::memberships::Entity::find()
            .filter(crate::entities::memberships::Column::OrganizationId.eq(org))
            .filter(crate::entities::memberships::Column::UserId.eq(member.user_id.as_uuid()))
            .count(&*tx)
            .await
            .map_err(to_domain)?;
        if is_member == 0 {
            return Err(DomainError::invalid(
                "user_id",
                "not_a_member",
                "the user is not a member of the organization",
            ));
        }
        Entity::insert(entity::ActiveModel {
            organization_id: Set(org),
            project_id: Set(project.as_uuid()),
            user_id: Set(member.user_id.as_uuid()),
            role: Set(member.role.as_str().to_owned()),
            added_by: Set(member.added_by.as_uuid()),
            added_at: Set(member.added_at),
        })
        .on_conflict(
            OnConflict::columns([Column::OrganizationId, Column::ProjectId, Column::UserId])
                .update_column(Column::Role)
                .to_owned(),
        )
        .exec_without_returning(&*tx)
        .await
        .map_err(to_domain)?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn remove(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        user: UserId,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        require_project(&tx, scope, project).await?;
        let removed = Entity::delete_many()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(Column::ProjectId.eq(project.as_uuid()))
            .filter(Column::UserId.eq(user.as_uuid()))
            .exec(&*tx)
            .await
            .map_err(to_domain)?
            .rows_affected;
        if removed == 0 {
            return Err(DomainError::NotFound);
        }
        tx.audit(scope, entry).await?;
        tx.commit().await
    }
}
