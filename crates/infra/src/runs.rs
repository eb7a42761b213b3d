//! Runs in SQL: `agent_runs`, `run_events` and `run_queue` (migration 19).
//!
//! People's side ([`SqlRunRepository`]) works inside the caller's tenant transaction like every
//! adapter. The workers' side ([`SqlRunQueue`]) finds queued runs with `FOR UPDATE SKIP LOCKED`
//! in a transaction that may read every organization's queue rows (`app.queue = 'claim'`) and
//! nothing else, then enters the run's organization to claim it; everything else it does runs
//! under a system scope of that organization, so row-level security stays on and the audit
//! trail names the task.

use std::time::Duration;

use async_trait::async_trait;
use bulkhead_domain::agent_configs::{Provider, ProviderKey, credential_place};
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::runs::{
    Claim, EventKind, Outcome, RUN, Run, RunEvent, RunMetrics, RunPage, RunQuery, RunQueue,
    RunRepository, RunStatus, Started,
};
use bulkhead_domain::sealed::{SealedSecret, Sealer};
use bulkhead_domain::{
    AgentConfigId, AgentId, DomainError, DomainResult, OrganizationId, RunId, SystemTask,
    TenantScope,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::json;
use uuid::Uuid;

use crate::agents::AgentTable;
use crate::error::{corrupt, to_domain};
use crate::resources::require_live;
use crate::run_rows::{
    self, EVENTS, QUEUE, RUNS, col, drop_claim, load, queue, queue_row, run, select_runs,
    status_event,
};
use crate::store::Store;
use crate::tx::{OrgTx, set_local, set_tenant};

/// [`run_rows::moved`], and what the run works for moves with it: its work session, or its
/// conversation (see [`followed`]).
async fn moved(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &Run,
    entry: Option<AuditEntry>,
) -> DomainResult<()> {
    run_rows::moved(tx, store, scope, run, entry).await?;
    followed(tx, store, scope, run).await
}

/// [`run_rows::moved_with`], and what the run works for moves with it (see [`followed`]).
async fn moved_with(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &Run,
    data: serde_json::Value,
    entry: Option<AuditEntry>,
) -> DomainResult<()> {
    run_rows::moved_with(tx, store, scope, run, data, entry).await?;
    followed(tx, store, scope, run).await
}

/// The work session a run does follows its status, and so does the conversation a reply
/// answers in (its events, the assistant's message, the next waiting message's reply).
async fn followed(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &Run,
) -> DomainResult<()> {
    crate::work::follow_run(tx, store, scope, run).await?;
    crate::conversations::reply_moved(tx, store, scope, run).await
}

/// The audit record of what the worker's task did to a run.
fn by_worker(run: &Run, details: serde_json::Value) -> AuditEntry {
    AuditEntry::event(
        &format!(
            "{RUN}.{}",
            if run.status == RunStatus::Running {
                "started"
            } else {
                run.status.as_str()
            }
        ),
        RUN,
        Some(run.id.to_string()),
        details,
    )
}

/// Runs as people and API keys see them.
#[derive(Clone)]
pub struct SqlRunRepository {
    store: Store,
}

impl SqlRunRepository {
    /// Builds the repository; events it stores wake readers through the store's signals.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl RunRepository for SqlRunRepository {
    async fn create(&self, scope: &TenantScope, run: &Run, entry: AuditEntry) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        queue(&tx, &self.store, scope, &mut run.clone()).await?;
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        self.store.signals().wake_workers();
        Ok(())
    }

    async fn get(&self, scope: &TenantScope, id: RunId) -> DomainResult<Run> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let found = load(&tx, scope, id, false).await;
        tx.finish_read().await?;
        found
    }

    async fn list(
        &self,
        scope: &TenantScope,
        agent: AgentId,
        query: &RunQuery,
    ) -> DomainResult<RunPage> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        require_live::<AgentTable>(&tx, scope, agent.as_uuid(), false).await?;
        let mut select = select_runs();
        select
            .and_where(col(RUNS, "organization_id").eq(scope.organization_id().as_uuid()))
            .and_where(col(RUNS, "agent_id").eq(agent.as_uuid()))
            .order_by((RUNS, "id"), Order::Desc)
            .limit(query.limit + 1);
        if let Some(before) = query.before {
            select.and_where(col(RUNS, "id").lt(before.as_uuid()));
        }
        if let Some(status) = query.status {
            select.and_where(col(RUNS, "status").eq(status.as_str()));
        }
        if let Some(since) = query.since {
            select.and_where(col(RUNS, "created_at").gte(since));
        }
        if let Some(until) = query.until {
            select.and_where(col(RUNS, "created_at").lt(until));
        }
        let rows = tx
            .query_all_raw(tx.get_database_backend().build(&select))
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        let mut runs = rows.iter().map(run).collect::<DomainResult<Vec<_>>>()?;
        let has_more = runs.len() as u64 > query.limit;
        runs.truncate(query.limit as usize);
        Ok(RunPage {
            runs,
            limit: query.limit,
            has_more,
        })
    }

    async fn cancel(&self, scope: &TenantScope, id: RunId, entry: AuditEntry) -> DomainResult<Run> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        crate::conversations::hold_reply(&tx, scope, id).await?;
        let run = run_rows::cancel_in(&tx, &self.store, scope, id, entry).await?;
        followed(&tx, &self.store, scope, &run).await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn events(
        &self,
        scope: &TenantScope,
        id: RunId,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<RunEvent>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let exists = Query::select()
            .column((RUNS, "id"))
            .from(RUNS)
            .and_where(col(RUNS, "organization_id").eq(scope.organization_id().as_uuid()))
            .and_where(col(RUNS, "id").eq(id.as_uuid()))
            .cond_where(crate::run_rows::reachable_rows(scope))
            .to_owned();
        let backend = tx.get_database_backend();
        if tx
            .query_one_raw(backend.build(&exists))
            .await
            .map_err(to_domain)?
            .is_none()
        {
            return Err(DomainError::NotFound);
        }
        let events = crate::events::read(
            &tx,
            scope,
            crate::events::Stream::new(EVENTS, "run_id", id.as_uuid()),
            after,
            limit,
        )
        .await?;
        tx.finish_read().await?;
        events
            .into_iter()
            .map(|e| {
                Ok(RunEvent {
                    seq: e.seq,
                    kind: EventKind::parse(&e.kind).ok_or_else(|| {
                        DomainError::Internal(format!("stored event kind {:?}", e.kind))
                    })?,
                    data: e.data,
                    at: e.at,
                })
            })
            .collect()
    }

    async fn metrics(
        &self,
        scope: &TenantScope,
        agent: AgentId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> DomainResult<RunMetrics> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        require_live::<AgentTable>(&tx, scope, agent.as_uuid(), false).await?;
        let backend = tx.get_database_backend();
        let in_period = || {
            let mut condition = sea_orm::sea_query::Condition::all()
                .add(col(RUNS, "organization_id").eq(scope.organization_id().as_uuid()))
                .add(col(RUNS, "agent_id").eq(agent.as_uuid()));
            if let Some(since) = since {
                condition = condition.add(col(RUNS, "created_at").gte(since));
            }
            if let Some(until) = until {
                condition = condition.add(col(RUNS, "created_at").lt(until));
            }
            condition
        };
        // One pass over the agent's runs in the period, through (organization, agent,
        // created_at): counts by status, token sums, longest duration, latest run.
        let summary = Query::select()
            .column((RUNS, "status"))
            .expr(Expr::cust("COUNT(*)"))
            .expr(Expr::cust("CAST(COALESCE(SUM(tokens_in), 0) AS BIGINT)"))
            .expr(Expr::cust("CAST(COALESCE(SUM(tokens_out), 0) AS BIGINT)"))
            .expr(Expr::cust("MAX(duration_ms)"))
            .expr(Expr::cust("MAX(created_at)"))
            .from(RUNS)
            .cond_where(in_period())
            .group_by_col((RUNS, "status"))
            .to_owned();
        let rows = tx
            .query_all_raw(backend.build(&summary))
            .await
            .map_err(to_domain)?;
        let mut metrics = RunMetrics::default();
        for row in &rows {
            let status: String = row.try_get_by_index(0).map_err(to_domain)?;
            let count: i64 = row.try_get_by_index(1).map_err(to_domain)?;
            let tokens_in: i64 = row.try_get_by_index(2).map_err(to_domain)?;
            let tokens_out: i64 = row.try_get_by_index(3).map_err(to_domain)?;
            let longest: Option<i64> = row.try_get_by_index(4).map_err(to_domain)?;
            let latest: Option<DateTime<Utc>> = row.try_get_by_index(5).map_err(to_domain)?;
            let status = RunStatus::parse("status", &status).map_err(corrupt("run status"))?;
            metrics.runs_total += count;
            metrics.by_status.push((status, count));
            metrics.tokens_in += tokens_in;
            metrics.tokens_out += tokens_out;
            metrics.duration_max_ms = Ord::max(metrics.duration_max_ms, longest);
            metrics.last_run_at = Ord::max(metrics.last_run_at, latest);
        }
        let count_of = |s: RunStatus| {
            metrics
                .by_status
                .iter()
                .find(|(status, _)| *status == s)
                .map_or(0, |(_, n)| *n)
        };
        let succeeded = count_of(RunStatus::Succeeded);
        let finished = succeeded + count_of(RunStatus::Failed) + count_of(RunStatus::TimedOut);
        metrics.success_rate = (finished > 0).then(|| succeeded as f64 / finished as f64);
        // Percentiles by rank: the k-th shortest duration, read with an offset (portable, and
        // bounded by the period's runs of one agent).
        let timed = || in_period().add(col(RUNS, "duration_ms").is_not_null());
        let count = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(RUNS)
            .cond_where(timed())
            .to_owned();
        let n = crate::resources::scalar(&tx, &count).await?;
        for (share, slot) in [
            (0.5, &mut metrics.duration_p50_ms),
            (0.95, &mut metrics.duration_p95_ms),
        ] {
            if n == 0 {
                break;
            }
            // Nearest rank: the smallest value with at least `share` of the values at or below.
            let rank = ((share * n as f64).ceil() as i64).clamp(1, n);
            let at = Query::select()
                .column((RUNS, "duration_ms"))
                .from(RUNS)
                .cond_where(timed())
                .order_by((RUNS, "duration_ms"), Order::Asc)
                .limit(1)
                .offset((rank - 1) as u64)
                .to_owned();
            *slot = tx
                .query_one_raw(backend.build(&at))
                .await
                .map_err(to_domain)?
                .map(|row| row.try_get_by_index::<i64>(0))
                .transpose()
                .map_err(to_domain)?;
        }
        tx.finish_read().await?;
        metrics.by_status.sort_by_key(|(s, _)| s.as_str());
        Ok(metrics)
    }
}

