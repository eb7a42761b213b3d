//! Project members, and the edit right they give.

use super::model::{ProjectMember, ProjectRole};
use super::service::ProjectService;
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::{ProjectId, UserId};
use crate::scope::{Permission, TenantScope};

fn member_entry(
    action: &str,
    project: ProjectId,
    user: UserId,
    details: serde_json::Value,
) -> AuditEntry {
    let mut changes = serde_json::json!({ "user_id": user.to_string() });
    if let (Some(changes), serde_json::Value::Object(extra)) = (changes.as_object_mut(), details) {
        changes.extend(extra);
    }
    AuditEntry::event(action, "project", Some(project.to_string()), changes)
}

impl ProjectService {
    /// Fails unless the scope may edit the project: with `projects:write`, or as the project's
    /// creator or one of its maintainers (who need `projects:read` to see it at all).
    pub(super) async fn require_edit(
        &self,
        scope: &TenantScope,
        id: ProjectId,
    ) -> DomainResult<()> {
        if scope.has(Permission::ProjectsWrite) {
            return Ok(());
        }
        if let Some(user) = scope.user_id()
            && scope.has(Permission::ProjectsRead)
        {
            let project = self.projects.get(scope, id).await?;
            if project.created_by == user
                || self.members.role_of(scope, id, user).await? == Some(ProjectRole::Maintainer)
            {
                return Ok(());
            }
        }
        self.projects
            .authorize(scope, Permission::ProjectsWrite)
            .await
    }

    /// The project's members (projects:read).
    pub async fn members(
        &self,
        scope: &TenantScope,
        id: ProjectId,
    ) -> DomainResult<Vec<ProjectMember>> {
        self.projects
            .authorize(scope, Permission::ProjectsRead)
            .await?;
        self.members.members(scope, id).await
    }

    /// Adds a member of the organization to the project, or changes their project role
    /// (whoever may edit the project).
    pub async fn put_member(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        user: UserId,
        role: ProjectRole,
    ) -> DomainResult<ProjectMember> {
        self.require_edit(scope, id).await?;
        let added_by = scope.author().ok_or(crate::DomainError::Unauthorized)?;
        let member = ProjectMember {
            user_id: user,
            role,
            added_by,
            added_at: crate::now(),
        };
        let entry = member_entry(
            "project.member_added",
            id,
            user,
            serde_json::json!({ "role": role.as_str() }),
        );
        self.members.put(scope, id, &member, entry).await?;
        Ok(member)
    }

    /// Removes a member from the project (whoever may edit the project).
    pub async fn remove_member(
        &self,
        scope: &TenantScope,
        id: ProjectId,
        user: UserId,
    ) -> DomainResult<()> {
        self.require_edit(scope, id).await?;
        let entry = member_entry("project.member_removed", id, user, serde_json::Value::Null);
        self.members.remove(scope, id, user, entry).await
    }
}
