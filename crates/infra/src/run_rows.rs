//! A run's rows inside a unit of work: reading and writing `agent_runs`, appending to
//! `run_events`, queueing and cancelling, with the status event and audit record each change
//! carries. [`crate::runs`] builds the repository and the queue on these, and work sessions
//! queue and cancel the runs that do their work through them.

use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::runs::{EventKind, Run, RunInput, RunStatus};
use bulkhead_domain::{
    Actor, AgentConfigId, AgentId, ApiKeyId, ConversationId, DomainError, DomainResult,
    OrganizationId, Quota, RunId, TenantScope, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};
use serde_json::json;
use uuid::Uuid;

use crate::error::{corrupt, to_domain};
use crate::store::Store;

pub(crate) const RUNS: &str = "agent_runs";
pub(crate) const EVENTS: &str = "run_events";
pub(crate) const QUEUE: &str = "run_queue";

/// The columns of a run, in the order [`run`] reads them.
const COLUMNS: [&str; 19] = [
    "id",
    "organization_id",
    "agent_id",
    "conversation_id",
    "config_id",
    "config_version",
    "status",
    "input",
    "output",
    "error",
    "attempt",
    "created_by",
    "api_key_id",
    "created_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "tokens_in",
    "tokens_out",
];

pub(crate) fn col(table: &'static str, column: &'static str) -> Expr {
    Expr::col((table, column))
}

pub(crate) fn run(row: &QueryResult) -> DomainResult<Run> {
    let mut i = 0;
    let mut take = || {
        i += 1;
        i - 1
    };
    macro_rules! cell {
        () => {
            row.try_get_by_index(take()).map_err(to_domain)?
        };
    }
    let id: Uuid = cell!();
    let organization_id: Uuid = cell!();
    let agent_id: Option<Uuid> = cell!();
    let conversation_id: Option<Uuid> = cell!();
    let config_id: Uuid = cell!();
    let config_version: i64 = cell!();
    let status: String = cell!();
    let input: String = cell!();
    let output: Option<String> = cell!();
    let error: Option<String> = cell!();
    let attempt: i32 = cell!();
    let created_by: Uuid = cell!();
    let api_key_id: Option<Uuid> = cell!();
    let queued_at: DateTime<Utc> = cell!();
    let started_at: Option<DateTime<Utc>> = cell!();
    let finished_at: Option<DateTime<Utc>> = cell!();
    let duration_ms: Option<i64> = cell!();
    let tokens_in: i64 = cell!();
    let tokens_out: i64 = cell!();
    let input = serde_json::from_str(&input).map_err(corrupt("run input"))?;
    Ok(Run {
        id: RunId::from_uuid(id),
        organization_id: OrganizationId::from_uuid(organization_id),
        agent_id: agent_id.map(AgentId::from_uuid),
        conversation_id: conversation_id.map(ConversationId::from_uuid),
        config_id: AgentConfigId::from_uuid(config_id),
        config_version,
        status: RunStatus::parse("status", &status).map_err(corrupt("run status"))?,
        input: RunInput::parse(input).map_err(corrupt("run input"))?,
        output: output
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(corrupt("run output"))?,
        error,
        attempt,
        created_by: UserId::from_uuid(created_by),
        api_key_id: api_key_id.map(ApiKeyId::from_uuid),
        queued_at,
        started_at,
        finished_at,
        duration_ms,
        tokens_in,
        tokens_out,
    })
}

pub(crate) fn select_runs() -> sea_orm::sea_query::SelectStatement {
    let mut select = Query::select();
    select.from(RUNS);
    for column in COLUMNS {
        select.column((RUNS, column));
    }
    select
}

/// Run `id` of the scope's organization, locked for the rest of the unit of work if `lock`.
pub(crate) async fn load(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    id: RunId,
    lock: bool,
) -> DomainResult<Run> {
    let mut select = select_runs();
    select
        .and_where(col(RUNS, "organization_id").eq(scope.organization_id().as_uuid()))
        .and_where(col(RUNS, "id").eq(id.as_uuid()));
    if lock {
        select.lock_exclusive();
    }
    let row = tx
        .query_one_raw(tx.get_database_backend().build(&select))
        .await
        .map_err(to_domain)?
        .ok_or(DomainError::NotFound)?;
    let run = run(&row)?;
    if !reachable(scope, &run) {
        return Err(DomainError::NotFound);
    }
    Ok(run)
}

