//! A run: one execution of an agent on an input, queued, claimed by a worker, and finished
//! once; and the events it emits on the way.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::DomainResult;
use crate::ids::{AgentConfigId, AgentId, ApiKeyId, ConversationId, OrganizationId, RunId, UserId};
use crate::scope::{Actor, TenantScope};
use crate::text::{bounded_object, one_of};

/// Where a run is. `queued → running → succeeded | failed | timed_out`, and
/// `queued | running → cancelled`; a terminal run never changes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is executing it.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error (or out of attempts).
    Failed,
    /// Ran past the deployment's time limit.
    TimedOut,
    /// Cancelled by a person.
    Cancelled,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 6] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::TimedOut,
        Self::Cancelled,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }

    /// Whether the run is over for good.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

/// A run's input: a JSON object of at most 256 KiB.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInput(Map<String, Value>);

impl RunInput {
    /// The largest accepted input, in bytes of compact JSON.
    pub const MAX_BYTES: usize = 256 * 1024;

    /// Validates an input.
    pub fn parse(raw: Value) -> DomainResult<Self> {
        bounded_object("input", raw, Self::MAX_BYTES).map(Self)
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// One run of an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The run's id.
    pub id: RunId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// The agent it runs; none for a conversation's reply, which runs its configuration.
    pub agent_id: Option<AgentId>,
    /// The conversation it replies in, for a reply run.
    pub conversation_id: Option<ConversationId>,
    /// The agent's configuration when it was queued.
    pub config_id: AgentConfigId,
    /// The configuration's behaviour version it runs with, so a result traces back to the exact
    /// settings.
    pub config_version: i64,
    /// Where it is.
    pub status: RunStatus,
    /// What it was given.
    pub input: RunInput,
    /// What it produced, once succeeded.
    pub output: Option<Value>,
    /// Why it failed, timed out or was cancelled.
    pub error: Option<String>,
    /// How many times a worker has started it (retries after a lost worker count).
    pub attempt: i32,
    /// The person who started it, or the creator of the API key that did.
    pub created_by: UserId,
    /// The API key that started it, if one did.
    pub api_key_id: Option<ApiKeyId>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When a worker last started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// From start to end, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Tokens the model read.
    pub tokens_in: i64,
    /// Tokens the model wrote.
    pub tokens_out: i64,
}

impl Run {
    /// A new queued run of `agent_id` on `input`, started by the scope's actor, with
    /// configuration `config_id` at behaviour version `config_version` (the store records the
    /// version its held row has when it queues the run).
    pub fn queued(
        scope: &TenantScope,
        id: RunId,
        agent_id: AgentId,
        config: (AgentConfigId, i64),
        input: RunInput,
    ) -> DomainResult<Self> {
        let created_by = scope.author().ok_or(crate::DomainError::Unauthorized)?;
        Ok(Self {
            id,
            organization_id: scope.organization_id(),
            agent_id: Some(agent_id),
            conversation_id: None,
            config_id: config.0,
            config_version: config.1,
            status: RunStatus::Queued,
            input,
            output: None,
            error: None,
            attempt: 0,
            created_by,
            api_key_id: match scope.actor() {
                Actor::ApiKey { id, .. } => Some(id),
                _ => None,
            },
            queued_at: crate::now(),
            started_at: None,
            finished_at: None,
            duration_ms: None,
            tokens_in: 0,
            tokens_out: 0,
        })
    }

    /// A new queued reply in `conversation` of organization `organization_id`, on behalf of
    /// the conversation's owner `created_by` (also when the worker starts the reply to a
    /// message that waited its turn), with configuration `config` (the store records the
    /// version its held row has when it queues the run).
    pub fn reply(
        organization_id: OrganizationId,
        created_by: UserId,
        id: RunId,
        conversation: ConversationId,
        config: AgentConfigId,
        input: RunInput,
    ) -> Self {
        Self {
            id,
            organization_id,
            agent_id: None,
            conversation_id: Some(conversation),
            config_id: config,
            config_version: 0,
            status: RunStatus::Queued,
            input,
            output: None,
            error: None,
            attempt: 0,
            created_by,
            api_key_id: None,
            queued_at: crate::now(),
            started_at: None,
            finished_at: None,
            duration_ms: None,
            tokens_in: 0,
            tokens_out: 0,
        }
    }
}

/// What a run's events are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The run's status changed; `data.status` is the new one.
    Status,
    /// A piece of output, as the model streams it.
    OutputDelta,
    /// A note from the executor.
    Log,
    /// An error the executor met (the run may still retry).
    Error,
}

