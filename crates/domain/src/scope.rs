//! Roles, permissions and the tenant scope every tenant-data operation requires.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::ids::{ApiKeyId, OrganizationId, SessionId, UserId};

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
    MembersRead => "members:read", "List the members and read their profiles.";
    MembersInvite => "members:invite", "Invite people and manage pending invitations.";
    MembersManage => "members:manage", "Change members' roles and remove members.";
    RolesRead => "roles:read", "Read the roles and their permissions.";
    RolesManage => "roles:manage", "Create, change and delete custom roles.";
    ProjectsRead => "projects:read", "List and read projects.";
    ProjectsWrite => "projects:write", "Create and edit projects.";
    ProjectsDelete => "projects:delete", "Delete and restore projects.";
    ApiKeysManage => "api_keys:manage", "Create, list and revoke the organization's API keys.";
    AuditRead => "audit:read", "Read, export and verify the audit trail.";
    BillingManage => "billing:manage", "Manage the organization's billing.";
}

impl Permission {
    /// The permission named `resource:action`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == name)
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
            Self::Owner => Permission::ALL,
            // Everything but deleting the organization and its billing.
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
                ApiKeysManage,
                AuditRead,
            ],
            Self::Member => &[
                OrganizationRead,
                MembersRead,
                RolesRead,
                ProjectsRead,
                ProjectsWrite,
            ],
            Self::Viewer => &[OrganizationRead, MembersRead, RolesRead, ProjectsRead],
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

/// Who acts: a user, an API key, or a named background task of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in member.
    User(UserId),
    /// A machine holding one of the organization's API keys.
    ApiKey {
        /// The key.
        id: ApiKeyId,
        /// The member who created it, recorded as the author of what the key creates.
        created_by: UserId,
    },
    /// Background work of the server itself, always audited under this name.
    System(SystemTask),
}

/// The background tasks that may act on a tenant's data without a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemTask {
    /// Removes soft-deleted rows past their retention period.
    Purge,
}

impl SystemTask {
    /// The task's name, as recorded in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Purge => "purge",
        }
    }

    fn permissions(self) -> &'static [Permission] {
        match self {
            Self::Purge => &[Permission::ProjectsRead, Permission::ProjectsDelete],
        }
    }
}

/// How a user's scope was proven, which decides what adapters re-check at the start of each
/// unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Proven inside this request by the auth service itself: a password, a refresh token, or
    /// a sign-up. Adapters confirm the membership and role.
    Request,
    /// An access token of this session. Adapters confirm that the session is live (not
    /// revoked, not expired, still in this organization) as well as the membership and role,
    /// so logging out or revoking a session stops its access tokens at once.
    Session(SessionId),
}

/// Where a request came from, for the audit trail. Carries no authority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

/// Proof that the caller acts inside one organization, with a given role.
///
/// The fields are private. A user's scope comes only from
/// [`crate::auth::AuthService::authenticate`], which verifies a token, or from sign-up and
/// login; background work uses [`TenantScope::system`], which names the task and is recorded
/// as the actor of everything it does. Repository ports take `&TenantScope`, so a query for
/// tenant data cannot be written without one.
///
/// Contract for adapters: every unit of work made with a user's scope must confirm, in the same
/// transaction, that the user still holds [`TenantScope::role`] in the organization, and fail
/// with [`DomainError::Unauthorized`] otherwise. That is how a removed or demoted member loses
/// access at the next request, and it costs no round trip when done in the statement that
/// sets the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    organization_id: OrganizationId,
    actor: Actor,
    role: Option<Role>,
    credential: Option<Credential>,
    /// The permissions of an API key (empty for other actors).
    key_scopes: Vec<Permission>,
    request: RequestMeta,
}

impl TenantScope {
    pub(crate) fn authenticated(
        organization_id: OrganizationId,
        user_id: UserId,
        role: Role,
    ) -> Self {
        Self {
            organization_id,
            actor: Actor::User(user_id),
            role: Some(role),
            credential: Some(Credential::Request),
            key_scopes: Vec::new(),
            request: RequestMeta::default(),
        }
    }

    pub(crate) fn for_api_key(
        organization_id: OrganizationId,
        id: ApiKeyId,
        created_by: UserId,
        scopes: Vec<Permission>,
    ) -> Self {
        Self {
            organization_id,
            actor: Actor::ApiKey { id, created_by },
            role: None,
            credential: None,
            key_scopes: scopes,
            request: RequestMeta::default(),
        }
    }

    pub(crate) fn for_session(
        organization_id: OrganizationId,
        user_id: UserId,
        role: Role,
        session: SessionId,
    ) -> Self {
        Self {
            credential: Some(Credential::Session(session)),
            ..Self::authenticated(organization_id, user_id, role)
        }
    }

