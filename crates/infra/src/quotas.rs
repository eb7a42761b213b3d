//! Plan limits, enforced in the unit of work of the create they limit.
//!
//! A limited create first locks its organization's subscription row (PostgreSQL; SQLite runs
//! one write at a time anyway), then counts, then writes: two creates racing for the last
//! slot take turns, so a limit holds exactly however many arrive at once. A plan without a
//! limit on the quota costs one indexed read and takes no lock.

use bulkhead_domain::billing::month_of;
use bulkhead_domain::{DomainError, DomainResult, OrganizationId, Quota, QuotaExceeded};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement, Value};

use crate::error::to_domain;
use crate::store::Store;

/// A statement written with PostgreSQL's `$n` placeholders, numbered in the order they
/// appear, for either store.
pub(crate) fn statement(
    backend: DatabaseBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let sql = match backend {
        DatabaseBackend::Postgres => sql.to_owned(),
        _ => {
            let mut out = String::with_capacity(sql.len());
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
            out
        }
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The integer the statement answers, 0 for no row or NULL.
pub(crate) async fn number(tx: &impl ConnectionTrait, statement: Statement) -> DomainResult<i64> {
    Ok(tx
        .query_one_raw(statement)
        .await
        .map_err(to_domain)?
        .map(|row| row.try_get_by_index::<Option<i64>>(0))
        .transpose()
        .map_err(to_domain)?
        .flatten()
        .unwrap_or(0))
}

/// The organization's plan, locking its subscription row when `lock` says so.
async fn plan(tx: &DatabaseTransaction, org: OrganizationId, lock: bool) -> DomainResult<String> {
    let backend = tx.get_database_backend();
    let sql = if lock && backend == DatabaseBackend::Postgres {
        "SELECT plan FROM billing_subscriptions WHERE organization_id = $1 FOR UPDATE"
    } else {
        "SELECT plan FROM billing_subscriptions WHERE organization_id = $1"
    };
    let row = tx
        .query_one_raw(statement(backend, sql, [org.as_uuid().into()]))
        .await
        .map_err(to_domain)?;
    match row {
        Some(row) => row.try_get_by_index::<String>(0).map_err(to_domain),
        // Every organization has its row from a trigger; none means none is visible here.
        None => Err(DomainError::NotFound),
    }
}

/// What is used of `quota` now, read inside `tx` (this month, for monthly quotas).
async fn used(tx: &impl ConnectionTrait, org: OrganizationId, quota: Quota) -> DomainResult<i64> {
    used_in(tx, org, quota, &month_of(bulkhead_domain::now()).2).await
}

/// What is used of `quota`, read inside `tx`; monthly quotas in the month keyed `month`
/// (`2026-12`).
pub(crate) async fn used_in(
    tx: &impl ConnectionTrait,
    org: OrganizationId,
    quota: Quota,
    month: &str,
) -> DomainResult<i64> {
    let backend = tx.get_database_backend();
    let id: Value = org.as_uuid().into();
    let count = |sql: &str, values: Vec<Value>| statement(backend, sql, values);
    let query = match quota {
        Quota::Members => count(
            "SELECT count(*) FROM memberships WHERE organization_id = $1",
            vec![id],
        ),
        // Kept by triggers (migration 14): no count over a million rows in a create.
        Quota::Projects => count(
            "SELECT live FROM project_counts WHERE organization_id = $1",
            vec![id],
        ),
        Quota::Agents => count(
            "SELECT count(*) FROM agents WHERE organization_id = $1 AND deleted_at IS NULL",
            vec![id],
        ),
        Quota::ApiKeys => count(
            "SELECT count(*) FROM api_keys WHERE organization_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
            vec![id, bulkhead_domain::now().into()],
        ),
        // A run holds its queue row from its creation until it ends.
        Quota::ConcurrentRuns => count(
            "SELECT count(*) FROM run_queue WHERE organization_id = $1",
            vec![id],
        ),
        Quota::RunsPerMonth | Quota::TokensPerMonth | Quota::StorageBytes => count(
            "SELECT value FROM usage_counters \
             WHERE organization_id = $1 AND period = $2 AND metric = $3",
            vec![id, period(quota, month).into(), quota.as_str().into()],
        ),
    };
    number(tx, query).await
}

/// The counter period of a counted quota: `month` for monthly ones, `total` otherwise.
fn period(quota: Quota, month: &str) -> &str {
    if quota.is_monthly() { month } else { "total" }
}

/// Admits `adding` more of `quota` in `org` under its plan, inside the create's `tx`, or fails
/// with [`DomainError::QuotaExceeded`] (the caller's unit of work then rolls back).
pub(crate) async fn admit(
    tx: &DatabaseTransaction,
    store: &Store,
    org: OrganizationId,
    quota: Quota,
    adding: i64,
) -> DomainResult<()> {
    admit_all(tx, store, org, &[(quota, adding)]).await
}

/// [`admit`] for several quotas at once (a run counts against three), reading the plan once.
pub(crate) async fn admit_all(
    tx: &DatabaseTransaction,
    store: &Store,
    org: OrganizationId,
    wanted: &[(Quota, i64)],
) -> DomainResult<()> {
    let limited = |plan: &str| {
        let limits = store.plans().limits(plan);
        wanted
            .iter()
            .filter_map(|(quota, adding)| limits.of(*quota).map(|limit| (*quota, *adding, limit)))
            .collect::<Vec<_>>()
    };
    if limited(&plan(tx, org, false).await?).is_empty() {
        return Ok(());
    }
    // Limited: take the organization's turn, then read the plan again under it (a change of
    // plan commits before or after this create, never during).
    let plan = plan(tx, org, true).await?;
    for (quota, adding, limit) in limited(&plan) {
        let used = used(tx, org, quota).await?;
        if used + adding > limit {
            return Err(DomainError::QuotaExceeded(QuotaExceeded {
                quota,
                limit,
                used,
                plan,
            }));
        }
    }
    Ok(())
}

/// Adds `amount` to the organization's counter of `quota` (this month's, for monthly ones).
pub(crate) async fn count(
    tx: &DatabaseTransaction,
    org: OrganizationId,
    quota: Quota,
    amount: i64,
) -> DomainResult<()> {
    if amount == 0 {
        return Ok(());
    }
    let backend = tx.get_database_backend();
    tx.execute_raw(statement(
        backend,
        "INSERT INTO usage_counters (organization_id, period, metric, value) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (organization_id, period, metric) \
         DO UPDATE SET value = usage_counters.value + excluded.value",
        [
            org.as_uuid().into(),
            period(quota, &month_of(bulkhead_domain::now()).2).into(),
            quota.as_str().into(),
            amount.into(),
        ],
    ))
    .await
    .map_err(to_domain)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_question_marks_on_sqlite() {
        let s = statement(
            DatabaseBackend::Sqlite,
            "SELECT $1, '$x', $2, $10",
            [1.into(), 2.into(), 3.into()],
        );
        assert_eq!(s.sql, "SELECT ?, '$x', ?, ?");
        let s = statement(DatabaseBackend::Postgres, "SELECT $1", [1.into()]);
        assert_eq!(s.sql, "SELECT $1");
    }
}
