//! Work in SQL: sessions, artifacts and checkpoints as kit tables, the sessions' events, and
//! the rules that tie a session to its runs inside each unit of work.
//!
//! A session never waits on a worker: starting it queues a run in the same unit of work; each
//! status change of that run moves the session in the run's own unit of work
//! ([`follow_run`]), turning what the run produced into artifacts or a checkpoint; approving
//! the last open checkpoint queues the run that carries the work on. A run does not hold a
//! worker while a person decides, so a checkpoint may stay open for days.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::projects::Project;
use bulkhead_domain::resource::{Record, RowState};
use bulkhead_domain::runs::{Run, RunStatus};
use bulkhead_domain::work::{
    ArtifactFields, ArtifactFilter, Artifacts, CheckpointFields, CheckpointFilter,
    CheckpointStatus, Checkpoints, INDEPENDENT_REVIEW, Products, ReviewStatus, SessionFields,
    SessionFilter, SessionStatus, TaskParameters, TaskType, WorkEvent, WorkEventKind,
    WorkRepository, WorkSession, WorkSessions, WorkStats,
};
use bulkhead_domain::{
    AgentId, DomainError, DomainResult, ProjectId, ResourceId, RunId, TenantScope, UserId,
    WorkSessionId,
};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, UnionType};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Value};
use serde_json::json;
use uuid::Uuid;

use crate::agents::AgentTable;
use crate::error::{corrupt, to_domain};
use crate::events::Stream;
use crate::projects::ProjectTable;
use crate::resources::{
    Cells, Hold, Reach, SqlResources, TenantTable, find_row, insert_row, newly_refers,
    require_live, require_reference, save_row, scalar, the_row,
};
use crate::store::Store;
use crate::tx::OrgTx;

const EVENTS: &str = "work_session_events";

/// The `work_sessions` table.
pub struct WorkSessionTable;
/// The `work_artifacts` table.
pub struct ArtifactTable;
/// The `work_checkpoints` table.
pub struct CheckpointTable;

/// The kit's repository of work sessions.
pub type SqlWorkSessionRepository = SqlResources<WorkSessionTable>;
/// The kit's repository of artifacts.
pub type SqlArtifactRepository = SqlResources<ArtifactTable>;
/// The kit's repository of checkpoints.
pub type SqlCheckpointRepository = SqlResources<CheckpointTable>;

fn stream(session: WorkSessionId) -> Stream {
    Stream::new(EVENTS, "session_id", session.as_uuid())
}

/// Appends an event to a session this unit of work holds locked.
async fn event(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    session: WorkSessionId,
    kind: WorkEventKind,
    data: serde_json::Value,
) -> DomainResult<()> {
    crate::events::append(
        tx,
        store.signals(),
        scope,
        stream(session),
        kind.as_str(),
        data,
    )
    .await
    .map(|_| ())
}

fn status_data(session: &SessionFields) -> serde_json::Value {
    let mut data = json!({ "status": session.status.as_str() });
    if let Some(run) = session.run_id {
        data["run_id"] = run.to_string().into();
    }
    if let Some(reason) = &session.failure_reason {
        data["failure_reason"] = reason.clone().into();
    }
    data
}

fn uuid_of<I: ResourceId>(id: Option<I>) -> Value {
    id.map(|i| i.as_uuid()).into()
}

