//! Conversations: a member's private threads with the organization's agents. Each belongs to
//! the member who started it; nobody else in the organization (admins and owners included)
//! can read it. Posting to a conversation with an agent configuration starts a reply run.

mod messages;
mod model;
mod port;
mod service;

pub use messages::{
    ConversationEvent, ConversationEventKind, Message, MessageContent, MessageMetadata,
    MessageRole, NewMessage, OnBusy, Posted, ReplyInput, ReplyPlan,
};
pub use model::{
    Conversation, ConversationChanges, ConversationContext, ConversationFields, ConversationFilter,
    Conversations, CreateConversation, UpdateConversation,
};
pub use port::MessageRepository;
#[cfg(any(test, feature = "mock"))]
pub use port::MockMessageRepository;
pub use service::ConversationService;
