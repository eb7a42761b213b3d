//! The lifecycle every tenant resource shares in SQL: locking a row of the scope's
//! organization, checking its version, soft delete and restore, and the audited write that
//! bumps the version. A resource joins by implementing [`Lifecycle`] for its entity (ids of four
//! columns and three setters) and calling these functions from its repository.

use bulkhead_domain::audit::{AuditEntry, Auditable};
use bulkhead_domain::{DomainError, DomainResult, TenantScope};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::error::{conflict_or_domain, to_domain};
use crate::store::Store;
use crate::tx::OrgTx;

/// A tenant-owned entity with `version`, `updated_at`, `deleted_at` and `deleted_by` columns.
pub(crate) trait Lifecycle: EntityTrait {
    /// The domain object a row becomes.
    type Domain: Auditable + TryFrom<Self::Model, Error = DomainError>;
    /// `organization_id`.
    const ORGANIZATION_ID: Self::Column;
    /// `id`.
    const ID: Self::Column;
    /// `deleted_at`.
    const DELETED_AT: Self::Column;
    /// Audit actions, e.g. `project.updated`, `project.deleted`, `project.restored`.
    const UPDATED: &'static str;
    /// See [`Lifecycle::UPDATED`].
    const DELETED: &'static str;
    /// See [`Lifecycle::UPDATED`].
    const RESTORED: &'static str;
    /// The message of a unique-constraint clash (fixed, so it tells nothing of other rows).
    const CONFLICT: &'static str;

    /// The row's version.
    fn version(row: &Self::Model) -> i64;
    /// Sets the version and the change time.
    fn stamp(active: &mut Self::ActiveModel, version: i64, now: DateTime<Utc>);
    /// Sets or clears the soft-delete columns.
    fn set_deleted(active: &mut Self::ActiveModel, deleted: Option<(DateTime<Utc>, Option<Uuid>)>);
}

/// Which rows a lookup may find.
#[derive(Clone, Copy)]
pub(crate) enum Rows {
    /// Rows that are not soft-deleted.
    Live,
    /// Soft-deleted rows only.
    Deleted,
}

/// What a write does, for its audit record.
#[derive(Clone, Copy)]
pub(crate) enum Change {
    Updated,
    Deleted,
    Restored,
}

/// One row of the scope's organization, locked for the rest of the transaction on PostgreSQL.
pub(crate) async fn lock<E: Lifecycle>(
    tx: &OrgTx,
    scope: &TenantScope,
    id: Uuid,
    rows: Rows,
) -> DomainResult<E::Model> {
    let deleted = match rows {
        Rows::Live => E::DELETED_AT.is_null(),
        Rows::Deleted => E::DELETED_AT.is_not_null(),
    };
    E::find()
        .filter(E::ORGANIZATION_ID.eq(scope.organization_id().as_uuid()))
        .filter(E::ID.eq(id))
        .filter(deleted)
        .lock_exclusive()
        .one(&**tx)
        .await
        .map_err(to_domain)?
        .ok_or(DomainError::NotFound)
}

/// Fails with [`DomainError::PreconditionFailed`] unless the row has the expected version.
pub(crate) fn check_version<E: Lifecycle>(
    row: &E::Model,
    expected: Option<i64>,
) -> DomainResult<()> {
    match expected {
        Some(expected) if expected != E::version(row) => Err(DomainError::PreconditionFailed),
        _ => Ok(()),
    }
}

/// Writes `active` over the locked `row` with the next version, records the change in the
/// audit chain and commits: the one write path of every change to an existing row.
pub(crate) async fn save<E>(
    tx: OrgTx,
    scope: &TenantScope,
    row: E::Model,
    mut active: E::ActiveModel,
    change: Change,
    now: DateTime<Utc>,
) -> DomainResult<E::Domain>
where
    E: Lifecycle,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    E::stamp(&mut active, E::version(&row) + 1, now);
    let before = E::Domain::try_from(row)?;
    let updated = active.update(&*tx).await.map_err(|err| match err {
        DbErr::RecordNotUpdated => DomainError::NotFound,
        other => conflict_or_domain(E::CONFLICT)(other),
    })?;
    let after = E::Domain::try_from(updated)?;
    let entry = match change {
        Change::Updated => AuditEntry::updated(E::UPDATED, &before, &after),
        Change::Deleted => AuditEntry::deleted(E::DELETED, &before),
        Change::Restored => AuditEntry::created(E::RESTORED, &after),
    };
    tx.audit(scope, entry).await?;
    tx.commit().await?;
    Ok(after)
}

/// Soft-deletes a live row (with the version check); it then reads as missing.
pub(crate) async fn soft_delete<E>(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    expected_version: Option<i64>,
    now: DateTime<Utc>,
) -> DomainResult<E::Domain>
where
    E: Lifecycle,
    E::Model: Clone + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let tx = OrgTx::begin(store, scope).await?;
    let row = lock::<E>(&tx, scope, id, Rows::Live).await?;
    check_version::<E>(&row, expected_version)?;
    let mut active = row.clone().into_active_model();
    E::set_deleted(
        &mut active,
        Some((now, scope.author().map(|u| u.as_uuid()))),
    );
    save::<E>(tx, scope, row, active, Change::Deleted, now).await
}

/// Brings back a soft-deleted row; a unique clash (its name taken meanwhile) is a conflict.
pub(crate) async fn restore<E>(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    now: DateTime<Utc>,
) -> DomainResult<E::Domain>
where
    E: Lifecycle,
    E::Model: Clone + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let tx = OrgTx::begin(store, scope).await?;
    let row = lock::<E>(&tx, scope, id, Rows::Deleted).await?;
    let mut active = row.clone().into_active_model();
    E::set_deleted(&mut active, None);
    save::<E>(tx, scope, row, active, Change::Restored, now).await
}