/// The queue as workers see it.
#[derive(Clone)]
pub struct SqlRunQueue {
    store: Store,
}

impl SqlRunQueue {
    /// Builds the queue; events it stores wake readers through the store's signals.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The provider key of configuration `config`, opened; `None` if it has none, or if it
    /// does not open (sealed under a key this server lacks: the provider will refuse the call,
    /// and the run fails saying so).
    async fn credential(
        &self,
        tx: &DatabaseTransaction,
        scope: &TenantScope,
        config: AgentConfigId,
    ) -> Option<ProviderKey> {
        let select = Query::select()
            .column(("agent_configs", "credential"))
            .from("agent_configs")
            .and_where(
                col("agent_configs", "organization_id").eq(scope.organization_id().as_uuid()),
            )
            .and_where(col("agent_configs", "id").eq(config.as_uuid()))
            .to_owned();
        let sealed: Option<String> = tx
            .query_one_raw(tx.get_database_backend().build(&select))
            .await
            .ok()??
            .try_get_by_index(0)
            .ok()?;
        let sealed = SealedSecret::from_sealed(sealed?);
        match Sealer::open(self.store.keyring(), &credential_place(config), &sealed) {
            Ok(key) => ProviderKey::parse(&key).ok(),
            Err(err) => {
                tracing::warn!(error = %err, config = %config, "a provider credential does not open");
                None
            }
        }
    }

