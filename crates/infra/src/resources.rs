//! The one SQL adapter of every tenant resource: [`SqlResources`] implements the kit's
//! [`TenantRepository`] for any table described by [`TenantTable`].
//!
//! Every tenant table has the same lifecycle columns ([`LIFECYCLE`], created by the migration
//! helper `bulkhead_migrations::tenant_table`), so this adapter reads and writes those itself;
//! a resource names only its table and its own columns. Every statement runs inside an
//! [`OrgTx`] (the tenant set for row-level security) and also filters by the scope's
//! organization itself, so indexes are used and SQLite, which has no RLS, is isolated too.
//! Rows are read by position: the derived readers look every column up by name and build an
//! error value for each NULL, which came to a tenth of the server's CPU time per list request.

use std::marker::PhantomData;

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::page::Page;
use bulkhead_domain::resource::{
    ChangeOf, ListQuery, Record, Resource, RowState, TenantRepository,
};
use bulkhead_domain::{
    Actor, DomainError, DomainResult, OrganizationId, Quota, ResourceId, SystemTask, TenantScope,
    UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, Func, LikeExpr, LockBehavior, LockType, Order, Query,
    SelectStatement, SimpleExpr,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult, TryGetable, Value};
use uuid::Uuid;

use crate::error::{conflict_or_domain, to_domain};
use crate::store::Store;
use crate::tx::OrgTx;

/// The columns every tenant table has, in the order rows are read: the lifecycle the kit's
/// [`Record`] carries.
pub const LIFECYCLE: [&str; 8] = [
    "organization_id",
    "id",
    "created_by",
    "created_at",
    "updated_at",
    "version",
    "deleted_at",
    "deleted_by",
];

/// A resource's table: what the adapter needs beyond the lifecycle columns.
#[async_trait]
pub trait TenantTable: Send + Sync + 'static {
    /// The resource stored here.
    type Resource: Resource;
    /// The table's name.
    const TABLE: &'static str;
    /// The resource's own columns, in the order [`TenantTable::read`] reads them and
    /// [`TenantTable::values`] gives them.
    const COLUMNS: &'static [&'static str];
    /// The column a list's `q` searches (case-insensitive substring), if any.
    const SEARCH: Option<&'static str> = None;
    /// The message of a unique clash (fixed, so it tells nothing of other rows).
    const CONFLICT: &'static str;
    /// A table of each organization's live rows (`organization_id`, `live`) kept by triggers,
    /// if there is one: an unfiltered list then reads its total there instead of counting.
    const LIVE_COUNTS: Option<&'static str> = None;
    /// The column naming the row this one belongs to, and that row's tenant table (a work
    /// session's project, say), if any: while the parent is soft-deleted, its rows read as
    /// missing everywhere, and they go with it when it is purged.
    const PARENT: Option<(&'static str, &'static str)> = None;
    /// The plan limit on this table's live rows, if there is one: a create or restore past it
    /// is refused in its own unit of work (see [`crate::quotas`]).
    const QUOTA: Option<Quota> = None;
    /// Whether each row is private to the user who created it (`created_by`): every statement
    /// here then also filters by the scope's user, a scope without one (an API key, a system
    /// task) reaches no row, and only the purge task reaches every member's deleted rows. On
    /// PostgreSQL the table's policy checks `app.current_user` as well.
    const PRIVATE: bool = false;

    /// Reads the resource's own fields, in [`TenantTable::COLUMNS`] order.
    fn read(cells: &mut Cells<'_>) -> DomainResult<<Self::Resource as Resource>::Fields>;

    /// The values of the resource's own columns, in [`TenantTable::COLUMNS`] order.
    fn values(fields: &<Self::Resource as Resource>::Fields) -> Vec<Value>;

    /// Adds the resource's own list filters to `condition`.
    fn filter(filter: &<Self::Resource as Resource>::Filter, condition: Condition) -> Condition {
        let _ = filter;
        condition
    }

    /// Runs in the unit of work of every write, before the row is written: checks against
    /// other rows that must hold when the write commits (a row it names is live, say, locked
    /// so that it stays so). `previous` is the row as it was (`None` for an insert); `store`
    /// gives what the process shares (the signals that wake event readers). An error aborts
    /// the write.
    async fn guard(
        tx: &DatabaseTransaction,
        store: &Store,
        scope: &TenantScope,
        previous: Option<&Record<Self::Resource>>,
        next: &Record<Self::Resource>,
    ) -> DomainResult<()> {
        let _ = (tx, store, scope, previous, next);
        Ok(())
    }

    /// Runs in the purge's unit of work before rows `ids` are removed for good (what they
    /// counted against the plan goes with them, say). An error aborts the purge.
    async fn purging(
        tx: &DatabaseTransaction,
        scope: &TenantScope,
        ids: &[Uuid],
    ) -> DomainResult<()> {
        let _ = (tx, scope, ids);
        Ok(())
    }

    /// Runs in the unit of work of every write, after the row is written and before its audit
    /// record: rows written along with it. An error aborts the write.
    async fn written(
        tx: &DatabaseTransaction,
        store: &Store,
        scope: &TenantScope,
        previous: Option<&Record<Self::Resource>>,
        next: &Record<Self::Resource>,
    ) -> DomainResult<()> {
        let _ = (tx, store, scope, previous, next);
        Ok(())
    }
}

