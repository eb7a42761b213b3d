//! `/agent-configs`: how the organization's agents call a model, on the resource kit, with
//! activation, the write-only provider credential, behaviour versions and the tool catalogue.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::AgentConfigId;
use bulkhead_domain::agent_configs::{
    AgentConfig, AgentConfigFilter, AgentConfigVersion, AgentType, CreateAgentConfig,
    UpdateAgentConfig,
};
use bulkhead_domain::resource::ListParams;
use bulkhead_domain::{DocumentId, ProjectId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Auth, Json, bool_param, if_match};
use crate::pagination::ListBody;
use crate::problem::{ApiError, responses};
use crate::resource::{
    ListRequest, list_params, not_null, present, resource_endpoints, respond, route,
};

/// What an agent is for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentTypeName {
    Rfp,
    Jira,
    Documentation,
    Hr,
    Finance,
    Custom,
}

impl AgentTypeName {
    fn name(self) -> &'static str {
        match self {
            Self::Rfp => "rfp",
            Self::Jira => "jira",
            Self::Documentation => "documentation",
            Self::Hr => "hr",
            Self::Finance => "finance",
            Self::Custom => "custom",
        }
    }
}

/// Who executes the runs: `echo` (built in, answers with its input) or any
/// `openai_compatible` chat-completions service at `base_url`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderName {
    Echo,
    OpenaiCompatible,
}

impl ProviderName {
    fn name(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::OpenaiCompatible => "openai_compatible",
        }
    }
}

/// An agent configuration. The provider credential is never shown: `has_credential` says
/// whether one is stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentConfigBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "RFP writer")]
    pub name: String,
    #[schema(example = "rfp")]
    pub agent_type: &'static str,
    pub project_id: Option<Uuid>,
    #[schema(example = "openai_compatible")]
    pub provider: &'static str,
    #[schema(example = "gpt-4o-mini")]
    pub model: String,
    #[schema(example = 0.7)]
    pub temperature: f64,
    #[schema(example = 1024)]
    pub max_tokens: i32,
    pub system_prompt: String,
    /// Tool names from `GET /agent-tools`.
    pub tools: Vec<&'static str>,
    #[schema(example = "https://api.openai.com/v1")]
    pub base_url: Option<String>,
    /// The number of the current behaviour version (`GET …/versions`); runs record it.
    pub behaviour_version: i64,
    /// Inactive configurations start no runs and are listed only with `include_inactive`.
    pub active: bool,
    /// Whether a provider credential is stored (it is never returned).
    pub has_credential: bool,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub credential_changed_at: Option<DateTime<Utc>>,
    /// The documents its conversations' replies draw on (its knowledge base).
    pub knowledge_document_ids: Vec<Uuid>,
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

impl From<AgentConfig> for AgentConfigBody {
    fn from(c: AgentConfig) -> Self {
        let b = &c.behaviour;
        Self {
            id: c.id.as_uuid(),
            organization_id: c.organization_id.as_uuid(),
            name: c.name.clone(),
            agent_type: c.agent_type.as_str(),
            project_id: c.project_id.map(|p| p.as_uuid()),
            provider: b.provider.as_str(),
            model: b.model.clone(),
            temperature: b.temperature.get(),
            max_tokens: b.max_tokens.get(),
            system_prompt: b.system_prompt.as_str().to_owned(),
            tools: b.tools.iter().map(|t| t.as_str()).collect(),
            base_url: b.base_url.as_ref().map(|u| u.as_str().to_owned()),
            behaviour_version: c.behaviour_version,
            active: c.active,
            has_credential: c.credential.is_some(),
            credential_changed_at: c.credential_changed_at,
            knowledge_document_ids: c.knowledge.iter().map(|d| d.as_uuid()).collect(),
            created_by: c.created_by.as_uuid(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
            deleted_at: c.deleted_at,
        }
    }
}

/// A new configuration. `base_url` is required for `openai_compatible` and refused for `echo`;
/// it must fall under the deployment's allowed provider URLs and resolve to a public address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentConfigRequest {
    /// Unique in the organization regardless of case.
    #[schema(
        example = "RFP writer",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    pub agent_type: AgentTypeName,
    /// `echo` if absent.
    pub provider: Option<ProviderName>,
    #[schema(
        example = "gpt-4o-mini",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub model: String,
    /// 0.7 if absent.
    #[schema(minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f64>,
    /// 1,024 if absent.
    #[schema(minimum = 1, maximum = 32768)]
    pub max_tokens: Option<i64>,
    /// At most 32 KiB of UTF-8; newlines and tabs are the only control characters accepted.
    #[schema(
        max_length = 32768,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub system_prompt: Option<String>,
    /// Names from `GET /agent-tools`.
    #[serde(default)]
    pub tools: Vec<ToolName>,
    /// A live project of the organization.
    pub project_id: Option<Uuid>,
    #[schema(example = "https://api.openai.com/v1", max_length = 2048)]
    pub base_url: Option<String>,
    /// Live documents of the organization (at most 20) whose text its conversations' replies
    /// draw on.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub knowledge_document_ids: Vec<Uuid>,
}

