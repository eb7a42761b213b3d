//! Project use cases and their permission rules: viewers read, members create and edit,
//! admins and owners also delete.

use std::sync::Arc;

use super::model::{
    Project, ProjectChanges, ProjectDescription, ProjectName, ProjectQuery, ProjectSort,
};
use super::port::ProjectRepository;
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
}

/// The project use cases.
#[derive(Clone)]
pub struct ProjectService {
    repo: Arc<dyn ProjectRepository>,
}

impl ProjectService {
    /// The longest search string accepted, in characters.
    pub const MAX_QUERY_CHARS: usize = 200;

    /// Builds the service on a repository.
    pub fn new(repo: Arc<dyn ProjectRepository>) -> Self {
        Self { repo }
    }

    /// Creates a project in the scope's organization, owned by the acting user.
    pub async fn create(&self, scope: &TenantScope, input: CreateProject) -> DomainResult<Project> {
        scope.require(Permission::ProjectsWrite)?;
        let mut v = Validator::new();
        let name = v.check(ProjectName::parse(&input.name));
        let description = input
            .description
            .as_deref()
            .map(ProjectDescription::parse)
            .transpose();
        let description = v.check(description);
        v.finish()?;
        let (Some(name), Some(description)) = (name, description) else {
            unreachable!("Validator::finish fails when a check failed")
        };
        let now = crate::now();
        let project = Project {
            id: ProjectId::new(),
            organization_id: scope.organization_id(),
            name,
            description,
            created_by: scope.user_id(),
            created_at: now,
            updated_at: now,
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
        scope.require(Permission::ProjectsRead)?;
        let mut v = Validator::new();
        let page = v.check(PageRequest::parse(input.limit, input.offset));
        let sort = v.check(input.sort.as_deref().map(ProjectSort::parse).transpose());
        let name_contains = v.check(parse_search(input.q.as_deref()));
        v.finish()?;
        let (Some(page), Some(sort), Some(name_contains)) = (page, sort, name_contains) else {
            unreachable!("Validator::finish fails when a check failed")
        };
        let query = ProjectQuery {
            page,
            name_contains,
            sort: sort.unwrap_or_default(),
        };
        self.repo.list(scope, &query).await
    }

    /// Reads one project.
    pub async fn get(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project> {
        scope.require(Permission::ProjectsRead)?;
        self.repo.get(scope, id).await
    }

    /// Applies a partial update. An empty update changes nothing and returns the project.
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        input: UpdateProject,
    ) -> DomainResult<Project> {
        scope.require(Permission::ProjectsWrite)?;
        let mut v = Validator::new();
        let name = v.check(input.name.as_deref().map(ProjectName::parse).transpose());
        let description = v.check(
            input
                .description
                .map(|d| d.as_deref().map(ProjectDescription::parse).transpose())
                .transpose(),
        );
        v.finish()?;
        let (Some(name), Some(description)) = (name, description) else {
            unreachable!("Validator::finish fails when a check failed")
        };
        let changes = ProjectChanges { name, description };
        if changes.is_empty() {
            return self.repo.get(scope, id).await;
        }
        self.repo.update(scope, id, &changes, crate::now()).await
    }

    /// Deletes a project.
    pub async fn delete(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<()> {
        scope.require(Permission::ProjectsDelete)?;
        self.repo.delete(scope, id).await
    }
}

fn parse_search(raw: Option<&str>) -> DomainResult<Option<String>> {
    let Some(raw) = raw.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    crate::text::bounded("q", raw, 1, ProjectService::MAX_QUERY_CHARS).map(Some)
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::error::DomainError;
    use crate::ids::{OrganizationId, UserId};
    use crate::projects::port::MockProjectRepository;
    use crate::scope::Role;

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn service(repo: MockProjectRepository) -> ProjectService {
        ProjectService::new(Arc::new(repo))
    }

    #[tokio::test]
    async fn create_stamps_the_scope_organization_and_creator() {
        let scope = scope(Role::Member);
        let (org, user) = (scope.organization_id(), scope.user_id());
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
        repo.expect_delete()
            .with(mockall::predicate::always(), eq(id))
            .times(1)
            .returning(|_, _| Ok(()));
        let service = service(repo);
        let err = service.delete(&scope(Role::Member), id).await;
        assert!(
            matches!(err, Err(DomainError::Forbidden(Permission::ProjectsDelete))),
            "{err:?}"
        );
        service
            .delete(&scope(Role::Admin), id)
            .await
            .expect("admin deletes");
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
            .withf(|_, _, c, _| c.name.is_none() && c.description == Some(None))
            .times(1)
            .returning(|_, _, _, _| Err(DomainError::NotFound));
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
            )
            .await;
        assert!(matches!(cleared, Err(DomainError::NotFound)));
        let empty = service.update(&scope, id, UpdateProject::default()).await;
        assert!(matches!(empty, Err(DomainError::NotFound)));
    }

    #[tokio::test]
    async fn viewer_cannot_update() {
        let mut repo = MockProjectRepository::new();
        repo.expect_update().never();
        let err = service(repo)
            .update(
                &scope(Role::Viewer),
                ProjectId::new(),
                UpdateProject {
                    name: Some("x".into()),
                    description: None,
                },
            )
            .await;
        assert!(matches!(err, Err(DomainError::Forbidden(_))));
    }
}
