//! Conversation use cases: the kit's steps for the conversations themselves, and messages and
//! events, all for the signed-in member's own conversations only.

use std::sync::Arc;

use serde_json::{Value, json};

use super::messages::{ConversationEvent, Message, NewMessage, Posted};
use super::model::{
    Conversation, ConversationFilter, Conversations, CreateConversation, UpdateConversation,
};
use super::port::MessageRepository;
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::{DomainError, DomainResult};
use crate::ids::{ConversationId, MessageId, ResourceId};
use crate::page::Page;
use crate::resource::{ListParams, Resources, TenantRepository};
use crate::runs::event_window;
use crate::scope::{Permission, TenantScope};

/// The audit trail's name of messages.
pub const MESSAGE: &str = "conversation_message";

/// The most messages one read answers, and the default.
pub const MAX_MESSAGES: u64 = 100;

/// The conversation use cases.
#[derive(Clone)]
pub struct ConversationService {
    conversations: Resources<Conversations>,
    messages: Arc<dyn MessageRepository>,
    audit: Arc<dyn AuditRepository>,
}

impl ConversationService {
    /// Builds the service on its repositories; refusals are recorded through `audit`.
    pub fn new(
        conversations: Arc<dyn TenantRepository<Conversations>>,
        messages: Arc<dyn MessageRepository>,
        audit: Arc<dyn AuditRepository>,
    ) -> Self {
        Self {
            conversations: Resources::new(conversations, audit.clone()),
            messages,
            audit,
        }
    }

    /// The kit's use cases of conversations, for the jobs that run over every resource.
    pub fn resources(&self) -> &Resources<Conversations> {
        &self.conversations
    }

    /// Conversations are a person's own: an API key (or an impersonation) has none, and is
    /// refused with [`DomainError::UserOnly`] before anything else; a member also needs
    /// `conversations:use`.
    async fn allow(&self, scope: &TenantScope) -> DomainResult<()> {
        scope.require_user()?;
        scope
            .authorize(&*self.audit, Permission::ConversationsUse)
            .await
    }

    /// Starts a conversation of the signed-in member. Its agent configuration and project, if
    /// named, must be live in the organization (checked where it is stored).
    pub async fn create(
        &self,
        scope: &TenantScope,
        input: CreateConversation,
    ) -> DomainResult<Conversation> {
        self.allow(scope).await?;
        self.conversations.create(scope, input).await
    }

    /// The member's own conversations.
    pub async fn list(
        &self,
        scope: &TenantScope,
        params: ListParams,
        filter: ConversationFilter,
    ) -> DomainResult<Page<Conversation>> {
        self.allow(scope).await?;
        self.conversations.list(scope, params, filter).await
    }

    /// One of the member's own conversations.
    pub async fn get(&self, scope: &TenantScope, id: ConversationId) -> DomainResult<Conversation> {
        self.allow(scope).await?;
        self.conversations.get(scope, id).await
    }