/// A tool name from the catalogue (`GET /agent-tools`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolName {
    Calculator,
    DocumentSearch,
    JiraSearch,
    WebSearch,
    Notes,
}

impl ToolName {
    fn name(self) -> &'static str {
        match self {
            Self::Calculator => "calculator",
            Self::DocumentSearch => "document_search",
            Self::JiraSearch => "jira_search",
            Self::WebSearch => "web_search",
            Self::Notes => "notes",
        }
    }
}

fn tool_names(tools: &[ToolName]) -> Vec<String> {
    tools.iter().map(|t| t.name().to_owned()).collect()
}

impl From<CreateAgentConfigRequest> for CreateAgentConfig {
    fn from(body: CreateAgentConfigRequest) -> Self {
        Self {
            name: body.name,
            agent_type: body.agent_type.name().to_owned(),
            provider: body.provider.map(|p| p.name().to_owned()),
            model: body.model,
            temperature: body.temperature,
            max_tokens: body.max_tokens,
            system_prompt: body.system_prompt,
            tools: tool_names(&body.tools),
            project_id: body.project_id.map(ProjectId::from_uuid),
            base_url: body.base_url,
            knowledge_document_ids: body
                .knowledge_document_ids
                .into_iter()
                .map(DocumentId::from_uuid)
                .collect(),
        }
    }
}

/// A partial update: absent fields stay as they are; `project_id` and `base_url` may be
/// cleared with `null`. A change of provider, model, temperature, max tokens, prompt, tools or
/// base URL makes a new behaviour version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgentConfigRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = AgentTypeName)]
    pub agent_type: Option<Option<AgentTypeName>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = ProviderName)]
    pub provider: Option<Option<ProviderName>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub model: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = f64, minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = i64, minimum = 1, maximum = 32768)]
    pub max_tokens: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 32768, pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$")]
    pub system_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<ToolName>)]
    pub tools: Option<Option<Vec<ToolName>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub project_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub base_url: Option<Option<String>>,
    /// A new knowledge base (the whole list; `[]` empties it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<Uuid>, max_items = 20)]
    pub knowledge_document_ids: Option<Option<Vec<Uuid>>>,
}

impl TryFrom<UpdateAgentConfigRequest> for UpdateAgentConfig {
    type Error = ApiError;

    fn try_from(body: UpdateAgentConfigRequest) -> Result<Self, ApiError> {
        Ok(Self {
            name: not_null("name", body.name)?,
            agent_type: not_null("agent_type", body.agent_type)?.map(|t| t.name().to_owned()),
            provider: not_null("provider", body.provider)?.map(|p| p.name().to_owned()),
            model: not_null("model", body.model)?,
            temperature: not_null("temperature", body.temperature)?,
            max_tokens: not_null("max_tokens", body.max_tokens)?,
            system_prompt: not_null("system_prompt", body.system_prompt)?,
            tools: not_null("tools", body.tools)?.map(|t| tool_names(&t)),
            project_id: body.project_id.map(|p| p.map(ProjectId::from_uuid)),
            base_url: body.base_url,
            knowledge_document_ids: not_null(
                "knowledge_document_ids",
                body.knowledge_document_ids,
            )?
            .map(|ids| ids.into_iter().map(DocumentId::from_uuid).collect()),
        })
    }
}