/// Queues the run doing session `id`'s work, continuing from `resume` if given; its audit
/// record names whoever caused it.
async fn queue_work(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    session: &WorkSession,
    resume: Option<serde_json::Value>,
) -> DomainResult<()> {
    let (Some(run_id), Some(agent)) = (session.run_id, session.agent_id) else {
        return Err(DomainError::Internal(
            "a running session has no run or agent".into(),
        ));
    };
    let input = session.run_input(session.id, resume)?;
    // The configuration is read (and held) where the run is queued.
    let mut run = Run::queued(
        scope,
        run_id,
        agent,
        (bulkhead_domain::AgentConfigId::from_uuid(Uuid::nil()), 0),
        input,
    )?;
    crate::run_rows::queue(tx, store, scope, &mut run).await?;
    let entry = AuditEntry::event(
        &format!("{}.queued", bulkhead_domain::runs::RUN),
        bulkhead_domain::runs::RUN,
        Some(run.id.to_string()),
        json!({
            "agent_id": agent.to_string(),
            "config_id": run.config_id.to_string(),
            "config_version": run.config_version,
            "work_session_id": session.id.to_string(),
        }),
    );
    crate::chain::append(tx, scope, entry).await?;
    store.signals().wake_workers();
    Ok(())
}

/// Writes a session's next state outside the kit's own writes (following its run, or a
/// checkpoint's decision), with its status event and, for an end, its audit record.
async fn move_session(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    current: &WorkSession,
    mut next: WorkSession,
) -> DomainResult<WorkSession> {
    next.version = current.version + 1;
    next.updated_at = bulkhead_domain::now();
    if next.status.is_terminal() && next.finished_at.is_none() {
        next.finished_at = Some(next.updated_at);
    }
    save_row::<WorkSessionTable>(tx, scope, current, &next).await?;
    event(
        tx,
        store,
        scope,
        next.id,
        WorkEventKind::Status,
        status_data(&next),
    )
    .await?;
    if next.status.is_terminal() {
        let action = format!("work_session.{}", next.status.as_str());
        crate::chain::append(tx, scope, AuditEntry::updated(&action, current, &next)).await?;
    }
    Ok(next)
}

/// Moves the session whose work `run` does, if any, after the run's status changed in this
/// unit of work: running with it, and when it succeeds, stopped at the checkpoint or finished
/// with the artifacts its output names; failed with it (or when its output is not valid
/// work), cancelled with it. A session that has ended already stays as it is.
pub(crate) async fn follow_run(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &Run,
) -> DomainResult<()> {
    // Only runs started for work carry a task; the lookup below is by the session's own
    // record of its run, so a run whose input merely claims a session moves nothing.
    if !run.input.as_map().contains_key("task") {
        return Ok(());
    }
    let by_run = Condition::all()
        .add(Expr::col((WorkSessionTable::TABLE, "run_id")).eq(run.id.as_uuid()))
        .add(Expr::col((WorkSessionTable::TABLE, "deleted_at")).is_null());
    // A person cancelling the session holds it and then waits for this run: rather than
    // wait for them (a deadlock), this change leaves the session to their cancellation.
    let Some(current) =
        find_row::<WorkSessionTable>(tx, scope, Reach::Hidden, by_run, Hold::IfFree).await?
    else {
        return Ok(());
    };
    let mut invalid = None;
    let products = match (&run.status, &run.output) {
        (RunStatus::Succeeded, Some(output)) => {
            match Products::of_output(current.id, current.project_id, output) {
                Ok(products) => Some(products),
                Err(err) => {
                    invalid = Some(format!("the run's output is not valid work: {err}"));
                    None
                }
            }
        }
        _ => None,
    };
    let paused = matches!(products, Some(Products::Checkpoint(_)));
    let Some(mut status) = current.follow(run.status, paused) else {
        return Ok(());
    };
    if invalid.is_some() {
        status = SessionStatus::Failed;
    }
    let author = current.started_by.unwrap_or(current.created_by);
    match products {
        Some(Products::Checkpoint(fields)) if invalid.is_none() => {
            let checkpoint = Record::<Checkpoints>::new(scope.organization_id(), author, fields);
            insert_row::<CheckpointTable>(tx, store, scope, &checkpoint).await?;
        }
        Some(Products::Artifacts(list)) if invalid.is_none() => {
            for fields in list {
                let artifact = Record::<Artifacts>::new(scope.organization_id(), author, fields);
                insert_row::<ArtifactTable>(tx, store, scope, &artifact).await?;
            }
        }
        _ => {}
    }
    let mut next = current.clone();
    next.status = status;
    next.failure_reason = match status {
        SessionStatus::Failed => invalid.or_else(|| run.error.clone()),
        SessionStatus::Cancelled => Some("its run was cancelled".into()),
        _ => None,
    };
    move_session(tx, store, scope, &current, next).await?;
    Ok(())
}