/// The runs `scope` may see, as a condition: see [`reachable`].
pub(crate) fn reachable_rows(scope: &TenantScope) -> sea_orm::sea_query::Condition {
    let any = sea_orm::sea_query::Condition::any().add(col(RUNS, "conversation_id").is_null());
    match scope.actor() {
        Actor::System(_) => any.add(Expr::cust("1 = 1")),
        _ => match scope.user_id() {
            Some(user) => any.add(col(RUNS, "created_by").eq(user.as_uuid())),
            None => any,
        },
    }
}

/// Whether `scope` may see `run`: a conversation's reply is its owner's alone (its input is
/// the conversation), and the worker's; any other run, anyone in the organization.
pub(crate) fn reachable(scope: &TenantScope, run: &Run) -> bool {
    run.conversation_id.is_none()
        || matches!(scope.actor(), Actor::System(_))
        || scope.user_id() == Some(run.created_by)
}

/// Writes a run's changing columns (status and what ends it), one version later.
pub(crate) async fn save(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    run: &Run,
) -> DomainResult<()> {
    let update = Query::update()
        .table(RUNS)
        .value("status", run.status.as_str())
        .value("output", run.output.as_ref().map(|o| o.to_string()))
        .value("error", run.error.clone())
        .value("attempt", run.attempt)
        .value("started_at", run.started_at)
        .value("finished_at", run.finished_at)
        .value("duration_ms", run.duration_ms)
        .value("tokens_in", run.tokens_in)
        .value("tokens_out", run.tokens_out)
        .value("updated_at", bulkhead_domain::now())
        .value("version", Expr::col("version").add(1))
        .and_where(col(RUNS, "organization_id").eq(scope.organization_id().as_uuid()))
        .and_where(col(RUNS, "id").eq(run.id.as_uuid()))
        .to_owned();
    tx.execute_raw(tx.get_database_backend().build(&update))
        .await
        .map_err(to_domain)
        .map(|_| ())
}

/// Appends an event to a run whose row this unit of work holds locked (so sequence numbers
/// are gapless and never collide), and signals readers when the unit of work commits.
pub(crate) async fn append(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    id: RunId,
    kind: EventKind,
    data: serde_json::Value,
) -> DomainResult<i64> {
    crate::events::append(
        tx,
        store.signals(),
        scope,
        crate::events::Stream::new(EVENTS, "run_id", id.as_uuid()),
        kind.as_str(),
        data,
    )
    .await
}

pub(crate) fn status_event(run: &Run) -> serde_json::Value {
    let mut data = json!({ "status": run.status.as_str(), "attempt": run.attempt });
    if let Some(error) = &run.error {
        data["error"] = error.clone().into();
    }
    data
}

/// Writes a run's new status with its status event and, when a person or the worker's task
/// decided it, its audit record, all in the caller's unit of work.
pub(crate) async fn moved(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &Run,
    entry: Option<AuditEntry>,
) -> DomainResult<()> {
    moved_with(tx, store, scope, run, status_event(run), entry).await
}

/// [`moved`], with the status event carrying `data` (a retry says why, say).
pub(crate) async fn moved_with(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &Run,
    data: serde_json::Value,
    entry: Option<AuditEntry>,
) -> DomainResult<()> {
    save(tx, scope, run).await?;
    if let Some(agent) = run.agent_id {
        agent_activity(tx, scope, agent).await?;
    }
    append(tx, store, scope, run.id, EventKind::Status, data).await?;
    if let Some(entry) = entry {
        crate::chain::append(tx, scope, entry).await?;
    }
    Ok(())
}

/// Sets an agent's status from its runs: `busy` while one is running, else `idle`; a paused
/// agent stays paused. Runtime state, like a run's own status: it does not make a new version
/// of the agent (an `If-Match` a person holds stays good) and is not audited apart from the
/// run's record.
pub(crate) async fn agent_activity(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    agent: AgentId,
) -> DomainResult<()> {
    let org = scope.organization_id().as_uuid();
    let running = Query::select()
        .expr(Expr::cust("1"))
        .from(RUNS)
        .and_where(col(RUNS, "organization_id").eq(org))
        .and_where(col(RUNS, "agent_id").eq(agent.as_uuid()))
        .and_where(col(RUNS, "status").eq(RunStatus::Running.as_str()))
        .to_owned();
    let status = Expr::case(Expr::exists(running), "busy").finally("idle");
    let update = Query::update()
        .table("agents")
        .value("status", status)
        .and_where(col("agents", "organization_id").eq(org))
        .and_where(col("agents", "id").eq(agent.as_uuid()))
        .and_where(col("agents", "status").ne("paused"))
        .to_owned();
    tx.execute_raw(tx.get_database_backend().build(&update))
        .await
        .map_err(to_domain)
        .map(|_| ())
}