/// The cells of one row, read in order.
pub struct Cells<'a> {
    row: &'a QueryResult,
    next: usize,
}

impl Cells<'_> {
    /// The next cell.
    pub fn take<T: TryGetable>(&mut self) -> DomainResult<T> {
        let value = self.row.try_get_by_index(self.next).map_err(to_domain)?;
        self.next += 1;
        Ok(value)
    }
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

/// The kit's [`TenantRepository`] for the table `T` describes.
pub struct SqlResources<T> {
    store: Store,
    table: PhantomData<fn() -> T>,
}

impl<T> Clone for SqlResources<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            table: PhantomData,
        }
    }
}

impl<T: TenantTable> SqlResources<T> {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            table: PhantomData,
        }
    }

    /// The organizations holding rows soft-deleted before `cutoff`. A maintenance query for
    /// `bulkhead purge`, which runs it on the owner's connection (row-level security hides
    /// every tenant from the application role without a tenant set) and then purges each
    /// organization through the kit's purge with a system scope.
    pub async fn organizations_with_deleted_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> DomainResult<Vec<OrganizationId>> {
        let db = self.store.connection();
        let select = Query::select()
            .distinct()
            .column((T::TABLE, "organization_id"))
            .from(T::TABLE)
            .and_where(col::<T>("deleted_at").lt(cutoff))
            .to_owned();
        let rows = db
            .query_all_raw(db.get_database_backend().build(&select))
            .await
            .map_err(to_domain)?;
        rows.iter()
            .map(|row| {
                row.try_get_by_index::<Uuid>(0)
                    .map(OrganizationId::from_uuid)
                    .map_err(to_domain)
            })
            .collect()
    }
}

/// `table.column`.
fn col<T: TenantTable>(column: &'static str) -> Expr {
    Expr::col((T::TABLE, column))
}

/// Every column of `T`, lifecycle first, from `T`'s table.
fn select<T: TenantTable>() -> SelectStatement {
    let mut select = Query::select();
    select.from(T::TABLE);
    for column in LIFECYCLE.iter().chain(T::COLUMNS) {
        select.column((T::TABLE, *column));
    }
    select
}

/// The rows of the scope's organization, hidden ones (of a deleted parent) included; of a
/// private table, only the scope's user's.
fn in_org<T: TenantTable>(scope: &TenantScope) -> Condition {
    let condition =
        Condition::all().add(col::<T>("organization_id").eq(scope.organization_id().as_uuid()));
    if !T::PRIVATE {
        return condition;
    }
    match scope.actor() {
        Actor::User(user) => condition.add(col::<T>("created_by").eq(user.as_uuid())),
        // The purge removes what members deleted; it only ever asks for deleted rows.
        Actor::System(SystemTask::Purge) => condition,
        _ => condition.add(Expr::cust("1 = 0")),
    }
}

