//! Project use cases and their permission rules: viewers read, members create and edit,
//! admins and owners also delete, restore and see deleted projects; a project's creator and
//! maintainers edit it (and manage its members) whatever their organization role.

use std::sync::Arc;

use chrono::Duration;

use super::model::{
    Project, ProjectChanges, ProjectDescription, ProjectName, ProjectQuery, ProjectSort,
};
use super::port::{ProjectRepository, ProjectTeamRepository};
use crate::audit::AuditRepository;
use crate::error::{DomainResult, Validator};
use crate::ids::ProjectId;
use crate::page::{Page, PageRequest};
use crate::scope::{Permission, TenantScope};

/// Raw input of a create, as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct CreateProject {
    /// The name.
    pub name: String,
    /// The optional description.
    pub description: Option<String>,
}

/// Raw input of a partial update. `description: Some(None)` clears the description.
#[derive(Debug, Clone, Default)]
pub struct UpdateProject {
    /// A new name, if any.
    pub name: Option<String>,
    /// A new description (`Some(None)` clears it), if any.
    pub description: Option<Option<String>>,
}

/// Raw list parameters, as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct ListProjects {
    /// Page size (1 to 100, default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
    /// Case-insensitive search in the name.
    pub q: Option<String>,
    /// `name`, `-name`, `created_at` or `-created_at` (default `-created_at`).
    pub sort: Option<String>,
    /// List soft-deleted projects too (needs projects:delete).
    pub include_deleted: bool,
}

/// The project use cases.
#[derive(Clone)]
pub struct ProjectService {
    pub(super) repo: Arc<dyn ProjectRepository>,
    pub(super) team: Arc<dyn ProjectTeamRepository>,
    audit: Arc<dyn AuditRepository>,
}

impl ProjectService {
    /// The longest search string accepted, in characters.
    pub const MAX_QUERY_CHARS: usize = 200;

    /// Builds the service on its repositories; refusals are recorded through `audit`.
    pub fn new(
        repo: Arc<dyn ProjectRepository>,
        team: Arc<dyn ProjectTeamRepository>,
        audit: Arc<dyn AuditRepository>,
    ) -> Self {
        Self { repo, team, audit }
    }

    pub(super) async fn require(
        &self,
        scope: &TenantScope,
        permission: Permission,
    ) -> DomainResult<()> {
        scope.authorize(&*self.audit, permission).await
    }

    /// Creates a project in the scope's organization, owned by the acting user.
    pub async fn create(&self, scope: &TenantScope, input: CreateProject) -> DomainResult<Project> {
        self.require(scope, Permission::ProjectsWrite).await?;
        let created_by = scope.author().ok_or(crate::DomainError::Unauthorized)?;
        let mut v = Validator::new();
        let name = v.check(ProjectName::parse(&input.name));
        let description = input
            .description
            .as_deref()
            .map(ProjectDescription::parse)
            .transpose();
        let description = v.check(description);
        let (name, description) = v.values((name, description))?;
        let now = crate::now();
        let project = Project {
            id: ProjectId::new(),
            organization_id: scope.organization_id(),
            name,
            description,
            created_by,
            created_at: now,
            updated_at: now,
            version: 1,
            deleted_at: None,
            deleted_by: None,
        };
        self.repo.insert(scope, &project).await?;
        Ok(project)
    }

    /// Lists the scope's organization's projects.
    pub async fn list(
        &self,
        scope: &TenantScope,
        input: ListProjects,
    ) -> DomainResult<Page<Project>> {
        self.require(scope, Permission::ProjectsRead).await?;
        if input.include_deleted {
            self.require(scope, Permission::ProjectsDelete).await?;
        }
        let mut v = Validator::new();
        let page = v.check(PageRequest::parse(input.limit, input.offset));
        let sort = v.check(input.sort.as_deref().map(ProjectSort::parse).transpose());
        let name_contains = v.check(parse_search(input.q.as_deref()));
        let (page, sort, name_contains) = v.values((page, sort, name_contains))?;
        let query = ProjectQuery {
            page,
            name_contains,
            sort: sort.unwrap_or_default(),
            include_deleted: input.include_deleted,
        };
        self.repo.list(scope, &query).await
    }