impl EventKind {
    /// The stored name, and the SSE `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::OutputDelta => "output_delta",
            Self::Log => "log",
            Self::Error => "error",
        }
    }

    /// The kind named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Status, Self::OutputDelta, Self::Log, Self::Error]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// One stored event of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    /// 1, 2, ... in the order the run emitted them: the SSE `id`.
    pub seq: i64,
    /// What it is about.
    pub kind: EventKind,
    /// Its data.
    pub data: Value,
    /// When it was stored.
    pub at: DateTime<Utc>,
}

impl RunEvent {
    /// Whether this event ends the run's stream: a terminal status.
    pub fn is_terminal(&self) -> bool {
        self.kind == EventKind::Status
            && self.data["status"]
                .as_str()
                .and_then(|s| RunStatus::parse("status", s).ok())
                .is_some_and(RunStatus::is_terminal)
    }
}

/// Which runs of an agent to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Page size, 1 to 100.
    pub limit: u64,
    /// Only runs older than this one (the previous page's `next_cursor`): keyset paging, so a
    /// page deep into millions of runs costs what the first does.
    pub before: Option<RunId>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs queued at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only runs queued before this time.
    pub until: Option<DateTime<Utc>>,
}

/// A page of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<Run>,
    /// The page size asked for.
    pub limit: u64,
    /// Whether older runs match too: then `runs`' last id is the next page's cursor.
    pub has_more: bool,
}

/// An agent's runs in a period, summed up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMetrics {
    /// How many runs were queued in the period.
    pub runs_total: i64,
    /// How many of them are in each status.
    pub by_status: Vec<(RunStatus, i64)>,
    /// Succeeded among the finished ones (succeeded, failed, timed out), 0 to 1; `None` if
    /// none finished.
    pub success_rate: Option<f64>,
    /// Median duration of finished runs.
    pub duration_p50_ms: Option<i64>,
    /// 95th percentile duration of finished runs.
    pub duration_p95_ms: Option<i64>,
    /// Longest duration.
    pub duration_max_ms: Option<i64>,
    /// Tokens read.
    pub tokens_in: i64,
    /// Tokens written.
    pub tokens_out: i64,
    /// When the latest run was queued.
    pub last_run_at: Option<DateTime<Utc>>,
}

/// How a worker's execution of a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// With an output, and the tokens it used.
    Succeeded {
        /// The output.
        output: Value,
        /// Tokens read.
        tokens_in: i64,
        /// Tokens written.
        tokens_out: i64,
    },
    /// With an error.
    Failed(String),
    /// Past the time limit.
    TimedOut,
}

impl Outcome {
    /// The status the run ends in.
    pub fn status(&self) -> RunStatus {
        match self {
            Self::Succeeded { .. } => RunStatus::Succeeded,
            Self::Failed(_) => RunStatus::Failed,
            Self::TimedOut => RunStatus::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn inputs_are_bounded_objects() {
        assert!(RunInput::parse(json!("text")).is_err());
        assert!(RunInput::parse(json!({ "x": "y".repeat(256 * 1024) })).is_err());
        assert!(RunInput::parse(json!({ "prompt": "hi" })).is_ok());
    }

    #[test]
    fn only_queued_and_running_are_open() {
        let open: Vec<_> = RunStatus::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect();
        assert_eq!(open, [RunStatus::Queued, RunStatus::Running]);
        let end = RunEvent {
            seq: 3,
            kind: EventKind::Status,
            data: json!({ "status": "timed_out" }),
            at: crate::now(),
        };
        assert!(end.is_terminal());
    }
}
