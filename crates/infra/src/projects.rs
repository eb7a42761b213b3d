//! Projects in SQL. Every query filters by the scope's organization explicitly, inside an
//! [`OrgTx`] that also sets it for row-level security.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::page::Page;
use bulkhead_domain::projects::model::actions;
use bulkhead_domain::projects::{
    Project, ProjectChanges, ProjectDescription, ProjectName, ProjectQuery, ProjectRepository,
    ProjectSortField,
};
use bulkhead_domain::{DomainError, DomainResult, OrganizationId, ProjectId, TenantScope, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, DbErr, DeriveIden, EntityTrait, FromQueryResult, IntoActiveModel, Iterable, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Select, Set,
};

use crate::error::{conflict_or_domain, corrupt, to_domain};
use crate::lifecycle::{self, Change, Lifecycle, Rows};
use crate::store::Store;
use crate::tx::OrgTx;

const NAME_TAKEN: &str = "a project with this name already exists";

pub(crate) mod entity {
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
        pub version: i64,
        pub deleted_at: Option<DateTimeUtc>,
        pub deleted_by: Option<Uuid>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column, Entity};

impl Lifecycle for Entity {
    type Domain = Project;
    const ORGANIZATION_ID: Column = Column::OrganizationId;
    const ID: Column = Column::Id;
    const DELETED_AT: Column = Column::DeletedAt;
    const UPDATED: &'static str = actions::UPDATED;
    const DELETED: &'static str = actions::DELETED;
    const RESTORED: &'static str = actions::RESTORED;
    const CONFLICT: &'static str = NAME_TAKEN;

    fn version(row: &entity::Model) -> i64 {
        row.version
    }

    fn stamp(active: &mut entity::ActiveModel, version: i64, now: DateTime<Utc>) {
        active.version = Set(version);
        active.updated_at = Set(now);
    }

    fn set_deleted(
        active: &mut entity::ActiveModel,
        deleted: Option<(DateTime<Utc>, Option<uuid::Uuid>)>,
    ) {
        active.deleted_at = Set(deleted.map(|(at, _)| at));
        active.deleted_by = Set(deleted.and_then(|(_, by)| by));
    }
}

/// The live projects of each organization, kept by triggers (migration 14); under row-level
/// security like every tenant table.
#[derive(DeriveIden)]
enum ProjectCounts {
    Table,
    OrganizationId,
    Live,
}

/// A project row with the count of all rows its query matched.
#[derive(Debug)]
struct CountedRow {
    project: entity::Model,
    total: i64,
}

/// Where `column` stands in what `Entity::find()` selects: the entity's declaration order,
/// which is also the order of `Column`'s variants (a test holds the two together).
fn position(column: Column) -> usize {
    column as usize
}

/// A project read by position. The derived reader looks every column up by name and builds
/// an error value for each NULL; for a page of twenty that came to a tenth of the server's CPU
/// time per list request.
fn project_at(res: &QueryResult) -> Result<entity::Model, DbErr> {
    Ok(entity::Model {
        organization_id: res.try_get_by_index(position(Column::OrganizationId))?,
        id: res.try_get_by_index(position(Column::Id))?,
        name: res.try_get_by_index(position(Column::Name))?,
        description: res.try_get_by_index(position(Column::Description))?,
        created_by: res.try_get_by_index(position(Column::CreatedBy))?,
        created_at: res.try_get_by_index(position(Column::CreatedAt))?,
        updated_at: res.try_get_by_index(position(Column::UpdatedAt))?,
        version: res.try_get_by_index(position(Column::Version))?,
        deleted_at: res.try_get_by_index(position(Column::DeletedAt))?,
        deleted_by: res.try_get_by_index(position(Column::DeletedBy))?,
    })
}

impl FromQueryResult for CountedRow {
    fn from_query_result(res: &QueryResult, _: &str) -> Result<Self, DbErr> {
        Ok(Self {
            project: project_at(res)?,
            // The page's statement adds the total after the entity's columns.
            total: res.try_get_by_index(Column::iter().count())?,
        })
    }
}

/// A project row alone, read by position like [`CountedRow`].
struct ProjectRow(entity::Model);

impl FromQueryResult for ProjectRow {
    fn from_query_result(res: &QueryResult, _: &str) -> Result<Self, DbErr> {
        project_at(res).map(Self)
    }
}

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
            version: row.version,
            deleted_at: row.deleted_at,
            deleted_by: row.deleted_by.map(UserId::from_uuid),
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

impl SqlProjectRepository {
    /// The organizations holding projects soft-deleted before `cutoff`. A maintenance query
    /// for `bulkhead purge`, which runs it on the owner's connection (row-level security hides
    /// every tenant from the application role without a tenant set) and then purges each
    /// organization through [`ProjectRepository::purge_deleted_before`] with a system scope.
    pub async fn organizations_with_deleted_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> DomainResult<Vec<OrganizationId>> {
        let ids: Vec<uuid::Uuid> = Entity::find()
            .select_only()
            .column(Column::OrganizationId)
            .distinct()
            .filter(Column::DeletedAt.lt(cutoff))
            .into_tuple()
            .all(self.store.connection())
            .await
            .map_err(to_domain)?;
        Ok(ids.into_iter().map(OrganizationId::from_uuid).collect())
    }
}

/// The organization's projects: the starting point of every query here.
fn in_scope(scope: &TenantScope) -> Select<Entity> {
    Entity::find().filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
}