pub(crate) fn queue_row(scope: &TenantScope, run: RunId) -> sea_orm::sea_query::Condition {
    sea_orm::sea_query::Condition::all()
        .add(col(QUEUE, "organization_id").eq(scope.organization_id().as_uuid()))
        .add(col(QUEUE, "run_id").eq(run.as_uuid()))
}

pub(crate) async fn drop_claim(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    run: RunId,
) -> DomainResult<()> {
    let delete = Query::delete()
        .from_table(QUEUE)
        .cond_where(queue_row(scope, run))
        .to_owned();
    tx.execute_raw(tx.get_database_backend().build(&delete))
        .await
        .map_err(to_domain)
        .map(|_| ())
}

/// Queues `run` with its first event (`status: queued`) in the caller's unit of work, if its
/// agent is live, not paused and its configuration active (a reply: its configuration live and
/// active), checked and held until the unit of work ends; the run records the configuration's
/// behaviour version as the held row has it. The caller wakes the workers once it commits.
pub(crate) async fn queue(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &mut Run,
) -> DomainResult<()> {
    let org = scope.organization_id().as_uuid();
    let backend = tx.get_database_backend();
    match run.agent_id {
        Some(agent) => hold_agent(tx, scope, agent, run).await?,
        None => hold_config(tx, scope, run).await?,
    }
    // A run counts against the plan's runs at once and runs this month, and needs tokens left
    // this month.
    crate::quotas::admit_all(
        tx,
        store,
        scope.organization_id(),
        &[
            (Quota::ConcurrentRuns, 1),
            (Quota::RunsPerMonth, 1),
            (Quota::TokensPerMonth, 1),
        ],
    )
    .await?;
    crate::quotas::count(tx, scope.organization_id(), Quota::RunsPerMonth, 1).await?;
    let now = run.queued_at;
    let insert = Query::insert()
        .into_table(RUNS)
        .columns([
            "organization_id",
            "id",
            "created_by",
            "created_at",
            "updated_at",
            "version",
            "agent_id",
            "conversation_id",
            "config_id",
            "config_version",
            "status",
            "input",
            "attempt",
            "api_key_id",
            "tokens_in",
            "tokens_out",
        ])
        .values([
            Expr::val(org),
            Expr::val(run.id.as_uuid()),
            Expr::val(run.created_by.as_uuid()),
            Expr::val(now),
            Expr::val(now),
            Expr::val(1i64),
            Expr::val(run.agent_id.map(|a| a.as_uuid())),
            Expr::val(run.conversation_id.map(|c| c.as_uuid())),
            Expr::val(run.config_id.as_uuid()),
            Expr::val(run.config_version),
            Expr::val(run.status.as_str()),
            Expr::val(serde_json::Value::Object(run.input.as_map().clone()).to_string()),
            Expr::val(run.attempt),
            Expr::val(run.api_key_id.map(|k| k.as_uuid())),
            Expr::val(0i64),
            Expr::val(0i64),
        ])
        .map_err(|e| DomainError::Internal(format!("run insert: {e}")))?
        .to_owned();
    tx.execute_raw(backend.build(&insert))
        .await
        .map_err(to_domain)?;
    let queue = Query::insert()
        .into_table(QUEUE)
        .columns([
            "organization_id",
            "run_id",
            "available_at",
            "attempts",
            "cancel_requested",
        ])
        .values([
            Expr::val(org),
            Expr::val(run.id.as_uuid()),
            Expr::val(now),
            Expr::val(0i32),
            Expr::val(false),
        ])
        .map_err(|e| DomainError::Internal(format!("queue insert: {e}")))?
        .to_owned();
    tx.execute_raw(backend.build(&queue))
        .await
        .map_err(to_domain)?;
    append(
        tx,
        store,
        scope,
        run.id,
        EventKind::Status,
        status_event(run),
    )
    .await?;
    Ok(())
}

