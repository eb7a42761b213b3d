//! Conversations in SQL (migration 22): the `conversations` table on the kit, as private rows;
//! messages and the conversation's events; and what a reply run's progress writes into its
//! conversation, from the worker's units of work.
//!
//! Every statement names the owner (`created_by`) as well as the organization. The worker
//! acts for the owner of the reply it executes: it sets `app.current_user` to the run's
//! creator, so on PostgreSQL the privacy policies admit exactly that member's conversation.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::conversations::{
    ConversationContext, ConversationEvent, ConversationEventKind, ConversationFields,
    ConversationFilter, Conversations, Message, MessageContent, MessageMetadata, MessageRepository,
    MessageRole, NewMessage, Posted, ReplyInput, ReplyPlan,
};
use bulkhead_domain::documents::SearchQuery;
use bulkhead_domain::resource::Record;
use bulkhead_domain::runs::{Run, RunInput, RunStatus};
use bulkhead_domain::{
    AgentConfigId, ConversationId, DocumentId, DomainError, DomainResult, MessageId, ProjectId,
    ResourceId, RunId, TenantScope, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult, Value};
use serde_json::{Map, json};
use uuid::Uuid;

use crate::agent_configs::AgentConfigTable;
use crate::error::{corrupt, to_domain};
use crate::events::Stream;
use crate::projects::ProjectTable;
use crate::resources::{Cells, SqlResources, TenantTable, newly_refers, require_reference};
use crate::run_rows;
use crate::store::Store;
use crate::tx::OrgTx;

/// The `conversations` table.
pub struct ConversationTable;

/// The kit's repository of conversations.
pub type SqlConversationRepository = SqlResources<ConversationTable>;

const CONVERSATIONS: &str = "conversations";
const MESSAGES: &str = "conversation_messages";
const EVENTS: &str = "conversation_events";

fn uuid_of<I: ResourceId>(id: Option<I>) -> Value {
    id.map(|i| i.as_uuid()).into()
}

#[async_trait]
impl TenantTable for ConversationTable {
    type Resource = Conversations;
    const TABLE: &'static str = CONVERSATIONS;
    const COLUMNS: &'static [&'static str] = &[
        "title",
        "agent_config_id",
        "project_id",
        "context",
        "message_count",
        "last_message_at",
        "archived",
        "reply_run_id",
    ];
    const SEARCH: Option<&'static str> = Some("title");
    const CONFLICT: &'static str = "the conversation conflicts with another";
    const PRIVATE: bool = true;

    fn read(cells: &mut Cells<'_>) -> DomainResult<ConversationFields> {
        let title: String = cells.take()?;
        let agent_config_id: Option<Uuid> = cells.take()?;
        let project_id: Option<Uuid> = cells.take()?;
        let context: String = cells.take()?;
        let context: serde_json::Value =
            serde_json::from_str(&context).map_err(corrupt("conversation context"))?;
        Ok(ConversationFields {
            title,
            agent_config_id: agent_config_id.map(AgentConfigId::from_uuid),
            project_id: project_id.map(ProjectId::from_uuid),
            context: ConversationContext::parse(context)
                .map_err(corrupt("conversation context"))?,
            message_count: cells.take()?,
            last_message_at: cells.take()?,
            archived: cells.take()?,
            reply_run_id: cells.take::<Option<Uuid>>()?.map(RunId::from_uuid),
        })
    }

    fn values(fields: &ConversationFields) -> Vec<Value> {
        vec![
            fields.title.clone().into(),
            uuid_of(fields.agent_config_id),
            uuid_of(fields.project_id),
            serde_json::Value::Object(fields.context.as_map().clone())
                .to_string()
                .into(),
            fields.message_count.into(),
            fields.last_message_at.into(),
            fields.archived.into(),
            uuid_of(fields.reply_run_id),
        ]
    }

    fn filter(filter: &ConversationFilter, mut condition: Condition) -> Condition {
        if let Some(archived) = filter.archived {
            condition = condition.add(Expr::col((CONVERSATIONS, "archived")).eq(archived));
        }
        if let Some(config) = filter.agent_config_id {
            condition =
                condition.add(Expr::col((CONVERSATIONS, "agent_config_id")).eq(config.as_uuid()));
        }
        condition
    }

    async fn guard(
        tx: &DatabaseTransaction,
        _: &Store,
        scope: &TenantScope,
        previous: Option<&Record<Conversations>>,
        next: &Record<Conversations>,
    ) -> DomainResult<()> {
        if let Some(config) = next.agent_config_id
            && newly_refers(previous, next, |f| f.agent_config_id)
        {
            require_reference::<AgentConfigTable>(
                tx,
                scope,
                config.as_uuid(),
                "agent_config_id",
                "agent configuration",
            )
            .await?;
        }
        if let Some(project) = next.project_id
            && newly_refers(previous, next, |f| f.project_id)
        {
            require_reference::<ProjectTable>(
                tx,
                scope,
                project.as_uuid(),
                "project_id",
                "project",
            )
            .await?;
        }
        Ok(())
    }
}

