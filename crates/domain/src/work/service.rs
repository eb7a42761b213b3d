//! Work use cases: sessions created, started and cancelled by members; artifacts and
//! checkpoints decided by reviewers; events and a project's figures. The run a session starts
//! is queued in the same unit of work as the start, and the session follows it from there
//! (the adapter moves it with each of the run's status changes).

use std::sync::Arc;

use super::artifacts::{Artifact, ArtifactFilter, Artifacts, Decision, feedback};
use super::checkpoints::{Checkpoint, CheckpointFilter, Checkpoints};
use super::port::{WorkEvent, WorkRepository, WorkStats};
use super::sessions::{CreateWorkSession, SessionFilter, SessionStatus, WorkSession, WorkSessions};
use crate::audit::AuditRepository;
use crate::error::{DomainError, DomainResult};
use crate::ids::{ArtifactId, CheckpointId, ProjectId, ResourceId, RunId, WorkSessionId};
use crate::page::Page;
use crate::projects::{Project, ProjectMemberRepository, ProjectRole};
use crate::resource::{ListParams, Resources, TenantRepository};
use crate::scope::{Permission, TenantScope};

/// The organization setting that keeps whoever started a session from approving its
/// artifacts.
pub const INDEPENDENT_REVIEW: &str = "work.independent_review";

/// The work use cases.
#[derive(Clone)]
pub struct WorkService {
    sessions: Resources<WorkSessions>,
    artifacts: Resources<Artifacts>,
    checkpoints: Resources<Checkpoints>,
    work: Arc<dyn WorkRepository>,
    members: Arc<dyn ProjectMemberRepository>,
}

impl WorkService {
    /// Builds the service on its repositories; refusals are recorded through `audit`.
    pub fn new(
        sessions: Arc<dyn TenantRepository<WorkSessions>>,
        artifacts: Arc<dyn TenantRepository<Artifacts>>,
        checkpoints: Arc<dyn TenantRepository<Checkpoints>>,
        work: Arc<dyn WorkRepository>,
        members: Arc<dyn ProjectMemberRepository>,
        audit: Arc<dyn AuditRepository>,
    ) -> Self {
        Self {
            sessions: Resources::new(sessions, audit.clone()),
            artifacts: Resources::new(artifacts, audit.clone()),
            checkpoints: Resources::new(checkpoints, audit),
            work,
            members,
        }
    }

    /// Creates a pending session on a live project (needs `work:write`); a missing or
    /// foreign project is [`DomainError::NotFound`], an agent that is not a live agent of the
    /// organization a validation error.
    pub async fn create(
        &self,
        scope: &TenantScope,
        input: CreateWorkSession,
    ) -> DomainResult<WorkSession> {
        self.sessions
            .authorize(scope, Permission::WorkWrite)
            .await?;
        self.work.project(scope, input.project_id).await?;
        self.sessions.create(scope, input).await
    }

    /// A page of the organization's sessions (needs `work:read`).
    pub async fn list(
        &self,
        scope: &TenantScope,
        params: ListParams,
        filter: SessionFilter,
    ) -> DomainResult<Page<WorkSession>> {
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && since > until
        {
            return Err(DomainError::invalid(
                "until",
                "range",
                "until must not be before since",
            ));
        }
        self.sessions.list(scope, params, filter).await
    }

    /// A page of a live project's sessions (needs `work:read`).
    pub async fn list_in_project(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        params: ListParams,
        filter: SessionFilter,
    ) -> DomainResult<Page<WorkSession>> {
        self.sessions.authorize(scope, Permission::WorkRead).await?;
        self.work.project(scope, project).await?;
        let filter = SessionFilter {
            project_id: Some(project),
            ..filter
        };
        self.list(scope, params, filter).await
    }

    /// One session (needs `work:read`); sessions of a deleted project read as missing.
    pub async fn get(&self, scope: &TenantScope, id: WorkSessionId) -> DomainResult<WorkSession> {
        self.sessions.get(scope, id).await
    }

