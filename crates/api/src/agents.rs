//! `/agents`: the organization's agents, on the resource kit, with pausing and resuming.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::agent_configs::AgentType;
use bulkhead_domain::agents::{Agent, AgentFilter, AgentStatus, CreateAgent, UpdateAgent};
use bulkhead_domain::resource::ListParams;
use bulkhead_domain::{AgentConfigId, AgentId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::agent_configs::AgentTypeName;
use crate::extract::{Auth, if_match};
use crate::problem::{ApiError, responses};
use crate::resource::{
    ListRequest, list_params, not_null, present, resource_endpoints, respond, route,
};

/// Where an agent is. Only the server sets it: `paused` by `…/pause`, `idle` or `busy` by its
/// runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatusName {
    Idle,
    Busy,
    Paused,
}

/// An agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Its name for machines, unique among the organization's live agents regardless of case.
    #[schema(example = "rfp-writer")]
    pub agent_key: String,
    #[schema(example = "RFP writer")]
    pub name: Option<String>,
    /// The configuration it runs with.
    pub config_id: Uuid,
    /// Free-form settings passed to its runs.
    #[schema(value_type = Object, additional_properties = true)]
    pub configuration: Map<String, Value>,
    #[schema(value_type = AgentStatusName)]
    pub status: &'static str,
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; also sent as the `ETag`.
    pub version: i64,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Agent> for AgentBody {
    fn from(a: Agent) -> Self {
        Self {
            id: a.id.as_uuid(),
            organization_id: a.organization_id.as_uuid(),
            agent_key: a.agent_key.as_str().to_owned(),
            name: a.name.clone(),
            config_id: a.config_id.as_uuid(),
            configuration: a.configuration.as_map().clone(),
            status: a.status.as_str(),
            created_by: a.created_by.as_uuid(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            version: a.version,
            deleted_at: a.deleted_at,
        }
    }
}

/// A new agent. `status` belongs to the server and is refused here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    #[schema(
        example = "rfp-writer",
        min_length = 1,
        max_length = 100,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )]
    pub agent_key: String,
    #[schema(
        example = "RFP writer",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    /// A live agent configuration of the organization.
    pub config_id: Uuid,
    /// A JSON object of at most 16 KiB; `{}` if absent.
    #[schema(value_type = Option<Object>, additional_properties = true)]
    pub configuration: Option<Map<String, Value>>,
}

impl From<CreateAgentRequest> for CreateAgent {
    fn from(body: CreateAgentRequest) -> Self {
        Self {
            agent_key: body.agent_key,
            name: body.name,
            config_id: AgentConfigId::from_uuid(body.config_id),
            configuration: body.configuration.map(Value::Object),
        }
    }
}

/// A partial update: absent fields stay as they are; `"name": null` clears the name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgentRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    pub agent_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Uuid)]
    pub config_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object, additional_properties = true)]
    pub configuration: Option<Option<Map<String, Value>>>,
}

impl TryFrom<UpdateAgentRequest> for UpdateAgent {
    type Error = ApiError;

    fn try_from(body: UpdateAgentRequest) -> Result<Self, ApiError> {
        Ok(Self {
            agent_key: not_null("agent_key", body.agent_key)?,
            name: body.name,
            config_id: not_null("config_id", body.config_id)?.map(AgentConfigId::from_uuid),
            configuration: not_null("configuration", body.configuration)?.map(Value::Object),
        })
    }
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAgentsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Case-insensitive search in the agent key (no control characters).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// `agent_key`, `-agent_key`, `created_at` or `-created_at` (the default).
    #[param(pattern = "^-?(agent_key|created_at)$")]
    pub sort: Option<String>,
    /// Only agents in this status.
    #[param(value_type = Option<AgentStatusName>)]
    pub status: Option<String>,
    /// Only agents whose configuration has this type.
    #[param(value_type = Option<AgentTypeName>)]
    pub agent_type: Option<String>,
    /// Only agents of this configuration.
    pub config_id: Option<Uuid>,
    /// Deleted agents too (needs agents:delete).
    #[param(value_type = Option<bool>, default = false)]
    pub include_deleted: Option<String>,
}