/// The rows of the scope's organization that clients see: where every statement here starts.
fn in_scope<T: TenantTable>(scope: &TenantScope) -> Condition {
    let org = scope.organization_id().as_uuid();
    let mut condition = in_org::<T>(scope);
    if let Some((column, parent)) = T::PARENT {
        // The composite key keeps the parent in the same organization; filtering by it here
        // too lets the subquery use the parent's primary key.
        let live = Query::select()
            .column((parent, "id"))
            .from(parent)
            .and_where(Expr::col((parent, "organization_id")).eq(org))
            .and_where(Expr::col((parent, "deleted_at")).is_null())
            .to_owned();
        condition = condition.add(col::<T>(column).in_subquery(live));
    }
    condition
}

/// Row `id` of the scope's organization, in `state`: what every lookup of one row asks.
fn one_row<T: TenantTable>(scope: &TenantScope, id: Uuid, state: RowState) -> Condition {
    in_scope::<T>(scope).add(the_row::<T>(id, state))
}

/// Row `id` in `state`, in whatever organization the caller confines it to.
pub(crate) fn the_row<T: TenantTable>(id: Uuid, state: RowState) -> Condition {
    Condition::all()
        .add(col::<T>("id").eq(id))
        .add(in_state::<T>(state))
}

fn in_state<T: TenantTable>(state: RowState) -> SimpleExpr {
    match state {
        RowState::Live => col::<T>("deleted_at").is_null(),
        RowState::Deleted => col::<T>("deleted_at").is_not_null(),
    }
}

/// One row, lifecycle first.
fn record<T: TenantTable>(row: &QueryResult) -> DomainResult<Record<T::Resource>> {
    let mut cells = Cells { row, next: 0 };
    let organization_id = OrganizationId::from_uuid(cells.take()?);
    let id = <T::Resource as Resource>::Id::from_uuid(cells.take()?);
    let created_by = UserId::from_uuid(cells.take()?);
    let created_at = cells.take()?;
    let updated_at = cells.take()?;
    let version = cells.take()?;
    let deleted_at = cells.take()?;
    let deleted_by = cells.take::<Option<Uuid>>()?.map(UserId::from_uuid);
    let fields = T::read(&mut cells)?;
    Ok(Record {
        id,
        organization_id,
        fields,
        created_by,
        created_at,
        updated_at,
        version,
        deleted_at,
        deleted_by,
    })
}

