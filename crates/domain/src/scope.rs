//! Roles, permissions and the tenant scope every tenant-data operation requires.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::ids::{OrganizationId, UserId};

/// A member's role inside one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control, including the organization itself.
    Owner,
    /// Manages the organization's content and members.
    Admin,
    /// Creates and edits content.
    Member,
    /// Reads only.
    Viewer,
}

/// One thing a member may do. Named `resource:action` when displayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Read the organization's own record.
    #[serde(rename = "organization:read")]
    OrganizationRead,
    /// List and read projects.
    #[serde(rename = "projects:read")]
    ProjectsRead,
    /// Create and edit projects.
    #[serde(rename = "projects:write")]
    ProjectsWrite,
    /// Delete projects.
    #[serde(rename = "projects:delete")]
    ProjectsDelete,
}

impl Permission {
    /// The `resource:action` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganizationRead => "organization:read",
            Self::ProjectsRead => "projects:read",
            Self::ProjectsWrite => "projects:write",
            Self::ProjectsDelete => "projects:delete",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// The permissions this role grants.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Self::Owner | Self::Admin => &[
                OrganizationRead,
                ProjectsRead,
                ProjectsWrite,
                ProjectsDelete,
            ],
            Self::Member => &[OrganizationRead, ProjectsRead, ProjectsWrite],
            Self::Viewer => &[OrganizationRead, ProjectsRead],
        }
    }

    /// Whether this role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| DomainError::Internal(format!("unknown role {s:?}")))
    }
}

/// Proof that the caller acts inside one organization, with a given role.
///
/// The fields are private and the only constructor is crate-private: a scope comes from
/// [`crate::auth::AuthService::authenticate`], which verifies a token and then checks that the
/// membership still exists, or from registration, which creates it. Repository ports take
/// `&TenantScope`, so a query for tenant data cannot be written without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    organization_id: OrganizationId,
    user_id: UserId,
    role: Role,
}

impl TenantScope {
    pub(crate) fn authenticated(
        organization_id: OrganizationId,
        user_id: UserId,
        role: Role,
    ) -> Self {
        Self {
            organization_id,
            user_id,
            role,
        }
    }

    /// The organization every query made with this scope is confined to.
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    /// The acting user.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The acting user's current role in the organization.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the scope carries `permission`.
    pub fn has(&self, permission: Permission) -> bool {
        self.role.grants(permission)
    }

    /// Fails with [`DomainError::Forbidden`] unless the scope carries `permission`.
    pub fn require(&self, permission: Permission) -> DomainResult<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(DomainError::Forbidden(permission))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_reads_member_writes_admin_deletes() {
        assert!(Role::Viewer.grants(Permission::ProjectsRead));
        assert!(!Role::Viewer.grants(Permission::ProjectsWrite));
        assert!(Role::Member.grants(Permission::ProjectsWrite));
        assert!(!Role::Member.grants(Permission::ProjectsDelete));
        assert!(Role::Admin.grants(Permission::ProjectsDelete));
        assert!(Role::Owner.grants(Permission::ProjectsDelete));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("superuser".parse::<Role>().is_err());
    }
}
