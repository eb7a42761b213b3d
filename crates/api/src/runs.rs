//! Runs: start one on an agent (202, executed by a worker), list an agent's, read, cancel,
//! follow their events (Server-Sent Events or a JSON page), and an agent's metrics.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::runs::{Run, RunEvent, RunMetrics, RunPage, RunQuery, RunStatus};
use bulkhead_domain::{AgentId, Permission, RunId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::agents::AgentPath;
use crate::event_stream::{self, Event, EventsQuery};
use crate::extract::{Auth, Json, int_param};
use crate::pagination::ListBody;
use crate::problem::{ApiError, responses};
use crate::resource::route;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(route("/api/v1/agents/{agent_id}/runs"))
            .route(web::post().to(start))
            .route(web::get().to(list)),
    )
    .service(
        web::resource(route("/api/v1/agents/{agent_id}/metrics")).route(web::get().to(metrics)),
    )
    .service(web::resource(route("/api/v1/runs/{run_id}")).route(web::get().to(get)))
    .service(web::resource(route("/api/v1/runs/{run_id}/cancel")).route(web::post().to(cancel)))
    .service(web::resource(route("/api/v1/runs/{run_id}/events")).route(web::get().to(events)));
}

/// Where a run is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatusName {
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

/// A run of an agent, or a reply in a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The agent it runs; null for a conversation's reply, which runs its configuration.
    pub agent_id: Option<Uuid>,
    /// The conversation it replies in, for a reply (readable only by the conversation's
    /// owner).
    pub conversation_id: Option<Uuid>,
    /// The configuration it runs with, and the number of that configuration's behaviour
    /// version (`GET /agent-configs/{id}/versions`).
    pub config_id: Uuid,
    pub config_version: i64,
    #[schema(value_type = RunStatusName)]
    pub status: &'static str,
    #[schema(value_type = Object, additional_properties = true)]
    pub input: Map<String, Value>,
    /// What it produced, once succeeded (any JSON value).
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub error: Option<String>,
    /// How many times a worker started it.
    pub attempt: i32,
    /// The person who started it, or the creator of the API key that did.
    pub created_by: Uuid,
    pub api_key_id: Option<Uuid>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub queued_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

impl From<Run> for RunBody {
    fn from(r: Run) -> Self {
        Self {
            id: r.id.as_uuid(),
            organization_id: r.organization_id.as_uuid(),
            agent_id: r.agent_id.map(|a| a.as_uuid()),
            conversation_id: r.conversation_id.map(|c| c.as_uuid()),
            config_id: r.config_id.as_uuid(),
            config_version: r.config_version,
            status: r.status.as_str(),
            input: r.input.as_map().clone(),
            output: r.output,
            error: r.error,
            attempt: r.attempt,
            created_by: r.created_by.as_uuid(),
            api_key_id: r.api_key_id.map(|k| k.as_uuid()),
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
        }
    }
}

/// A run to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRunRequest {
    /// A JSON object of at most 256 KiB. The `echo` provider answers `{"echo": input}` after
    /// `input.delay_ms`, or fails with `input.fail` when it is a string.
    #[schema(value_type = Object, additional_properties = true)]
    pub input: Map<String, Value>,
}

/// Start a run of an agent (agents:run): 202 with the queued run, which a worker executes.
/// A paused agent or an inactive configuration is 409. With an `Idempotency-Key` header, a
/// retry with the same key and body returns the first response without starting again.
#[utoipa::path(
    post, path = "/api/v1/agents/{agent_id}/runs", extensions(("x-permission" = json!("agents:run"))), tag = "runs", params(AgentPath, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: same key and body, same response, one run (kept 24 hours)")), request_body = StartRunRequest, security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued", body = RunBody, headers(("location" = String, description = "The run's URL"))),
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
pub(crate) async fn start(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<AgentPath>,
    Json(body): Json<StartRunRequest>,
) -> Result<HttpResponse, ApiError> {
    let agent = AgentId::from_uuid(path.agent_id);
    crate::idempotency::once(&state, &scope, Permission::AgentsRun, &req, || async {
        let run = state
            .runs
            .start(&scope, agent, Value::Object(body.input))
            .await?;
        Ok(HttpResponse::Accepted()
            .insert_header((LOCATION, format!("/api/v1/runs/{}", run.id)))
            .json(RunBody::from(run)))
    })
    .await
}

/// List parameters of an agent's runs.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRunsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`: runs older than it.
    pub cursor: Option<Uuid>,
    /// Only runs in this status.
    #[param(value_type = Option<RunStatusName>)]
    pub status: Option<String>,
    /// RFC 3339: only runs queued at or after this time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339: only runs queued before this time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

/// A page of runs, newest first, paged by keyset: pass `next_cursor` as `cursor` for the next.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPageBody {
    pub data: Vec<RunBody>,
    pub limit: u64,
    pub has_more: bool,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<Uuid>,
}

/// An agent's runs, newest first (agents:read); filters `status`, `since`, `until`.
#[utoipa::path(
    get, path = "/api/v1/agents/{agent_id}/runs", extensions(("x-permission" = json!("agents:read"))), tag = "runs", params(AgentPath, ListRunsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of runs", body = RunPageBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<AgentPath>,
    query: web::Query<ListRunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = int_param("limit", query.limit.as_deref())?;
    let filter = RunQuery {
        limit: 0,
        before: query.cursor.map(RunId::from_uuid),
        status: query
            .status
            .as_deref()
            .map(|s| RunStatus::parse("status", s))
            .transpose()?,
        since: bulkhead_domain::parse_time("since", query.since.as_deref())?,
        until: bulkhead_domain::parse_time("until", query.until.as_deref())?,
    };
    let RunPage {
        runs,
        limit,
        has_more,
    } = state
        .runs
        .list(&scope, AgentId::from_uuid(path.agent_id), limit, filter)
        .await?;
    let next_cursor = has_more
        .then(|| runs.last().map(|r| r.id.as_uuid()))
        .flatten();
    Ok(HttpResponse::Ok().json(RunPageBody {
        data: runs.into_iter().map(RunBody::from).collect(),
        limit,
        has_more,
        next_cursor,
    }))
}

