//! `/projects`: the tenant's projects, on the resource kit.

use bulkhead_domain::ProjectId;
use bulkhead_domain::projects::{CreateProject, Project, UpdateProject};
use bulkhead_domain::resource::ListParams;
use bulkhead_domain::work::WorkStats;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::problem::ApiError;
use crate::resource::{ListRequest, list_params, not_null, present, resource_endpoints};

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
    /// The project's work, counted: only in a single project's read, for callers with
    /// work:read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<WorkStatsBody>,
}

/// A single project's read, with its work figures, in one unit of work.
async fn with_stats(
    state: &crate::AppState,
    scope: &bulkhead_domain::TenantScope,
    id: ProjectId,
) -> Result<(i64, ProjectBody), ApiError> {
    let (project, stats) = state.work.project(scope, id).await?;
    let version = project.version;
    let mut body = ProjectBody::from(project);
    body.stats = stats.map(WorkStatsBody::from);
    Ok((version, body))
}

impl From<Project> for ProjectBody {
    fn from(p: Project) -> Self {
        Self {
            id: p.id.as_uuid(),
            organization_id: p.organization_id.as_uuid(),
            name: p.name.as_str().to_owned(),
            description: p.description.as_ref().map(|d| d.as_str().to_owned()),
            created_by: p.created_by.as_uuid(),
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
            deleted_at: p.deleted_at,
            stats: None,
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

impl From<CreateProjectRequest> for CreateProject {
    fn from(body: CreateProjectRequest) -> Self {
        Self {
            name: body.name,
            description: body.description,
        }
    }
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

impl TryFrom<UpdateProjectRequest> for UpdateProject {
    type Error = ApiError;

    fn try_from(body: UpdateProjectRequest) -> Result<Self, ApiError> {
        Ok(Self {
            name: not_null("name", body.name)?,
            description: body.description,
        })
    }
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

impl ListRequest for ListProjectsQuery {
    type Filter = ();

    fn parse(self) -> Result<(ListParams, ()), ApiError> {
        let params = list_params(
            self.limit.as_deref(),
            self.offset.as_deref(),
            self.q,
            self.sort,
            self.include_deleted.as_deref(),
        )?;
        Ok((params, ()))
    }
}

/// The project's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    pub project_id: Uuid,
}

resource_endpoints! {
    service: projects,
    id: ProjectId,
    body: ProjectBody,
    create: CreateProjectRequest,
    patch: UpdateProjectRequest,
    query: ListProjectsQuery,
    path: ProjectPath => project_id,
    tag: "projects",
    collection: "/api/v1/projects",
    item: "/api/v1/projects/{project_id}",
    restore: "/api/v1/projects/{project_id}/restore",
    get_with: with_stats,
    read: "projects:read",
    write: "projects:write",
    remove: "projects:delete",
    write_permission: bulkhead_domain::Permission::ProjectsWrite,
    docs: {
        list: "List the organization's projects (projects:read).",
        list_ok: "A page of projects",
        create: "Create a project (projects:write). With an `Idempotency-Key` header, a retry with the same\nkey and body returns the first response (`idempotent-replayed: true`) without creating again.",
        key: "Makes retries safe: same key and body, same response, one project (kept 24 hours); 1 to 255 visible ASCII characters",
        location: "The new project's URL",
        get: "Read a project (projects:read), with its work counted (`stats`: sessions by status, artifacts awaiting review) for callers with work:read. Another organization's project is 404, like a missing one.",
        get_ok: "The project",
        update: "Change a project's name or description (projects:write, or the project's creator or\none of its maintainers). Send `If-Match: \"<version>\"` to make the change only if nobody\nchanged the project since you read it.",
        update_ok: "The updated project",
        delete: "Delete a project (projects:delete): it then answers 404 and can be restored until purged.",
        restore: "Bring back a deleted project (projects:delete).",
    },
}

/// A project's work, counted: its sessions by status and its artifacts awaiting review.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkStatsBody {
    /// Sessions per status (only statuses that occur).
    #[schema(value_type = Object, additional_properties = true)]
    pub sessions_by_status: Map<String, Value>,
    pub artifacts_awaiting_review: i64,
}

impl From<WorkStats> for WorkStatsBody {
    fn from(s: WorkStats) -> Self {
        Self {
            sessions_by_status: s
                .sessions_by_status
                .into_iter()
                .map(|(status, n)| (status.as_str().to_owned(), n.into()))
                .collect(),
            artifacts_awaiting_review: s.artifacts_awaiting_review,
        }
    }
}
