//! `/projects`: the tenant's projects.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::projects::{CreateProject, ListProjects, Project, UpdateProject};
use bulkhead_domain::{Permission, ProjectId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Auth, Json, bool_param, etag, if_match, int_param};
use crate::pagination::PageBody;
use crate::problem::{ApiError, responses};
use crate::{AppState, idempotency};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/projects")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/projects/{project_id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/projects/{project_id}/restore").route(web::post().to(restore)));
}

/// A project.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "Apollo")]
    pub name: String,
    #[schema(example = "Landing on the moon")]
    pub description: Option<String>,
    /// The user who created the project.
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; also sent as the `ETag`.
    pub version: i64,
    /// Set when the project is deleted (listed only with `include_deleted=true`).
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A project response with its version as a strong `ETag`.
fn project_response(mut builder: actix_web::HttpResponseBuilder, project: Project) -> HttpResponse {
    builder
        .insert_header(etag(project.version))
        .json(ProjectBody::from(project))
}

impl From<Project> for ProjectBody {
    fn from(p: Project) -> Self {
        Self {
            id: p.id.as_uuid(),
            organization_id: p.organization_id.as_uuid(),
            name: p.name.as_str().to_owned(),
            description: p.description.map(|d| d.as_str().to_owned()),
            created_by: p.created_by.as_uuid(),
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
            deleted_at: p.deleted_at,
        }
    }
}

/// A new project. The organization and creator come from your token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    #[schema(
        example = "Apollo",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    #[schema(example = "Landing on the moon", max_length = 2000)]
    pub description: Option<String>,
}

/// A partial update: absent fields stay as they are; `"description": null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, example = "Apollo 11", min_length = 1, max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
}

/// Tells "absent" (`None`, via `default`) from "null" (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// List parameters. Integers arrive as text so that a bad one is reported by name.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProjectsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Case-insensitive search in the name (no control characters).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// `name`, `-name`, `created_at` or `-created_at` (the default).
    #[param(pattern = "^-?(name|created_at)$")]
    pub sort: Option<String>,
    /// Also list deleted projects (needs projects:delete).
    #[param(value_type = Option<bool>, default = false)]
    pub include_deleted: Option<String>,
}

/// The project's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    pub project_id: Uuid,
}

/// List the organization's projects (projects:read).
#[utoipa::path(
    get, path = "/api/v1/projects", extensions(("x-permission" = json!("projects:read"))), tag = "projects", params(ListProjectsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of projects", body = PageBody<ProjectBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    query: web::Query<ListProjectsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let input = ListProjects {
        limit: int_param("limit", query.limit.as_deref())?,
        offset: int_param("offset", query.offset.as_deref())?,
        q: query.q,
        sort: query.sort,
        include_deleted: bool_param("include_deleted", query.include_deleted.as_deref())?,
    };
    let page = state.projects.list(&scope, input).await?;
    Ok(HttpResponse::Ok().json(PageBody::<ProjectBody>::from_page(page)))
}

/// Create a project (projects:write). With an `Idempotency-Key` header, a retry with the same
/// key and body returns the first response (`idempotent-replayed: true`) without creating again.
#[utoipa::path(
    post, path = "/api/v1/projects", extensions(("x-permission" = json!("projects:write"))), tag = "projects", request_body = CreateProjectRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: same key and body, same response, one project (kept 24 hours); 1 to 255 visible ASCII characters")),
    responses(
        (status = 201, description = "Created", body = ProjectBody, headers(("location" = String, description = "The new project's URL"))),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::Conflict),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn create(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    Json(body): Json<CreateProjectRequest>,
) -> Result<HttpResponse, ApiError> {
    idempotency::once(&state, &scope, Permission::ProjectsWrite, &req, || async {
        let project = state
            .projects
            .create(
                &scope,
                CreateProject {
                    name: body.name,
                    description: body.description,
                },
            )
            .await?;
        let mut created = HttpResponse::Created();
        created.insert_header((LOCATION, format!("/api/v1/projects/{}", project.id)));
        Ok(project_response(created, project))
    })
    .await
}

/// Read a project (projects:read). Another organization's project is 404, like a missing one.
#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}", extensions(("x-permission" = json!("projects:read"))), tag = "projects", params(ProjectPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The project", body = ProjectBody, headers(("etag" = String, description = "The version, for If-Match"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<ProjectPath>,
) -> Result<HttpResponse, ApiError> {
    let project = state
        .projects
        .get(&scope, ProjectId::from_uuid(path.project_id))
        .await?;
    Ok(project_response(HttpResponse::Ok(), project))
}

/// Change a project's name or description (projects:write). Send `If-Match: "<version>"` to
/// make the change only if nobody changed the project since you read it.
#[utoipa::path(
    patch, path = "/api/v1/projects/{project_id}", extensions(("x-permission" = json!("projects:write"))), tag = "projects", params(ProjectPath),
    request_body = UpdateProjectRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated project", body = ProjectBody, headers(("etag" = String, description = "The new version"))),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 412, response = responses::PreconditionFailed),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn update(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<ProjectPath>,
    Json(body): Json<UpdateProjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let expected_version = if_match(&req)?;
    let name = match body.name {
        Some(None) => return Err(ApiError::invalid("name", "null", "name cannot be null")),
        other => other.flatten(),
    };
    let project = state
        .projects
        .update(
            &scope,
            ProjectId::from_uuid(path.project_id),
            UpdateProject {
                name,
                description: body.description,
            },
            expected_version,
        )
        .await?;
    Ok(project_response(HttpResponse::Ok(), project))
}

/// Delete a project (projects:delete): it then answers 404 and can be restored until purged.
#[utoipa::path(
    delete, path = "/api/v1/projects/{project_id}", extensions(("x-permission" = json!("projects:delete"))), tag = "projects", params(ProjectPath), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 412, response = responses::PreconditionFailed),
    )
)]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<ProjectPath>,
) -> Result<HttpResponse, ApiError> {
    let expected_version = if_match(&req)?;
    state
        .projects
        .delete(
            &scope,
            ProjectId::from_uuid(path.project_id),
            expected_version,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Bring back a deleted project (projects:delete).
#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/restore", extensions(("x-permission" = json!("projects:delete"))), tag = "projects", params(ProjectPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "Restored", body = ProjectBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn restore(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<ProjectPath>,
) -> Result<HttpResponse, ApiError> {
    let project = state
        .projects
        .restore(&scope, ProjectId::from_uuid(path.project_id))
        .await?;
    Ok(project_response(HttpResponse::Ok(), project))
}
