//! The one storage port of every tenant resource.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{ListQuery, Record, Resource, RowState};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::page::Page;
use crate::scope::TenantScope;

/// What a write makes of the row it read: the next version of it and the audit entry of the
/// change, or nothing to write (`Ok(None)`), or an error that aborts the write. The service
/// decides it; the adapter applies it while it holds the row. Closures of that shape are
/// changes.
pub trait Change<R: Resource>: Send + Sync {
    /// The next version of `current`, and its audit entry.
    fn next(&self, current: &Record<R>) -> DomainResult<Option<(Record<R>, AuditEntry)>>;
}

impl<R, F> Change<R> for F
where
    R: Resource,
    F: Fn(&Record<R>) -> DomainResult<Option<(Record<R>, AuditEntry)>> + Send + Sync,
{
    fn next(&self, current: &Record<R>) -> DomainResult<Option<(Record<R>, AuditEntry)>> {
        self(current)
    }
}

/// A change as the port takes it: owning what it uses, so the adapter may hold it as long as
/// its unit of work lasts.
pub type ChangeOf<R> = dyn Change<R> + 'static;

/// Stores the rows of resource `R`. Every method is confined to `scope`'s organization: a row
/// of another organization behaves exactly like one that does not exist. Every write records
/// the audit entry the service passes, in the same transaction, so a change and its record
/// land together or not at all.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TenantRepository<R: Resource>: Send + Sync {
    /// Stores a new row. `record.organization_id` must be the scope's. Fails with
    /// [`crate::DomainError::Conflict`] when a unique field is taken in the organization.
    async fn insert(
        &self,
        scope: &TenantScope,
        record: &Record<R>,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// One row in `state`, or [`crate::DomainError::NotFound`].
    async fn get(&self, scope: &TenantScope, id: R::Id, state: RowState)
    -> DomainResult<Record<R>>;

    /// One page of the organization's rows (soft-deleted ones only if the query says so),
    /// with the total count.
    async fn list(
        &self,
        scope: &TenantScope,
        query: &ListQuery<R::Filter>,
    ) -> DomainResult<Page<Record<R>>>;

    /// Changes one row in one unit of work: reads the row in `state` (locked until the work
    /// ends, on PostgreSQL), hands it to [`Change::next`], and writes what `change` answers, the next
    /// version of the row with the audit entry of the change, in the same transaction. `Ok(None)`
    /// from `change` writes nothing and answers the row as read; an error from it aborts the
    /// work. [`crate::DomainError::NotFound`] if there is no such row;
    /// [`crate::DomainError::Conflict`] when a unique field is taken.
    async fn change(
        &self,
        scope: &TenantScope,
        id: R::Id,
        state: RowState,
        change: &ChangeOf<R>,
    ) -> DomainResult<Record<R>>;

    /// Removes for good the rows soft-deleted before `cutoff` and records `entry` with their
    /// `count` and `ids` added to its details, unless there were none; returns how many went.
    async fn purge_deleted_before(
        &self,
        scope: &TenantScope,
        cutoff: DateTime<Utc>,
        entry: AuditEntry,
    ) -> DomainResult<u64>;
}