fn col(table: &'static str, column: &'static str) -> Expr {
    Expr::col((table, column))
}

/// The first row `select` finds, if any.
async fn first(
    tx: &DatabaseTransaction,
    select: &sea_orm::sea_query::SelectStatement,
) -> DomainResult<Option<QueryResult>> {
    tx.query_one_raw(tx.get_database_backend().build(select))
        .await
        .map_err(to_domain)
}

/// Conversation `id` of `owner` in the scope's organization.
fn the_conversation(scope: &TenantScope, owner: UserId, id: ConversationId) -> Condition {
    Condition::all()
        .add(col(CONVERSATIONS, "organization_id").eq(scope.organization_id().as_uuid()))
        .add(col(CONVERSATIONS, "id").eq(id.as_uuid()))
        .add(col(CONVERSATIONS, "created_by").eq(owner.as_uuid()))
}

/// The messages of conversation `id` in the scope's organization.
fn of_conversation(scope: &TenantScope, id: ConversationId) -> Condition {
    Condition::all()
        .add(col(MESSAGES, "organization_id").eq(scope.organization_id().as_uuid()))
        .add(col(MESSAGES, "conversation_id").eq(id.as_uuid()))
}

/// What a unit of work needs of the conversation it holds.
struct Held {
    agent_config_id: Option<AgentConfigId>,
    reply_run_id: Option<RunId>,
    live: bool,
}

/// Locks `owner`'s conversation `id` (live only, if `live_only`) for the rest of the unit of
/// work: messages and events get their sequence numbers under this lock.
async fn hold(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    owner: UserId,
    id: ConversationId,
    live_only: bool,
) -> DomainResult<Option<Held>> {
    let mut select = Query::select();
    select
        .columns([
            (CONVERSATIONS, "agent_config_id"),
            (CONVERSATIONS, "reply_run_id"),
            (CONVERSATIONS, "deleted_at"),
        ])
        .from(CONVERSATIONS)
        .cond_where(the_conversation(scope, owner, id))
        .lock_exclusive();
    if live_only {
        select.and_where(col(CONVERSATIONS, "deleted_at").is_null());
    }
    let Some(row) = first(tx, &select).await? else {
        return Ok(None);
    };
    Ok(Some(Held {
        agent_config_id: row
            .try_get_by_index::<Option<Uuid>>(0)
            .map_err(to_domain)?
            .map(AgentConfigId::from_uuid),
        reply_run_id: row
            .try_get_by_index::<Option<Uuid>>(1)
            .map_err(to_domain)?
            .map(RunId::from_uuid),
        live: row
            .try_get_by_index::<Option<DateTime<Utc>>>(2)
            .map_err(to_domain)?
            .is_none(),
    }))
}

