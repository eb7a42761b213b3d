//! Work sessions: created on a project, listed, started (a run of the session's agent does
//! the work), cancelled, followed as events; and their artifacts and checkpoints listed.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::resource::ListParams;
use bulkhead_domain::work::{
    ArtifactFilter, CheckpointFilter, CheckpointStatus, CreateWorkSession, ReviewStatus,
    SessionFilter, SessionStatus, TaskType, WorkEvent, WorkSession,
};
use bulkhead_domain::{AgentId, Permission, ProjectId, WorkSessionId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::artifacts::{ArtifactBody, ReviewStatusName};
use crate::checkpoints::{CheckpointBody, CheckpointStatusName};
use crate::event_stream::{self, Event, EventsQuery};
use crate::extract::{Auth, Json, if_match};
use crate::pagination::{ListBody, PageBody};
use crate::problem::{ApiError, responses};
use crate::projects::ProjectPath;
use crate::resource::{ListRequest, created, list_params, respond, route};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(route("/api/v1/projects/{project_id}/work-sessions"))
            .route(web::get().to(list_in_project))
            .route(web::post().to(create)),
    )
    .service(web::resource(route("/api/v1/work-sessions")).route(web::get().to(list)))
    .service(web::resource(route("/api/v1/work-sessions/{session_id}")).route(web::get().to(get)))
    .service(
        web::resource(route("/api/v1/work-sessions/{session_id}/start"))
            .route(web::post().to(start)),
    )
    .service(
        web::resource(route("/api/v1/work-sessions/{session_id}/cancel"))
            .route(web::post().to(cancel)),
    )
    .service(
        web::resource(route("/api/v1/work-sessions/{session_id}/events"))
            .route(web::get().to(events)),
    )
    .service(
        web::resource(route("/api/v1/work-sessions/{session_id}/artifacts"))
            .route(web::get().to(artifacts)),
    )
    .service(
        web::resource(route("/api/v1/work-sessions/{session_id}/checkpoints"))
            .route(web::get().to(checkpoints)),
    );
}

/// Kinds of work.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskTypeName {
    Research,
    ContentCreation,
    Analysis,
}

/// Where a session is. `pending → running → awaiting_review → running → completed | failed`;
/// `pending | running | awaiting_review → cancelled`. Only the server sets it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatusName {
    Pending,
    Running,
    AwaitingReview,
    Completed,
    Failed,
    Cancelled,
}

/// A work session.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkSessionBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    #[schema(value_type = TaskTypeName)]
    pub task_type: &'static str,
    #[schema(example = "Compare the three shortlisted vendors on price and support")]
    pub task_intent: String,
    /// The type's parameters.
    #[schema(value_type = Object, additional_properties = true)]
    pub task_parameters: Map<String, Value>,
    pub agent_id: Option<Uuid>,
    /// Whether the work stops for a person's decision before it finishes.
    pub checkpoint: bool,
    #[schema(value_type = SessionStatusName)]
    pub status: &'static str,
    /// The run doing (or that last did) the work.
    pub run_id: Option<Uuid>,
    pub started_by: Option<Uuid>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed: the run's error, or a rejected checkpoint's feedback.
    pub failure_reason: Option<String>,
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; also sent as the `ETag`.
    pub version: i64,
}

