//! The permission catalogue: what an operation may require, and sets of it. Its own module,
//! below both the scope and the error type (a refusal names the permission it lacked).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! permissions {
    ($($variant:ident => $name:literal, $description:literal;)+) => {
        /// One thing a member may do. Named `resource:action` when displayed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Permission {
            $(#[doc = $description] #[serde(rename = $name)] $variant,)+
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)+];

            /// The `resource:action` name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// What it allows, for people.
            pub fn description(self) -> &'static str {
                match self {
                    $(Self::$variant => $description,)+
                }
            }
        }
    };
}

permissions! {
    OrganizationRead => "organization:read", "Read the organization's own record.";
    OrganizationUpdate => "organization:update", "Rename the organization and change its settings.";
    OrganizationDelete => "organization:delete", "Delete (and restore) the organization.";
    OrganizationExport => "organization:export", "Export everything the organization owns (its members' profiles without credentials).";
    MembersRead => "members:read", "List the members and read their profiles.";
    MembersInvite => "members:invite", "Invite people and manage pending invitations.";
    MembersManage => "members:manage", "Change members' roles and remove members.";
    RolesRead => "roles:read", "Read the roles and their permissions.";
    RolesManage => "roles:manage", "Create, change and delete custom roles.";
    ProjectsRead => "projects:read", "List and read projects.";
    ProjectsWrite => "projects:write", "Create and edit projects.";
    ProjectsDelete => "projects:delete", "Delete and restore projects.";
    AgentsRead => "agents:read", "List and read agent configurations, agents, their runs and metrics.";
    AgentsConfigure => "agents:configure", "Create, change and delete agent configurations and their provider credentials.";
    AgentsWrite => "agents:write", "Create, edit, pause and resume agents.";
    AgentsDelete => "agents:delete", "Delete and restore agents.";
    AgentsRun => "agents:run", "Start and cancel agent runs.";
    WorkRead => "work:read", "List and read work sessions, their artifacts, checkpoints and events.";
    WorkWrite => "work:write", "Create, start and cancel work sessions.";
    WorkReview => "work:review", "Review artifacts and resolve checkpoints of any project (a project's maintainers may for their project without it).";
    ApiKeysManage => "api_keys:manage", "Create, list and revoke the organization's API keys.";
    AuditRead => "audit:read", "Read, export and verify the audit trail.";
    BillingManage => "billing:manage", "Manage the organization's billing.";
    ConversationsUse => "conversations:use", "Hold one's own private conversations with the organization's agents.";
    DocumentsRead => "documents:read", "List, read, download and search the organization's documents.";
    DocumentsWrite => "documents:write", "Upload documents.";
    DocumentsDelete => "documents:delete", "Delete and restore documents.";
}

/// Permissions only a person may hold, never an API key: those over the organization's
/// existence and its data as a whole, its people (an invitation names the person who sent it) and roles, its keys and
/// its billing. A key may hold every other permission of the catalogue, so a new resource's
/// permissions are key scopes at once.
pub const PERSON_ONLY: &[Permission] = &[
    Permission::OrganizationDelete,
    Permission::OrganizationExport,
    Permission::MembersInvite,
    Permission::MembersManage,
    Permission::RolesManage,
    Permission::ApiKeysManage,
    Permission::BillingManage,
    Permission::ConversationsUse,
];

impl Permission {
    /// The permission named `resource:action`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == name)
    }

    /// Whether an API key may hold it: any permission that is not [`PERSON_ONLY`].
    pub fn for_keys(self) -> bool {
        !PERSON_ONLY.contains(&self)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions, as a role grants them. Cheap to copy and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// No permission.
    pub const EMPTY: PermissionSet = PermissionSet(0);

    fn bit(permission: Permission) -> u64 {
        // The catalogue has far fewer than 64 entries; a test below keeps it so.
        let index = Permission::ALL
            .iter()
            .position(|p| *p == permission)
            .unwrap_or_default();
        1 << index
    }

    /// Whether `permission` is in the set.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & Self::bit(permission) != 0
    }

    /// Whether every permission of `self` is also in `other`.
    pub fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The permissions of `self` missing from `other`, in catalogue order.
    pub fn missing_from(self, other: PermissionSet) -> impl Iterator<Item = Permission> {
        PermissionSet(self.0 & !other.0).iter()
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The names, space-separated in catalogue order: how stores keep a set.
    pub fn to_names(self) -> String {
        self.iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads [`PermissionSet::to_names`]' form; `None` if a name is not in the catalogue.
    pub fn from_names(names: &str) -> Option<Self> {
        names
            .split_whitespace()
            .map(Permission::parse)
            .collect::<Option<Vec<_>>>()
            .map(|permissions| permissions.into_iter().collect())
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, p| bits | Self::bit(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Role;

    #[test]
    fn permissions_round_trip_through_their_names() {
        for &permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.as_str()), Some(permission));
            assert!(!permission.description().is_empty());
        }
        assert_eq!(Permission::parse("projects:*"), None);
    }

    #[test]
    fn permission_sets_hold_exactly_their_members() {
        assert!(Permission::ALL.len() < 64);
        let admin = Role::Admin.permission_set();
        for &p in Permission::ALL {
            assert_eq!(admin.contains(p), Role::Admin.grants(p));
        }
        assert!(Role::Viewer.permission_set().is_subset(admin));
        assert!(!Role::Owner.permission_set().is_subset(admin));
        let missing: Vec<_> = Role::Owner.permission_set().missing_from(admin).collect();
        assert_eq!(
            missing,
            [
                Permission::OrganizationDelete,
                Permission::OrganizationExport,
                Permission::BillingManage
            ]
        );
        assert_eq!(PermissionSet::from_names(&admin.to_names()), Some(admin));
        assert_eq!(PermissionSet::from_names(""), Some(PermissionSet::EMPTY));
        assert_eq!(PermissionSet::from_names("projects:read nope"), None);
    }
}