#[async_trait]
impl TenantTable for WorkSessionTable {
    type Resource = WorkSessions;
    const TABLE: &'static str = "work_sessions";
    const COLUMNS: &'static [&'static str] = &[
        "project_id",
        "task_type",
        "task_intent",
        "task_parameters",
        "agent_id",
        "checkpoint",
        "status",
        "run_id",
        "started_by",
        "started_at",
        "finished_at",
        "failure_reason",
    ];
    const SEARCH: Option<&'static str> = Some("task_intent");
    const CONFLICT: &'static str = "this work session exists already";
    const PARENT: Option<(&'static str, &'static str)> = Some(("project_id", "projects"));

    fn read(cells: &mut Cells<'_>) -> DomainResult<SessionFields> {
        let project_id: Uuid = cells.take()?;
        let task_type: String = cells.take()?;
        let task_intent: String = cells.take()?;
        let parameters: String = cells.take()?;
        let agent_id: Option<Uuid> = cells.take()?;
        let checkpoint: bool = cells.take()?;
        let status: String = cells.take()?;
        let run_id: Option<Uuid> = cells.take()?;
        let started_by: Option<Uuid> = cells.take()?;
        let task_type = TaskType::parse("task_type", &task_type).map_err(corrupt("task type"))?;
        let parameters = serde_json::from_str(&parameters).map_err(corrupt("task parameters"))?;
        Ok(SessionFields {
            project_id: ProjectId::from_uuid(project_id),
            task_type,
            task_intent,
            task_parameters: TaskParameters::parse(task_type, Some(parameters))
                .map_err(corrupt("task parameters"))?,
            agent_id: agent_id.map(AgentId::from_uuid),
            checkpoint,
            status: SessionStatus::parse("status", &status).map_err(corrupt("session status"))?,
            run_id: run_id.map(RunId::from_uuid),
            started_by: started_by.map(UserId::from_uuid),
            started_at: cells.take()?,
            finished_at: cells.take()?,
            failure_reason: cells.take()?,
        })
    }

    fn values(fields: &SessionFields) -> Vec<Value> {
        vec![
            fields.project_id.as_uuid().into(),
            fields.task_type.as_str().into(),
            fields.task_intent.clone().into(),
            serde_json::Value::Object(fields.task_parameters.as_map().clone())
                .to_string()
                .into(),
            uuid_of(fields.agent_id),
            fields.checkpoint.into(),
            fields.status.as_str().into(),
            uuid_of(fields.run_id),
            uuid_of(fields.started_by),
            fields.started_at.into(),
            fields.finished_at.into(),
            fields.failure_reason.clone().into(),
        ]
    }

    fn filter(filter: &SessionFilter, mut condition: Condition) -> Condition {
        let col = |c: &'static str| Expr::col((Self::TABLE, c));
        if let Some(project) = filter.project_id {
            condition = condition.add(col("project_id").eq(project.as_uuid()));
        }
        if let Some(status) = filter.status {
            condition = condition.add(col("status").eq(status.as_str()));
        }
        if let Some(task_type) = filter.task_type {
            condition = condition.add(col("task_type").eq(task_type.as_str()));
        }
        if let Some(agent) = filter.agent_id {
            condition = condition.add(col("agent_id").eq(agent.as_uuid()));
        }
        if let Some(since) = filter.since {
            condition = condition.add(col("created_at").gte(since));
        }
        if let Some(until) = filter.until {
            condition = condition.add(col("created_at").lt(until));
        }
        condition
    }

    async fn guard(
        tx: &DatabaseTransaction,
        _: &Store,
        scope: &TenantScope,
        previous: Option<&WorkSession>,
        next: &WorkSession,
    ) -> DomainResult<()> {
        if previous.is_none() {
            // Held, so the project cannot be deleted before the session commits.
            require_live::<ProjectTable>(tx, scope, next.project_id.as_uuid(), true).await?;
        }
        if let Some(agent) = next.agent_id
            && newly_refers(previous, next, |f| f.agent_id)
        {
            require_reference::<AgentTable>(tx, scope, agent.as_uuid(), "agent_id", "agent")
                .await?;
        }
        Ok(())
    }

    async fn written(
        tx: &DatabaseTransaction,
        store: &Store,
        scope: &TenantScope,
        previous: Option<&WorkSession>,
        next: &WorkSession,
    ) -> DomainResult<()> {
        let before = previous.map(|p| p.status);
        if before == Some(next.status) {
            return Ok(());
        }
        match (before, next.status) {
            (Some(SessionStatus::Pending), SessionStatus::Running) => {
                queue_work(tx, store, scope, next, None).await?;
            }
            (Some(_), SessionStatus::Cancelled) => {
                if let Some(run) = next.run_id
                    && let Ok(current) = crate::run_rows::load(tx, scope, run, true).await
                    && !current.status.is_terminal()
                {
                    let entry = AuditEntry::event(
                        &format!("{}.cancelled", bulkhead_domain::runs::RUN),
                        bulkhead_domain::runs::RUN,
                        Some(run.to_string()),
                        json!({ "work_session_id": next.id.to_string() }),
                    );
                    crate::run_rows::cancel_in(tx, store, scope, run, entry).await?;
                }
            }
            _ => {}
        }
        event(
            tx,
            store,
            scope,
            next.id,
            WorkEventKind::Status,
            status_data(next),
        )
        .await
    }
}

