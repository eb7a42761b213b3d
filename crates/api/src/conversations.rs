//! `/conversations`: a member's private conversations with the organization's agents, on the
//! resource kit; their messages (posting one starts a reply run) and their events.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::conversations::{
    Conversation, ConversationEvent, ConversationFilter, CreateConversation, Message,
    UpdateConversation,
};
use bulkhead_domain::resource::ListParams;
use bulkhead_domain::{AgentConfigId, ConversationId, MessageId, Permission, ProjectId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::event_stream::{self, Event, EventsQuery};
use crate::extract::{Auth, Json, bool_param, int_param};
use crate::pagination::ListBody;
use crate::problem::{ApiError, responses};
use crate::resource::{ListRequest, list_params, not_null, present, resource_endpoints, route};
use crate::runs::RunBody;

/// A conversation. Only the member who started it can read it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "Quarterly plan")]
    pub title: String,
    /// The agent configuration that replies; null: nobody replies.
    pub agent_config_id: Option<Uuid>,
    /// The project it is about.
    pub project_id: Option<Uuid>,
    #[schema(value_type = Object, additional_properties = true)]
    pub context: Map<String, Value>,
    /// Live messages.
    pub message_count: i64,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub last_message_at: Option<DateTime<Utc>>,
    pub archived: bool,
    /// The reply run started most recently.
    pub reply_run_id: Option<Uuid>,
    /// Its owner: the member who started it.
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change of its own fields (not by messages); also the `ETag`.
    pub version: i64,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Conversation> for ConversationBody {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id.as_uuid(),
            organization_id: c.organization_id.as_uuid(),
            title: c.title.clone(),
            agent_config_id: c.agent_config_id.map(|a| a.as_uuid()),
            project_id: c.project_id.map(|p| p.as_uuid()),
            context: c.context.as_map().clone(),
            message_count: c.message_count,
            last_message_at: c.last_message_at,
            archived: c.archived,
            reply_run_id: c.reply_run_id.map(|r| r.as_uuid()),
            created_by: c.created_by.as_uuid(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
            deleted_at: c.deleted_at,
        }
    }
}

/// A new conversation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversationRequest {
    #[schema(
        example = "Quarterly plan",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub title: String,
    /// A live agent configuration of the organization, which replies to every message.
    pub agent_config_id: Option<Uuid>,
    /// A live project of the organization.
    pub project_id: Option<Uuid>,
    /// A JSON object of at most 16 KiB; `{}` if absent.
    #[schema(value_type = Option<Object>, additional_properties = true)]
    pub context: Option<Map<String, Value>>,
}

impl From<CreateConversationRequest> for CreateConversation {
    fn from(body: CreateConversationRequest) -> Self {
        Self {
            title: body.title,
            agent_config_id: body.agent_config_id.map(AgentConfigId::from_uuid),
            project_id: body.project_id.map(ProjectId::from_uuid),
            context: body.context.map(Value::Object),
        }
    }
}

/// A partial update: the title and the archive flag.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversationRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool)]
    pub archived: Option<Option<bool>>,
}

impl TryFrom<UpdateConversationRequest> for UpdateConversation {
    type Error = ApiError;

    fn try_from(body: UpdateConversationRequest) -> Result<Self, ApiError> {
        Ok(Self {
            title: not_null("title", body.title)?,
            archived: not_null("archived", body.archived)?,
        })
    }
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListConversationsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Case-insensitive search in the title (no control characters).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// `title`, `last_message_at` or `created_at` (the default, newest first), `-` for
    /// descending.
    #[param(pattern = "^-?(title|last_message_at|created_at)$")]
    pub sort: Option<String>,
    /// Only archived (`true`) or only active (`false`) conversations.
    #[param(value_type = Option<bool>)]
    pub archived: Option<String>,
    /// Only conversations with this agent configuration.
    pub agent_config_id: Option<Uuid>,
    /// Deleted conversations too.
    #[param(value_type = Option<bool>, default = false)]
    pub include_deleted: Option<String>,
}

impl ListRequest for ListConversationsQuery {
    type Filter = ConversationFilter;

    fn parse(self) -> Result<(ListParams, ConversationFilter), ApiError> {
        let params = list_params(
            self.limit.as_deref(),
            self.offset.as_deref(),
            self.q,
            self.sort,
            self.include_deleted.as_deref(),
        )?;
        let archived = match self.archived.as_deref() {
            None => None,
            raw => Some(bool_param("archived", raw)?),
        };
        Ok((
            params,
            ConversationFilter {
                archived,
                agent_config_id: self.agent_config_id.map(AgentConfigId::from_uuid),
            },
        ))
    }
}

/// The conversation's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConversationPath {
    pub conversation_id: Uuid,
}