impl ListRequest for ListAgentsQuery {
    type Filter = AgentFilter;

    fn parse(self) -> Result<(ListParams, AgentFilter), ApiError> {
        let params = list_params(
            self.limit.as_deref(),
            self.offset.as_deref(),
            self.q,
            self.sort,
            self.include_deleted.as_deref(),
        )?;
        let filter = AgentFilter {
            status: self
                .status
                .as_deref()
                .map(|s| AgentStatus::parse("status", s))
                .transpose()?,
            agent_type: self
                .agent_type
                .as_deref()
                .map(|t| AgentType::parse("agent_type", t))
                .transpose()?,
            config_id: self.config_id.map(AgentConfigId::from_uuid),
        };
        Ok((params, filter))
    }
}

/// The agent's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AgentPath {
    pub agent_id: Uuid,
}

resource_endpoints! {
    service: agents,
    id: AgentId,
    body: AgentBody,
    create: CreateAgentRequest,
    patch: UpdateAgentRequest,
    query: ListAgentsQuery,
    path: AgentPath => agent_id,
    tag: "agents",
    collection: "/api/v1/agents",
    item: "/api/v1/agents/{agent_id}",
    restore: "/api/v1/agents/{agent_id}/restore",
    read: "agents:read",
    write: "agents:write",
    remove: "agents:delete",
    write_permission: bulkhead_domain::Permission::AgentsWrite,
    docs: {
        list: "List the organization's agents (agents:read).",
        list_ok: "A page of agents",
        create: "Create an agent on a live configuration of the organization (agents:write). With an\n`Idempotency-Key` header, a retry with the same key and body returns the first response\nwithout creating again.",
        key: "Makes retries safe: same key and body, same response, one agent (kept 24 hours); 1 to 255 visible ASCII characters",
        location: "The new agent's URL",
        get: "Read an agent (agents:read). Another organization's agent is 404, like a missing one.",
        get_ok: "The agent",
        update: "Change an agent's key, name, configuration or settings (agents:write). Send\n`If-Match: \"<version>\"` to change it only if nobody did since you read it.",
        update_ok: "The updated agent",
        delete: "Delete an agent (agents:delete); its runs stay readable. It can be restored until purged.",
        restore: "Bring back a deleted agent (agents:delete), if its configuration is live.",
    },
}

/// The extra routes: pause and resume.
pub(crate) fn extra_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(route("/api/v1/agents/{agent_id}/pause")).route(web::post().to(pause)),
    )
    .service(
        web::resource(route("/api/v1/agents/{agent_id}/resume")).route(web::post().to(resume)),
    );
}

/// Pause an agent (agents:write): it starts no new runs, and running ones finish. 409 if it is
/// paused already.
#[utoipa::path(
    post, path = "/api/v1/agents/{agent_id}/pause", extensions(("x-permission" = json!("agents:write"))), tag = "agents", params(AgentPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The agent, paused", body = AgentBody, headers(("etag" = String, description = "The new version"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 412, response = responses::PreconditionFailed),
    )
)]
pub(crate) async fn pause(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<AgentPath>,
) -> Result<HttpResponse, ApiError> {
    let id = AgentId::from_uuid(path.agent_id);
    let agent = state.agents.pause(&scope, id, if_match(&req)?).await?;
    Ok(respond::<_, AgentBody>(HttpResponse::Ok(), agent))
}

/// Resume a paused agent (agents:write). 409 if it is not paused.
#[utoipa::path(
    post, path = "/api/v1/agents/{agent_id}/resume", extensions(("x-permission" = json!("agents:write"))), tag = "agents", params(AgentPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The agent, idle again", body = AgentBody, headers(("etag" = String, description = "The new version"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 412, response = responses::PreconditionFailed),
    )
)]
pub(crate) async fn resume(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<AgentPath>,
) -> Result<HttpResponse, ApiError> {
    let id = AgentId::from_uuid(path.agent_id);
    let agent = state.agents.resume(&scope, id, if_match(&req)?).await?;
    Ok(respond::<_, AgentBody>(HttpResponse::Ok(), agent))
}