#[async_trait]
impl TenantTable for ArtifactTable {
    type Resource = Artifacts;
    const TABLE: &'static str = "work_artifacts";
    const COLUMNS: &'static [&'static str] = &[
        "session_id",
        "project_id",
        "artifact_type",
        "title",
        "content",
        "review_status",
        "reviewed_by",
        "reviewed_at",
        "review_feedback",
    ];
    const SEARCH: Option<&'static str> = Some("title");
    const CONFLICT: &'static str = "this artifact exists already";
    const PARENT: Option<(&'static str, &'static str)> = Some(("project_id", "projects"));

    fn read(cells: &mut Cells<'_>) -> DomainResult<ArtifactFields> {
        let session_id: Uuid = cells.take()?;
        let project_id: Uuid = cells.take()?;
        let artifact_type: String = cells.take()?;
        let title: String = cells.take()?;
        let content: String = cells.take()?;
        let status: String = cells.take()?;
        let reviewed_by: Option<Uuid> = cells.take()?;
        let content = match serde_json::from_str(&content).map_err(corrupt("artifact content"))? {
            serde_json::Value::Object(map) => map,
            _ => return Err(DomainError::Internal("stored artifact content".into())),
        };
        Ok(ArtifactFields {
            session_id: WorkSessionId::from_uuid(session_id),
            project_id: ProjectId::from_uuid(project_id),
            artifact_type,
            title,
            content,
            review_status: ReviewStatus::parse("review_status", &status)
                .map_err(corrupt("review status"))?,
            reviewed_by: reviewed_by.map(UserId::from_uuid),
            reviewed_at: cells.take()?,
            review_feedback: cells.take()?,
        })
    }

    fn values(fields: &ArtifactFields) -> Vec<Value> {
        vec![
            fields.session_id.as_uuid().into(),
            fields.project_id.as_uuid().into(),
            fields.artifact_type.clone().into(),
            fields.title.clone().into(),
            serde_json::Value::Object(fields.content.clone())
                .to_string()
                .into(),
            fields.review_status.as_str().into(),
            uuid_of(fields.reviewed_by),
            fields.reviewed_at.into(),
            fields.review_feedback.clone().into(),
        ]
    }

    fn filter(filter: &ArtifactFilter, mut condition: Condition) -> Condition {
        if let Some(session) = filter.session_id {
            condition = condition.add(Expr::col((Self::TABLE, "session_id")).eq(session.as_uuid()));
        }
        if let Some(status) = filter.review_status {
            condition =
                condition.add(Expr::col((Self::TABLE, "review_status")).eq(status.as_str()));
        }
        condition
    }

    async fn written(
        tx: &DatabaseTransaction,
        store: &Store,
        scope: &TenantScope,
        previous: Option<&Record<Artifacts>>,
        next: &Record<Artifacts>,
    ) -> DomainResult<()> {
        if previous.is_some() {
            return Ok(());
        }
        let data = json!({
            "artifact_id": next.id.to_string(),
            "artifact_type": next.artifact_type,
            "title": next.title,
        });
        event(
            tx,
            store,
            scope,
            next.session_id,
            WorkEventKind::ArtifactCreated,
            data,
        )
        .await
    }
}