    /// The scope of a background task inside one organization. It holds only the permissions
    /// the task needs, and the audit trail names the task as the actor.
    pub fn system(organization_id: OrganizationId, task: SystemTask) -> Self {
        Self {
            organization_id,
            actor: Actor::System(task),
            role: None,
            credential: None,
            key_scopes: Vec::new(),
            request: RequestMeta::default(),
        }
    }

    /// Attaches where the request came from (for the audit trail); changes no authority.
    pub fn with_request(mut self, request: RequestMeta) -> Self {
        self.request = request;
        self
    }

    /// The organization every query made with this scope is confined to.
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    /// Who acts.
    pub fn actor(&self) -> Actor {
        self.actor
    }

    /// The acting user, if a user acts.
    pub fn user_id(&self) -> Option<UserId> {
        match self.actor {
            Actor::User(id) => Some(id),
            Actor::ApiKey { .. } | Actor::System(_) => None,
        }
    }

    /// The acting user, or [`DomainError::UserOnly`] for an API key and
    /// [`DomainError::Unauthorized`] for a system scope: for operations only a signed-in
    /// person may do (their sessions, their password, managing API keys).
    pub fn require_user(&self) -> DomainResult<UserId> {
        match self.actor {
            Actor::User(id) => Ok(id),
            Actor::ApiKey { .. } => Err(DomainError::UserOnly),
            Actor::System(_) => Err(DomainError::Unauthorized),
        }
    }

    /// The user recorded as the author of what this scope creates: the acting user, or the
    /// creator of the acting API key. None for system tasks.
    pub fn author(&self) -> Option<UserId> {
        match self.actor {
            Actor::User(id) | Actor::ApiKey { created_by: id, .. } => Some(id),
            Actor::System(_) => None,
        }
    }

    /// How the acting user was authenticated (none for system tasks).
    pub fn credential(&self) -> Option<Credential> {
        self.credential
    }

    /// The session whose access token made this scope, if any.
    pub fn session_id(&self) -> Option<SessionId> {
        match self.credential {
            Some(Credential::Session(id)) => Some(id),
            _ => None,
        }
    }

    /// The session of this scope, or [`DomainError::Unauthorized`] when it was not made from
    /// a session's access token.
    pub fn require_session(&self) -> DomainResult<SessionId> {
        self.session_id().ok_or(DomainError::Unauthorized)
    }

    /// The acting user's current role in the organization (none for system tasks).
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Where the request came from.
    pub fn request(&self) -> &RequestMeta {
        &self.request
    }

    /// Whether the scope carries `permission`.
    pub fn has(&self, permission: Permission) -> bool {
        match self.actor {
            Actor::User(_) => self.role.is_some_and(|role| role.grants(permission)),
            Actor::ApiKey { .. } => self.key_scopes.contains(&permission),
            Actor::System(task) => task.permissions().contains(&permission),
        }
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
    fn system_scopes_hold_only_their_task_permissions() {
        let scope = TenantScope::system(OrganizationId::new(), SystemTask::Purge);
        assert!(scope.has(Permission::ProjectsDelete));
        assert!(!scope.has(Permission::ProjectsWrite));
        assert!(!scope.has(Permission::AuditRead));
        assert_eq!(scope.user_id(), None);
        assert!(scope.require_user().is_err());
    }

    #[test]
    fn only_admins_and_owners_read_the_audit_trail() {
        assert!(Role::Owner.grants(Permission::AuditRead));
        assert!(Role::Admin.grants(Permission::AuditRead));
        assert!(!Role::Member.grants(Permission::AuditRead));
    }

    #[test]
    fn api_keys_hold_exactly_their_scopes_and_are_no_user() {
        let creator = UserId::new();
        let scope = TenantScope::for_api_key(
            OrganizationId::new(),
            ApiKeyId::new(),
            creator,
            vec![Permission::ProjectsRead],
        );
        assert!(scope.has(Permission::ProjectsRead));
        assert!(!scope.has(Permission::ProjectsWrite));
        assert!(!scope.has(Permission::OrganizationRead));
        assert_eq!(scope.user_id(), None);
        assert!(matches!(scope.require_user(), Err(DomainError::UserOnly)));
        assert_eq!(scope.author(), Some(creator));
        assert_eq!(scope.session_id(), None);
    }

    #[test]
    fn permissions_round_trip_through_their_names() {
        for &permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.as_str()), Some(permission));
            assert!(!permission.description().is_empty());
        }
        assert_eq!(Permission::parse("projects:*"), None);
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("superuser".parse::<Role>().is_err());
    }
}