/// The run's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    pub run_id: Uuid,
}

/// Read a run (agents:read); runs of a deleted agent stay readable.
#[utoipa::path(
    get, path = "/api/v1/runs/{run_id}", extensions(("x-permission" = json!("agents:read"))), tag = "runs", params(RunPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The run", body = RunBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<RunPath>,
) -> Result<HttpResponse, ApiError> {
    let run = state
        .runs
        .get(&scope, RunId::from_uuid(path.run_id))
        .await?;
    Ok(HttpResponse::Ok().json(RunBody::from(run)))
}

/// Cancel a queued or running run (agents:run); a run that has ended is 409.
#[utoipa::path(
    post, path = "/api/v1/runs/{run_id}/cancel", extensions(("x-permission" = json!("agents:run"))), tag = "runs", params(RunPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The run, cancelled", body = RunBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn cancel(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<RunPath>,
) -> Result<HttpResponse, ApiError> {
    let run = state
        .runs
        .cancel(&scope, RunId::from_uuid(path.run_id))
        .await?;
    Ok(HttpResponse::Ok().json(RunBody::from(run)))
}

/// Event kinds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunEventKind {
    Status,
    OutputDelta,
    Log,
    Error,
}

/// One event of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunEventBody {
    /// 1, 2, ... in order: the SSE `id`, and what `after` and `Last-Event-ID` take.
    pub seq: i64,
    #[schema(value_type = RunEventKind)]
    pub kind: &'static str,
    #[schema(value_type = Object, additional_properties = true)]
    pub data: Value,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub at: DateTime<Utc>,
}

impl From<RunEvent> for RunEventBody {
    fn from(e: RunEvent) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str(),
            data: e.data,
            at: e.at,
        }
    }
}

/// A run's events (agents:read). With `Accept: text/event-stream`: Server-Sent Events (`id` =
/// sequence number, `event` = `status`, `output_delta`, `log` or `error`, JSON `data`),
/// resuming after `Last-Event-ID`, with keep-alive comments, ending after the terminal status.
/// Otherwise a JSON page of events after `after`.
#[utoipa::path(
    get, path = "/api/v1/runs/{run_id}/events", extensions(("x-permission" = json!("agents:read"))), tag = "runs", params(RunPath, EventsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The events: a JSON page, or with `Accept: text/event-stream` a stream of them", content(
            (ListBody<RunEventBody> = "application/json"),
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
    path: web::Path<RunPath>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = RunId::from_uuid(path.run_id);
    let reader = state.clone();
    event_stream::answer::<_, RunEventBody, _, _>(
        state,
        &req,
        &query,
        id.as_uuid(),
        move |after, limit| {
            let (state, scope) = (reader.clone(), scope.clone());
            async move { state.runs.events(&scope, id, after, limit).await }
        },
    )
    .await
}

impl From<RunEvent> for Event {
    fn from(e: RunEvent) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str(),
            terminal: e.is_terminal(),
            data: e.data,
        }
    }
}

/// Metrics parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// RFC 3339: runs queued at or after this time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339: runs queued before this time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

/// Durations of finished runs, in milliseconds.
#[derive(Debug, Serialize, ToSchema)]
pub struct DurationsBody {
    pub p50: Option<i64>,
    pub p95: Option<i64>,
    pub max: Option<i64>,
}

/// An agent's runs in a period, summed up.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunMetricsBody {
    pub runs_total: i64,
    /// Runs per status (only statuses that occur).
    #[schema(value_type = Object, additional_properties = true)]
    pub by_status: Map<String, Value>,
    /// Succeeded among succeeded, failed and timed out, 0 to 1; null when none finished.
    pub success_rate: Option<f64>,
    pub duration_ms: DurationsBody,
    pub tokens_in: i64,
    pub tokens_out: i64,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub last_run_at: Option<DateTime<Utc>>,
}

impl From<RunMetrics> for RunMetricsBody {
    fn from(m: RunMetrics) -> Self {
        Self {
            runs_total: m.runs_total,
            by_status: m
                .by_status
                .into_iter()
                .map(|(s, n)| (s.as_str().to_owned(), n.into()))
                .collect(),
            success_rate: m.success_rate,
            duration_ms: DurationsBody {
                p50: m.duration_p50_ms,
                p95: m.duration_p95_ms,
                max: m.duration_max_ms,
            },
            tokens_in: m.tokens_in,
            tokens_out: m.tokens_out,
            last_run_at: m.last_run_at,
        }
    }
}

/// An agent's run metrics over a period (agents:read): counts by status, success rate,
/// duration percentiles, tokens and the latest run.
#[utoipa::path(
    get, path = "/api/v1/agents/{agent_id}/metrics", extensions(("x-permission" = json!("agents:read"))), tag = "runs", params(AgentPath, MetricsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The metrics", body = RunMetricsBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn metrics(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<AgentPath>,
    query: web::Query<MetricsQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = bulkhead_domain::parse_time("since", query.since.as_deref())?;
    let until = bulkhead_domain::parse_time("until", query.until.as_deref())?;
    let metrics = state
        .runs
        .metrics(&scope, AgentId::from_uuid(path.agent_id), since, until)
        .await?;
    Ok(HttpResponse::Ok().json(RunMetricsBody::from(metrics)))
}
