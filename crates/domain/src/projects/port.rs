//! Storage port for projects.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{Project, ProjectChanges, ProjectQuery};
use crate::error::DomainResult;
use crate::ids::ProjectId;
use crate::page::Page;
use crate::scope::TenantScope;

/// Stores projects. Every method is confined to `scope`'s organization: a project of another
/// organization behaves exactly like one that does not exist.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProjectRepository: Send + Sync {
    /// Stores a new project. `project.organization_id` must be the scope's. Fails with
    /// [`crate::DomainError::Conflict`] when the name is taken in the organization.
    async fn insert(&self, scope: &TenantScope, project: &Project) -> DomainResult<()>;

    /// One page of the organization's projects.
    async fn list(&self, scope: &TenantScope, query: &ProjectQuery) -> DomainResult<Page<Project>>;

    /// One project, or [`crate::DomainError::NotFound`].
    async fn get(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project>;

    /// Applies `changes` and returns the result, or [`crate::DomainError::NotFound`].
    async fn update(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        changes: &ProjectChanges,
        now: DateTime<Utc>,
    ) -> DomainResult<Project>;

    /// Deletes a project, or fails with [`crate::DomainError::NotFound`].
    async fn delete(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<()>;
}