impl From<WorkSession> for WorkSessionBody {
    fn from(s: WorkSession) -> Self {
        Self {
            id: s.id.as_uuid(),
            organization_id: s.organization_id.as_uuid(),
            project_id: s.project_id.as_uuid(),
            task_type: s.task_type.as_str(),
            task_intent: s.task_intent.clone(),
            task_parameters: s.task_parameters.as_map().clone(),
            agent_id: s.agent_id.map(|a| a.as_uuid()),
            checkpoint: s.checkpoint,
            status: s.status.as_str(),
            run_id: s.run_id.map(|r| r.as_uuid()),
            started_by: s.started_by.map(|u| u.as_uuid()),
            started_at: s.started_at,
            finished_at: s.finished_at,
            failure_reason: s.failure_reason.clone(),
            created_by: s.created_by.as_uuid(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

/// A new work session. The project comes from the path; status, run and timestamps belong to
/// the server.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkSessionRequest {
    #[schema(value_type = TaskTypeName)]
    pub task_type: String,
    #[schema(
        example = "Compare the three shortlisted vendors on price and support",
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub task_intent: String,
    /// Checked against the type, unknown keys refused. research: `scope` (quick, standard,
    /// deep), `depth` (overview, detailed); content_creation: `format` (≤ 50 characters),
    /// `audience` (≤ 200), `length` (short, medium, long); analysis: `question` (≤ 2,000),
    /// `data_refs` (≤ 50 strings of ≤ 500).
    #[schema(value_type = Option<Object>, additional_properties = true)]
    pub task_parameters: Option<Map<String, Value>>,
    /// A live agent of the organization; a session without one cannot start.
    pub agent_id: Option<Uuid>,
    /// Stop for a person's decision before finishing (default false).
    pub checkpoint: Option<bool>,
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListWorkSessionsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Case-insensitive search in the task intent (no control characters).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// `status`, `-status`, `created_at` or `-created_at` (the default).
    #[param(pattern = "^-?(status|created_at)$")]
    pub sort: Option<String>,
    /// Only this project's sessions (the organization-wide list).
    pub project_id: Option<Uuid>,
    /// Only sessions in this status.
    #[param(value_type = Option<SessionStatusName>)]
    pub status: Option<String>,
    /// Only sessions of this type.
    #[param(value_type = Option<TaskTypeName>)]
    pub task_type: Option<String>,
    /// Only sessions of this agent.
    pub agent_id: Option<Uuid>,
    /// RFC 3339: sessions created at or after this time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339: sessions created before this time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

impl ListRequest for ListWorkSessionsQuery {
    type Filter = SessionFilter;

    fn parse(self) -> Result<(ListParams, SessionFilter), ApiError> {
        let params = list_params(
            self.limit.as_deref(),
            self.offset.as_deref(),
            self.q,
            self.sort,
            None,
        )?;
        let filter = SessionFilter {
            project_id: self.project_id.map(ProjectId::from_uuid),
            status: self
                .status
                .as_deref()
                .map(|s| SessionStatus::parse("status", s))
                .transpose()?,
            task_type: self
                .task_type
                .as_deref()
                .map(|t| TaskType::parse("task_type", t))
                .transpose()?,
            agent_id: self.agent_id.map(AgentId::from_uuid),
            since: bulkhead_domain::parse_time("since", self.since.as_deref())?,
            until: bulkhead_domain::parse_time("until", self.until.as_deref())?,
        };
        Ok((params, filter))
    }
}

/// The session's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WorkSessionPath {
    pub session_id: Uuid,
}

/// Create a pending work session on a live project of the organization (work:write); start it
/// with `…/start`. With an `Idempotency-Key` header, a retry with the same key and body returns
/// the first response without creating again.
#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/work-sessions", extensions(("x-permission" = json!("work:write"))), tag = "work", params(ProjectPath, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: same key and body, same response, one session (kept 24 hours)")),
    request_body = CreateWorkSessionRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = WorkSessionBody, headers(("location" = String, description = "The new session's URL"))),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn create(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<ProjectPath>,
    Json(body): Json<CreateWorkSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let project_id = ProjectId::from_uuid(path.project_id);
    crate::idempotency::once(&state, &scope, Permission::WorkWrite, &req, || async {
        let input = CreateWorkSession {
            project_id,
            task_type: body.task_type,
            task_intent: body.task_intent,
            task_parameters: body.task_parameters.map(Value::Object),
            agent_id: body.agent_id.map(AgentId::from_uuid),
            checkpoint: body.checkpoint,
        };
        let session = state.work.create(&scope, input).await?;
        Ok(created::<_, WorkSessionBody>(
            "/api/v1/work-sessions",
            session,
        ))
    })
    .await
}

/// List a live project's work sessions (work:read).
#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/work-sessions", extensions(("x-permission" = json!("work:read"))), tag = "work", params(ProjectPath, ListWorkSessionsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of sessions", body = PageBody<WorkSessionBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list_in_project(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<ProjectPath>,
    query: web::Query<ListWorkSessionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (params, filter) = ListRequest::parse(query.into_inner())?;
    let page = state
        .work
        .list_in_project(
            &scope,
            ProjectId::from_uuid(path.project_id),
            params,
            filter,
        )
        .await?;
    Ok(HttpResponse::Ok().json(PageBody::<WorkSessionBody>::from_page(page)))
}

/// List the organization's work sessions (work:read), newest first; sessions of deleted
/// projects are not listed.
#[utoipa::path(
    get, path = "/api/v1/work-sessions", extensions(("x-permission" = json!("work:read"))), tag = "work", params(ListWorkSessionsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of sessions", body = PageBody<WorkSessionBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    query: web::Query<ListWorkSessionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (params, filter) = ListRequest::parse(query.into_inner())?;
    let page = state.work.list(&scope, params, filter).await?;
    Ok(HttpResponse::Ok().json(PageBody::<WorkSessionBody>::from_page(page)))
}

/// Read a work session (work:read). Another organization's session, or one of a deleted
/// project, is 404 like a missing one.
#[utoipa::path(
    get, path = "/api/v1/work-sessions/{session_id}", extensions(("x-permission" = json!("work:read"))), tag = "work", params(WorkSessionPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The session", body = WorkSessionBody, headers(("etag" = String, description = "The version, for If-Match"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<WorkSessionPath>,
) -> Result<HttpResponse, ApiError> {
    let session = state
        .work
        .get(&scope, WorkSessionId::from_uuid(path.session_id))
        .await?;
    Ok(respond::<_, WorkSessionBody>(HttpResponse::Ok(), session))
}

/// Start a pending session (work:write): it is running, and a run of its agent with the task
/// as input is queued in the same transaction. 409 unless pending, without an agent, or with a
/// paused agent or inactive configuration. With an `Idempotency-Key`, a retry answers the first
/// response instead of 409.
#[utoipa::path(
    post, path = "/api/v1/work-sessions/{session_id}/start", extensions(("x-permission" = json!("work:write"))), tag = "work", params(WorkSessionPath, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: the same key gets the first response (kept 24 hours)")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The session, running", body = WorkSessionBody, headers(("etag" = String, description = "The new version"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 412, response = responses::PreconditionFailed),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn start(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<WorkSessionPath>,
) -> Result<HttpResponse, ApiError> {
    let id = WorkSessionId::from_uuid(path.session_id);
    let expected = if_match(&req)?;
    crate::idempotency::once(&state, &scope, Permission::WorkWrite, &req, || async {
        let session = state.work.start(&scope, id, expected).await?;
        Ok(respond::<_, WorkSessionBody>(HttpResponse::Ok(), session))
    })
    .await
}

/// Cancel a session that has not ended (work:write), and its run if that is still going.
/// 409 once it has ended.
#[utoipa::path(
    post, path = "/api/v1/work-sessions/{session_id}/cancel", extensions(("x-permission" = json!("work:write"))), tag = "work", params(WorkSessionPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The session, cancelled", body = WorkSessionBody, headers(("etag" = String, description = "The new version"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 412, response = responses::PreconditionFailed),
    )
)]
pub(crate) async fn cancel(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<WorkSessionPath>,
) -> Result<HttpResponse, ApiError> {
    let id = WorkSessionId::from_uuid(path.session_id);
    let session = state.work.cancel(&scope, id, if_match(&req)?).await?;
    Ok(respond::<_, WorkSessionBody>(HttpResponse::Ok(), session))
}

/// Kinds of session events.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkEventKindName {
    Status,
    ArtifactCreated,
    CheckpointOpened,
    CheckpointResolved,
}

