//! Project use cases and their permission rules: viewers read, members create and edit,
//! admins and owners also delete, restore and see deleted projects (the kit's steps, with
//! [`super::Projects`]' permissions); a project's creator and maintainers edit it (and manage
//! its members) whatever their organization role, which is this aggregate's own rule.

use std::sync::Arc;

use super::model::{CreateProject, Project, Projects, UpdateProject};
use super::port::ProjectMemberRepository;
use crate::audit::AuditRepository;
use crate::error::DomainResult;
use crate::ids::ProjectId;
use crate::page::Page;
use crate::resource::{ListParams, Resources, TenantRepository};
use crate::scope::TenantScope;

/// The project use cases.
#[derive(Clone)]
pub struct ProjectService {
    pub(super) projects: Resources<Projects>,
    pub(super) members: Arc<dyn ProjectMemberRepository>,
}

impl ProjectService {
    /// Builds the service on its repositories; refusals are recorded through `audit`.
    pub fn new(
        repo: Arc<dyn TenantRepository<Projects>>,
        members: Arc<dyn ProjectMemberRepository>,
        audit: Arc<dyn AuditRepository>,
    ) -> Self {
        Self {
            projects: Resources::new(repo, audit),
            members,
        }
    }

    /// The kit's use cases of projects, for the jobs that run over every resource (purge).
    pub fn resources(&self) -> &Resources<Projects> {
        &self.projects
    }

    /// Creates a project in the scope's organization, owned by the acting user.
    pub async fn create(&self, scope: &TenantScope, input: CreateProject) -> DomainResult<Project> {
        self.projects.create(scope, input).await
    }

    /// Lists the scope's organization's projects (`q` searches the name; sorted by `name` or
    /// `created_at`).
    pub async fn list(
        &self,
        scope: &TenantScope,
        params: ListParams,
        filter: (),
    ) -> DomainResult<Page<Project>> {
        self.projects.list(scope, params, filter).await
    }

    /// Reads one live project.
    pub async fn get(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project> {
        self.projects.get(scope, id).await
    }

    /// Applies a partial update, for whoever may edit the project. With `expected_version`
    /// (from `If-Match`), a project changed meanwhile is
    /// [`crate::DomainError::PreconditionFailed`]. An empty update changes nothing.
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        input: UpdateProject,
        expected_version: Option<i64>,
    ) -> DomainResult<Project> {
        self.require_edit(scope, id).await?;
        self.projects
            .patch(scope, id, input, expected_version)
            .await
    }

    /// Soft-deletes a project, with the same version check as [`Self::update`].
    pub async fn delete(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        expected_version: Option<i64>,
    ) -> DomainResult<()> {
        self.projects
            .delete(scope, id, expected_version)
            .await
            .map(|_| ())
    }

    /// Brings back a soft-deleted project.
    pub async fn restore(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project> {
        self.projects.restore(scope, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DomainError;
    use crate::ids::{OrganizationId, UserId};
    use crate::projects::{MockProjectMemberRepository, ProjectRole};
    use crate::resource::{MockTenantRepository, Record};
    use crate::scope::{Permission, Role};

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn service(repo: MockTenantRepository<Projects>, maintainer: bool) -> ProjectService {
        let mut audit = crate::audit::MockAuditRepository::new();
        audit.expect_record().returning(|_, _| Ok(()));
        let mut members = MockProjectMemberRepository::new();
        members
            .expect_role_of()
            .returning(move |_, _, _| Ok(maintainer.then_some(ProjectRole::Maintainer)));
        ProjectService::new(Arc::new(repo), Arc::new(members), Arc::new(audit))
    }

    fn project(organization_id: OrganizationId, created_by: UserId) -> Project {
        let fields = <Projects as crate::resource::Resource>::validate(CreateProject {
            name: "Apollo".into(),
            description: None,
        })
        .expect("valid");
        Record::new(organization_id, created_by, fields)
    }

    fn rename() -> UpdateProject {
        UpdateProject {
            name: Some("Gemini".into()),
            description: None,
        }
    }

    #[tokio::test]
    async fn a_viewer_is_refused_before_the_input_is_checked() {
        let mut repo = MockTenantRepository::<Projects>::new();
        repo.expect_insert().never();
        let invalid = CreateProject {
            name: String::new(),
            description: None,
        };
        let err = service(repo, false)
            .create(&scope(Role::Viewer), invalid)
            .await;
        assert!(
            matches!(err, Err(DomainError::Forbidden(Permission::ProjectsWrite))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_viewer_cannot_update_someone_elses_project() {
        let mut repo = MockTenantRepository::<Projects>::new();
        repo.expect_get()
            .returning(|s, _, _| Ok(project(s.organization_id(), UserId::new())));
        repo.expect_change().never();
        let err = service(repo, false)
            .update(&scope(Role::Viewer), ProjectId::new(), rename(), None)
            .await;
        assert!(
            matches!(err, Err(DomainError::Forbidden(Permission::ProjectsWrite))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn maintainers_and_creators_update_without_projects_write() {
        let viewer = scope(Role::Viewer);
        let me = viewer.require_user().expect("a user");
        for (created_by_me, maintainer) in [(true, false), (false, true)] {
            let mut repo = MockTenantRepository::<Projects>::new();
            repo.expect_get().returning(move |s, _, _| {
                let creator = if created_by_me { me } else { UserId::new() };
                Ok(project(s.organization_id(), creator))
            });
            repo.expect_change()
                .times(1)
                .returning(move |s, _, _, change| {
                    let current = project(s.organization_id(), me);
                    let written = change.next(&current)?.map(|(next, _)| next);
                    Ok(written.unwrap_or(current))
                });
            let updated = service(repo, maintainer)
                .update(&viewer, ProjectId::new(), rename(), None)
                .await
                .expect("allowed");
            assert_eq!(updated.name.as_str(), "Gemini");
        }
    }
}
