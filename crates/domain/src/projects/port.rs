//! Storage port for projects.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{Project, ProjectChanges, ProjectMember, ProjectQuery, ProjectRole};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::{ProjectId, UserId};
use crate::page::Page;
use crate::scope::TenantScope;

/// Stores projects. Every method is confined to `scope`'s organization: a project of another
/// organization behaves exactly like one that does not exist. Every write records its audit
/// event (`super::model::actions`) in the same transaction.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProjectRepository: Send + Sync {
    /// Stores a new project. `project.organization_id` must be the scope's. Fails with
    /// [`crate::DomainError::Conflict`] when the name is taken in the organization.
    async fn insert(&self, scope: &TenantScope, project: &Project) -> DomainResult<()>;

    /// One page of the organization's projects (soft-deleted ones only if the query says so).
    async fn list(&self, scope: &TenantScope, query: &ProjectQuery) -> DomainResult<Page<Project>>;

    /// One live project, or [`crate::DomainError::NotFound`].
    async fn get(&self, scope: &TenantScope, id: ProjectId) -> DomainResult<Project>;

    /// Applies `changes` to a live project and returns the result. With `expected_version`,
    /// fails with [`crate::DomainError::PreconditionFailed`] unless it is still current.
    async fn update(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        changes: &ProjectChanges,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> DomainResult<Project>;

    /// Soft-deletes a live project (it then reads as missing), with the same version check.
    async fn soft_delete(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> DomainResult<Project>;

    /// Brings back a soft-deleted project; [`crate::DomainError::NotFound`] if there is none,
    /// [`crate::DomainError::Conflict`] if its name was taken meanwhile.
    async fn restore(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        now: DateTime<Utc>,
    ) -> DomainResult<Project>;

    /// Removes for good the projects soft-deleted before `cutoff`; returns how many.
    async fn purge_deleted_before(
        &self,
        scope: &TenantScope,
        cutoff: DateTime<Utc>,
    ) -> DomainResult<u64>;
}

/// Stores the members of projects. Every method is confined to `scope`'s organization; a
/// project of another organization is [`crate::DomainError::NotFound`].
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProjectTeamRepository: Send + Sync {
    /// The members of a live project, by when they were added.
    async fn members(
        &self,
        scope: &TenantScope,
        project: ProjectId,
    ) -> DomainResult<Vec<ProjectMember>>;

    /// `user`'s role in the project, if any.
    async fn role_of(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        user: UserId,
    ) -> DomainResult<Option<ProjectRole>>;

    /// Adds `member` to a live project (or changes their role), recording `entry`.
    /// [`crate::DomainError::Validation`] on `user_id` when the user is not a member of the
    /// organization (another organization's user reads exactly like an unknown one).
    async fn put(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        member: &ProjectMember,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Removes a member from a project ([`crate::DomainError::NotFound`] if not one),
    /// recording `entry`.
    async fn remove(
        &self,
        scope: &TenantScope,
        project: ProjectId,
        user: UserId,
        entry: AuditEntry,
    ) -> DomainResult<()>;
}