    /// Reads one live project.
    pub async fn get(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project> {
        self.require(scope, Permission::ProjectsRead).await?;
        self.repo.get(scope, id).await
    }

    /// Applies a partial update. With `expected_version` (from `If-Match`), a project changed
    /// meanwhile is [`crate::DomainError::PreconditionFailed`]. An empty update changes nothing.
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        input: UpdateProject,
        expected_version: Option<i64>,
    ) -> DomainResult<Project> {
        self.require_edit(scope, id).await?;
        let mut v = Validator::new();
        let name = v.check(input.name.as_deref().map(ProjectName::parse).transpose());
        let description = v.check(
            input
                .description
                .map(|d| d.as_deref().map(ProjectDescription::parse).transpose())
                .transpose(),
        );
        let (name, description) = v.values((name, description))?;
        let changes = ProjectChanges { name, description };
        if changes.is_empty() {
            let project = self.repo.get(scope, id).await?;
            return match expected_version {
                Some(expected) if expected != project.version => {
                    Err(crate::DomainError::PreconditionFailed)
                }
                _ => Ok(project),
            };
        }
        self.repo
            .update(scope, id, &changes, expected_version, crate::now())
            .await
    }

    /// Soft-deletes a project, with the same version check as [`Self::update`].
    pub async fn delete(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        expected_version: Option<i64>,
    ) -> DomainResult<()> {
        self.require(scope, Permission::ProjectsDelete).await?;
        self.repo
            .soft_delete(scope, id, expected_version, crate::now())
            .await
            .map(|_| ())
    }

    /// Brings back a soft-deleted project.
    pub async fn restore(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project> {
        self.require(scope, Permission::ProjectsDelete).await?;
        self.repo.restore(scope, id, crate::now()).await
    }

    /// Removes for good the projects deleted longer than `retention` ago; returns how many.
    pub async fn purge(&self, scope: &TenantScope, retention: Duration) -> DomainResult<u64> {
        self.require(scope, Permission::ProjectsDelete).await?;
        self.repo
            .purge_deleted_before(scope, crate::now() - retention)
            .await
    }
}

fn parse_search(raw: Option<&str>) -> DomainResult<Option<String>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let text = crate::text::bounded("q", raw, 0, ProjectService::MAX_QUERY_CHARS)?;
    Ok(Some(text).filter(|q| !q.is_empty()))
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::audit::MockAuditRepository;
    use crate::error::DomainError;
    use crate::ids::{OrganizationId, UserId};
    use crate::projects::port::MockProjectRepository;
    use crate::scope::Role;
    use crate::scope::SystemTask;

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn service(repo: MockProjectRepository) -> ProjectService {
        let mut audit = MockAuditRepository::new();
        audit.expect_record().returning(|_, _| Ok(()));
        let mut team = crate::projects::MockProjectTeamRepository::new();
        team.expect_role_of().returning(|_, _, _| Ok(None));
        ProjectService::new(Arc::new(repo), Arc::new(team), Arc::new(audit))
    }