resource_endpoints! {
    service: conversations,
    id: ConversationId,
    body: ConversationBody,
    create: CreateConversationRequest,
    patch: UpdateConversationRequest,
    query: ListConversationsQuery,
    path: ConversationPath => conversation_id,
    tag: "conversations",
    collection: "/api/v1/conversations",
    item: "/api/v1/conversations/{conversation_id}",
    restore: "/api/v1/conversations/{conversation_id}/restore",
    read: "conversations:use",
    write: "conversations:use",
    remove: "conversations:use",
    write_permission: bulkhead_domain::Permission::ConversationsUse,
    docs: {
        list: "List your own conversations (conversations:use; people only, not API keys). Nobody\nelse's appear, admins' and owners' included.",
        list_ok: "A page of your conversations",
        create: "Start a conversation (conversations:use; people only), optionally with an agent\nconfiguration that replies to each message and a project it is about. With an\n`Idempotency-Key` header, a retry with the same key and body returns the first response\nwithout creating again.",
        key: "Makes retries safe: same key and body, same response, one conversation (kept 24 hours); 1 to 255 visible ASCII characters",
        location: "The new conversation's URL",
        get: "Read one of your conversations (conversations:use). Anyone else's, in your organization\nor another, is 404, like a missing one.",
        get_ok: "The conversation",
        update: "Rename, archive or unarchive one of your conversations (conversations:use). Send\n`If-Match: \"<version>\"` to change it only if you did not since you read it.",
        update_ok: "The updated conversation",
        delete: "Delete one of your conversations (conversations:use), with its messages. It can be\nrestored until purged.",
        restore: "Bring back one of your deleted conversations (conversations:use).",
    },
}

/// The extra routes: messages and events.
pub(crate) fn extra_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(route("/api/v1/conversations/{conversation_id}/messages"))
            .route(web::get().to(messages))
            .route(web::post().to(post)),
    )
    .service(
        web::resource(route(
            "/api/v1/conversations/{conversation_id}/messages/{message_id}",
        ))
        .route(web::get().to(message))
        .route(web::delete().to(delete_message)),
    )
    .service(
        web::resource(route("/api/v1/conversations/{conversation_id}/events"))
            .route(web::get().to(events)),
    );
}

/// Who a message is from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageRoleName {
    User,
    Assistant,
    System,
    Tool,
}

/// One message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// 1, 2, ... in the conversation, with no gap; deleted messages keep theirs.
    pub seq: i64,
    #[schema(value_type = MessageRoleName)]
    pub role: &'static str,
    pub content: String,
    /// The client's metadata; a reply's holds its `run_id` and `sources`.
    #[schema(value_type = Object, additional_properties = true)]
    pub metadata: Map<String, Value>,
    /// A reply: the run that wrote it; a user's message: the reply run it started.
    pub run_id: Option<Uuid>,
    /// Waits for the running reply to end before it is answered (`on_busy: enqueue`).
    pub awaiting_reply: bool,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Message> for MessageBody {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.as_uuid(),
            conversation_id: m.conversation_id.as_uuid(),
            seq: m.seq,
            role: m.role.as_str(),
            content: m.content.as_str().to_owned(),
            metadata: m.metadata.as_map().clone(),
            run_id: m.run_id.map(|r| r.as_uuid()),
            awaiting_reply: m.awaiting_reply,
            created_at: m.created_at,
            deleted_at: m.deleted_at,
        }
    }
}

/// What a message posted while a reply is still running does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnBusyName {
    Reject,
    Enqueue,
    Interrupt,
}

/// A message to post. Clients post only as `user`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageRequest {
    /// 1 byte to 32 KiB of text; line breaks allowed.
    #[schema(min_length = 1, max_length = 32768, pattern = "\\S")]
    pub content: String,
    /// A JSON object of at most 4 KiB. The `echo` provider's reply waits `metadata.delay_ms`.
    #[schema(value_type = Option<Object>, additional_properties = true)]
    pub metadata: Option<Map<String, Value>>,
    /// While a reply is still running: `reject` (409, the default), `enqueue` (answered once it
    /// ends) or `interrupt` (it is cancelled and this message answered).
    #[schema(value_type = Option<OnBusyName>)]
    pub on_busy: Option<String>,
}

/// A posted message, and the reply run it started.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostedBody {
    pub message: MessageBody,
    /// The reply run (`GET /runs/{id}`, its events at `/runs/{id}/events`); null without an
    /// agent configuration, or while the message waits its turn.
    pub run: Option<RunBody>,
}