/// [`DomainError::NotFound`] unless `owner` has live conversation `id`.
async fn require_visible(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    owner: UserId,
    id: ConversationId,
) -> DomainResult<()> {
    let select = Query::select()
        .column((CONVERSATIONS, "id"))
        .from(CONVERSATIONS)
        .cond_where(the_conversation(scope, owner, id))
        .and_where(col(CONVERSATIONS, "deleted_at").is_null())
        .to_owned();
    first(tx, &select)
        .await?
        .map(|_| ())
        .ok_or(DomainError::NotFound)
}

const MESSAGE_COLUMNS: [&str; 10] = [
    "id",
    "conversation_id",
    "seq",
    "role",
    "content",
    "metadata",
    "run_id",
    "awaiting_reply",
    "created_at",
    "deleted_at",
];

fn message(row: &QueryResult) -> DomainResult<Message> {
    let get = |i: usize| row.try_get_by_index::<String>(i).map_err(to_domain);
    let metadata: serde_json::Value =
        serde_json::from_str(&get(5)?).map_err(corrupt("message metadata"))?;
    let serde_json::Value::Object(metadata) = metadata else {
        return Err(DomainError::Internal(
            "stored message metadata is not an object".into(),
        ));
    };
    Ok(Message {
        id: MessageId::from_uuid(row.try_get_by_index(0).map_err(to_domain)?),
        conversation_id: ConversationId::from_uuid(row.try_get_by_index(1).map_err(to_domain)?),
        seq: row.try_get_by_index(2).map_err(to_domain)?,
        role: MessageRole::parse("role", &get(3)?).map_err(corrupt("message role"))?,
        content: MessageContent::reply(&get(4)?),
        metadata: MessageMetadata::server(metadata),
        run_id: row
            .try_get_by_index::<Option<Uuid>>(6)
            .map_err(to_domain)?
            .map(RunId::from_uuid),
        awaiting_reply: row.try_get_by_index(7).map_err(to_domain)?,
        created_at: row.try_get_by_index(8).map_err(to_domain)?,
        deleted_at: row.try_get_by_index(9).map_err(to_domain)?,
    })
}

fn select_messages() -> sea_orm::sea_query::SelectStatement {
    let mut select = Query::select();
    select.from(MESSAGES);
    for column in MESSAGE_COLUMNS {
        select.column((MESSAGES, column));
    }
    select
}

