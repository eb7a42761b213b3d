//! The one storage port of every tenant resource.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{ListQuery, Record, Resource, RowState};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::page::Page;
use crate::scope::TenantScope;

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

    /// Writes `record` (fields and lifecycle) over the stored row with the same id, provided
    /// that row is still at `expected_version`; otherwise
    /// [`crate::DomainError::PreconditionFailed`] and nothing changes. A unique field taken
    /// meanwhile is [`crate::DomainError::Conflict`].
    async fn replace(
        &self,
        scope: &TenantScope,
        record: &Record<R>,
        expected_version: i64,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Removes for good the rows soft-deleted before `cutoff` and records `entry` with their
    /// `count` and `ids` added to its details, unless there were none; returns how many went.
    async fn purge_deleted_before(
        &self,
        scope: &TenantScope,
        cutoff: DateTime<Utc>,
        entry: AuditEntry,
    ) -> DomainResult<u64>;
}