    /// Starts a pending session (needs `work:write`): it is running, and a run of its agent is
    /// queued with the task as input, in one unit of work. Any other status, or a session
    /// without an agent, is [`DomainError::Conflict`]; so is a paused agent or an inactive
    /// configuration.
    pub async fn start(
        &self,
        scope: &TenantScope,
        id: WorkSessionId,
        expected_version: Option<i64>,
    ) -> DomainResult<WorkSession> {
        let author = scope.author();
        self.sessions
            .act(
                scope,
                id,
                Permission::WorkWrite,
                expected_version,
                "started",
                move |session| {
                    if session.status != SessionStatus::Pending {
                        return Err(DomainError::Conflict(format!(
                            "only a pending session starts; this one is {}",
                            session.status.as_str()
                        )));
                    }
                    if session.agent_id.is_none() {
                        return Err(DomainError::Conflict(
                            "the session has no agent to do the work".into(),
                        ));
                    }
                    session.status = SessionStatus::Running;
                    session.run_id = Some(RunId::generate());
                    session.started_by = author;
                    session.started_at = Some(crate::now());
                    Ok(true)
                },
            )
            .await
    }

    /// Cancels a session that has not ended (needs `work:write`), and its run if that has not
    /// ended either; an ended session is [`DomainError::Conflict`].
    pub async fn cancel(
        &self,
        scope: &TenantScope,
        id: WorkSessionId,
        expected_version: Option<i64>,
    ) -> DomainResult<WorkSession> {
        self.sessions
            .act(
                scope,
                id,
                Permission::WorkWrite,
                expected_version,
                "cancelled",
                |session| {
                    if session.status.is_terminal() {
                        return Err(DomainError::Conflict(format!(
                            "the session has ended ({})",
                            session.status.as_str()
                        )));
                    }
                    session.status = SessionStatus::Cancelled;
                    session.finished_at = Some(crate::now());
                    Ok(true)
                },
            )
            .await
    }

    /// A page of a visible session's artifacts (needs `work:read`).
    pub async fn artifacts(
        &self,
        scope: &TenantScope,
        session: WorkSessionId,
        params: ListParams,
        filter: ArtifactFilter,
    ) -> DomainResult<Page<Artifact>> {
        self.sessions.get(scope, session).await?;
        let filter = ArtifactFilter {
            session_id: Some(session),
            ..filter
        };
        self.artifacts.list(scope, params, filter).await
    }

    /// One artifact (needs `work:read`).
    pub async fn artifact(&self, scope: &TenantScope, id: ArtifactId) -> DomainResult<Artifact> {
        self.artifacts.get(scope, id).await
    }

    /// Approves or rejects an artifact, once (needs `work:review`, or to maintain its
    /// project). Rejecting needs feedback. With the organization's
    /// [`INDEPENDENT_REVIEW`] on, whoever started the session may not approve
    /// ([`DomainError::NotAllowed`]). Of concurrent reviews exactly one wins; the others are
    /// [`DomainError::Conflict`].
    pub async fn review(
        &self,
        scope: &TenantScope,
        id: ArtifactId,
        decision: Decision,
        feedback_text: Option<String>,
        expected_version: Option<i64>,
    ) -> DomainResult<Artifact> {
        let feedback = feedback(decision, feedback_text.as_deref(), true)?;
        let artifact = self.artifacts.get(scope, id).await?;
        self.require_review(scope, artifact.project_id).await?;
        if decision == Decision::Approve && self.work.independent_review(scope).await? {
            let session = self.sessions.get(scope, artifact.session_id).await?;
            if session.started_by.is_some() && session.started_by == scope.user_id() {
                return Err(DomainError::NotAllowed(
                    "this organization requires independent review: whoever started the session cannot approve its artifacts".into(),
                ));
            }
        }
        let by = scope.author();
        self.artifacts
            .transition(scope, id, expected_version, "reviewed", move |artifact| {
                artifact.review(decision, by, feedback.clone())?;
                Ok(true)
            })
            .await
    }

    /// A page of a visible session's checkpoints (needs `work:read`).
    pub async fn checkpoints(
        &self,
        scope: &TenantScope,
        session: WorkSessionId,
        params: ListParams,
        filter: CheckpointFilter,
    ) -> DomainResult<Page<Checkpoint>> {
        self.sessions.get(scope, session).await?;
        let filter = CheckpointFilter {
            session_id: Some(session),
            ..filter
        };
        self.checkpoints.list(scope, params, filter).await
    }