#[async_trait]
impl<T: TenantTable> TenantRepository<T::Resource> for SqlResources<T> {
    async fn insert(
        &self,
        scope: &TenantScope,
        record: &Record<T::Resource>,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        if record.organization_id != scope.organization_id() {
            // The kit stamps the scope's organization; anything else is a programming error.
            return Err(DomainError::Internal(format!(
                "{} organization differs from the scope",
                T::TABLE
            )));
        }
        let tx = OrgTx::begin(&self.store, scope).await?;
        insert_row::<T>(&tx, &self.store, scope, record).await?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn get(
        &self,
        scope: &TenantScope,
        id: <T::Resource as Resource>::Id,
        state: RowState,
    ) -> DomainResult<Record<T::Resource>> {
        let mut select = select::<T>();
        select
            .cond_where(one_row::<T>(scope, id.as_uuid(), state))
            .limit(1);
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let row = tx
            .query_one_raw(tx.get_database_backend().build(&select))
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        record::<T>(&row.ok_or(DomainError::NotFound)?)
    }

    async fn list(
        &self,
        scope: &TenantScope,
        query: &ListQuery<<T::Resource as Resource>::Filter>,
    ) -> DomainResult<Page<Record<T::Resource>>> {
        let searched = query.search.is_some() && T::SEARCH.is_some();
        let plain = !query.include_deleted && !searched && query.filter == Default::default();
        let mut condition = in_scope::<T>(scope);
        if !query.include_deleted {
            condition = condition.add(in_state::<T>(RowState::Live));
        }
        if let (Some(text), Some(column)) = (&query.search, T::SEARCH) {
            condition = condition.add(
                Expr::expr(Func::lower(col::<T>(column)))
                    .like(LikeExpr::new(contains_pattern(text)).escape('\\')),
            );
        }
        condition = T::filter(&query.filter, condition);
        let count = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(T::TABLE)
            .cond_where(condition.clone())
            .to_owned();
        // The total rides along with the page as an uncorrelated subquery, so a page is one
        // round trip. An unfiltered list of live rows reads the count the triggers keep, where
        // a table has one; otherwise it counts, served by the partial indexes on live rows.
        let total: Expr = match T::LIVE_COUNTS {
            Some(counts) if plain => {
                let live = Query::select()
                    .column((counts, "live"))
                    .from(counts)
                    .and_where(
                        Expr::col((counts, "organization_id"))
                            .eq(scope.organization_id().as_uuid()),
                    )
                    .to_owned();
                Func::coalesce([Expr::SubQuery(None, Box::new(live.into())), Expr::val(0i64)])
                    .into()
            }
            _ => Expr::SubQuery(None, Box::new(count.clone().into())),
        };
        let order = if query.sort.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let mut page = select::<T>();
        page.expr_as(total, "total")
            .cond_where(condition)
            .order_by((T::TABLE, query.sort.field), order.clone())
            // Ties (equal names or timestamps) still page deterministically.
            .order_by((T::TABLE, "id"), order)
            .limit(query.page.limit())
            .offset(query.page.offset());
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let backend = tx.get_database_backend();
        let rows = tx
            .query_all_raw(backend.build(&page))
            .await
            .map_err(to_domain)?;
        let total = match rows.first() {
            Some(row) => row
                .try_get_by_index::<i64>(LIFECYCLE.len() + T::COLUMNS.len())
                .map_err(to_domain)?,
            // A page past the end carries no count; only then is it asked for separately.
            None if query.page.offset() > 0 => tx
                .query_one_raw(backend.build(&count))
                .await
                .map_err(to_domain)?
                .map(|row| row.try_get_by_index::<i64>(0))
                .transpose()
                .map_err(to_domain)?
                .unwrap_or_default(),
            None => 0,
        };
        tx.finish_read().await?;
        Ok(Page {
            items: rows.iter().map(record::<T>).collect::<DomainResult<_>>()?,
            total: u64::try_from(total).unwrap_or_default(),
            request: query.page,
        })
    }

    async fn change(
        &self,
        scope: &TenantScope,
        id: <T::Resource as Resource>::Id,
        state: RowState,
        change: &ChangeOf<T::Resource>,
    ) -> DomainResult<Record<T::Resource>> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let current = find_row::<T>(
            &tx,
            scope,
            Reach::Visible,
            the_row::<T>(id.as_uuid(), state),
            Hold::Wait,
        )
        .await?
        .ok_or(DomainError::NotFound)?;
        // Nothing to write: dropping the transaction ends it.
        let Some((next, entry)) = change.next(&current)? else {
            return Ok(current);
        };
        if let Some(quota) = T::QUOTA
            && current.deleted_at.is_some()
            && next.deleted_at.is_none()
        {
            crate::quotas::admit(&tx, &self.store, scope.organization_id(), quota, 1).await?;
        }
        T::guard(&tx, &self.store, scope, Some(&current), &next).await?;
        save_row::<T>(&tx, scope, &current, &next).await?;
        T::written(&tx, &self.store, scope, Some(&current), &next).await?;
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        Ok(next)
    }

    async fn purge_deleted_before(
        &self,
        scope: &TenantScope,
        cutoff: DateTime<Utc>,
        mut entry: AuditEntry,
    ) -> DomainResult<u64> {
        let doomed = in_scope::<T>(scope).add(col::<T>("deleted_at").lt(cutoff));
        let select = Query::select()
            .column((T::TABLE, "id"))
            .from(T::TABLE)
            .cond_where(doomed)
            .lock_exclusive()
            .to_owned();
        let tx = OrgTx::begin(&self.store, scope).await?;
        if T::PRIVATE {
            // Private rows are visible to their owner only; the purge sees the deleted ones.
            crate::tx::set_local(&tx, "app.purge", "on").await?;
        }
        let backend = tx.get_database_backend();
        let ids = tx
            .query_all_raw(backend.build(&select))
            .await
            .map_err(to_domain)?
            .iter()
            .map(|row| row.try_get_by_index::<Uuid>(0).map_err(to_domain))
            .collect::<DomainResult<Vec<_>>>()?;
        if ids.is_empty() {
            return Ok(0);
        }
        T::purging(&tx, scope, &ids).await?;
        let delete = Query::delete()
            .from_table(T::TABLE)
            .cond_where(in_scope::<T>(scope).add(col::<T>("id").is_in(ids.clone())))
            .to_owned();
        let removed = tx
            .execute_raw(backend.build(&delete))
            .await
            .map_err(to_domain)?
            .rows_affected();
        if let Some(details) = entry.changes.as_object_mut() {
            details.insert("count".into(), removed.into());
            details.insert(
                "ids".into(),
                ids.iter()
                    .map(|id| id.to_string())
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        Ok(removed)
    }
}

/// Which rows a lookup reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// What clients see.
    Visible,
    /// Also rows hidden by a deleted parent: for the server's own bookkeeping (a run that
    /// ends while its session's project is deleted still moves the session).
    Hidden,
}

/// Whether a lookup holds the row it finds until the unit of work ends, so nobody changes it
/// between the read and the write (PostgreSQL; SQLite has one writer at a time anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// A plain read.
    No,
    /// Locked, waiting for whoever holds it.
    Wait,
    /// Locked if free; a row someone else holds reads as missing (for bookkeeping that must
    /// not wait on a writer that waits on this unit of work).
    IfFree,
}