/// Post a message to one of your conversations (conversations:use). With an agent
/// configuration the answer is 202 and a reply run starts (or, with `on_busy: enqueue` while a
/// reply runs, the message waits and is answered next); the assistant's message is appended
/// when the run succeeds. Without one, 201. A reply still running refuses the message with 409
/// unless `on_busy` says otherwise. With an `Idempotency-Key` header, a retry with the same
/// key and body returns the first response without posting again.
#[utoipa::path(
    post, path = "/api/v1/conversations/{conversation_id}/messages", extensions(("x-permission" = json!("conversations:use"))), tag = "conversations", params(ConversationPath, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe: same key and body, same response, one message (kept 24 hours)")), request_body = PostMessageRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored; nobody replies", body = PostedBody, headers(("location" = String, description = "The message's URL"))),
        (status = 202, description = "Stored; a reply run is queued, or the message waits its turn", body = PostedBody, headers(("location" = String, description = "The message's URL"))),
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
pub(crate) async fn post(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<ConversationPath>,
    Json(body): Json<PostMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let conversation = ConversationId::from_uuid(path.conversation_id);
    crate::idempotency::once(
        &state,
        &scope,
        Permission::ConversationsUse,
        &req,
        || async {
            let posted = state
                .conversations
                .post(
                    &scope,
                    conversation,
                    &body.content,
                    body.metadata.clone().map(Value::Object),
                    body.on_busy.as_deref(),
                )
                .await?;
            let mut builder = if posted.reply.is_some() || posted.message.awaiting_reply {
                HttpResponse::Accepted()
            } else {
                HttpResponse::Created()
            };
            Ok(builder
                .insert_header((
                    LOCATION,
                    format!(
                        "/api/v1/conversations/{conversation}/messages/{}",
                        posted.message.id
                    ),
                ))
                .json(PostedBody {
                    message: posted.message.into(),
                    run: posted.reply.map(RunBody::from),
                }))
        },
    )
    .await
}

/// Message list parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// Only messages after this sequence number (default 0: from the start).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Most messages, 1 to 100 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// List a conversation's live messages in order, after `after` (conversations:use).
#[utoipa::path(
    get, path = "/api/v1/conversations/{conversation_id}/messages", extensions(("x-permission" = json!("conversations:use"))), tag = "conversations", params(ConversationPath, ListMessagesQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The messages", body = ListBody<MessageBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn messages(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<ConversationPath>,
    query: web::Query<ListMessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let after = int_param("after", query.after.as_deref())?.unwrap_or(0);
    let limit = int_param("limit", query.limit.as_deref())?;
    let messages = state
        .conversations
        .messages(
            &scope,
            ConversationId::from_uuid(path.conversation_id),
            after,
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ListBody::<MessageBody>::from_items(messages)))
}

/// The conversation's and the message's ids in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MessagePath {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
}

/// Read one message (conversations:use).
#[utoipa::path(
    get, path = "/api/v1/conversations/{conversation_id}/messages/{message_id}", extensions(("x-permission" = json!("conversations:use"))), tag = "conversations", params(MessagePath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The message", body = MessageBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn message(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<MessagePath>,
) -> Result<HttpResponse, ApiError> {
    let message = state
        .conversations
        .message(
            &scope,
            ConversationId::from_uuid(path.conversation_id),
            MessageId::from_uuid(path.message_id),
        )
        .await?;
    Ok(HttpResponse::Ok().json(MessageBody::from(message)))
}

/// Delete one message (conversations:use). Messages are otherwise append-only; its sequence
/// number is never reused.
#[utoipa::path(
    delete, path = "/api/v1/conversations/{conversation_id}/messages/{message_id}", extensions(("x-permission" = json!("conversations:use"))), tag = "conversations", params(MessagePath), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn delete_message(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<MessagePath>,
) -> Result<HttpResponse, ApiError> {
    state
        .conversations
        .delete_message(
            &scope,
            ConversationId::from_uuid(path.conversation_id),
            MessageId::from_uuid(path.message_id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Kinds of conversation events.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationEventKindName {
    Message,
    Delta,
    Reply,
}

/// One event of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationEventBody {
    /// 1, 2, ... in order: the SSE `id`, and what `after` and `Last-Event-ID` take.
    pub seq: i64,
    #[schema(value_type = ConversationEventKindName)]
    pub kind: &'static str,
    #[schema(value_type = Object, additional_properties = true)]
    pub data: Value,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub at: DateTime<Utc>,
}

impl From<ConversationEvent> for ConversationEventBody {
    fn from(e: ConversationEvent) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str(),
            data: e.data,
            at: e.at,
        }
    }
}

impl From<ConversationEvent> for Event {
    fn from(e: ConversationEvent) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str(),
            data: e.data,
            // A conversation goes on; its stream ends only when the client leaves.
            terminal: false,
        }
    }
}

/// A conversation's events (conversations:use): `message` (a message appended; data is the
/// message), `delta` (a piece of a running reply's text: `run_id`, `text`) and `reply` (a
/// reply run's status: `run_id`, `status`, `error`). With `Accept: text/event-stream`:
/// Server-Sent Events (`id` = sequence number), resuming after `Last-Event-ID`, with
/// keep-alive comments. Otherwise a JSON page of events after `after`.
#[utoipa::path(
    get, path = "/api/v1/conversations/{conversation_id}/events", extensions(("x-permission" = json!("conversations:use"))), tag = "conversations", params(ConversationPath, EventsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The events: a JSON page, or with `Accept: text/event-stream` a stream of them", content(
            (ListBody<ConversationEventBody> = "application/json"),
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
    path: web::Path<ConversationPath>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = ConversationId::from_uuid(path.conversation_id);
    let reader = state.clone();
    event_stream::answer::<_, ConversationEventBody, _, _>(
        state,
        &req,
        &query,
        id.as_uuid(),
        move |after, limit| {
            let (state, scope) = (reader.clone(), scope.clone());
            async move { state.conversations.events(&scope, id, after, limit).await }
        },
    )
    .await
}
