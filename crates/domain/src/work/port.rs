//! What work needs of storage beyond the kit's rows: a project's visibility, the sessions'
//! events, a project's figures and the organization's review rule. Every method is confined to
//! the scope's organization.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::sessions::SessionStatus;
use crate::error::DomainResult;
use crate::ids::{ProjectId, WorkSessionId};
use crate::projects::Project;
use crate::scope::TenantScope;

/// What a session's events are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkEventKind {
    /// The session's status changed; `data.status` is the new one.
    Status,
    /// Its run produced an artifact; `data.artifact_id`.
    ArtifactCreated,
    /// Its run stopped at a checkpoint; `data.checkpoint_id`.
    CheckpointOpened,
    /// A person resolved a checkpoint; `data.checkpoint_id`, `data.status`.
    CheckpointResolved,
}

impl WorkEventKind {
    /// Every kind.
    pub const ALL: [WorkEventKind; 4] = [
        Self::Status,
        Self::ArtifactCreated,
        Self::CheckpointOpened,
        Self::CheckpointResolved,
    ];

    /// The stored name, and the SSE `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::ArtifactCreated => "artifact_created",
            Self::CheckpointOpened => "checkpoint_opened",
            Self::CheckpointResolved => "checkpoint_resolved",
        }
    }

    /// The kind named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// One stored event of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkEvent {
    /// 1, 2, ... in order: the SSE `id`.
    pub seq: i64,
    /// What it is about.
    pub kind: WorkEventKind,
    /// Its data.
    pub data: Value,
    /// When it was stored.
    pub at: DateTime<Utc>,
}

impl WorkEvent {
    /// Whether this event ends the session's stream: a terminal status.
    pub fn is_terminal(&self) -> bool {
        self.kind == WorkEventKind::Status
            && self.data["status"]
                .as_str()
                .and_then(|s| SessionStatus::parse("status", s).ok())
                .is_some_and(SessionStatus::is_terminal)
    }
}

/// A project's work, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkStats {
    /// Live sessions per status (only statuses that occur), by status name.
    pub sessions_by_status: Vec<(SessionStatus, i64)>,
    /// Artifacts nobody has reviewed yet.
    pub artifacts_awaiting_review: i64,
}

/// Work's storage beyond the kit's rows.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait WorkRepository: Send + Sync {
    /// Fails with [`crate::DomainError::NotFound`] unless `project` is live.
    async fn project(&self, scope: &TenantScope, project: ProjectId) -> DomainResult<()>;

    /// Up to `limit` events of a visible session after sequence number `after`, in order;
    /// [`crate::DomainError::NotFound`] for a session that is not.
    async fn events(
        &self,
        scope: &TenantScope,
        session: WorkSessionId,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<WorkEvent>>;

    /// A live project, with its sessions by status and artifacts awaiting review when
    /// `with_stats`, read in one unit of work ([`crate::DomainError::NotFound`] if it is not
    /// live).
    async fn project_detail(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        with_stats: bool,
    ) -> DomainResult<(Project, Option<WorkStats>)>;

    /// Whether the organization's setting `work.independent_review` is on.
    async fn independent_review(&self, scope: &TenantScope) -> DomainResult<bool>;
}