/// Holds (shared) a run's live, unpaused agent and its active configuration until the unit of
/// work ends, so a pause or a deactivation either comes first and refuses the run, or waits for
/// it; the run takes the configuration's behaviour version as the held row has it.
async fn hold_agent(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    agent: AgentId,
    run: &mut Run,
) -> DomainResult<()> {
    let org = scope.organization_id().as_uuid();
    let select = Query::select()
        .column(("agents", "status"))
        .column(("agent_configs", "active"))
        .column(("agent_configs", "id"))
        .column(("agent_configs", "behaviour_version"))
        .from("agents")
        .inner_join(
            "agent_configs",
            Expr::col(("agent_configs", "organization_id"))
                .equals(("agents", "organization_id"))
                .and(Expr::col(("agent_configs", "id")).equals(("agents", "config_id"))),
        )
        .and_where(col("agents", "organization_id").eq(org))
        .and_where(col("agents", "id").eq(agent.as_uuid()))
        .and_where(col("agents", "deleted_at").is_null())
        .lock_shared()
        .to_owned();
    let row = tx
        .query_one_raw(tx.get_database_backend().build(&select))
        .await
        .map_err(to_domain)?
        .ok_or(DomainError::NotFound)?;
    let status: String = row.try_get_by_index(0).map_err(to_domain)?;
    let active: bool = row.try_get_by_index(1).map_err(to_domain)?;
    run.config_id = AgentConfigId::from_uuid(row.try_get_by_index(2).map_err(to_domain)?);
    run.config_version = row.try_get_by_index(3).map_err(to_domain)?;
    if status == "paused" {
        return Err(DomainError::Conflict(
            "the agent is paused; resume it to start runs".into(),
        ));
    }
    if !active {
        return Err(DomainError::Conflict(
            "the agent's configuration is inactive; activate it to start runs".into(),
        ));
    }
    Ok(())
}

/// Holds (shared) a reply's live, active configuration until the unit of work ends; the run
/// takes its behaviour version as the held row has it.
async fn hold_config(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    run: &mut Run,
) -> DomainResult<()> {
    let configs = "agent_configs";
    let select = Query::select()
        .column((configs, "active"))
        .column((configs, "behaviour_version"))
        .from(configs)
        .and_where(col(configs, "organization_id").eq(scope.organization_id().as_uuid()))
        .and_where(col(configs, "id").eq(run.config_id.as_uuid()))
        .and_where(col(configs, "deleted_at").is_null())
        .lock_shared()
        .to_owned();
    let row = tx
        .query_one_raw(tx.get_database_backend().build(&select))
        .await
        .map_err(to_domain)?
        .ok_or_else(|| {
            DomainError::Conflict(
                "the conversation's agent configuration was deleted; nothing can reply".into(),
            )
        })?;
    let active: bool = row.try_get_by_index(0).map_err(to_domain)?;
    run.config_version = row.try_get_by_index(1).map_err(to_domain)?;
    if !active {
        return Err(DomainError::Conflict(
            "the conversation's agent configuration is inactive; activate it to get replies".into(),
        ));
    }
    Ok(())
}

/// Cancels a queued or running run in the caller's unit of work, with its status event and
/// `entry`; [`DomainError::Conflict`] if it has ended.
pub(crate) async fn cancel_in(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    id: RunId,
    entry: AuditEntry,
) -> DomainResult<Run> {
    let mut run = load(tx, scope, id, true).await?;
    if run.status.is_terminal() {
        return Err(DomainError::Conflict(format!(
            "the run has ended ({})",
            run.status.as_str()
        )));
    }
    let now = bulkhead_domain::now();
    run.status = RunStatus::Cancelled;
    run.finished_at = Some(now);
    run.duration_ms = run.started_at.map(|s| (now - s).num_milliseconds());
    run.error = Some("cancelled".into());
    // A worker holding the run learns of it when it renews its lease and stops; an
    // unclaimed run simply leaves the queue.
    let backend = tx.get_database_backend();
    let flag = Query::update()
        .table(QUEUE)
        .value("cancel_requested", true)
        .cond_where(queue_row(scope, id).add(col(QUEUE, "lease_owner").is_not_null()))
        .to_owned();
    tx.execute_raw(backend.build(&flag))
        .await
        .map_err(to_domain)?;
    let unclaimed = Query::delete()
        .from_table(QUEUE)
        .cond_where(queue_row(scope, id).add(col(QUEUE, "lease_owner").is_null()))
        .to_owned();
    tx.execute_raw(backend.build(&unclaimed))
        .await
        .map_err(to_domain)?;
    moved(tx, store, scope, &run, Some(entry)).await?;
    Ok(run)
}