/// A message as its `message` event carries it.
fn message_event(m: &Message) -> serde_json::Value {
    json!({
        "id": m.id.to_string(),
        "conversation_id": m.conversation_id.to_string(),
        "seq": m.seq,
        "role": m.role.as_str(),
        "content": m.content.as_str(),
        "metadata": serde_json::Value::Object(m.metadata.as_map().clone()),
        "run_id": m.run_id.map(|r| r.to_string()),
        "awaiting_reply": m.awaiting_reply,
        "created_at": m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
}

async fn event(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    conversation: ConversationId,
    kind: ConversationEventKind,
    data: serde_json::Value,
) -> DomainResult<i64> {
    crate::events::append(
        tx,
        store.signals(),
        scope,
        Stream::new(EVENTS, "conversation_id", conversation.as_uuid()),
        kind.as_str(),
        data,
    )
    .await
}

/// One message to append.
struct Draft {
    id: MessageId,
    role: MessageRole,
    content: MessageContent,
    metadata: MessageMetadata,
    run_id: Option<RunId>,
    awaiting_reply: bool,
}

/// Appends a message to a conversation this unit of work holds: the next sequence number
/// (deleted messages keep theirs), the conversation's counts and its `message` event.
async fn append(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    conversation: ConversationId,
    draft: Draft,
) -> DomainResult<Message> {
    let org = scope.organization_id().as_uuid();
    let last = Query::select()
        .expr(Expr::cust("COALESCE(MAX(seq), 0)"))
        .from(MESSAGES)
        .cond_where(of_conversation(scope, conversation))
        .to_owned();
    let seq = crate::resources::scalar(tx, &last).await? + 1;
    let now = bulkhead_domain::now();
    let message = Message {
        id: draft.id,
        conversation_id: conversation,
        seq,
        role: draft.role,
        content: draft.content,
        metadata: draft.metadata,
        run_id: draft.run_id,
        awaiting_reply: draft.awaiting_reply,
        created_at: now,
        deleted_at: None,
    };
    let insert = Query::insert()
        .into_table(MESSAGES)
        .columns(["organization_id"].into_iter().chain(MESSAGE_COLUMNS))
        .values([
            Expr::val(org),
            Expr::val(message.id.as_uuid()),
            Expr::val(conversation.as_uuid()),
            Expr::val(seq),
            Expr::val(message.role.as_str()),
            Expr::val(message.content.as_str()),
            Expr::val(serde_json::Value::Object(message.metadata.as_map().clone()).to_string()),
            Expr::val(message.run_id.map(|r| r.as_uuid())),
            Expr::val(message.awaiting_reply),
            Expr::val(now),
            Expr::val(Option::<DateTime<Utc>>::None),
        ])
        .map_err(|e| DomainError::Internal(format!("message insert: {e}")))?
        .to_owned();
    let backend = tx.get_database_backend();
    tx.execute_raw(backend.build(&insert))
        .await
        .map_err(to_domain)?;
    let counts = Query::update()
        .table(CONVERSATIONS)
        .value("message_count", Expr::col("message_count").add(1))
        .value("last_message_at", now)
        .and_where(col(CONVERSATIONS, "organization_id").eq(org))
        .and_where(col(CONVERSATIONS, "id").eq(conversation.as_uuid()))
        .to_owned();
    tx.execute_raw(backend.build(&counts))
        .await
        .map_err(to_domain)?;
    event(
        tx,
        store,
        scope,
        conversation,
        ConversationEventKind::Message,
        message_event(&message),
    )
    .await?;
    Ok(message)
}

/// Whether run `id` is still queued or running.
async fn open(tx: &DatabaseTransaction, scope: &TenantScope, id: RunId) -> DomainResult<bool> {
    // The status alone: the run's input carries the conversation's history.
    let select = Query::select()
        .column((run_rows::RUNS, "status"))
        .from(run_rows::RUNS)
        .and_where(col(run_rows::RUNS, "organization_id").eq(scope.organization_id().as_uuid()))
        .and_where(col(run_rows::RUNS, "id").eq(id.as_uuid()))
        .to_owned();
    let Some(row) = first(tx, &select).await? else {
        return Ok(false);
    };
    let status: String = row.try_get_by_index(0).map_err(to_domain)?;
    Ok(!RunStatus::parse("status", &status)
        .map_err(corrupt("run status"))?
        .is_terminal())
}

/// The live history a reply reads, oldest first: the latest messages, as many as fit a run's
/// input.
async fn history(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    conversation: ConversationId,
) -> DomainResult<Vec<(MessageRole, String)>> {
    let select = Query::select()
        .columns([(MESSAGES, "role"), (MESSAGES, "content")])
        .from(MESSAGES)
        .cond_where(of_conversation(scope, conversation))
        .and_where(col(MESSAGES, "deleted_at").is_null())
        .order_by((MESSAGES, "seq"), Order::Desc)
        .limit(ReplyInput::HISTORY)
        .to_owned();
    let rows = tx
        .query_all_raw(tx.get_database_backend().build(&select))
        .await
        .map_err(to_domain)?;
    let mut history = rows
        .iter()
        .rev()
        .map(|row| {
            let role: String = row.try_get_by_index(0).map_err(to_domain)?;
            Ok((
                MessageRole::parse("role", &role).map_err(corrupt("message role"))?,
                row.try_get_by_index::<String>(1).map_err(to_domain)?,
            ))
        })
        .collect::<DomainResult<Vec<_>>>()?;
    // Bytes of content plus the JSON around each message, under a run input's bound.
    let size = |h: &[(MessageRole, String)]| h.iter().map(|(_, c)| c.len() + 64).sum::<usize>();
    while history.len() > 1 && 2 * size(&history) > RunInput::MAX_BYTES {
        history.remove(0);
    }
    Ok(history)
}

/// How many chunks of its knowledge base a reply reads.
const KNOWLEDGE_CHUNKS: u64 = 5;

/// The chunks of configuration `config`'s knowledge base that best match `text` (any of its
/// words), as a reply's input carries them: document, title, chunk number and text.
async fn knowledge(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    config: AgentConfigId,
    text: &str,
) -> DomainResult<Vec<serde_json::Value>> {
    let select = Query::select()
        .column(("agent_configs", "knowledge"))
        .from("agent_configs")
        .and_where(col("agent_configs", "organization_id").eq(scope.organization_id().as_uuid()))
        .and_where(col("agent_configs", "id").eq(config.as_uuid()))
        .to_owned();
    let Some(row) = first(tx, &select).await? else {
        return Ok(Vec::new());
    };
    let named: String = row.try_get_by_index(0).map_err(to_domain)?;
    let named: Vec<Uuid> = serde_json::from_str(&named).map_err(corrupt("agent knowledge"))?;
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let query = SearchQuery {
        text: text.to_owned(),
        limit: KNOWLEDGE_CHUNKS,
        documents: Some(named.into_iter().map(DocumentId::from_uuid).collect()),
        project_id: None,
        any_word: true,
    };
    let hits = crate::documents::search_in(tx, scope, &query).await?;
    Ok(hits
        .into_iter()
        .map(|hit| {
            json!({
                "document_id": hit.document_id.to_string(),
                "title": hit.title,
                "chunk": hit.chunk,
                "content": hit.content,
            })
        })
        .collect())
}

/// The sources a reply drew on, for its message's metadata: its knowledge without the text.
fn sources(run: &Run) -> serde_json::Value {
    run.input
        .as_map()
        .get("knowledge")
        .and_then(serde_json::Value::as_array)
        .map(|chunks| {
            chunks
                .iter()
                .map(|c| json!({ "document_id": c["document_id"], "title": c["title"], "chunk": c["chunk"] }))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into()
}

/// Queues a reply to `message` in `owner`'s conversation, which this unit of work holds: the
/// run reads the history (so every message still waiting is answered by it), the messages
/// stop waiting, the message and the conversation name the run, and a `reply` event says it
/// is queued. The caller wakes the workers once it commits.
async fn start_reply(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    owner: UserId,
    conversation: ConversationId,
    config: AgentConfigId,
    message: MessageId,
) -> DomainResult<Run> {
    let history = history(tx, scope, conversation).await?;
    let mut select = select_messages();
    select
        .cond_where(of_conversation(scope, conversation))
        .and_where(col(MESSAGES, "id").eq(message.as_uuid()));
    let replied = first(tx, &select).await?.ok_or(DomainError::NotFound)?;
    let replied = self::message(&replied)?;
    let mut input = ReplyInput::build(conversation, message, &replied.metadata, &history);
    let knowledge = knowledge(tx, scope, config, replied.content.as_str()).await?;
    if !knowledge.is_empty() {
        input["knowledge"] = knowledge.into();
    }
    let input = RunInput::parse(input)?;
    let mut run = Run::reply(
        scope.organization_id(),
        owner,
        RunId::generate(),
        conversation,
        config,
        input,
    );
    run_rows::queue(tx, store, scope, &mut run).await?;
    let backend = tx.get_database_backend();
    let answered = Query::update()
        .table(MESSAGES)
        .value("awaiting_reply", false)
        .cond_where(of_conversation(scope, conversation))
        .and_where(col(MESSAGES, "awaiting_reply").eq(true))
        .to_owned();
    let named = Query::update()
        .table(MESSAGES)
        .value("run_id", run.id.as_uuid())
        .cond_where(of_conversation(scope, conversation))
        .and_where(col(MESSAGES, "id").eq(message.as_uuid()))
        .to_owned();
    let current = Query::update()
        .table(CONVERSATIONS)
        .value("reply_run_id", run.id.as_uuid())
        .cond_where(the_conversation(scope, owner, conversation))
        .to_owned();
    for statement in [answered, named, current] {
        tx.execute_raw(backend.build(&statement))
            .await
            .map_err(to_domain)?;
    }
    event(
        tx,
        store,
        scope,
        conversation,
        ConversationEventKind::Reply,
        json!({ "run_id": run.id.to_string(), "status": run.status.as_str() }),
    )
    .await?;
    Ok(run)
}

/// What a reply run's status change writes into its conversation, in the unit of work that
/// moves the run (the worker's, or a cancellation's): a `reply` event; once it has ended, the
/// assistant's message if it succeeded, and then, if it was the conversation's current reply,
/// the reply to the latest message that waited its turn. A reply that cannot start (the plan's
/// limit reached, the configuration deactivated) leaves the messages waiting, says why in a
/// `reply` event, and does not stop the run from ending.
pub(crate) async fn reply_moved(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &Run,
) -> DomainResult<()> {
    let Some(conversation) = run.conversation_id else {
        return Ok(());
    };
    let owner = run.created_by;
    crate::tx::set_local(tx, "app.current_user", &owner.to_string()).await?;
    let Some(held) = hold(tx, scope, owner, conversation, false).await? else {
        return Ok(());
    };
    let mut data = json!({ "run_id": run.id.to_string(), "status": run.status.as_str() });
    if let Some(error) = &run.error {
        data["error"] = error.clone().into();
    }
    event(
        tx,
        store,
        scope,
        conversation,
        ConversationEventKind::Reply,
        data,
    )
    .await?;
    if !run.status.is_terminal() {
        return Ok(());
    }
    if run.status == RunStatus::Succeeded
        && let Some(output) = &run.output
    {
        let mut metadata = Map::new();
        metadata.insert("run_id".into(), run.id.to_string().into());
        metadata.insert("sources".into(), sources(run));
        let draft = Draft {
            id: MessageId::generate(),
            role: MessageRole::Assistant,
            content: MessageContent::reply(&ReplyInput::reply_text(output)),
            metadata: MessageMetadata::server(metadata),
            run_id: Some(run.id),
            awaiting_reply: false,
        };
        append(tx, store, scope, conversation, draft).await?;
    }
    let (Some(config), true) = (held.agent_config_id, held.live) else {
        return Ok(());
    };
    if held.reply_run_id != Some(run.id) {
        return Ok(());
    }
    let waiting = Query::select()
        .column((MESSAGES, "id"))
        .from(MESSAGES)
        .cond_where(of_conversation(scope, conversation))
        .and_where(col(MESSAGES, "awaiting_reply").eq(true))
        .and_where(col(MESSAGES, "deleted_at").is_null())
        .order_by((MESSAGES, "seq"), Order::Desc)
        .limit(1)
        .to_owned();
    let Some(next) = first(tx, &waiting).await? else {
        return Ok(());
    };
    let next = MessageId::from_uuid(next.try_get_by_index(0).map_err(to_domain)?);
    match start_reply(tx, store, scope, owner, conversation, config, next).await {
        Ok(_) => {
            store.signals().wake_workers();
            Ok(())
        }
        Err(refused @ (DomainError::QuotaExceeded(_) | DomainError::Conflict(_))) => {
            let reason = match refused {
                DomainError::Conflict(reason) => reason,
                other => other.to_string(),
            };
            event(
                tx,
                store,
                scope,
                conversation,
                ConversationEventKind::Reply,
                json!({ "run_id": null, "status": "not_started", "error": reason }),
            )
            .await
            .map(|_| ())
        }
        Err(other) => Err(other),
    }
}

/// Holds the conversation that run `id` replies in, if it is a reply, before the unit of work
/// locks the run: every unit of work that touches both takes the conversation first (a post
/// that interrupts a reply holds the conversation, then cancels the run), so none waits on
/// another in a circle. It also acts for the conversation's owner from here on (see the
/// module's documentation).
pub(crate) async fn hold_reply(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    id: RunId,
) -> DomainResult<()> {
    let select = Query::select()
        .columns([
            (run_rows::RUNS, "conversation_id"),
            (run_rows::RUNS, "created_by"),
        ])
        .from(run_rows::RUNS)
        .and_where(col(run_rows::RUNS, "organization_id").eq(scope.organization_id().as_uuid()))
        .and_where(col(run_rows::RUNS, "id").eq(id.as_uuid()))
        .and_where(col(run_rows::RUNS, "conversation_id").is_not_null())
        .to_owned();
    let Some(row) = first(tx, &select).await? else {
        return Ok(());
    };
    let conversation = ConversationId::from_uuid(row.try_get_by_index(0).map_err(to_domain)?);
    let owner = UserId::from_uuid(row.try_get_by_index(1).map_err(to_domain)?);
    crate::tx::set_local(tx, "app.current_user", &owner.to_string()).await?;
    hold(tx, scope, owner, conversation, false)
        .await
        .map(|_| ())
}

/// Mirrors a piece of a reply's text into its conversation's events, in the unit of work
/// that stores the run's own event.
pub(crate) async fn reply_delta(
    tx: &DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    run: &Run,
    data: &serde_json::Value,
) -> DomainResult<()> {
    let Some(conversation) = run.conversation_id else {
        return Ok(());
    };
    crate::tx::set_local(tx, "app.current_user", &run.created_by.to_string()).await?;
    if hold(tx, scope, run.created_by, conversation, false)
        .await?
        .is_none()
    {
        return Ok(());
    }
    let text = data.get("text").cloned().unwrap_or(serde_json::Value::Null);
    event(
        tx,
        store,
        scope,
        conversation,
        ConversationEventKind::Delta,
        json!({ "run_id": run.id.to_string(), "text": text }),
    )
    .await
    .map(|_| ())
}

/// The SQL [`MessageRepository`].
#[derive(Clone)]
pub struct SqlMessageRepository {
    store: Store,
}

impl SqlMessageRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn owner(scope: &TenantScope) -> DomainResult<UserId> {
    scope.user_id().ok_or(DomainError::NotFound)
}

#[async_trait]
impl MessageRepository for SqlMessageRepository {
    async fn post(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        id: MessageId,
        message: NewMessage,
        entry: AuditEntry,
    ) -> DomainResult<Posted> {
        let owner = owner(scope)?;
        let tx = OrgTx::begin(&self.store, scope).await?;
        let held = hold(&tx, scope, owner, conversation, true)
            .await?
            .ok_or(DomainError::NotFound)?;
        let busy = match held.reply_run_id {
            Some(run) => open(&tx, scope, run).await?,
            None => false,
        };
        let plan = ReplyPlan::decide(held.agent_config_id.is_some(), busy, message.on_busy)?;
        if plan == ReplyPlan::Interrupt
            && let Some(current) = held.reply_run_id
        {
            // The new message's reply reads every waiting message; the cancelled reply's end
            // must not start another for them.
            let answered = Query::update()
                .table(MESSAGES)
                .value("awaiting_reply", false)
                .cond_where(of_conversation(scope, conversation))
                .and_where(col(MESSAGES, "awaiting_reply").eq(true))
                .to_owned();
            tx.execute_raw(tx.get_database_backend().build(&answered))
                .await
                .map_err(to_domain)?;
            let cancelled = AuditEntry::event(
                "agent_run.cancelled",
                "agent_run",
                Some(current.to_string()),
                json!({ "reason": "interrupted", "conversation_id": conversation.to_string() }),
            );
            let cancelled =
                run_rows::cancel_in(&tx, &self.store, scope, current, cancelled).await?;
            reply_moved(&tx, &self.store, scope, &cancelled).await?;
        }
        let draft = Draft {
            id,
            role: MessageRole::User,
            content: message.content,
            metadata: message.metadata,
            run_id: None,
            awaiting_reply: plan == ReplyPlan::Wait,
        };
        let mut stored = append(&tx, &self.store, scope, conversation, draft).await?;
        let reply = match (plan, held.agent_config_id) {
            (ReplyPlan::Reply | ReplyPlan::Interrupt, Some(config)) => {
                Some(start_reply(&tx, &self.store, scope, owner, conversation, config, id).await?)
            }
            _ => None,
        };
        stored.run_id = reply.as_ref().map(|r| r.id);
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        if reply.is_some() {
            self.store.signals().wake_workers();
        }
        Ok(Posted {
            message: stored,
            reply,
        })
    }

    async fn list(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<Message>> {
        let owner = owner(scope)?;
        let mut select = select_messages();
        select
            .cond_where(of_conversation(scope, conversation))
            .and_where(col(MESSAGES, "deleted_at").is_null())
            .and_where(col(MESSAGES, "seq").gt(after))
            .order_by((MESSAGES, "seq"), Order::Asc)
            .limit(limit);
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        require_visible(&tx, scope, owner, conversation).await?;
        let rows = tx
            .query_all_raw(tx.get_database_backend().build(&select))
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        rows.iter().map(message).collect()
    }

    async fn get(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        id: MessageId,
    ) -> DomainResult<Message> {
        let owner = owner(scope)?;
        let mut select = select_messages();
        select
            .cond_where(of_conversation(scope, conversation))
            .and_where(col(MESSAGES, "id").eq(id.as_uuid()))
            .and_where(col(MESSAGES, "deleted_at").is_null());
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        require_visible(&tx, scope, owner, conversation).await?;
        let row = first(&tx, &select).await?;
        tx.finish_read().await?;
        message(&row.ok_or(DomainError::NotFound)?)
    }

    async fn delete(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        id: MessageId,
        entry: AuditEntry,
    ) -> DomainResult<Message> {
        let owner = owner(scope)?;
        let tx = OrgTx::begin(&self.store, scope).await?;
        hold(&tx, scope, owner, conversation, true)
            .await?
            .ok_or(DomainError::NotFound)?;
        let mut select = select_messages();
        select
            .cond_where(of_conversation(scope, conversation))
            .and_where(col(MESSAGES, "id").eq(id.as_uuid()))
            .and_where(col(MESSAGES, "deleted_at").is_null());
        let backend = tx.get_database_backend();
        let row = first(&tx, &select).await?.ok_or(DomainError::NotFound)?;
        let mut deleted = message(&row)?;
        let now = bulkhead_domain::now();
        deleted.deleted_at = Some(now);
        let update = Query::update()
            .table(MESSAGES)
            .value("deleted_at", now)
            .value("awaiting_reply", false)
            .cond_where(of_conversation(scope, conversation))
            .and_where(col(MESSAGES, "id").eq(id.as_uuid()))
            .to_owned();
        let counts = Query::update()
            .table(CONVERSATIONS)
            .value("message_count", Expr::col("message_count").sub(1))
            .cond_where(the_conversation(scope, owner, conversation))
            .to_owned();
        for statement in [update, counts] {
            tx.execute_raw(backend.build(&statement))
                .await
                .map_err(to_domain)?;
        }
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn events(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<ConversationEvent>> {
        let owner = owner(scope)?;
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        require_visible(&tx, scope, owner, conversation).await?;
        let events = crate::events::read(
            &tx,
            scope,
            Stream::new(EVENTS, "conversation_id", conversation.as_uuid()),
            after,
            limit,
        )
        .await?;
        tx.finish_read().await?;
        events
            .into_iter()
            .map(|e| {
                Ok(ConversationEvent {
                    seq: e.seq,
                    kind: ConversationEventKind::parse(&e.kind).ok_or_else(|| {
                        DomainError::Internal(format!("stored event kind {:?}", e.kind))
                    })?,
                    data: e.data,
                    at: e.at,
                })
            })
            .collect()
    }
}
