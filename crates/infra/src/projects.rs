//! Projects in SQL. Every query filters by the scope's organization explicitly, inside an
//! [`OrgTx`] that also sets it for row-level security.

use async_trait::async_trait;
use bulkhead_domain::page::Page;
use bulkhead_domain::projects::{
    Project, ProjectChanges, ProjectDescription, ProjectName, ProjectQuery, ProjectRepository,
    ProjectSortField,
};
use bulkhead_domain::{DomainError, DomainResult, OrganizationId, ProjectId, TenantScope, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, Set,
};

use crate::error::{conflict_or_domain, corrupt, to_domain};
use crate::store::Store;
use crate::tx::OrgTx;

const NAME_TAKEN: &str = "a project with this name already exists";

mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "projects")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub organization_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub description: Option<String>,
        pub created_by: Uuid,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column, Entity};

impl TryFrom<entity::Model> for Project {
    type Error = DomainError;

    fn try_from(row: entity::Model) -> DomainResult<Self> {
        Ok(Project {
            id: ProjectId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            name: ProjectName::parse(&row.name).map_err(corrupt("project name"))?,
            description: row
                .description
                .as_deref()
                .map(ProjectDescription::parse)
                .transpose()
                .map_err(corrupt("project description"))?,
            created_by: UserId::from_uuid(row.created_by),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// [`ProjectRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlProjectRepository {
    store: Store,
}

impl SqlProjectRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// The organization's projects: the starting point of every query here.
fn in_scope(scope: &TenantScope) -> Select<Entity> {
    Entity::find().filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
}

fn one(scope: &TenantScope, id: ProjectId) -> Select<Entity> {
    in_scope(scope).filter(Column::Id.eq(id.as_uuid()))
}

/// Escapes LIKE wildcards so a search for `50%` matches the text, not everything.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[async_trait]
impl ProjectRepository for SqlProjectRepository {
    async fn insert(&self, scope: &TenantScope, project: &Project) -> DomainResult<()> {
        if project.organization_id != scope.organization_id() {
            // The service stamps the scope's organization; anything else is a programming error.
            return Err(DomainError::Internal(
                "project organization differs from the scope".into(),
            ));
        }
        let tx = OrgTx::begin(&self.store, scope).await?;
        Entity::insert(entity::ActiveModel {
            organization_id: Set(scope.organization_id().as_uuid()),
            id: Set(project.id.as_uuid()),
            name: Set(project.name.as_str().to_owned()),
            description: Set(project.description.as_ref().map(|d| d.as_str().to_owned())),
            created_by: Set(project.created_by.as_uuid()),
            created_at: Set(project.created_at),
            updated_at: Set(project.updated_at),
        })
        .exec_without_returning(&*tx)
        .await
        .map_err(conflict_or_domain(NAME_TAKEN))?;
        tx.commit().await
    }

    async fn list(&self, scope: &TenantScope, query: &ProjectQuery) -> DomainResult<Page<Project>> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let mut select = in_scope(scope);
        if let Some(text) = &query.name_contains {
            select = select.filter(
                Expr::expr(Func::lower(Expr::col(Column::Name)))
                    .like(LikeExpr::new(contains_pattern(text)).escape('\\')),
            );
        }
        let total = select.clone().count(&*tx).await.map_err(to_domain)?;
        let column = match query.sort.field {
            ProjectSortField::Name => Column::Name,
            ProjectSortField::CreatedAt => Column::CreatedAt,
        };
        let order = if query.sort.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let rows = select
            .order_by(column, order.clone())
            // Ties (equal names or timestamps) still page deterministically.
            .order_by(Column::Id, order)
            .limit(query.page.limit())
            .offset(query.page.offset())
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        tx.commit().await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(Project::try_from)
                .collect::<DomainResult<_>>()?,
            total,
            request: query.page,
        })
    }

    async fn get(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let row = one(scope, id).one(&*tx).await.map_err(to_domain)?;
        tx.commit().await?;
        row.ok_or(DomainError::NotFound)?.try_into()
    }

    async fn update(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        changes: &ProjectChanges,
        now: DateTime<Utc>,
    ) -> DomainResult<Project> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let row = one(scope, id)
            .one(&*tx)
            .await
            .map_err(to_domain)?
            .ok_or(DomainError::NotFound)?;
        let mut active = row.into_active_model();
        if let Some(name) = &changes.name {
            active.name = Set(name.as_str().to_owned());
        }
        if let Some(description) = &changes.description {
            active.description = Set(description.as_ref().map(|d| d.as_str().to_owned()));
        }
        active.updated_at = Set(now);
        // The primary key, and so the WHERE clause of this UPDATE, includes organization_id.
        let updated = active.update(&*tx).await.map_err(|err| match err {
            DbErr::RecordNotUpdated => DomainError::NotFound,
            other => conflict_or_domain(NAME_TAKEN)(other),
        })?;
        tx.commit().await?;
        updated.try_into()
    }

    async fn delete(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let result = Entity::delete_many()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(Column::Id.eq(id.as_uuid()))
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        if result.rows_affected == 0 {
            return Err(DomainError::NotFound);
        }
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_in_searches_are_escaped() {
        assert_eq!(contains_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }
}