    /// One checkpoint (needs `work:read`).
    pub async fn checkpoint(
        &self,
        scope: &TenantScope,
        id: CheckpointId,
    ) -> DomainResult<Checkpoint> {
        self.checkpoints.get(scope, id).await
    }

    /// Resolves an open checkpoint, once (needs `work:review`, or to maintain its project).
    /// Approving the session's last open checkpoint queues the run that carries the work on;
    /// rejecting fails the session with the feedback as its reason. A session no longer
    /// awaiting review is [`DomainError::Conflict`].
    pub async fn resolve(
        &self,
        scope: &TenantScope,
        id: CheckpointId,
        decision: Decision,
        feedback_text: Option<String>,
        expected_version: Option<i64>,
    ) -> DomainResult<Checkpoint> {
        let feedback = feedback(decision, feedback_text.as_deref(), false)?;
        let checkpoint = self.checkpoints.get(scope, id).await?;
        self.require_review(scope, checkpoint.project_id).await?;
        let by = scope.author();
        self.checkpoints
            .transition(scope, id, expected_version, "resolved", move |checkpoint| {
                checkpoint.resolve(decision, by, feedback.clone())?;
                Ok(true)
            })
            .await
    }

    /// Events of a visible session after sequence number `after` (needs `work:read`).
    pub async fn events(
        &self,
        scope: &TenantScope,
        id: WorkSessionId,
        after: i64,
        limit: Option<i64>,
    ) -> DomainResult<Vec<WorkEvent>> {
        self.sessions.authorize(scope, Permission::WorkRead).await?;
        let limit = crate::runs::event_window(after, limit)?;
        self.work.events(scope, id, after, limit).await
    }

    /// A project (`projects:read`), with its work counted for callers with `work:read`: one
    /// unit of work for both, so a project's read costs one transaction.
    pub async fn project(
        &self,
        scope: &TenantScope,
        project: ProjectId,
    ) -> DomainResult<(Project, Option<WorkStats>)> {
        self.sessions
            .authorize(scope, Permission::ProjectsRead)
            .await?;
        self.work
            .project_detail(scope, project, scope.has(Permission::WorkRead))
            .await
    }