    /// A transaction that may read every organization's queue rows (and nothing else).
    async fn claiming(&self) -> DomainResult<DatabaseTransaction> {
        let tx = self.store.begin().await.map_err(to_domain)?;
        set_local(&tx, "app.queue", "claim").await?;
        Ok(tx)
    }

    /// One queued run, locked, that `worker` may claim under the fairness cap.
    async fn next_ready(
        &self,
        tx: &DatabaseTransaction,
        per_organization: u32,
    ) -> DomainResult<Option<Claim>> {
        let leased = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from_as(QUEUE, "leased")
            .and_where(Expr::col(("leased", "organization_id")).equals((QUEUE, "organization_id")))
            .and_where(Expr::col(("leased", "lease_owner")).is_not_null())
            .to_owned();
        let select = Query::select()
            .columns([(QUEUE, "organization_id"), (QUEUE, "run_id")])
            .from(QUEUE)
            .and_where(col(QUEUE, "lease_owner").is_null())
            .and_where(col(QUEUE, "available_at").lte(bulkhead_domain::now()))
            .and_where(
                Expr::SubQuery(None, Box::new(leased.into())).lt(i64::from(per_organization)),
            )
            .order_by((QUEUE, "available_at"), Order::Asc)
            .limit(1)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let row = tx
            .query_one_raw(tx.get_database_backend().build(&select))
            .await
            .map_err(to_domain)?;
        row.map(|row| {
            Ok(Claim {
                organization_id: OrganizationId::from_uuid(
                    row.try_get_by_index(0).map_err(to_domain)?,
                ),
                run: RunId::from_uuid(row.try_get_by_index(1).map_err(to_domain)?),
            })
        })
        .transpose()
    }
}