/// List parameters. Integers and booleans arrive as text so that a bad one is reported by name.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAgentConfigsQuery {
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
    /// Only configurations of this type.
    #[param(value_type = Option<AgentTypeName>)]
    pub agent_type: Option<String>,
    /// Only configurations of this project.
    pub project_id: Option<Uuid>,
    /// Inactive configurations too.
    #[param(value_type = Option<bool>, default = false)]
    pub include_inactive: Option<String>,
    /// Deleted configurations too (needs agents:configure).
    #[param(value_type = Option<bool>, default = false)]
    pub include_deleted: Option<String>,
}

impl ListRequest for ListAgentConfigsQuery {
    type Filter = AgentConfigFilter;

    fn parse(self) -> Result<(ListParams, AgentConfigFilter), ApiError> {
        let params = list_params(
            self.limit.as_deref(),
            self.offset.as_deref(),
            self.q,
            self.sort,
            self.include_deleted.as_deref(),
        )?;
        let filter = AgentConfigFilter {
            agent_type: self
                .agent_type
                .as_deref()
                .map(|t| AgentType::parse("agent_type", t))
                .transpose()?,
            project_id: self.project_id.map(ProjectId::from_uuid),
            include_inactive: bool_param("include_inactive", self.include_inactive.as_deref())?,
        };
        Ok((params, filter))
    }
}

/// The configuration's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AgentConfigPath {
    pub config_id: Uuid,
}

resource_endpoints! {
    service: agent_configs,
    id: AgentConfigId,
    body: AgentConfigBody,
    create: CreateAgentConfigRequest,
    patch: UpdateAgentConfigRequest,
    query: ListAgentConfigsQuery,
    path: AgentConfigPath => config_id,
    tag: "agents",
    collection: "/api/v1/agent-configs",
    item: "/api/v1/agent-configs/{config_id}",
    restore: "/api/v1/agent-configs/{config_id}/restore",
    read: "agents:read",
    write: "agents:configure",
    remove: "agents:configure",
    write_permission: bulkhead_domain::Permission::AgentsConfigure,
    docs: {
        list: "List the organization's active agent configurations (agents:read); `include_inactive=true` adds\ninactive ones.",
        list_ok: "A page of configurations",
        create: "Create an agent configuration (agents:configure). With an `Idempotency-Key` header, a retry\nwith the same key and body returns the first response without creating again.",
        key: "Makes retries safe: same key and body, same response, one configuration (kept 24 hours); 1 to 255 visible ASCII characters",
        location: "The new configuration's URL",
        get: "Read an agent configuration (agents:read). Another organization's is 404, like a missing one.",
        get_ok: "The configuration",
        update: "Change an agent configuration (agents:configure). A change of behaviour (provider, model,\ntemperature, max tokens, prompt, tools, base URL) makes a new numbered version. Send\n`If-Match: \"<version>\"` to change it only if nobody did since you read it.",
        update_ok: "The updated configuration",
        delete: "Delete an agent configuration (agents:configure); refused (409) while live agents use it.",
        restore: "Bring back a deleted agent configuration (agents:configure).",
    },
}

/// The extra routes: activation, the credential, versions and the tool catalogue.
pub(crate) fn extra_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(route("/api/v1/agent-configs/{config_id}/activate"))
            .route(web::post().to(activate)),
    )
    .service(
        web::resource(route("/api/v1/agent-configs/{config_id}/deactivate"))
            .route(web::post().to(deactivate)),
    )
    .service(
        web::resource(route("/api/v1/agent-configs/{config_id}/credential"))
            .route(web::put().to(set_credential))
            .route(web::delete().to(remove_credential)),
    )
    .service(
        web::resource(route("/api/v1/agent-configs/{config_id}/versions"))
            .route(web::get().to(versions)),
    )
    .service(web::resource(route("/api/v1/agent-tools")).route(web::get().to(tools)));
}

/// Let the configuration's agents run again (agents:configure).
#[utoipa::path(
    post, path = "/api/v1/agent-configs/{config_id}/activate", extensions(("x-permission" = json!("agents:configure"))), tag = "agents", params(AgentConfigPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The configuration, active", body = AgentConfigBody, headers(("etag" = String, description = "The new version"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 412, response = responses::PreconditionFailed),
    )
)]
pub(crate) async fn activate(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<AgentConfigPath>,
) -> Result<HttpResponse, ApiError> {
    let id = AgentConfigId::from_uuid(path.config_id);
    let config = state
        .agent_configs
        .activate(&scope, id, if_match(&req)?)
        .await?;
    Ok(respond::<_, AgentConfigBody>(HttpResponse::Ok(), config))
}

