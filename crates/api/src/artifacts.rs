//! Artifacts: what a work session's runs produced, read and reviewed once.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::ArtifactId;
use bulkhead_domain::work::{Artifact, Decision};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Auth, Json, if_match};
use crate::problem::{ApiError, responses};
use crate::resource::{respond, route};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(route("/api/v1/artifacts/{artifact_id}")).route(web::get().to(get)))
        .service(
            web::resource(route("/api/v1/artifacts/{artifact_id}/review"))
                .route(web::post().to(review)),
        );
}

/// Where an artifact's review is: `pending_review → approved | rejected`, terminal.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatusName {
    PendingReview,
    Approved,
    Rejected,
}

/// A person's decision.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionName {
    Approve,
    Reject,
}

impl From<DecisionName> for Decision {
    fn from(d: DecisionName) -> Self {
        match d {
            DecisionName::Approve => Self::Approve,
            DecisionName::Reject => Self::Reject,
        }
    }
}

/// A decision on an artifact or a checkpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: DecisionName,
    /// Why; required to reject an artifact.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub feedback: Option<String>,
}

/// An artifact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The session whose run produced it.
    pub session_id: Uuid,
    pub project_id: Uuid,
    #[schema(example = "report")]
    pub artifact_type: String,
    pub title: String,
    #[schema(value_type = Object, additional_properties = true)]
    pub content: Map<String, Value>,
    #[schema(value_type = ReviewStatusName)]
    pub review_status: &'static str,
    pub reviewed_by: Option<Uuid>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_feedback: Option<String>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; also sent as the `ETag`.
    pub version: i64,
}

impl From<Artifact> for ArtifactBody {
    fn from(a: Artifact) -> Self {
        Self {
            id: a.id.as_uuid(),
            organization_id: a.organization_id.as_uuid(),
            session_id: a.session_id.as_uuid(),
            project_id: a.project_id.as_uuid(),
            artifact_type: a.artifact_type.clone(),
            title: a.title.clone(),
            content: a.content.clone(),
            review_status: a.review_status.as_str(),
            reviewed_by: a.reviewed_by.map(|u| u.as_uuid()),
            reviewed_at: a.reviewed_at,
            review_feedback: a.review_feedback.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            version: a.version,
        }
    }
}

/// The artifact's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ArtifactPath {
    pub artifact_id: Uuid,
}

/// Read an artifact (work:read). Another organization's artifact, or one of a deleted
/// project, is 404 like a missing one.
#[utoipa::path(
    get, path = "/api/v1/artifacts/{artifact_id}", extensions(("x-permission" = json!("work:read"))), tag = "work", params(ArtifactPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The artifact", body = ArtifactBody, headers(("etag" = String, description = "The version, for If-Match"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<ArtifactPath>,
) -> Result<HttpResponse, ApiError> {
    let artifact = state
        .work
        .artifact(&scope, ArtifactId::from_uuid(path.artifact_id))
        .await?;
    Ok(respond::<_, ArtifactBody>(HttpResponse::Ok(), artifact))
}

/// Approve or reject an artifact, once (work:review, or as a maintainer of its project).
/// Rejecting needs `feedback` (422 without). A second review is 409; of concurrent reviews
/// exactly one wins. With the organization setting `work.independent_review` on, whoever
/// started the session cannot approve (403). Send `If-Match: "<version>"` to decide only on the
/// version you read.
#[utoipa::path(
    post, path = "/api/v1/artifacts/{artifact_id}/review", extensions(("x-permission" = json!("work:review"))), tag = "work", params(ArtifactPath), request_body = DecisionRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The artifact, reviewed", body = ArtifactBody, headers(("etag" = String, description = "The new version"))),
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
pub(crate) async fn review(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<ArtifactPath>,
    Json(body): Json<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let artifact = state
        .work
        .review(
            &scope,
            ArtifactId::from_uuid(path.artifact_id),
            body.decision.into(),
            body.feedback,
            if_match(&req)?,
        )
        .await?;
    Ok(respond::<_, ArtifactBody>(HttpResponse::Ok(), artifact))
}
