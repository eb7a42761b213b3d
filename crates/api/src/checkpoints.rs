//! Checkpoints: where a work session waits for a person's decision, read and resolved once.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::CheckpointId;
use bulkhead_domain::work::Checkpoint;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::artifacts::DecisionRequest;
use crate::extract::{Auth, Json, if_match};
use crate::problem::{ApiError, responses};
use crate::resource::{respond, route};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(route("/api/v1/checkpoints/{checkpoint_id}")).route(web::get().to(get)),
    )
    .service(
        web::resource(route("/api/v1/checkpoints/{checkpoint_id}/resolve"))
            .route(web::post().to(resolve)),
    );
}

/// Where a checkpoint is: `open → approved | rejected`, terminal.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointStatusName {
    Open,
    Approved,
    Rejected,
}

/// A checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub session_id: Uuid,
    pub project_id: Uuid,
    /// What is to be decided.
    pub title: String,
    /// What the run put before the person.
    #[schema(value_type = Object, additional_properties = true)]
    pub details: Map<String, Value>,
    #[schema(value_type = CheckpointStatusName)]
    pub status: &'static str,
    pub resolved_by: Option<Uuid>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub feedback: Option<String>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; also sent as the `ETag`.
    pub version: i64,
}

impl From<Checkpoint> for CheckpointBody {
    fn from(c: Checkpoint) -> Self {
        Self {
            id: c.id.as_uuid(),
            organization_id: c.organization_id.as_uuid(),
            session_id: c.session_id.as_uuid(),
            project_id: c.project_id.as_uuid(),
            title: c.title.clone(),
            details: c.details.clone(),
            status: c.status.as_str(),
            resolved_by: c.resolved_by.map(|u| u.as_uuid()),
            resolved_at: c.resolved_at,
            feedback: c.feedback.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

/// The checkpoint's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CheckpointPath {
    pub checkpoint_id: Uuid,
}

/// Read a checkpoint (work:read). Another organization's checkpoint, or one of a deleted
/// project, is 404 like a missing one.
#[utoipa::path(
    get, path = "/api/v1/checkpoints/{checkpoint_id}", extensions(("x-permission" = json!("work:read"))), tag = "work", params(CheckpointPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The checkpoint", body = CheckpointBody, headers(("etag" = String, description = "The version, for If-Match"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<CheckpointPath>,
) -> Result<HttpResponse, ApiError> {
    let checkpoint = state
        .work
        .checkpoint(&scope, CheckpointId::from_uuid(path.checkpoint_id))
        .await?;
    Ok(respond::<_, CheckpointBody>(HttpResponse::Ok(), checkpoint))
}

/// Resolve an open checkpoint, once (work:review, or as a maintainer of its project).
/// Approving the session's last open checkpoint resumes the work (a new run carries it on);
/// rejecting fails the session with the feedback as its reason. 409 once resolved, or when the
/// session no longer awaits review (cancelled meanwhile).
#[utoipa::path(
    post, path = "/api/v1/checkpoints/{checkpoint_id}/resolve", extensions(("x-permission" = json!("work:review"))), tag = "work", params(CheckpointPath), request_body = DecisionRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The checkpoint, resolved", body = CheckpointBody, headers(("etag" = String, description = "The new version"))),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 412, response = responses::PreconditionFailed),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn resolve(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<CheckpointPath>,
    Json(body): Json<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let checkpoint = state
        .work
        .resolve(
            &scope,
            CheckpointId::from_uuid(path.checkpoint_id),
            body.decision.into(),
            body.feedback,
            if_match(&req)?,
        )
        .await?;
    Ok(respond::<_, CheckpointBody>(HttpResponse::Ok(), checkpoint))
}