/// Stop the configuration's agents from starting runs (agents:configure); running ones finish.
#[utoipa::path(
    post, path = "/api/v1/agent-configs/{config_id}/deactivate", extensions(("x-permission" = json!("agents:configure"))), tag = "agents", params(AgentConfigPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The configuration, inactive", body = AgentConfigBody, headers(("etag" = String, description = "The new version"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 412, response = responses::PreconditionFailed),
    )
)]
pub(crate) async fn deactivate(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<AgentConfigPath>,
) -> Result<HttpResponse, ApiError> {
    let id = AgentConfigId::from_uuid(path.config_id);
    let config = state
        .agent_configs
        .deactivate(&scope, id, if_match(&req)?)
        .await?;
    Ok(respond::<_, AgentConfigBody>(HttpResponse::Ok(), config))
}

/// The provider's API key. Write-only: no endpoint ever returns it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialRequest {
    #[schema(
        example = "sk-...",
        min_length = 1,
        max_length = 4096,
        pattern = "^[!-~]+$"
    )]
    pub api_key: String,
}

/// Store the provider's API key (agents:configure), sealed with AES-256-GCM; the audit trail
/// records that it changed, never the key. 409 when the deployment has no secrets key.
#[utoipa::path(
    put, path = "/api/v1/agent-configs/{config_id}/credential", extensions(("x-permission" = json!("agents:configure"))), tag = "agents", params(AgentConfigPath), request_body = CredentialRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "Stored"),
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
pub(crate) async fn set_credential(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<AgentConfigPath>,
    Json(body): Json<CredentialRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = AgentConfigId::from_uuid(path.config_id);
    state
        .agent_configs
        .set_credential(&scope, id, &body.api_key)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove the provider's API key (agents:configure).
#[utoipa::path(
    delete, path = "/api/v1/agent-configs/{config_id}/credential", extensions(("x-permission" = json!("agents:configure"))), tag = "agents", params(AgentConfigPath), security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed, or there was none"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn remove_credential(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<AgentConfigPath>,
) -> Result<HttpResponse, ApiError> {
    let id = AgentConfigId::from_uuid(path.config_id);
    state.agent_configs.remove_credential(&scope, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One numbered, immutable version of a configuration's behaviour.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentConfigVersionBody {
    /// 1 for the settings it was created with, one more per change of behaviour.
    pub number: i64,
    /// provider, model, temperature, max_tokens, system_prompt, tools and base_url as they were.
    #[schema(value_type = Object, additional_properties = true)]
    pub settings: Value,
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<AgentConfigVersion> for AgentConfigVersionBody {
    fn from(v: AgentConfigVersion) -> Self {
        Self {
            number: v.number,
            settings: v.settings,
            created_by: v.created_by.as_uuid(),
            created_at: v.created_at,
        }
    }
}

/// Every version of a configuration's behaviour, newest first (agents:read).
#[utoipa::path(
    get, path = "/api/v1/agent-configs/{config_id}/versions", extensions(("x-permission" = json!("agents:read"))), tag = "agents", params(AgentConfigPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The versions", body = ListBody<AgentConfigVersionBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn versions(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<AgentConfigPath>,
) -> Result<HttpResponse, ApiError> {
    let id = AgentConfigId::from_uuid(path.config_id);
    let data = state
        .agent_configs
        .versions(&scope, id)
        .await?
        .into_iter()
        .map(AgentConfigVersionBody::from)
        .collect();
    Ok(HttpResponse::Ok().json(ListBody { data }))
}

/// A tool of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolBody {
    #[schema(example = "calculator")]
    pub name: &'static str,
    pub description: &'static str,
}

/// The tools a configuration may give its agents (agents:read).
#[utoipa::path(
    get, path = "/api/v1/agent-tools", extensions(("x-permission" = json!("agents:read"))), tag = "agents", security(("bearer" = [])),
    responses(
        (status = 200, description = "The catalogue", body = ListBody<ToolBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn tools(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let data = state
        .agent_configs
        .tools(&scope)
        .await?
        .iter()
        .map(|t| ToolBody {
            name: t.as_str(),
            description: t.description(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListBody { data }))
}