    /// Fails unless the scope may decide on the project's work: with `work:review`, or as a
    /// maintainer of the project (who needs `work:read` to see the work at all).
    async fn require_review(&self, scope: &TenantScope, project: ProjectId) -> DomainResult<()> {
        if scope.has(Permission::WorkReview) {
            return Ok(());
        }
        if let Some(user) = scope.user_id()
            && scope.has(Permission::WorkRead)
            && self.members.role_of(scope, project, user).await? == Some(ProjectRole::Maintainer)
        {
            return Ok(());
        }
        self.sessions.authorize(scope, Permission::WorkReview).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::MockAuditRepository;
    use crate::ids::{OrganizationId, UserId};
    use crate::projects::MockProjectMemberRepository;
    use crate::resource::{MockTenantRepository, Record};
    use crate::scope::Role;
    use crate::work::{ArtifactFields, MockWorkRepository, ReviewStatus};

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    struct Parts {
        sessions: MockTenantRepository<WorkSessions>,
        artifacts: MockTenantRepository<Artifacts>,
        work: MockWorkRepository,
        members: MockProjectMemberRepository,
    }

    impl Parts {
        fn new() -> Self {
            Self {
                sessions: MockTenantRepository::new(),
                artifacts: MockTenantRepository::new(),
                work: MockWorkRepository::new(),
                members: MockProjectMemberRepository::new(),
            }
        }

        fn service(self) -> WorkService {
            let mut audit = MockAuditRepository::new();
            audit.expect_record().returning(|_, _| Ok(()));
            WorkService::new(
                Arc::new(self.sessions),
                Arc::new(self.artifacts),
                Arc::new(MockTenantRepository::<Checkpoints>::new()),
                Arc::new(self.work),
                Arc::new(self.members),
                Arc::new(audit),
            )
        }
    }

    fn artifact(org: OrganizationId) -> Artifact {
        let fields = ArtifactFields::produced(
            WorkSessionId::new(),
            ProjectId::new(),
            "report",
            "Findings",
            json!({}),
        )
        .expect("as expected");
        Record::new(org, UserId::new(), fields)
    }

    fn session_started_by(org: OrganizationId, user: Option<UserId>) -> WorkSession {
        let mut fields = <WorkSessions as crate::resource::Resource>::validate(CreateWorkSession {
            project_id: ProjectId::new(),
            task_type: "research".into(),
            task_intent: "Find out".into(),
            task_parameters: None,
            agent_id: None,
            checkpoint: None,
        })
        .expect("as expected");
        fields.started_by = user;
        Record::new(org, UserId::new(), fields)
    }

    #[tokio::test]
    async fn rejecting_without_feedback_writes_nothing() {
        let admin = scope(Role::Admin);
        let mut parts = Parts::new();
        parts.artifacts.expect_change().never();
        let result = parts
            .service()
            .review(&admin, ArtifactId::new(), Decision::Reject, None, None)
            .await;
        assert!(matches!(result, Err(DomainError::Validation(_))));
    }

    #[tokio::test]
    async fn members_review_only_their_maintained_projects() {
        let member = scope(Role::Member);
        let org = member.organization_id();
        for (maintainer, allowed) in [(true, true), (false, false)] {
            let mut parts = Parts::new();
            parts
                .artifacts
                .expect_get()
                .returning(move |_, _, _| Ok(artifact(org)));
            parts
                .members
                .expect_role_of()
                .returning(move |_, _, _| Ok(maintainer.then_some(ProjectRole::Maintainer)));
            parts
                .work
                .expect_independent_review()
                .returning(|_| Ok(false));
            parts
                .artifacts
                .expect_change()
                .times(usize::from(allowed))
                .returning(|_, _, _, change| {
                    let current = artifact(OrganizationId::new());
                    change
                        .next(&current)?
                        .map(|(next, _)| next)
                        .ok_or(DomainError::NotFound)
                });
            let result = parts
                .service()
                .review(&member, ArtifactId::new(), Decision::Approve, None, None)
                .await;
            if allowed {
                assert_eq!(
                    result.expect("as expected").review_status,
                    ReviewStatus::Approved
                );
            } else {
                assert!(matches!(
                    result,
                    Err(DomainError::Forbidden(Permission::WorkReview))
                ));
            }
        }
    }

    #[tokio::test]
    async fn with_independent_review_the_starter_cannot_approve() {
        let admin = scope(Role::Admin);
        let org = admin.organization_id();
        let me = admin.user_id();
        let mut parts = Parts::new();
        parts
            .artifacts
            .expect_get()
            .returning(move |_, _, _| Ok(artifact(org)));
        parts
            .work
            .expect_independent_review()
            .returning(|_| Ok(true));
        parts
            .sessions
            .expect_get()
            .returning(move |_, _, _| Ok(session_started_by(org, me)));
        parts.artifacts.expect_change().never();
        let result = parts
            .service()
            .review(&admin, ArtifactId::new(), Decision::Approve, None, None)
            .await;
        assert!(matches!(result, Err(DomainError::NotAllowed(_))));
    }

    #[tokio::test]
    async fn a_session_starts_once_and_only_with_an_agent() {
        let member = scope(Role::Member);
        let org = member.organization_id();
        let mut parts = Parts::new();
        parts
            .sessions
            .expect_change()
            .returning(move |_, _, _, change| {
                let current = session_started_by(org, None);
                change.next(&current).map(|_| current)
            });
        let result = parts
            .service()
            .start(&member, WorkSessionId::new(), None)
            .await;
        assert!(matches!(result, Err(DomainError::Conflict(m)) if m.contains("no agent")));
        let viewer = scope(Role::Viewer);
        let mut parts = Parts::new();
        parts.sessions.expect_change().never();
        assert!(matches!(
            parts
                .service()
                .start(&viewer, WorkSessionId::new(), None)
                .await,
            Err(DomainError::Forbidden(Permission::WorkWrite))
        ));
    }
}