fn system(organization: OrganizationId) -> TenantScope {
    TenantScope::system(organization, SystemTask::Runs)
}

fn lease_until(lease: Duration) -> DateTime<Utc> {
    bulkhead_domain::now()
        + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30))
}

#[async_trait]
impl RunQueue for SqlRunQueue {
    async fn claim(
        &self,
        worker: Uuid,
        limit: u32,
        per_organization: u32,
        lease: Duration,
    ) -> DomainResult<Vec<Claim>> {
        let mut claims = Vec::new();
        // One claim per transaction: the claim itself is written inside the run's
        // organization, so a transaction never writes two tenants' rows.
        while claims.len() < limit as usize {
            let tx = self.claiming().await?;
            let Some(claim) = self.next_ready(&tx, per_organization).await? else {
                break;
            };
            set_tenant(&tx, Some(claim.organization_id), None).await?;
            let scope = system(claim.organization_id);
            let update = Query::update()
                .table(QUEUE)
                .value("lease_owner", worker)
                .value("lease_expires_at", lease_until(lease))
                .value("attempts", Expr::col("attempts").add(1))
                .cond_where(queue_row(&scope, claim.run))
                .to_owned();
            tx.execute_raw(tx.get_database_backend().build(&update))
                .await
                .map_err(to_domain)?;
            tx.commit().await.map_err(to_domain)?;
            claims.push(claim);
        }
        Ok(claims)
    }

