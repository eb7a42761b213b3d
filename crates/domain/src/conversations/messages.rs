//! Messages of a conversation, and what posting one while a reply runs does.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{ConversationId, MessageId, RunId};
use crate::runs::Run;
use crate::text::{bounded_object, one_of};

/// Who a message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageRole {
    /// The conversation's owner; the only role a client may post.
    User,
    /// The agent's reply.
    Assistant,
    /// An instruction the server placed.
    System,
    /// What a tool answered.
    Tool,
}

impl MessageRole {
    /// Every role.
    pub const ALL: [MessageRole; 4] = [Self::User, Self::Assistant, Self::System, Self::Tool];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
            Self::Tool => "tool",
        }
    }

    /// The role named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }
}

/// A message's text: 1 byte to 32 KiB, line breaks allowed, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// The largest accepted content, in bytes of UTF-8.
    pub const MAX_BYTES: usize = 32 * 1024;

    /// Validates a client's content.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        if raw.trim().is_empty() {
            return Err(DomainError::invalid(
                "content",
                "length",
                "content must not be empty",
            ));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(DomainError::invalid(
                "content",
                "size",
                format!("content must be at most {} bytes", Self::MAX_BYTES),
            ));
        }
        if raw.contains('\0') {
            return Err(DomainError::invalid(
                "content",
                "format",
                "content must not contain NUL characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// An agent's reply as the server stores it: cut to the same bound on a character
    /// boundary, NUL characters dropped, so that what a model wrote is never refused.
    pub fn reply(raw: &str) -> Self {
        let mut text: String = raw.chars().filter(|c| *c != '\0').collect();
        if text.len() > Self::MAX_BYTES {
            let mut end = Self::MAX_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Self(text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message's metadata: a JSON object of at most 4 KiB from a client (the server's own, such
/// as a reply's run and sources, may be larger).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageMetadata(Map<String, Value>);

impl MessageMetadata {
    /// The largest object a client may send, in bytes of compact JSON.
    pub const MAX_BYTES: usize = 4 * 1024;

    /// Validates a client's metadata.
    pub fn parse(raw: Value) -> DomainResult<Self> {
        bounded_object("metadata", raw, Self::MAX_BYTES).map(Self)
    }

    /// Metadata the server writes.
    pub fn server(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// 1, 2, ... in the conversation, with no gap and no repeat, deleted messages included.
    pub seq: i64,
    /// Who it is from.
    pub role: MessageRole,
    /// Its text.
    pub content: MessageContent,
    /// Its metadata.
    pub metadata: MessageMetadata,
    /// The run that wrote it (a reply), or the reply run it started (a user's message).
    pub run_id: Option<RunId>,
    /// Whether it waits for the reply under way to end before it is replied to.
    pub awaiting_reply: bool,
    /// When it was appended.
    pub created_at: DateTime<Utc>,
    /// When its owner deleted it, if they did.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What posting a message does while an earlier reply is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBusy {
    /// Refuse the message ([`DomainError::Conflict`]); nothing is stored.
    #[default]
    Reject,
    /// Store it and reply to it once the running reply ends.
    Enqueue,
    /// Cancel the running reply and reply to this message instead.
    Interrupt,
}

impl OnBusy {
    /// Every choice.
    pub const ALL: [OnBusy; 3] = [Self::Reject, Self::Enqueue, Self::Interrupt];

    /// The name a client sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reject => "reject",
            Self::Enqueue => "enqueue",
            Self::Interrupt => "interrupt",
        }
    }

    /// The choice named `raw`, or a validation error on `on_busy`.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        one_of("on_busy", raw, &Self::ALL, Self::as_str)
    }
}

/// What to do with a new message, decided while the conversation is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyPlan {
    /// No agent: store the message, start nothing.
    StoreOnly,
    /// Store it and start a reply run now.
    Reply,
    /// Store it marked as waiting; the running reply's end starts the next.
    Wait,
    /// Cancel the running reply, then store it and start a reply run.
    Interrupt,
}

impl ReplyPlan {
    /// The plan for a message posted with `on_busy` to a conversation that has an agent
    /// configuration (`replies`) and a reply still running (`busy`), or the refusal.
    pub fn decide(replies: bool, busy: bool, on_busy: OnBusy) -> DomainResult<Self> {
        if !replies {
            return Ok(Self::StoreOnly);
        }
        if !busy {
            return Ok(Self::Reply);
        }
        match on_busy {
            OnBusy::Reject => Err(DomainError::Conflict(
                "a reply is still running; post with on_busy \"enqueue\" or \"interrupt\", or \
                 wait for it"
                    .into(),
            )),
            OnBusy::Enqueue => Ok(Self::Wait),
            OnBusy::Interrupt => Ok(Self::Interrupt),
        }
    }
}

/// A client's new message, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Its text.
    pub content: MessageContent,
    /// Its metadata.
    pub metadata: MessageMetadata,
    /// What to do if a reply is running.
    pub on_busy: OnBusy,
}

impl NewMessage {
    /// Validates a post, reporting every bad field at once.
    pub fn parse(
        content: &str,
        metadata: Option<Value>,
        on_busy: Option<&str>,
    ) -> DomainResult<Self> {
        let mut v = Validator::new();
        let content = v.check(MessageContent::parse(content));
        let metadata =
            v.check(metadata.map_or(Ok(MessageMetadata::default()), MessageMetadata::parse));
        let on_busy = v.check(on_busy.map_or(Ok(OnBusy::default()), OnBusy::parse));
        let (content, metadata, on_busy) = v.values((content, metadata, on_busy))?;
        Ok(Self {
            content,
            metadata,
            on_busy,
        })
    }
}

/// What a post did: the stored message, and the reply run it started, if it started one.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    /// The message.
    pub message: Message,
    /// The reply run started for it (none without an agent, or while it waits its turn).
    pub reply: Option<Run>,
}

/// The input of a reply run: the conversation, the message replied to and its metadata (for
/// the executor), and the history the model reads (oldest first, the latest
/// [`ReplyInput::HISTORY`] live messages).
pub struct ReplyInput;

impl ReplyInput {
    /// How many of the latest messages a reply reads.
    pub const HISTORY: u64 = 50;

    /// The run input for replying to `message` (with `metadata`) of `conversation`, given
    /// `history` (`(role, content)`, oldest first).
    pub fn build(
        conversation: ConversationId,
        message: MessageId,
        metadata: &MessageMetadata,
        history: &[(MessageRole, String)],
    ) -> Value {
        let messages: Vec<Value> = history
            .iter()
            .map(|(role, content)| serde_json::json!({ "role": role.as_str(), "content": content }))
            .collect();
        let prompt = history
            .iter()
            .rev()
            .find(|(role, _)| *role == MessageRole::User)
            .map(|(_, content)| content.clone())
            .unwrap_or_default();
        serde_json::json!({
            "conversation_id": conversation.to_string(),
            "message_id": message.to_string(),
            "metadata": Value::Object(metadata.as_map().clone()),
            "messages": messages,
            "prompt": prompt,
        })
    }

    /// The text of a reply run's output: its `text` if it has one, else the output as JSON.
    pub fn reply_text(output: &Value) -> String {
        match output.get("text").and_then(Value::as_str) {
            Some(text) => text.to_owned(),
            None => match output {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            },
        }
    }
}

/// What a conversation's events are about (the SSE `event` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationEventKind {
    /// A message was appended; `data` is the message.
    Message,
    /// A piece of a running reply's text: `data.run_id`, `data.text`.
    Delta,
    /// A reply run changed status: `data.run_id`, `data.status`.
    Reply,
}

