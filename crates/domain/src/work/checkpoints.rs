//! Checkpoints: where a session's work stops for a person's decision.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::artifacts::Decision;
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{CheckpointId, ProjectId, UserId, WorkSessionId};
use crate::resource::{Record, Resource};
use crate::scope::Permission;
use crate::text::{bounded, bounded_object, one_of};

/// Where a checkpoint is: `open → approved | rejected`, terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckpointStatus {
    /// Waiting for a person.
    Open,
    /// The work goes on.
    Approved,
    /// The work stops: the session fails.
    Rejected,
}

impl CheckpointStatus {
    /// Every status.
    pub const ALL: [CheckpointStatus; 3] = [Self::Open, Self::Approved, Self::Rejected];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    /// The status named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }
}

/// Checkpoints as a tenant resource: read with `work:read`; only a session's runs open them;
/// people resolve them (`work:review`, or as the project's maintainer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoints;

/// A checkpoint as stored.
pub type Checkpoint = Record<Checkpoints>;

/// A checkpoint's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointFields {
    /// The session that stopped here.
    pub session_id: WorkSessionId,
    /// The session's project.
    pub project_id: ProjectId,
    /// What is to be decided, 1 to 200 characters.
    pub title: String,
    /// What the run put before the person: a JSON object of at most 64 KiB.
    pub details: Map<String, Value>,
    /// Where it is.
    pub status: CheckpointStatus,
    /// Who resolved it.
    pub resolved_by: Option<UserId>,
    /// When.
    pub resolved_at: Option<DateTime<Utc>>,
    /// What they said.
    pub feedback: Option<String>,
}

impl CheckpointFields {
    /// The largest details, in bytes of compact JSON.
    pub const MAX_DETAILS_BYTES: usize = 64 * 1024;

    /// A new open checkpoint, checked like anything stored.
    pub fn opened(
        session_id: WorkSessionId,
        project_id: ProjectId,
        title: &str,
        details: Value,
    ) -> DomainResult<Self> {
        let mut v = Validator::new();
        let title = v.check(bounded("title", title, 1, 200));
        let details = v.check(bounded_object("details", details, Self::MAX_DETAILS_BYTES));
        let (title, details) = v.values((title, details))?;
        Ok(Self {
            session_id,
            project_id,
            title,
            details,
            status: CheckpointStatus::Open,
            resolved_by: None,
            resolved_at: None,
            feedback: None,
        })
    }

    /// Records the decision, once: a second one is [`DomainError::Conflict`].
    pub fn resolve(
        &mut self,
        decision: Decision,
        by: Option<UserId>,
        feedback: Option<String>,
    ) -> DomainResult<()> {
        if self.status != CheckpointStatus::Open {
            return Err(DomainError::Conflict(format!(
                "the checkpoint has been resolved already ({})",
                self.status.as_str()
            )));
        }
        self.status = match decision {
            Decision::Approve => CheckpointStatus::Approved,
            Decision::Reject => CheckpointStatus::Rejected,
        };
        self.resolved_by = by;
        self.resolved_at = Some(crate::now());
        self.feedback = feedback;
        Ok(())
    }
}

/// List filters of checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointFilter {
    /// Only this session's checkpoints.
    pub session_id: Option<WorkSessionId>,
    /// Only checkpoints in this status.
    pub status: Option<CheckpointStatus>,
}

impl Resource for Checkpoints {
    type Id = CheckpointId;
    type Fields = CheckpointFields;
    type Filter = CheckpointFilter;
    type Create = CheckpointFields;
    type Patch = ();
    type Changes = ();

    const NAME: &'static str = "checkpoint";
    const READ: Permission = Permission::WorkRead;
    const WRITE: Permission = Permission::WorkReview;
    const DELETE: Permission = Permission::ProjectsDelete;
    const SORTS: &'static [&'static str] = &[];

    fn validate(input: CheckpointFields) -> DomainResult<CheckpointFields> {
        Ok(input)
    }

    fn changes(_: ()) -> DomainResult<()> {
        Ok(())
    }

    fn apply(_: &mut CheckpointFields, _: &()) -> bool {
        false
    }

    fn audit_fields(fields: &CheckpointFields) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("session_id".into(), fields.session_id.to_string().into());
        map.insert("title".into(), fields.title.clone().into());
        map.insert("status".into(), fields.status.as_str().into());
        if let Some(feedback) = &fields.feedback {
            map.insert("feedback".into(), feedback.clone().into());
        }
        map
    }
}