    async fn start(
        &self,
        scope: &TenantScope,
        worker: Uuid,
        id: RunId,
    ) -> DomainResult<Option<Started>> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        crate::conversations::hold_reply(&tx, scope, id).await?;
        let held = Query::select()
            .column((QUEUE, "run_id"))
            .from(QUEUE)
            .cond_where(queue_row(scope, id).add(col(QUEUE, "lease_owner").eq(worker)))
            .to_owned();
        let backend = tx.get_database_backend();
        if tx
            .query_one_raw(backend.build(&held))
            .await
            .map_err(to_domain)?
            .is_none()
        {
            return Ok(None);
        }
        let mut run = match load(&tx, scope, id, true).await {
            Ok(run) => run,
            Err(DomainError::NotFound) => {
                drop_claim(&tx, scope, id).await?;
                tx.commit().await?;
                return Ok(None);
            }
            Err(other) => return Err(other),
        };
        if run.status != RunStatus::Queued {
            drop_claim(&tx, scope, id).await?;
            tx.commit().await?;
            return Ok(None);
        }
        let version = Query::select()
            .column(("agent_config_versions", "settings"))
            .from("agent_config_versions")
            .and_where(
                col("agent_config_versions", "organization_id")
                    .eq(scope.organization_id().as_uuid()),
            )
            .and_where(col("agent_config_versions", "config_id").eq(run.config_id.as_uuid()))
            .and_where(col("agent_config_versions", "number").eq(run.config_version))
            .to_owned();
        let settings: Option<String> = tx
            .query_one_raw(backend.build(&version))
            .await
            .map_err(to_domain)?
            .map(|row| row.try_get_by_index(0))
            .transpose()
            .map_err(to_domain)?;
        let settings: serde_json::Value = settings
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                DomainError::Internal(format!("run {id}: its configuration version is missing"))
            })?;
        let provider = settings["provider"]
            .as_str()
            .and_then(|p| Provider::parse("provider", p).ok())
            .ok_or_else(|| DomainError::Internal(format!("run {id}: stored provider")))?;
        let credential = self.credential(&tx, scope, run.config_id).await;
        run.status = RunStatus::Running;
        run.attempt += 1;
        run.started_at = Some(bulkhead_domain::now());
        let entry = by_worker(&run, json!({ "attempt": run.attempt }));
        moved(&tx, &self.store, scope, &run, Some(entry)).await?;
        tx.commit().await?;
        Ok(Some(Started {
            run,
            provider,
            settings,
            credential,
        }))
    }

    async fn renew(
        &self,
        worker: Uuid,
        runs: &[Claim],
        lease: Duration,
    ) -> DomainResult<Vec<RunId>> {
        let mut stop = Vec::new();
        for claim in runs {
            let scope = system(claim.organization_id);
            let tx = self.store.begin().await.map_err(to_domain)?;
            set_tenant(&tx, Some(claim.organization_id), None).await?;
            let backend = tx.get_database_backend();
            let update = Query::update()
                .table(QUEUE)
                .value("lease_expires_at", lease_until(lease))
                .cond_where(queue_row(&scope, claim.run).add(col(QUEUE, "lease_owner").eq(worker)))
                .to_owned();
            let renewed = tx
                .execute_raw(backend.build(&update))
                .await
                .map_err(to_domain)?
                .rows_affected();
            let cancelled = Query::select()
                .column((QUEUE, "cancel_requested"))
                .from(QUEUE)
                .cond_where(queue_row(&scope, claim.run))
                .to_owned();
            let asked: bool = tx
                .query_one_raw(backend.build(&cancelled))
                .await
                .map_err(to_domain)?
                .map(|row| row.try_get_by_index(0))
                .transpose()
                .map_err(to_domain)?
                .unwrap_or(true);
            tx.commit().await.map_err(to_domain)?;
            if renewed == 0 || asked {
                stop.push(claim.run);
            }
        }
        Ok(stop)
    }

    async fn event(
        &self,
        scope: &TenantScope,
        run: RunId,
        kind: EventKind,
        data: serde_json::Value,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        crate::conversations::hold_reply(&tx, scope, run).await?;
        let current = load(&tx, scope, run, true).await?;
        if current.status != RunStatus::Running {
            // Cancelled meanwhile: its stream has ended, and nothing more belongs in it.
            return Ok(());
        }
        run_rows::append(&tx, &self.store, scope, run, kind, data.clone()).await?;
        if kind == EventKind::OutputDelta && current.conversation_id.is_some() {
            crate::conversations::reply_delta(&tx, &self.store, scope, &current, &data).await?;
        }
        tx.commit().await
    }

    async fn finish(
        &self,
        scope: &TenantScope,
        worker: Uuid,
        id: RunId,
        outcome: Outcome,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        crate::conversations::hold_reply(&tx, scope, id).await?;
        let mut run = load(&tx, scope, id, true).await?;
        let owned = Query::delete()
            .from_table(QUEUE)
            .cond_where(queue_row(scope, id).add(col(QUEUE, "lease_owner").eq(worker)))
            .to_owned();
        let held = tx
            .execute_raw(tx.get_database_backend().build(&owned))
            .await
            .map_err(to_domain)?
            .rows_affected();
        if run.status != RunStatus::Running || held == 0 {
            // Cancelled, or the lease was lost and another worker has it now.
            tx.commit().await?;
            return Ok(());
        }
        let now = bulkhead_domain::now();
        run.status = outcome.status();
        run.finished_at = Some(now);
        run.duration_ms = run
            .started_at
            .map(|s| Ord::max((now - s).num_milliseconds(), 0));
        match outcome {
            Outcome::Succeeded {
                output,
                tokens_in,
                tokens_out,
            } => {
                run.output = Some(output);
                run.tokens_in = tokens_in;
                run.tokens_out = tokens_out;
            }
            Outcome::Failed(error) => run.error = Some(error),
            Outcome::TimedOut => run.error = Some("the run exceeded its time limit".into()),
        }
        let entry = by_worker(
            &run,
            json!({ "attempt": run.attempt, "duration_ms": run.duration_ms }),
        );
        moved(&tx, &self.store, scope, &run, Some(entry)).await?;
        crate::quotas::count(
            &tx,
            scope.organization_id(),
            bulkhead_domain::Quota::TokensPerMonth,
            run.tokens_in.saturating_add(run.tokens_out),
        )
        .await?;
        tx.commit().await
    }

    async fn release(&self, scope: &TenantScope, worker: Uuid, id: RunId) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        crate::conversations::hold_reply(&tx, scope, id).await?;
        let mut run = load(&tx, scope, id, true).await?;
        let back = Query::update()
            .table(QUEUE)
            .value("lease_owner", Option::<Uuid>::None)
            .value("lease_expires_at", Option::<DateTime<Utc>>::None)
            .value("available_at", bulkhead_domain::now())
            .value("attempts", Expr::col("attempts").sub(1))
            .cond_where(queue_row(scope, id).add(col(QUEUE, "lease_owner").eq(worker)))
            .to_owned();
        let held = tx
            .execute_raw(tx.get_database_backend().build(&back))
            .await
            .map_err(to_domain)?
            .rows_affected();
        if held == 1 && run.status == RunStatus::Running {
            run.status = RunStatus::Queued;
            run.attempt -= 1;
            run.started_at = None;
            moved(&tx, &self.store, scope, &run, None).await?;
        }
        tx.commit().await?;
        self.store.signals().wake_workers();
        Ok(())
    }

    async fn expired(&self, max_attempts: i32) -> DomainResult<u64> {
        let mut handled = 0;
        loop {
            let tx = self.claiming().await?;
            let select = Query::select()
                .columns([
                    (QUEUE, "organization_id"),
                    (QUEUE, "run_id"),
                    (QUEUE, "attempts"),
                ])
                .from(QUEUE)
                .and_where(col(QUEUE, "lease_owner").is_not_null())
                .and_where(col(QUEUE, "lease_expires_at").lt(bulkhead_domain::now()))
                .limit(1)
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .to_owned();
            let Some(row) = tx
                .query_one_raw(tx.get_database_backend().build(&select))
                .await
                .map_err(to_domain)?
            else {
                break;
            };
            let org = OrganizationId::from_uuid(row.try_get_by_index(0).map_err(to_domain)?);
            let id = RunId::from_uuid(row.try_get_by_index(1).map_err(to_domain)?);
            let attempts: i32 = row.try_get_by_index(2).map_err(to_domain)?;
            let scope = system(org);
            set_tenant(&tx, Some(org), None).await?;
            let mut run = load(&tx, &scope, id, true).await?;
            let backend = tx.get_database_backend();
            if run.status.is_terminal() {
                drop_claim(&tx, &scope, id).await?;
            } else if attempts < max_attempts {
                let back = Query::update()
                    .table(QUEUE)
                    .value("lease_owner", Option::<Uuid>::None)
                    .value("lease_expires_at", Option::<DateTime<Utc>>::None)
                    .value("available_at", bulkhead_domain::now())
                    .cond_where(queue_row(&scope, id))
                    .to_owned();
                tx.execute_raw(backend.build(&back))
                    .await
                    .map_err(to_domain)?;
                run.status = RunStatus::Queued;
                let mut data = status_event(&run);
                data["retry"] = "its worker stopped answering".into();
                moved_with(&tx, &self.store, &scope, &run, data, None).await?;
            } else {
                let now = bulkhead_domain::now();
                run.status = RunStatus::Failed;
                run.finished_at = Some(now);
                run.duration_ms = run
                    .started_at
                    .map(|s| Ord::max((now - s).num_milliseconds(), 0));
                run.error = Some(format!(
                    "its worker stopped answering {attempts} times; no attempts left"
                ));
                drop_claim(&tx, &scope, id).await?;
                let entry = by_worker(
                    &run,
                    json!({ "attempt": run.attempt, "reason": "lease lost" }),
                );
                moved(&tx, &self.store, &scope, &run, Some(entry)).await?;
            }
            tx.commit().await.map_err(to_domain)?;
            handled += 1;
        }
        if handled > 0 {
            self.store.signals().wake_workers();
        }
        Ok(handled)
    }
}