/// The one row of `T` that `condition` finds in the scope's organization, if any, held as
/// `hold` says.
pub(crate) async fn find_row<T: TenantTable>(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    reach: Reach,
    condition: Condition,
    hold: Hold,
) -> DomainResult<Option<Record<T::Resource>>> {
    let within = match reach {
        Reach::Visible => in_scope::<T>(scope),
        Reach::Hidden => in_org::<T>(scope),
    };
    let mut select = select::<T>();
    select.cond_where(within.add(condition)).limit(1);
    match hold {
        Hold::No => {}
        Hold::Wait => {
            select.lock_exclusive();
        }
        Hold::IfFree => {
            select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
    }
    tx.query_one_raw(tx.get_database_backend().build(&select))
        .await
        .map_err(to_domain)?
        .map(|row| record::<T>(&row))
        .transpose()
}

/// Writes `next` over `current` (which the caller holds locked), without hooks or audit: the
/// kit's change, and rows that other writes move along with theirs (a session following its
/// run, say).
pub(crate) async fn save_row<T: TenantTable>(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    current: &Record<T::Resource>,
    next: &Record<T::Resource>,
) -> DomainResult<()> {
    if next.id != current.id || next.organization_id != current.organization_id {
        return Err(DomainError::Internal(format!(
            "a change of {} moved a row",
            T::TABLE
        )));
    }
    let mut update = Query::update();
    update.table(T::TABLE);
    for (column, value) in T::COLUMNS.iter().zip(T::values(&next.fields)) {
        update.value(*column, Expr::val(value));
    }
    update
        .value("updated_at", Expr::val(next.updated_at))
        .value("version", Expr::val(next.version))
        .value("deleted_at", Expr::val(next.deleted_at))
        .value(
            "deleted_by",
            Expr::val(next.deleted_by.map(|u| u.as_uuid())),
        )
        .cond_where(
            in_org::<T>(scope)
                .add(col::<T>("id").eq(current.id.as_uuid()))
                .add(col::<T>("version").eq(current.version)),
        );
    let written = tx
        .execute_raw(tx.get_database_backend().build(&update))
        .await
        .map_err(conflict_or_domain(T::CONFLICT))?;
    if written.rows_affected() != 1 {
        // The row is locked; only a store without row locks could get here.
        return Err(DomainError::PreconditionFailed);
    }
    Ok(())
}

/// Writes a new row of `T` with its hooks, in the caller's unit of work: the kit's insert,
/// and rows that other writes create along with theirs (a run's artifacts, say).
pub(crate) async fn insert_row<T: TenantTable>(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    record: &Record<T::Resource>,
) -> DomainResult<()> {
    let mut values = vec![
        Expr::val(scope.organization_id().as_uuid()),
        Expr::val(record.id.as_uuid()),
        Expr::val(record.created_by.as_uuid()),
        Expr::val(record.created_at),
        Expr::val(record.updated_at),
        Expr::val(record.version),
        Expr::val(record.deleted_at),
        Expr::val(record.deleted_by.map(|u| u.as_uuid())),
    ];
    values.extend(T::values(&record.fields).into_iter().map(Expr::val));
    let mut insert = Query::insert();
    insert
        .into_table(T::TABLE)
        .columns(LIFECYCLE.iter().chain(T::COLUMNS).copied())
        .values(values)
        .map_err(|e| DomainError::Internal(format!("{} insert: {e}", T::TABLE)))?;
    if let Some(quota) = T::QUOTA
        && record.deleted_at.is_none()
    {
        crate::quotas::admit(tx, store, scope.organization_id(), quota, 1).await?;
    }
    T::guard(tx, store, scope, None, record).await?;
    tx.execute_raw(tx.get_database_backend().build(&insert))
        .await
        .map_err(conflict_or_domain(T::CONFLICT))?;
    T::written(tx, store, scope, None, record).await
}

/// The integer `select` answers (a count, a maximum), 0 when it answers no row.
pub(crate) async fn scalar(
    tx: &DatabaseTransaction,
    select: &SelectStatement,
) -> DomainResult<i64> {
    Ok(tx
        .query_one_raw(tx.get_database_backend().build(select))
        .await
        .map_err(to_domain)?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()
        .map_err(to_domain)?
        .unwrap_or_default())
}

/// A registered resource, as the jobs that run over every resource see it.
#[async_trait]
pub trait RegisteredResource: Send + Sync {
    /// The resource's name.
    fn name(&self) -> &'static str;

    /// See [`SqlResources::organizations_with_deleted_before`].
    async fn organizations_with_deleted_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> DomainResult<Vec<OrganizationId>>;

    /// The resource's kit use cases on this store, for its purge.
    fn purgeable(
        &self,
        audit: std::sync::Arc<dyn bulkhead_domain::audit::AuditRepository>,
    ) -> std::sync::Arc<dyn bulkhead_domain::resource::Purgeable>;
}

#[async_trait]
impl<T: TenantTable> RegisteredResource for SqlResources<T> {
    fn name(&self) -> &'static str {
        <T::Resource as Resource>::NAME
    }

    async fn organizations_with_deleted_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> DomainResult<Vec<OrganizationId>> {
        SqlResources::organizations_with_deleted_before(self, cutoff).await
    }

    fn purgeable(
        &self,
        audit: std::sync::Arc<dyn bulkhead_domain::audit::AuditRepository>,
    ) -> std::sync::Arc<dyn bulkhead_domain::resource::Purgeable> {
        std::sync::Arc::new(bulkhead_domain::resource::Resources::<T::Resource>::new(
            std::sync::Arc::new(self.clone()),
            audit,
        ))
    }
}