    #[tokio::test]
    async fn create_stamps_the_scope_organization_and_creator() {
        let scope = scope(Role::Member);
        let (org, user) = (
            scope.organization_id(),
            scope.require_user().expect("a user"),
        );
        let mut repo = MockProjectRepository::new();
        repo.expect_insert()
            .withf(move |s, p| {
                s.organization_id() == org && p.organization_id == org && p.created_by == user
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let project = service(repo)
            .create(
                &scope,
                CreateProject {
                    name: "  Apollo ".into(),
                    description: None,
                },
            )
            .await
            .expect("created");
        assert_eq!(project.name.as_str(), "Apollo");
        assert_eq!(project.organization_id, org);
    }

    #[tokio::test]
    async fn viewer_cannot_create_and_nothing_is_stored() {
        let mut repo = MockProjectRepository::new();
        repo.expect_insert().never();
        let err = service(repo)
            .create(
                &scope(Role::Viewer),
                CreateProject {
                    name: "x".into(),
                    description: None,
                },
            )
            .await;
        assert!(
            matches!(err, Err(DomainError::Forbidden(Permission::ProjectsWrite))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn invalid_input_reports_every_field_and_stores_nothing() {
        let mut repo = MockProjectRepository::new();
        repo.expect_insert().never();
        let err = service(repo)
            .create(
                &scope(Role::Owner),
                CreateProject {
                    name: String::new(),
                    description: Some("d".repeat(2001)),
                },
            )
            .await;
        let Err(DomainError::Validation(errors)) = err else {
            panic!("expected validation error, got {err:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "description"]);
    }

    #[tokio::test]
    async fn member_cannot_delete_but_admin_can() {
        let id = ProjectId::new();
        let mut repo = MockProjectRepository::new();
        repo.expect_soft_delete()
            .with(
                mockall::predicate::always(),
                eq(id),
                eq(None),
                mockall::predicate::always(),
            )
            .times(1)
            .returning(|_, _, _, _| Err(DomainError::NotFound));
        let service = service(repo);
        let err = service.delete(&scope(Role::Member), id, None).await;
        assert!(
            matches!(err, Err(DomainError::Forbidden(Permission::ProjectsDelete))),
            "{err:?}"
        );
        let reached = service.delete(&scope(Role::Admin), id, None).await;
        assert!(
            matches!(reached, Err(DomainError::NotFound)),
            "admin reaches the repository"
        );
    }

    #[tokio::test]
    async fn viewer_reads() {
        let mut repo = MockProjectRepository::new();
        repo.expect_list().times(1).returning(|_, q| {
            Ok(Page {
                items: vec![],
                total: 0,
                request: q.page,
            })
        });
        let page = service(repo)
            .list(&scope(Role::Viewer), ListProjects::default())
            .await
            .expect("listed");
        assert_eq!(page.total, 0);
    }

    #[tokio::test]
    async fn list_rejects_bad_parameters_before_querying() {
        let mut repo = MockProjectRepository::new();
        repo.expect_list().never();
        let err = service(repo)
            .list(
                &scope(Role::Owner),
                ListProjects {
                    limit: Some(500),
                    offset: Some(-1),
                    q: None,
                    sort: Some("password".into()),
                    include_deleted: false,
                },
            )
            .await;
        let Err(DomainError::Validation(errors)) = err else {
            panic!("expected validation error, got {err:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "offset", "sort"]);
    }

    #[tokio::test]
    async fn list_passes_search_and_sort_through() {
        let mut repo = MockProjectRepository::new();
        repo.expect_list()
            .withf(|_, q| {
                q.name_contains.as_deref() == Some("apo")
                    && q.sort == ProjectSort::parse("name").expect("valid")
                    && q.page.limit() == 5
            })
            .times(1)
            .returning(|_, q| {
                Ok(Page {
                    items: vec![],
                    total: 0,
                    request: q.page,
                })
            });
        service(repo)
            .list(
                &scope(Role::Member),
                ListProjects {
                    limit: Some(5),
                    offset: None,
                    q: Some(" apo ".into()),
                    sort: Some("name".into()),
                    include_deleted: false,
                },
            )
            .await
            .expect("listed");
    }

    #[tokio::test]
    async fn update_can_clear_the_description_and_empty_update_only_reads() {
        let scope = scope(Role::Member);
        let id = ProjectId::new();
        let mut repo = MockProjectRepository::new();
        repo.expect_update()
            .withf(|_, _, c, v, _| c.name.is_none() && c.description == Some(None) && *v == Some(3))
            .times(1)
            .returning(|_, _, _, _, _| Err(DomainError::NotFound));
        repo.expect_get()
            .times(1)
            .returning(|_, _| Err(DomainError::NotFound));
        let service = service(repo);
        let cleared = service
            .update(
                &scope,
                id,
                UpdateProject {
                    name: None,
                    description: Some(None),
                },
                Some(3),
            )
            .await;
        assert!(matches!(cleared, Err(DomainError::NotFound)));
        let empty = service
            .update(&scope, id, UpdateProject::default(), None)
            .await;
        assert!(matches!(empty, Err(DomainError::NotFound)));
    }

    #[tokio::test]
    async fn viewer_cannot_update() {
        let mut repo = MockProjectRepository::new();
        repo.expect_update().never();
        // Someone else's project, where the viewer is no maintainer (the mock team says so).
        repo.expect_get()
            .returning(|s, id| Ok(project(s.organization_id(), id)));
        let err = service(repo)
            .update(
                &scope(Role::Viewer),
                ProjectId::new(),
                UpdateProject {
                    name: Some("x".into()),
                    description: None,
                },
                None,
            )
            .await;
        assert!(matches!(err, Err(DomainError::Forbidden(_))));
    }

    fn project(organization_id: OrganizationId, id: ProjectId) -> Project {
        Project {
            id,
            organization_id,
            name: ProjectName::parse("Apollo").expect("valid"),
            description: None,
            created_by: UserId::new(),
            created_at: crate::now(),
            updated_at: crate::now(),
            version: 1,
            deleted_at: None,
            deleted_by: None,
        }
    }

    #[tokio::test]
    async fn maintainers_and_creators_update_without_projects_write() {
        let viewer = scope(Role::Viewer);
        let me = viewer.require_user().expect("a user");
        for (created_by_me, maintainer) in [(true, false), (false, true)] {
            let mut repo = MockProjectRepository::new();
            repo.expect_get().returning(move |s, id| {
                let mut p = project(s.organization_id(), id);
                if created_by_me {
                    p.created_by = me;
                }
                Ok(p)
            });
            repo.expect_update()
                .times(1)
                .returning(|s, id, _, _, _| Ok(project(s.organization_id(), id)));
            let mut team = crate::projects::MockProjectTeamRepository::new();
            team.expect_role_of().returning(move |_, _, _| {
                Ok(maintainer.then_some(crate::projects::ProjectRole::Maintainer))
            });
            let service = ProjectService::new(
                Arc::new(repo),
                Arc::new(team),
                Arc::new(MockAuditRepository::new()),
            );
            let input = UpdateProject {
                name: Some("Gemini".into()),
                description: None,
            };
            service
                .update(&viewer, ProjectId::new(), input, None)
                .await
                .expect("allowed");
        }
    }

    #[tokio::test]
    async fn refusals_are_recorded_in_the_audit_trail() {
        let mut audit = MockAuditRepository::new();
        audit
            .expect_record()
            .withf(|_, e| {
                e.action == "permission.denied"
                    && e.resource_id.as_deref() == Some("projects:write")
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let mut repo = MockProjectRepository::new();
        repo.expect_insert().never();
        let service = ProjectService::new(
            Arc::new(repo),
            Arc::new(crate::projects::MockProjectTeamRepository::new()),
            Arc::new(audit),
        );
        let err = service
            .create(
                &scope(Role::Viewer),
                CreateProject {
                    name: "x".into(),
                    description: None,
                },
            )
            .await;
        assert!(matches!(err, Err(DomainError::Forbidden(_))));
    }

    #[tokio::test]
    async fn only_deleters_list_deleted_projects() {
        let mut repo = MockProjectRepository::new();
        repo.expect_list()
            .withf(|_, q| q.include_deleted)
            .times(1)
            .returning(|_, q| {
                Ok(Page {
                    items: vec![],
                    total: 0,
                    request: q.page,
                })
            });
        let service = service(repo);
        let listing = ListProjects {
            include_deleted: true,
            ..Default::default()
        };
        let err = service.list(&scope(Role::Member), listing.clone()).await;
        assert!(matches!(
            err,
            Err(DomainError::Forbidden(Permission::ProjectsDelete))
        ));
        service
            .list(&scope(Role::Admin), listing)
            .await
            .expect("admin lists deleted");
    }

    #[tokio::test]
    async fn empty_update_still_checks_the_version() {
        let scope = scope(Role::Member);
        let current = Project {
            id: ProjectId::new(),
            organization_id: scope.organization_id(),
            name: ProjectName::parse("p").expect("valid"),
            description: None,
            created_by: scope.require_user().expect("user"),
            created_at: crate::now(),
            updated_at: crate::now(),
            version: 4,
            deleted_at: None,
            deleted_by: None,
        };
        let mut repo = MockProjectRepository::new();
        repo.expect_get().returning(move |_, _| Ok(current.clone()));
        let service = service(repo);
        let stale = service
            .update(&scope, ProjectId::new(), UpdateProject::default(), Some(3))
            .await;
        assert!(matches!(stale, Err(DomainError::PreconditionFailed)));
        let fresh = service
            .update(&scope, ProjectId::new(), UpdateProject::default(), Some(4))
            .await;
        assert_eq!(fresh.expect("current").version, 4);
    }

    #[tokio::test]
    async fn purge_runs_as_a_system_task_with_a_cutoff_in_the_past() {
        let mut repo = MockProjectRepository::new();
        repo.expect_purge_deleted_before()
            .withf(|_, cutoff| *cutoff < crate::now() - Duration::days(29))
            .times(1)
            .returning(|_, _| Ok(2));
        let scope = TenantScope::system(OrganizationId::new(), SystemTask::Purge);
        assert_eq!(
            service(repo)
                .purge(&scope, Duration::days(30))
                .await
                .expect("purged"),
            2
        );
    }
}