impl ConversationEventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Delta => "delta",
            Self::Reply => "reply",
        }
    }

    /// The kind named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Message, Self::Delta, Self::Reply]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// One stored event of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationEvent {
    /// 1, 2, ... in the conversation: the SSE `id`.
    pub seq: i64,
    /// What it is about.
    pub kind: ConversationEventKind,
    /// Its data.
    pub data: Value,
    /// When it was stored.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_keeps_line_breaks_and_refuses_empty_huge_or_nul() {
        assert!(MessageContent::parse("line one\nline two\ttab").is_ok());
        assert!(MessageContent::parse("  \n ").is_err());
        assert!(MessageContent::parse(&"x".repeat(32 * 1024 + 1)).is_err());
        assert!(MessageContent::parse(&"x".repeat(32 * 1024)).is_ok());
        assert!(MessageContent::parse("a\0b").is_err());
    }

    #[test]
    fn replies_are_cut_on_a_character_boundary_never_refused() {
        let long = "é".repeat(20_000);
        let reply = MessageContent::reply(&long);
        assert!(reply.as_str().len() <= MessageContent::MAX_BYTES);
        assert!(reply.as_str().chars().all(|c| c == 'é'));
        assert_eq!(MessageContent::reply("a\0b").as_str(), "ab");
    }

    #[test]
    fn busy_conversations_follow_on_busy() {
        assert_eq!(
            ReplyPlan::decide(false, true, OnBusy::Reject).ok(),
            Some(ReplyPlan::StoreOnly)
        );
        assert_eq!(
            ReplyPlan::decide(true, false, OnBusy::Reject).ok(),
            Some(ReplyPlan::Reply)
        );
        assert!(matches!(
            ReplyPlan::decide(true, true, OnBusy::Reject),
            Err(DomainError::Conflict(_))
        ));
        assert_eq!(
            ReplyPlan::decide(true, true, OnBusy::Enqueue).ok(),
            Some(ReplyPlan::Wait)
        );
        assert_eq!(
            ReplyPlan::decide(true, true, OnBusy::Interrupt).ok(),
            Some(ReplyPlan::Interrupt)
        );
    }

    #[test]
    fn posts_are_validated_together() {
        let err = NewMessage::parse("", Some(json!([1])), Some("later"));
        let Err(DomainError::Validation(errors)) = err else {
            panic!("{err:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["content", "metadata", "on_busy"]);
        let ok = NewMessage::parse("hi", None, None).expect("valid");
        assert_eq!(ok.on_busy, OnBusy::Reject);
    }

    #[test]
    fn a_reply_reads_the_history_and_answers_with_its_text() {
        let input = ReplyInput::build(
            ConversationId::new(),
            MessageId::new(),
            &MessageMetadata::default(),
            &[
                (MessageRole::User, "first".into()),
                (MessageRole::Assistant, "answer".into()),
                (MessageRole::User, "second".into()),
            ],
        );
        assert_eq!(input["prompt"], "second");
        assert_eq!(input["messages"].as_array().map(Vec::len), Some(3));
        assert_eq!(ReplyInput::reply_text(&json!({ "text": "hello" })), "hello");
        assert_eq!(ReplyInput::reply_text(&json!("plain")), "plain");
        assert_eq!(ReplyInput::reply_text(&json!({ "a": 1 })), r#"{"a":1}"#);
    }
}
