//! The storage port of messages. Conversations themselves are the kit's
//! [`crate::resource::TenantRepository`]; like theirs, every method here is confined to the
//! scope's organization and to the scope's own user: another member's conversation behaves
//! exactly like one that does not exist.

use async_trait::async_trait;

use super::messages::{ConversationEvent, Message, NewMessage, Posted};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::{ConversationId, MessageId};
use crate::scope::TenantScope;

/// Stores messages and the conversation's events.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MessageRepository: Send + Sync {
    /// Appends a user's message `id` to a live conversation of the scope's user, in one unit
    /// of work that holds the conversation: the next sequence number, the conversation's
    /// counts, its `message` event and `entry`; and, as [`super::ReplyPlan::decide`] answers
    /// for the conversation's agent configuration and running reply, a reply run queued (or
    /// the running one cancelled first, or the message left waiting its turn), or
    /// [`crate::DomainError::Conflict`] with nothing stored.
    async fn post(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        id: MessageId,
        message: NewMessage,
        entry: AuditEntry,
    ) -> DomainResult<Posted>;

    /// Up to `limit` live messages after sequence number `after`, in order.
    async fn list(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<Message>>;

    /// One live message.
    async fn get(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        id: MessageId,
    ) -> DomainResult<Message>;

    /// Soft-deletes a live message with `entry`; its sequence number is never reused.
    async fn delete(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        id: MessageId,
        entry: AuditEntry,
    ) -> DomainResult<Message>;

    /// Up to `limit` events of a live conversation after sequence number `after`, in order.
    async fn events(
        &self,
        scope: &TenantScope,
        conversation: ConversationId,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<ConversationEvent>>;
}
