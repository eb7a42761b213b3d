//! `/projects/{id}/members`: who works on a project, and its maintainers.

use actix_web::{HttpResponse, web};
use bulkhead_domain::projects::{ProjectMember, ProjectRole};
use bulkhead_domain::{ProjectId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::extract::{Auth, Json};
use crate::pagination::ListBody;
use crate::problem::{ApiError, responses};
use crate::projects::ProjectPath;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/projects/{project_id}/members")
            .route(web::get().to(list))
            .route(web::post().to(put)),
    )
    .service(
        web::resource("/projects/{project_id}/members/{user_id}").route(web::delete().to(remove)),
    );
}

/// A project role.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRoleBody {
    /// Edits the project and manages its members, whatever the organization role.
    Maintainer,
    /// Works on the project.
    Contributor,
}

impl From<ProjectRoleBody> for ProjectRole {
    fn from(role: ProjectRoleBody) -> Self {
        match role {
            ProjectRoleBody::Maintainer => Self::Maintainer,
            ProjectRoleBody::Contributor => Self::Contributor,
        }
    }
}

impl From<ProjectRole> for ProjectRoleBody {
    fn from(role: ProjectRole) -> Self {
        match role {
            ProjectRole::Maintainer => Self::Maintainer,
            ProjectRole::Contributor => Self::Contributor,
        }
    }
}

/// A member of the project.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectMemberBody {
    pub user_id: Uuid,
    pub role: ProjectRoleBody,
    pub added_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub added_at: DateTime<Utc>,
}

impl From<ProjectMember> for ProjectMemberBody {
    fn from(m: ProjectMember) -> Self {
        Self {
            user_id: m.user_id.as_uuid(),
            role: m.role.into(),
            added_by: m.added_by.as_uuid(),
            added_at: m.added_at,
        }
    }
}

/// Whom to add (a member of the organization), with which project role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutProjectMemberRequest {
    pub user_id: Uuid,
    pub role: ProjectRoleBody,
}

/// The project and member ids in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectMemberPath {
    pub project_id: Uuid,
    pub user_id: Uuid,
}

/// The project's members (projects:read).
#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/members", extensions(("x-permission" = json!("projects:read"))), tag = "projects", params(ProjectPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The members", body = ListBody<ProjectMemberBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<ProjectPath>,
) -> Result<HttpResponse, ApiError> {
    let members = state
        .projects
        .members(&scope, ProjectId::from_uuid(path.project_id))
        .await?;
    Ok(HttpResponse::Ok().json(ListBody::<ProjectMemberBody>::from_items(members)))
}

/// Add a member of the organization to the project, or change their project role
/// (projects:write, or the project's creator or a maintainer).
#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/members", extensions(("x-permission" = json!("projects:write"))), tag = "projects", params(ProjectPath),
    request_body = PutProjectMemberRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The member", body = ProjectMemberBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn put(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<ProjectPath>,
    Json(body): Json<PutProjectMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let member = state
        .projects
        .put_member(
            &scope,
            ProjectId::from_uuid(path.project_id),
            UserId::from_uuid(body.user_id),
            body.role.into(),
        )
        .await?;
    Ok(HttpResponse::Created().json(ProjectMemberBody::from(member)))
}

/// Remove a member from the project (projects:write, or the creator or a maintainer).
#[utoipa::path(
    delete, path = "/api/v1/projects/{project_id}/members/{user_id}", extensions(("x-permission" = json!("projects:write"))), tag = "projects",
    params(ProjectMemberPath), security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<ProjectMemberPath>,
) -> Result<HttpResponse, ApiError> {
    state
        .projects
        .remove_member(
            &scope,
            ProjectId::from_uuid(path.project_id),
            UserId::from_uuid(path.user_id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