#[async_trait]
impl TenantTable for CheckpointTable {
    type Resource = Checkpoints;
    const TABLE: &'static str = "work_checkpoints";
    const COLUMNS: &'static [&'static str] = &[
        "session_id",
        "project_id",
        "title",
        "details",
        "status",
        "resolved_by",
        "resolved_at",
        "feedback",
    ];
    const SEARCH: Option<&'static str> = Some("title");
    const CONFLICT: &'static str = "this checkpoint exists already";
    const PARENT: Option<(&'static str, &'static str)> = Some(("project_id", "projects"));

    fn read(cells: &mut Cells<'_>) -> DomainResult<CheckpointFields> {
        let session_id: Uuid = cells.take()?;
        let project_id: Uuid = cells.take()?;
        let title: String = cells.take()?;
        let details: String = cells.take()?;
        let status: String = cells.take()?;
        let resolved_by: Option<Uuid> = cells.take()?;
        let details = match serde_json::from_str(&details).map_err(corrupt("checkpoint details"))? {
            serde_json::Value::Object(map) => map,
            _ => return Err(DomainError::Internal("stored checkpoint details".into())),
        };
        Ok(CheckpointFields {
            session_id: WorkSessionId::from_uuid(session_id),
            project_id: ProjectId::from_uuid(project_id),
            title,
            details,
            status: CheckpointStatus::parse("status", &status)
                .map_err(corrupt("checkpoint status"))?,
            resolved_by: resolved_by.map(UserId::from_uuid),
            resolved_at: cells.take()?,
            feedback: cells.take()?,
        })
    }

    fn values(fields: &CheckpointFields) -> Vec<Value> {
        vec![
            fields.session_id.as_uuid().into(),
            fields.project_id.as_uuid().into(),
            fields.title.clone().into(),
            serde_json::Value::Object(fields.details.clone())
                .to_string()
                .into(),
            fields.status.as_str().into(),
            uuid_of(fields.resolved_by),
            fields.resolved_at.into(),
            fields.feedback.clone().into(),
        ]
    }

    fn filter(filter: &CheckpointFilter, mut condition: Condition) -> Condition {
        if let Some(session) = filter.session_id {
            condition = condition.add(Expr::col((Self::TABLE, "session_id")).eq(session.as_uuid()));
        }
        if let Some(status) = filter.status {
            condition = condition.add(Expr::col((Self::TABLE, "status")).eq(status.as_str()));
        }
        condition
    }

    /// Opening announces the checkpoint; resolving it moves the session, which must still be
    /// awaiting review: a rejection fails it, approving the last open checkpoint queues the
    /// run that carries the work on.
    async fn written(
        tx: &DatabaseTransaction,
        store: &Store,
        scope: &TenantScope,
        previous: Option<&Record<Checkpoints>>,
        next: &Record<Checkpoints>,
    ) -> DomainResult<()> {
        let Some(previous) = previous else {
            let data = json!({ "checkpoint_id": next.id.to_string(), "title": next.title });
            return event(
                tx,
                store,
                scope,
                next.session_id,
                WorkEventKind::CheckpointOpened,
                data,
            )
            .await;
        };
        if previous.status != CheckpointStatus::Open || next.status == CheckpointStatus::Open {
            return Ok(());
        }
        let session = find_row::<WorkSessionTable>(
            tx,
            scope,
            Reach::Visible,
            the_row::<WorkSessionTable>(next.session_id.as_uuid(), RowState::Live),
            Hold::Wait,
        )
        .await?
        .ok_or(DomainError::NotFound)?;
        if session.status != SessionStatus::AwaitingReview {
            return Err(DomainError::Conflict(format!(
                "the session is no longer awaiting review ({})",
                session.status.as_str()
            )));
        }
        let mut data = json!({
            "checkpoint_id": next.id.to_string(),
            "status": next.status.as_str(),
        });
        if let Some(feedback) = &next.feedback {
            data["feedback"] = feedback.clone().into();
        }
        event(
            tx,
            store,
            scope,
            session.id,
            WorkEventKind::CheckpointResolved,
            data,
        )
        .await?;
        let mut moved = session.clone();
        if next.status == CheckpointStatus::Rejected {
            moved.status = SessionStatus::Failed;
            moved.failure_reason = Some(
                next.feedback
                    .clone()
                    .unwrap_or_else(|| "a checkpoint was rejected".into()),
            );
            move_session(tx, store, scope, &session, moved).await?;
            return Ok(());
        }
        let still_open = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(Self::TABLE)
            .and_where(
                Expr::col((Self::TABLE, "organization_id")).eq(scope.organization_id().as_uuid()),
            )
            .and_where(Expr::col((Self::TABLE, "session_id")).eq(session.id.as_uuid()))
            .and_where(Expr::col((Self::TABLE, "status")).eq(CheckpointStatus::Open.as_str()))
            .to_owned();
        if scalar(tx, &still_open).await? > 0 {
            return Ok(());
        }
        moved.status = SessionStatus::Running;
        moved.run_id = Some(RunId::generate());
        let moved = move_session(tx, store, scope, &session, moved).await?;
        let resume = json!({
            "checkpoint_id": next.id.to_string(),
            "decision": "approve",
            "feedback": next.feedback,
        });
        queue_work(tx, store, scope, &moved, Some(resume)).await
    }
}

