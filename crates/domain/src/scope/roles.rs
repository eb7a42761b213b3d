//! Roles: the fixed system roles, an organization's custom roles, and what a member holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::permissions::{Permission, PermissionSet};
use crate::ids::RoleId;

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
            Self::Owner => Permission::ALL,
            // Everything but deleting or exporting the organization and its billing.
            Self::Admin => &[
                OrganizationRead,
                OrganizationUpdate,
                MembersRead,
                MembersInvite,
                MembersManage,
                RolesRead,
                RolesManage,
                ProjectsRead,
                ProjectsWrite,
                ProjectsDelete,
                AgentsRead,
                AgentsConfigure,
                AgentsWrite,
                AgentsDelete,
                AgentsRun,
                WorkRead,
                WorkWrite,
                WorkReview,
                ApiKeysManage,
                AuditRead,
                ConversationsUse,
                DocumentsRead,
                DocumentsWrite,
                DocumentsDelete,
            ],
            Self::Member => &[
                OrganizationRead,
                MembersRead,
                RolesRead,
                ProjectsRead,
                ProjectsWrite,
                AgentsRead,
                AgentsWrite,
                AgentsRun,
                WorkRead,
                WorkWrite,
                ConversationsUse,
                DocumentsRead,
                DocumentsWrite,
            ],
            Self::Viewer => &[
                OrganizationRead,
                MembersRead,
                RolesRead,
                ProjectsRead,
                AgentsRead,
                WorkRead,
                DocumentsRead,
            ],
        }
    }

    /// Position in the hierarchy, owner highest: a member can grant only roles up to their own.
    pub fn rank(self) -> u8 {
        match self {
            Self::Owner => 3,
            Self::Admin => 2,
            Self::Member => 1,
            Self::Viewer => 0,
        }
    }

    /// Whether this role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    /// The permissions this role grants, as a set.
    pub fn permission_set(self) -> PermissionSet {
        self.permissions().iter().copied().collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no system role's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The role a membership or invitation holds: one of the fixed system roles, or one of the
/// organization's custom roles.
///
/// Displayed (and accepted by [`RoleRef::parse`]) as the system role's name or the custom
/// role's id, which is how the API names a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleRef {
    /// A system role.
    System(Role),
    /// A custom role of the organization.
    Custom(RoleId),
}

impl RoleRef {
    /// The owner role, which the last-owner rules are about.
    pub const OWNER: RoleRef = RoleRef::System(Role::Owner);

    /// A system role's name or a custom role's id; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value.parse::<Role>() {
            Ok(role) => Some(Self::System(role)),
            Err(_) => value.parse().ok().map(Self::Custom),
        }
    }

    /// The system role, if this is one.
    pub fn system(self) -> Option<Role> {
        match self {
            Self::System(role) => Some(role),
            Self::Custom(_) => None,
        }
    }
}

impl From<Role> for RoleRef {
    fn from(role: Role) -> Self {
        Self::System(role)
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System(role) => role.fmt(f),
            Self::Custom(id) => id.fmt(f),
        }
    }
}

/// What a member currently holds in an organization: the role and the permissions it grants
/// right now. Adapters read it from the membership on every request, so a changed role or an
/// edited custom role takes effect on the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The role held.
    pub role: RoleRef,
    /// What the role grants.
    pub permissions: PermissionSet,
}

impl From<Role> for Grant {
    fn from(role: Role) -> Self {
        Self::system(role)
    }
}

impl Grant {
    /// A system role's grant.
    pub fn system(role: Role) -> Self {
        Self {
            role: RoleRef::System(role),
            permissions: role.permission_set(),
        }
    }

    /// Whether everything `earlier` allowed is still allowed by `self`: every permission, and
    /// ownership (which decisions such as granting the owner role read from the role, not
    /// from a permission). A request authorized with `earlier` may then run under `self`.
    pub fn covers(&self, earlier: &Grant) -> bool {
        earlier.permissions.is_subset(self.permissions)
            && (earlier.role != RoleRef::OWNER || self.role == RoleRef::OWNER)
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
    fn a_grant_covers_an_earlier_one_only_when_nothing_was_lost() {
        let admin = Grant::system(Role::Admin);
        assert!(Grant::system(Role::Owner).covers(&admin), "a promotion");
        assert!(admin.covers(&admin));
        assert!(!Grant::system(Role::Viewer).covers(&admin), "a demotion");
        // A custom role with every permission an owner has is still not the owner.
        let everything = Grant {
            role: RoleRef::Custom(RoleId::new()),
            permissions: Role::Owner.permission_set(),
        };
        assert!(!everything.covers(&Grant::system(Role::Owner)));
        assert!(Grant::system(Role::Owner).covers(&everything));
    }

    #[test]
    fn only_admins_and_owners_read_the_audit_trail() {
        assert!(Role::Owner.grants(Permission::AuditRead));
        assert!(Role::Admin.grants(Permission::AuditRead));
        assert!(!Role::Member.grants(Permission::AuditRead));
    }

    #[test]
    fn role_refs_are_system_names_or_custom_ids() {
        assert_eq!(RoleRef::parse("admin"), Some(RoleRef::System(Role::Admin)));
        let id = RoleId::new();
        assert_eq!(RoleRef::parse(&id.to_string()), Some(RoleRef::Custom(id)));
        assert_eq!(RoleRef::parse("superuser"), None);
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("superuser".parse::<Role>().is_err());
    }
}
