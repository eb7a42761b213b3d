//! The conversation entity: a member's private thread with the organization's agents.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{DomainResult, Validator};
use crate::ids::{AgentConfigId, ProjectId, RunId};
use crate::resource::{Record, Resource, set_if_given};
use crate::scope::Permission;
use crate::text::{bounded, bounded_object};

/// The resource description of conversations, for the kit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversations;

/// A stored conversation.
pub type Conversation = Record<Conversations>;

/// What the client chose, for the conversation's behaviour: a JSON object of at most 16 KiB.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationContext(Map<String, Value>);

impl ConversationContext {
    /// The largest accepted object, in bytes of compact JSON.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Validates a context.
    pub fn parse(raw: Value) -> DomainResult<Self> {
        bounded_object("context", raw, Self::MAX_BYTES).map(Self)
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// A conversation's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFields {
    /// 1 to 200 characters.
    pub title: String,
    /// The agent configuration that replies, if any: a conversation without one is a notebook.
    pub agent_config_id: Option<AgentConfigId>,
    /// The project it is about, if any.
    pub project_id: Option<ProjectId>,
    /// Free-form context the client keeps with it.
    pub context: ConversationContext,
    /// Live (not deleted) messages; kept by the server.
    pub message_count: i64,
    /// When the latest message was appended; kept by the server.
    pub last_message_at: Option<DateTime<Utc>>,
    /// Whether its owner put it away; archived conversations still take messages.
    pub archived: bool,
    /// The reply run most recently started for it; kept by the server.
    pub reply_run_id: Option<RunId>,
}

/// Raw input of a create.
#[derive(Debug, Clone, Default)]
pub struct CreateConversation {
    /// The title.
    pub title: String,
    /// The agent configuration that replies.
    pub agent_config_id: Option<AgentConfigId>,
    /// The project it is about.
    pub project_id: Option<ProjectId>,
    /// Free-form context (`{}` if absent).
    pub context: Option<Value>,
}

/// Raw input of a partial update: only the title and the archive flag change.
#[derive(Debug, Clone, Default)]
pub struct UpdateConversation {
    /// A new title.
    pub title: Option<String>,
    /// Archive (`true`) or bring back (`false`).
    pub archived: Option<bool>,
}

/// A validated partial update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationChanges {
    /// A new title.
    pub title: Option<String>,
    /// The archive flag.
    pub archived: Option<bool>,
}

/// List filters of conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    /// Only archived (`true`) or only active (`false`) conversations.
    pub archived: Option<bool>,
    /// Only conversations with this agent configuration.
    pub agent_config_id: Option<AgentConfigId>,
}

fn title(raw: &str) -> DomainResult<String> {
    bounded("title", raw, 1, 200)
}

impl Resource for Conversations {
    type Id = crate::ids::ConversationId;
    type Fields = ConversationFields;
    type Filter = ConversationFilter;
    type Create = CreateConversation;
    type Patch = UpdateConversation;
    type Changes = ConversationChanges;

    const NAME: &'static str = "conversation";
    // One permission for everything: a conversation is its owner's alone, so there is no one
    // to tell readers from writers or deleters.
    const READ: Permission = Permission::ConversationsUse;
    const WRITE: Permission = Permission::ConversationsUse;
    const DELETE: Permission = Permission::ConversationsUse;
    const SORTS: &'static [&'static str] = &["title", "last_message_at"];

    fn validate(input: CreateConversation) -> DomainResult<ConversationFields> {
        let mut v = Validator::new();
        let title = v.check(title(&input.title));
        let context = v.check(input.context.map_or(
            Ok(ConversationContext::default()),
            ConversationContext::parse,
        ));
        let (title, context) = v.values((title, context))?;
        Ok(ConversationFields {
            title,
            agent_config_id: input.agent_config_id,
            project_id: input.project_id,
            context,
            message_count: 0,
            last_message_at: None,
            archived: false,
            reply_run_id: None,
        })
    }

    fn changes(patch: UpdateConversation) -> DomainResult<ConversationChanges> {
        let title = patch.title.as_deref().map(title).transpose()?;
        Ok(ConversationChanges {
            title,
            archived: patch.archived,
        })
    }

    fn apply(fields: &mut ConversationFields, changes: &ConversationChanges) -> bool {
        [
            set_if_given(&mut fields.title, &changes.title),
            set_if_given(&mut fields.archived, &changes.archived),
        ]
        .contains(&true)
    }

    fn audit_fields(fields: &ConversationFields) -> Map<String, Value> {
        // The title and context are the owner's private words: the trail records only ids.
        let mut recorded = Map::new();
        recorded.insert(
            "agent_config_id".into(),
            fields.agent_config_id.map(|c| c.to_string()).into(),
        );
        recorded.insert(
            "project_id".into(),
            fields.project_id.map(|p| p.to_string()).into(),
        );
        recorded.insert("archived".into(), fields.archived.into());
        recorded
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::DomainError;

    #[test]
    fn titles_and_contexts_are_bounded_and_reported_together() {
        let ok = Conversations::validate(CreateConversation {
            title: "Quarterly plan".into(),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(ok.message_count, 0);
        assert!(!ok.archived);
        let err = Conversations::validate(CreateConversation {
            title: "x".repeat(201),
            context: Some(json!({ "x": "y".repeat(16 * 1024) })),
            ..Default::default()
        });
        let Err(DomainError::Validation(errors)) = err else {
            panic!("{err:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "context"]);
    }

    #[test]
    fn the_trail_records_no_private_words() {
        let fields = Conversations::validate(CreateConversation {
            title: "secret plans".into(),
            context: Some(json!({ "note": "private" })),
            ..Default::default()
        })
        .expect("valid");
        let recorded = Value::Object(Conversations::audit_fields(&fields)).to_string();
        assert!(!recorded.contains("secret") && !recorded.contains("private"));
    }
}