/// `%text%` for a case-insensitive LIKE (against a lower-cased column), with the wildcards of
/// `text` escaped so a search for `50%` matches the text, not everything.
pub(crate) fn contains_pattern(text: &str) -> String {
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
            version: Set(project.version),
            deleted_at: Set(None),
            deleted_by: Set(None),
        })
        .exec_without_returning(&*tx)
        .await
        .map_err(conflict_or_domain(NAME_TAKEN))?;
        tx.audit(scope, AuditEntry::created(actions::CREATED, project))
            .await?;
        tx.commit().await
    }

    async fn list(&self, scope: &TenantScope, query: &ProjectQuery) -> DomainResult<Page<Project>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let mut select = in_scope(scope);
        if !query.include_deleted {
            select = select.filter(Column::DeletedAt.is_null());
        }
        if let Some(text) = &query.name_contains {
            select = select.filter(
                Expr::expr(Func::lower(Expr::col(Column::Name)))
                    .like(LikeExpr::new(contains_pattern(text)).escape('\\')),
            );
        }
        let column = match query.sort.field {
            ProjectSortField::Name => Column::Name,
            ProjectSortField::CreatedAt => Column::CreatedAt,
        };
        let order = if query.sort.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        // The total rides along with the page as an uncounted-per-row subquery, so a page is one
        // round trip. The unfiltered list reads the count the triggers keep (migration 14);
        // a filtered one counts, served by the partial indexes on live projects.
        let total: Expr = if query.include_deleted || query.name_contains.is_some() {
            let count: SelectStatement = select
                .clone()
                .select_only()
                .column_as(Expr::cust("COUNT(*)"), "total")
                .into_query();
            Expr::SubQuery(None, Box::new(count.into()))
        } else {
            let live = Query::select()
                .column(ProjectCounts::Live)
                .from(ProjectCounts::Table)
                .and_where(
                    Expr::col(ProjectCounts::OrganizationId).eq(scope.organization_id().as_uuid()),
                )
                .to_owned();
            Func::coalesce([Expr::SubQuery(None, Box::new(live.into())), Expr::val(0i64)]).into()
        };
        let rows: Vec<CountedRow> = select
            .clone()
            .column_as(total, "total")
            .order_by(column, order.clone())
            // Ties (equal names or timestamps) still page deterministically.
            .order_by(Column::Id, order)
            .limit(query.page.limit())
            .offset(query.page.offset())
            .into_model()
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        let total = match rows.first() {
            Some(row) => u64::try_from(row.total).unwrap_or_default(),
            // A page past the end carries no count; only then is it asked for separately.
            None if query.page.offset() > 0 => select.count(&*tx).await.map_err(to_domain)?,
            None => 0,
        };
        tx.finish_read().await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|row| Project::try_from(row.project))
                .collect::<DomainResult<_>>()?,
            total,
            request: query.page,
        })
    }

    async fn get(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let row = in_scope(scope)
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::DeletedAt.is_null())
            .into_model::<ProjectRow>()
            .one(&*tx)
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        row.ok_or(DomainError::NotFound)?.0.try_into()
    }

    async fn update(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        changes: &ProjectChanges,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> DomainResult<Project> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let row = lifecycle::lock::<Entity>(&tx, scope, id.as_uuid(), Rows::Live).await?;
        lifecycle::check_version::<Entity>(&row, expected_version)?;
        let mut active = row.clone().into_active_model();
        if let Some(name) = &changes.name {
            active.name = Set(name.as_str().to_owned());
        }
        if let Some(description) = &changes.description {
            active.description = Set(description.as_ref().map(|d| d.as_str().to_owned()));
        }
        lifecycle::save::<Entity>(tx, scope, row, active, Change::Updated, now).await
    }

    async fn soft_delete(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> DomainResult<Project> {
        lifecycle::soft_delete::<Entity>(&self.store, scope, id.as_uuid(), expected_version, now)
            .await
    }

    async fn restore(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        now: DateTime<Utc>,
    ) -> DomainResult<Project> {
        lifecycle::restore::<Entity>(&self.store, scope, id.as_uuid(), now).await
    }

    async fn purge_deleted_before(
        &self,
        scope: &TenantScope,
        cutoff: DateTime<Utc>,
    ) -> DomainResult<u64> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let doomed = in_scope(scope)
            .filter(Column::DeletedAt.lt(cutoff))
            .lock_exclusive()
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        if doomed.is_empty() {
            return Ok(0);
        }
        let ids: Vec<_> = doomed.iter().map(|row| row.id).collect();
        let removed = Entity::delete_many()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(Column::Id.is_in(ids.clone()))
            .exec(&*tx)
            .await
            .map_err(to_domain)?
            .rows_affected;
        let details = serde_json::json!({
            "deleted_before": cutoff.to_rfc3339(),
            "count": removed,
            "ids": ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        });
        tx.audit(
            scope,
            AuditEntry::event(actions::PURGED, "project", None, details),
        )
        .await?;
        tx.commit().await?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, Iterable, QueryTrait};

    use super::{Column, Entity, contains_pattern, position};

    #[test]
    fn rows_are_read_in_the_order_the_entity_selects_them() {
        let sql = Entity::find().build(DbBackend::Postgres).to_string();
        let selected: Vec<&str> = sql["SELECT ".len()..sql.find(" FROM").expect("a FROM")]
            .split(", ")
            .collect();
        assert_eq!(selected.len(), Column::iter().count());
        for column in Column::iter() {
            let name = format!("\"projects\".\"{}\"", sea_orm::Iden::to_string(&column));
            assert_eq!(selected[position(column)], name);
        }
    }

    #[test]
    fn like_wildcards_in_searches_are_escaped() {
        assert_eq!(contains_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }
}