    /// Renames, archives or brings back one of the member's own conversations.
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: ConversationId,
        patch: UpdateConversation,
        expected_version: Option<i64>,
    ) -> DomainResult<Conversation> {
        self.allow(scope).await?;
        self.conversations
            .update(scope, id, patch, expected_version)
            .await
    }

    /// Soft-deletes one of the member's own conversations, with its messages.
    pub async fn delete(
        &self,
        scope: &TenantScope,
        id: ConversationId,
        expected_version: Option<i64>,
    ) -> DomainResult<Conversation> {
        self.allow(scope).await?;
        self.conversations.delete(scope, id, expected_version).await
    }

    /// Brings back one of the member's own deleted conversations.
    pub async fn restore(
        &self,
        scope: &TenantScope,
        id: ConversationId,
    ) -> DomainResult<Conversation> {
        self.allow(scope).await?;
        self.conversations.restore(scope, id).await
    }

    /// Posts the member's message (`content`, optional `metadata` object, `on_busy`); see
    /// [`MessageRepository::post`]. The audit trail records ids, never the words.
    pub async fn post(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        content: &str,
        metadata: Option<Value>,
        on_busy: Option<&str>,
    ) -> DomainResult<Posted> {
        self.allow(scope).await?;
        let message = NewMessage::parse(content, metadata, on_busy)?;
        let id = MessageId::generate();
        let entry = AuditEntry::event(
            &format!("{MESSAGE}.created"),
            MESSAGE,
            Some(id.to_string()),
            json!({
                "conversation_id": conversation.to_string(),
                "on_busy": message.on_busy.as_str(),
            }),
        );
        self.messages
            .post(scope, conversation, id, message, entry)
            .await
    }

    /// Live messages after sequence number `after` (default 0), `limit` of them (1 to 100,
    /// default 100).
    pub async fn messages(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        after: i64,
        limit: Option<i64>,
    ) -> DomainResult<Vec<Message>> {
        self.allow(scope).await?;
        if after < 0 {
            return Err(DomainError::invalid(
                "after",
                "range",
                "after must not be negative",
            ));
        }
        let limit = match limit {
            None => MAX_MESSAGES,
            Some(n) if (1..=MAX_MESSAGES as i64).contains(&n) => n as u64,
            Some(_) => {
                return Err(DomainError::invalid(
                    "limit",
                    "range",
                    format!("limit must be between 1 and {MAX_MESSAGES}"),
                ));
            }
        };
        self.messages.list(scope, conversation, after, limit).await
    }

    /// One live message.
    pub async fn message(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        id: MessageId,
    ) -> DomainResult<Message> {
        self.allow(scope).await?;
        self.messages.get(scope, conversation, id).await
    }

    /// Soft-deletes one message.
    pub async fn delete_message(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        id: MessageId,
    ) -> DomainResult<Message> {
        self.allow(scope).await?;
        let entry = AuditEntry::event(
            &format!("{MESSAGE}.deleted"),
            MESSAGE,
            Some(id.to_string()),
            json!({ "conversation_id": conversation.to_string() }),
        );
        self.messages.delete(scope, conversation, id, entry).await
    }

    /// The conversation's events after sequence number `after`.
    pub async fn events(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        after: i64,
        limit: Option<i64>,
    ) -> DomainResult<Vec<ConversationEvent>> {
        self.allow(scope).await?;
        let limit = event_window(after, limit)?;
        self.messages
            .events(scope, conversation, after, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversations::MockMessageRepository;
    use crate::ids::{ApiKeyId, OrganizationId, UserId};
    use crate::resource::MockTenantRepository;
    use crate::scope::Role;

    fn service(messages: MockMessageRepository) -> ConversationService {
        let mut audit = crate::audit::MockAuditRepository::new();
        audit.expect_record().returning(|_, _| Ok(()));
        let mut repo = MockTenantRepository::<Conversations>::new();
        repo.expect_insert().never();
        ConversationService::new(Arc::new(repo), Arc::new(messages), Arc::new(audit))
    }

    #[tokio::test]
    async fn keys_and_viewers_have_no_conversations() {
        let mut messages = MockMessageRepository::new();
        messages.expect_post().never();
        messages.expect_list().never();
        let service = service(messages);
        let key = TenantScope::for_api_key(
            OrganizationId::new(),
            ApiKeyId::new(),
            UserId::new(),
            vec![Permission::ConversationsUse],
        );
        assert!(matches!(
            service
                .create(
                    &key,
                    CreateConversation {
                        title: "t".into(),
                        ..Default::default()
                    }
                )
                .await,
            Err(DomainError::UserOnly)
        ));
        assert!(matches!(
            service
                .post(&key, ConversationId::new(), "hi", None, None)
                .await,
            Err(DomainError::UserOnly)
        ));
        let viewer = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Viewer);
        assert!(matches!(
            service
                .messages(&viewer, ConversationId::new(), 0, None)
                .await,
            Err(DomainError::Forbidden(Permission::ConversationsUse))
        ));
    }

    #[tokio::test]
    async fn a_bad_post_stores_nothing_and_a_good_one_is_audited_without_words() {
        let mut messages = MockMessageRepository::new();
        messages
            .expect_post()
            .withf(|_, _, id, message, entry| {
                entry.action == "conversation_message.created"
                    && entry.resource_id.as_deref() == Some(id.to_string().as_str())
                    && !entry.changes.to_string().contains("secret words")
                    && message.content.as_str() == "secret words"
            })
            .times(1)
            .returning(|_, conversation, id, message, _| {
                Ok(Posted {
                    message: Message {
                        id,
                        conversation_id: conversation,
                        seq: 1,
                        role: crate::conversations::MessageRole::User,
                        content: message.content,
                        metadata: message.metadata,
                        run_id: None,
                        awaiting_reply: false,
                        created_at: crate::now(),
                        deleted_at: None,
                    },
                    reply: None,
                })
            });
        let service = service(messages);
        let member = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Member);
        let conversation = ConversationId::new();
        assert!(matches!(
            service.post(&member, conversation, " ", None, None).await,
            Err(DomainError::Validation(_))
        ));
        assert!(matches!(
            service.messages(&member, conversation, 0, Some(101)).await,
            Err(DomainError::Validation(_))
        ));
        let posted = service
            .post(&member, conversation, "secret words", None, Some("enqueue"))
            .await
            .expect("posted");
        assert_eq!(posted.message.seq, 1);
    }
}