/// Work's storage beyond the kit's rows.
#[derive(Clone)]
pub struct SqlWorkRepository {
    store: Store,
}

impl SqlWorkRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

async fn count(
    tx: &DatabaseTransaction,
    select: &sea_orm::sea_query::SelectStatement,
) -> DomainResult<Vec<(String, i64)>> {
    let rows = tx
        .query_all_raw(tx.get_database_backend().build(select))
        .await
        .map_err(to_domain)?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get_by_index(0).map_err(to_domain)?,
                row.try_get_by_index(1).map_err(to_domain)?,
            ))
        })
        .collect()
}

#[async_trait]
impl WorkRepository for SqlWorkRepository {
    async fn project(&self, scope: &TenantScope, project: ProjectId) -> DomainResult<()> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let found = require_live::<ProjectTable>(&tx, scope, project.as_uuid(), false).await;
        tx.finish_read().await?;
        found
    }

    async fn events(
        &self,
        scope: &TenantScope,
        session: WorkSessionId,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<WorkEvent>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        find_row::<WorkSessionTable>(
            &tx,
            scope,
            Reach::Visible,
            the_row::<WorkSessionTable>(session.as_uuid(), RowState::Live),
            Hold::No,
        )
        .await?
        .ok_or(DomainError::NotFound)?;
        let events = crate::events::read(&tx, scope, stream(session), after, limit).await?;
        tx.finish_read().await?;
        events
            .into_iter()
            .map(|e| {
                Ok(WorkEvent {
                    seq: e.seq,
                    kind: WorkEventKind::parse(&e.kind).ok_or_else(|| {
                        DomainError::Internal(format!("stored event kind {:?}", e.kind))
                    })?,
                    data: e.data,
                    at: e.at,
                })
            })
            .collect()
    }

    async fn project_detail(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        with_stats: bool,
    ) -> DomainResult<(Project, Option<WorkStats>)> {
        let org = scope.organization_id().as_uuid();
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let found = find_row::<ProjectTable>(
            &tx,
            scope,
            Reach::Visible,
            the_row::<ProjectTable>(project.as_uuid(), RowState::Live),
            Hold::No,
        )
        .await?;
        let Some(found) = found else {
            tx.finish_read().await?;
            return Err(DomainError::NotFound);
        };
        if !with_stats {
            tx.finish_read().await?;
            return Ok((found, None));
        }
        let sessions = WorkSessionTable::TABLE;
        let mut by_status = Query::select()
            .column((sessions, "status"))
            .expr(Expr::cust("COUNT(*)"))
            .from(sessions)
            .and_where(Expr::col((sessions, "organization_id")).eq(org))
            .and_where(Expr::col((sessions, "project_id")).eq(project.as_uuid()))
            .and_where(Expr::col((sessions, "deleted_at")).is_null())
            .group_by_col((sessions, "status"))
            .to_owned();
        let artifacts = ArtifactTable::TABLE;
        // One round trip for both counts: the artifacts' row is named by a word no session
        // status is.
        let awaiting = Query::select()
            .expr(Expr::cust("'artifacts'"))
            .expr(Expr::cust("COUNT(*)"))
            .from(artifacts)
            .and_where(Expr::col((artifacts, "organization_id")).eq(org))
            .and_where(Expr::col((artifacts, "project_id")).eq(project.as_uuid()))
            .and_where(
                Expr::col((artifacts, "review_status")).eq(ReviewStatus::PendingReview.as_str()),
            )
            .and_where(Expr::col((artifacts, "deleted_at")).is_null())
            .to_owned();
        by_status.union(UnionType::All, awaiting);
        let counted = count(&tx, &by_status).await?;
        tx.finish_read().await?;
        let (awaiting, by_status): (Vec<_>, Vec<_>) = counted
            .into_iter()
            .partition(|(kind, _)| kind == "artifacts");
        let mut sessions_by_status = by_status
            .into_iter()
            .map(|(status, n)| {
                SessionStatus::parse("status", &status)
                    .map(|s| (s, n))
                    .map_err(corrupt("session status"))
            })
            .collect::<DomainResult<Vec<_>>>()?;
        sessions_by_status.sort_by_key(|(s, _)| s.as_str());
        let stats = WorkStats {
            sessions_by_status,
            artifacts_awaiting_review: awaiting.into_iter().map(|(_, n)| n).sum(),
        };
        Ok((found, Some(stats)))
    }

    async fn independent_review(&self, scope: &TenantScope) -> DomainResult<bool> {
        let select = Query::select()
            .column(("organizations", "settings"))
            .from("organizations")
            .and_where(Expr::col(("organizations", "id")).eq(scope.organization_id().as_uuid()))
            .to_owned();
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let settings: Option<String> = tx
            .query_one_raw(tx.get_database_backend().build(&select))
            .await
            .map_err(to_domain)?
            .map(|row| row.try_get_by_index(0))
            .transpose()
            .map_err(to_domain)?;
        tx.finish_read().await?;
        let settings: serde_json::Value = settings
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(corrupt("organization settings"))?
            .unwrap_or_default();
        Ok(settings[INDEPENDENT_REVIEW].as_bool() == Some(true))
    }
}
