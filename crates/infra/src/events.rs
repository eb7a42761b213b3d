//! Streams of stored events (a run's, a work session's): appended with gapless sequence
//! numbers and read back in order, each stream confined to its organization.

use bulkhead_domain::{DomainError, DomainResult, TenantScope};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use crate::error::{corrupt, to_domain};
use crate::run_signals::SqlRunSignals;

/// One stream: its events' table, the column naming what they are of, and that row's id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    table: &'static str,
    column: &'static str,
    id: Uuid,
}

/// An event as stored, before its kind is read.
pub(crate) struct Stored {
    pub seq: i64,
    pub kind: String,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl Stream {
    /// The events of row `id`, kept in `table` by `column`.
    pub(crate) fn new(table: &'static str, column: &'static str, id: Uuid) -> Self {
        Self { table, column, id }
    }
}

/// Appends an event to a stream whose owning row this unit of work holds locked (so sequence
/// numbers are gapless and never collide), and signals readers when the unit of work commits.
pub(crate) async fn append(
    tx: &DatabaseTransaction,
    signals: &SqlRunSignals,
    scope: &TenantScope,
    stream: Stream,
    kind: &str,
    data: serde_json::Value,
) -> DomainResult<i64> {
    let org = scope.organization_id().as_uuid();
    let last = Query::select()
        .expr(Expr::cust("COALESCE(MAX(seq), 0)"))
        .from(stream.table)
        .and_where(Expr::col((stream.table, "organization_id")).eq(org))
        .and_where(Expr::col((stream.table, stream.column)).eq(stream.id))
        .to_owned();
    let backend = tx.get_database_backend();
    let seq = crate::resources::scalar(tx, &last).await? + 1;
    let insert = Query::insert()
        .into_table(stream.table)
        .columns([
            "organization_id",
            stream.column,
            "seq",
            "kind",
            "data",
            "created_at",
        ])
        .values([
            Expr::val(org),
            Expr::val(stream.id),
            Expr::val(seq),
            Expr::val(kind),
            Expr::val(data.to_string()),
            Expr::val(bulkhead_domain::now()),
        ])
        .map_err(|e| DomainError::Internal(format!("event insert: {e}")))?
        .to_owned();
    tx.execute_raw(backend.build(&insert))
        .await
        .map_err(to_domain)?;
    signals.announce(tx, stream.id).await?;
    Ok(seq)
}

/// Up to `limit` events of a stream after sequence number `after`, in order.
pub(crate) async fn read(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    stream: Stream,
    after: i64,
    limit: u64,
) -> DomainResult<Vec<Stored>> {
    let t = stream.table;
    let select = Query::select()
        .columns([(t, "seq"), (t, "kind"), (t, "data"), (t, "created_at")])
        .from(t)
        .and_where(Expr::col((t, "organization_id")).eq(scope.organization_id().as_uuid()))
        .and_where(Expr::col((t, stream.column)).eq(stream.id))
        .and_where(Expr::col((t, "seq")).gt(after))
        .order_by((t, "seq"), Order::Asc)
        .limit(limit)
        .to_owned();
    let rows = tx
        .query_all_raw(tx.get_database_backend().build(&select))
        .await
        .map_err(to_domain)?;
    rows.iter()
        .map(|row| {
            let data: String = row.try_get_by_index(2).map_err(to_domain)?;
            Ok(Stored {
                seq: row.try_get_by_index(0).map_err(to_domain)?,
                kind: row.try_get_by_index(1).map_err(to_domain)?,
                data: serde_json::from_str(&data).map_err(corrupt("event data"))?,
                at: row.try_get_by_index(3).map_err(to_domain)?,
            })
        })
        .collect()
}