/// One event of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkEventBody {
    /// 1, 2, ... in order: the SSE `id`, and what `after` and `Last-Event-ID` take.
    pub seq: i64,
    #[schema(value_type = WorkEventKindName)]
    pub kind: &'static str,
    #[schema(value_type = Object, additional_properties = true)]
    pub data: Value,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub at: DateTime<Utc>,
}

impl From<WorkEvent> for WorkEventBody {
    fn from(e: WorkEvent) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str(),
            data: e.data,
            at: e.at,
        }
    }
}

impl From<WorkEvent> for Event {
    fn from(e: WorkEvent) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str(),
            terminal: e.is_terminal(),
            data: e.data,
        }
    }
}

/// A session's events (work:read): status changes, artifacts created, checkpoints opened and
/// resolved. With `Accept: text/event-stream`: Server-Sent Events (`id` = sequence number,
/// `event` = kind, JSON `data`), resuming after `Last-Event-ID`, with keep-alive comments,
/// ending after the terminal status. Otherwise a JSON page of events after `after`.
#[utoipa::path(
    get, path = "/api/v1/work-sessions/{session_id}/events", extensions(("x-permission" = json!("work:read"))), tag = "work", params(WorkSessionPath, EventsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The events: a JSON page, or with `Accept: text/event-stream` a stream of them", content(
            (ListBody<WorkEventBody> = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn events(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<WorkSessionPath>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = WorkSessionId::from_uuid(path.session_id);
    let reader = state.clone();
    event_stream::answer::<_, WorkEventBody, _, _>(
        state,
        &req,
        &query,
        id.as_uuid(),
        move |after, limit| {
            let (state, scope) = (reader.clone(), scope.clone());
            async move { state.work.events(&scope, id, after, limit).await }
        },
    )
    .await
}

/// Parameters of a session's artifacts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListArtifactsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// `title`, `-title`, `created_at` or `-created_at` (the default).
    #[param(pattern = "^-?(title|created_at)$")]
    pub sort: Option<String>,
    /// Only artifacts in this review status.
    #[param(value_type = Option<ReviewStatusName>)]
    pub review_status: Option<String>,
}

/// A session's artifacts (work:read).
#[utoipa::path(
    get, path = "/api/v1/work-sessions/{session_id}/artifacts", extensions(("x-permission" = json!("work:read"))), tag = "work", params(WorkSessionPath, ListArtifactsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of artifacts", body = PageBody<ArtifactBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn artifacts(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<WorkSessionPath>,
    query: web::Query<ListArtifactsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let params = list_params(
        query.limit.as_deref(),
        query.offset.as_deref(),
        None,
        query.sort,
        None,
    )?;
    let filter = ArtifactFilter {
        session_id: None,
        review_status: query
            .review_status
            .as_deref()
            .map(|s| ReviewStatus::parse("review_status", s))
            .transpose()?,
    };
    let id = WorkSessionId::from_uuid(path.session_id);
    let page = state.work.artifacts(&scope, id, params, filter).await?;
    Ok(HttpResponse::Ok().json(PageBody::<ArtifactBody>::from_page(page)))
}

/// Parameters of a session's checkpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCheckpointsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Only checkpoints in this status.
    #[param(value_type = Option<CheckpointStatusName>)]
    pub status: Option<String>,
}

/// A session's checkpoints (work:read), newest first.
#[utoipa::path(
    get, path = "/api/v1/work-sessions/{session_id}/checkpoints", extensions(("x-permission" = json!("work:read"))), tag = "work", params(WorkSessionPath, ListCheckpointsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of checkpoints", body = PageBody<CheckpointBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn checkpoints(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<WorkSessionPath>,
    query: web::Query<ListCheckpointsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let params = list_params(
        query.limit.as_deref(),
        query.offset.as_deref(),
        None,
        None,
        None,
    )?;
    let filter = CheckpointFilter {
        session_id: None,
        status: query
            .status
            .as_deref()
            .map(|s| CheckpointStatus::parse("status", s))
            .transpose()?,
    };
    let id = WorkSessionId::from_uuid(path.session_id);
    let page = state.work.checkpoints(&scope, id, params, filter).await?;
    Ok(HttpResponse::Ok().json(PageBody::<CheckpointBody>::from_page(page)))
}
