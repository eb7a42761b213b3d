//! Artifacts: what a session's runs produce, for people to approve or reject once.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{ArtifactId, ProjectId, UserId, WorkSessionId};
use crate::resource::{Record, Resource};
use crate::scope::Permission;
use crate::text::{bounded, bounded_object, one_of};

/// A person's decision on an artifact or a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Accepted.
    Approve,
    /// Refused; feedback says why.
    Reject,
}

impl Decision {
    /// Both decisions.
    pub const ALL: [Decision; 2] = [Self::Approve, Self::Reject];

    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }

    /// The decision named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }
}

/// Checks a reviewer's feedback: 1 to 2,000 characters when given; required to reject when
/// `required_to_reject`.
pub fn feedback(
    decision: Decision,
    raw: Option<&str>,
    required_to_reject: bool,
) -> DomainResult<Option<String>> {
    let text = raw.map(|f| bounded("feedback", f, 1, 2000)).transpose()?;
    if required_to_reject && decision == Decision::Reject && text.is_none() {
        return Err(DomainError::invalid(
            "feedback",
            "required",
            "feedback is required to reject",
        ));
    }
    Ok(text)
}

/// Where an artifact's review is: `pending_review → approved | rejected`, terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewStatus {
    /// Nobody has decided yet.
    PendingReview,
    /// Approved.
    Approved,
    /// Rejected, with feedback.
    Rejected,
}

impl ReviewStatus {
    /// Every status.
    pub const ALL: [ReviewStatus; 3] = [Self::PendingReview, Self::Approved, Self::Rejected];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingReview => "pending_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    /// The status named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }

    /// The status a decision leads to.
    pub fn of(decision: Decision) -> Self {
        match decision {
            Decision::Approve => Self::Approved,
            Decision::Reject => Self::Rejected,
        }
    }
}

/// Artifacts as a tenant resource: read with `work:read`; only a session's runs create them;
/// people review them (`work:review`, or as the project's maintainer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifacts;

/// An artifact as stored.
pub type Artifact = Record<Artifacts>;

/// An artifact's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactFields {
    /// The session whose run produced it.
    pub session_id: WorkSessionId,
    /// The session's project.
    pub project_id: ProjectId,
    /// What it is (`report`, ...): 1 to 32 letters, digits or `_`.
    pub artifact_type: String,
    /// Its title, 1 to 200 characters.
    pub title: String,
    /// Its content: a JSON object of at most [`ArtifactFields::MAX_CONTENT_BYTES`].
    pub content: Map<String, Value>,
    /// Where its review is.
    pub review_status: ReviewStatus,
    /// Who reviewed it.
    pub reviewed_by: Option<UserId>,
    /// When.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// What the reviewer said.
    pub review_feedback: Option<String>,
}

impl ArtifactFields {
    /// The largest content, in bytes of compact JSON.
    pub const MAX_CONTENT_BYTES: usize = 256 * 1024;

    /// A new artifact awaiting review, checked like anything stored: a run's output is not
    /// trusted more than a client's input.
    pub fn produced(
        session_id: WorkSessionId,
        project_id: ProjectId,
        artifact_type: &str,
        title: &str,
        content: Value,
    ) -> DomainResult<Self> {
        let mut v = Validator::new();
        let kind = v.check(artifact_type_of(artifact_type));
        let title = v.check(bounded("title", title, 1, 200));
        let content = v.check(bounded_object("content", content, Self::MAX_CONTENT_BYTES));
        let (artifact_type, title, content) = v.values((kind, title, content))?;
        Ok(Self {
            session_id,
            project_id,
            artifact_type,
            title,
            content,
            review_status: ReviewStatus::PendingReview,
            reviewed_by: None,
            reviewed_at: None,
            review_feedback: None,
        })
    }

    /// Records a review, once: a second one is [`DomainError::Conflict`].
    pub fn review(
        &mut self,
        decision: Decision,
        by: Option<UserId>,
        feedback: Option<String>,
    ) -> DomainResult<()> {
        if self.review_status != ReviewStatus::PendingReview {
            return Err(DomainError::Conflict(format!(
                "the artifact has been reviewed already ({})",
                self.review_status.as_str()
            )));
        }
        self.review_status = ReviewStatus::of(decision);
        self.reviewed_by = by;
        self.reviewed_at = Some(crate::now());
        self.review_feedback = feedback;
        Ok(())
    }
}

fn artifact_type_of(raw: &str) -> DomainResult<String> {
    let ok = (1..=32).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DomainError::invalid(
            "artifact_type",
            "format",
            "artifact_type must be 1 to 32 lowercase letters, digits or '_'",
        ))
    }
}

/// List filters of artifacts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactFilter {
    /// Only this session's artifacts.
    pub session_id: Option<WorkSessionId>,
    /// Only artifacts in this review status.
    pub review_status: Option<ReviewStatus>,
}

impl Resource for Artifacts {
    type Id = ArtifactId;
    type Fields = ArtifactFields;
    type Filter = ArtifactFilter;
    type Create = ArtifactFields;
    type Patch = ();
    type Changes = ();

    const NAME: &'static str = "artifact";
    const READ: Permission = Permission::WorkRead;
    const WRITE: Permission = Permission::WorkReview;
    const DELETE: Permission = Permission::ProjectsDelete;
    const SORTS: &'static [&'static str] = &["title"];

    fn validate(input: ArtifactFields) -> DomainResult<ArtifactFields> {
        Ok(input)
    }

    fn changes(_: ()) -> DomainResult<()> {
        Ok(())
    }

    fn apply(_: &mut ArtifactFields, _: &()) -> bool {
        false
    }

    fn audit_fields(fields: &ArtifactFields) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("session_id".into(), fields.session_id.to_string().into());
        map.insert("artifact_type".into(), fields.artifact_type.clone().into());
        map.insert("title".into(), fields.title.clone().into());
        map.insert("review_status".into(), fields.review_status.as_str().into());
        if let Some(feedback) = &fields.review_feedback {
            map.insert("review_feedback".into(), feedback.clone().into());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_artifact_is_reviewed_once_and_rejecting_needs_feedback() {
        let mut artifact = ArtifactFields::produced(
            WorkSessionId::new(),
            ProjectId::new(),
            "report",
            "Findings",
            json!({ "summary": "x" }),
        )
        .expect("as expected");
        assert!(feedback(Decision::Reject, None, true).is_err());
        assert!(feedback(Decision::Reject, Some("  "), true).is_err());
        assert_eq!(
            feedback(Decision::Approve, None, true).expect("as expected"),
            None
        );
        artifact
            .review(Decision::Approve, None, None)
            .expect("as expected");
        assert_eq!(artifact.review_status, ReviewStatus::Approved);
        assert!(matches!(
            artifact.review(Decision::Reject, None, Some("no".into())),
            Err(DomainError::Conflict(_))
        ));
        assert!(
            ArtifactFields::produced(
                WorkSessionId::new(),
                ProjectId::new(),
                "../x",
                "t",
                json!({})
            )
            .is_err()
        );
    }
}