/// Fails with [`DomainError::NotFound`] unless row `id` of `T` is live in the scope's
/// organization: for rows that hang off a resource, such as a project's members, and for
/// references. With `hold`, the row is share-locked until the unit of work ends (PostgreSQL),
/// so it cannot be deleted before the row that names it commits.
pub(crate) async fn require_live<T: TenantTable>(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    id: Uuid,
    hold: bool,
) -> DomainResult<()> {
    let mut select = Query::select();
    select
        .column((T::TABLE, "id"))
        .from(T::TABLE)
        .cond_where(one_row::<T>(scope, id, RowState::Live));
    if hold {
        select.lock_shared();
    }
    tx.query_one_raw(tx.get_database_backend().build(&select))
        .await
        .map_err(to_domain)?
        .map(|_| ())
        .ok_or(DomainError::NotFound)
}

/// [`require_live`] for a reference a client gave in `field`: a row that is not live in the
/// organization is a validation error on the field (422), naming `what` it must be.
pub(crate) async fn require_reference<T: TenantTable>(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    id: Uuid,
    field: &'static str,
    what: &'static str,
) -> DomainResult<()> {
    require_live::<T>(tx, scope, id, true)
        .await
        .map_err(|e| match e {
            DomainError::NotFound => DomainError::invalid(
                field,
                "not_found",
                format!("{field} must name a live {what} of this organization"),
            ),
            other => other,
        })
}

/// Whether a write makes `next` newly point at a row through `column` (an insert, a change of
/// the reference, or bringing the row back): when a reference must be checked.
pub(crate) fn newly_refers<R: Resource, V: PartialEq>(
    previous: Option<&Record<R>>,
    next: &Record<R>,
    column: impl Fn(&R::Fields) -> V,
) -> bool {
    next.deleted_at.is_none()
        && previous
            .is_none_or(|p| p.deleted_at.is_some() || column(&p.fields) != column(&next.fields))
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_in_searches_are_escaped() {
        assert_eq!(contains_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }
}
