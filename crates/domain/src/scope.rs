//! Roles, permissions and the tenant scope every tenant-data operation requires.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::ids::{ApiKeyId, ImpersonationId, OrganizationId, RoleId, SessionId, UserId};

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

    /// The permissions this role grants, as a set.
    pub fn permission_set(self) -> PermissionSet {
        self.permissions().iter().copied().collect()
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
    /// A platform superuser administering the organization itself (creating, suspending,
    /// reactivating it, or starting an impersonation); it holds no permission on its data.
    Platform(UserId),
    /// A platform superuser reading the organization's data with an impersonation token;
    /// every request is audited with the superuser as the impersonator.
    Impersonation {
        /// Ties together the requests of one impersonation.
        id: ImpersonationId,
        /// The superuser.
        superuser: UserId,
    },
}

/// What an impersonation may do inside the organization: read, never change.
pub const IMPERSONATION_PERMISSIONS: &[Permission] = &[
    Permission::OrganizationRead,
    Permission::MembersRead,
    Permission::RolesRead,
    Permission::ProjectsRead,
    Permission::AuditRead,
];

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
    /// The method and path, as `GET /api/v1/projects`, recorded for impersonated requests.
    pub route: Option<String>,
}

/// Proof that the caller acts inside one organization, with the permissions of its current
/// role.
///
/// The fields are private. A user's scope comes only from
/// [`crate::auth::AuthService::authenticate`], which verifies a token, or from sign-up and
/// login; background work uses [`TenantScope::system`], which names the task and is recorded
/// as the actor of everything it does. Repository ports take `&TenantScope`, so a query for
/// tenant data cannot be written without one.
///
/// A user's scope carries the [`Grant`] read from the membership when the request was
/// authenticated, never one taken from a token, so a demotion, a removal or an edited custom
/// role takes effect on the next request.
///
/// Contract for adapters: every unit of work made with a user's scope must confirm, in the same
/// transaction, that the user still holds exactly [`TenantScope::grant`] in the organization,
/// and fail with [`DomainError::Unauthorized`] otherwise. That closes the gap between
/// authentication and the unit of work, and costs no round trip when done in the statement
/// that sets the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    organization_id: OrganizationId,
    actor: Actor,
    grant: Option<Grant>,
    credential: Option<Credential>,
    /// The permissions of an API key (empty for other actors).
    key_scopes: Vec<Permission>,
    request: RequestMeta,
}

impl TenantScope {
    pub(crate) fn authenticated(
        organization_id: OrganizationId,
        user_id: UserId,
        grant: impl Into<Grant>,
    ) -> Self {
        Self {
            organization_id,
            actor: Actor::User(user_id),
            grant: Some(grant.into()),
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
            grant: None,
            credential: None,
            key_scopes: scopes,
            request: RequestMeta::default(),
        }
    }

    pub(crate) fn for_session(
        organization_id: OrganizationId,
        user_id: UserId,
        grant: Grant,
        session: SessionId,
    ) -> Self {
        Self {
            credential: Some(Credential::Session(session)),
            ..Self::authenticated(organization_id, user_id, grant)
        }
    }

    pub(crate) fn for_impersonation(
        organization_id: OrganizationId,
        id: ImpersonationId,
        superuser: UserId,
    ) -> Self {
        Self {
            organization_id,
            actor: Actor::Impersonation { id, superuser },
            grant: None,
            credential: None,
            key_scopes: IMPERSONATION_PERMISSIONS.to_vec(),
            request: RequestMeta::default(),
        }
    }

    pub(crate) fn for_platform(organization_id: OrganizationId, superuser: UserId) -> Self {
        Self {
            organization_id,
            actor: Actor::Platform(superuser),
            grant: None,
            credential: None,
            key_scopes: Vec::new(),
            request: RequestMeta::default(),
        }
    }

    /// The scope of a background task inside one organization. It holds only the permissions
    /// the task needs, and the audit trail names the task as the actor.
    pub fn system(organization_id: OrganizationId, task: SystemTask) -> Self {
        Self {
            organization_id,
            actor: Actor::System(task),
            grant: None,
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
            Actor::ApiKey { .. }
            | Actor::System(_)
            | Actor::Platform(_)
            | Actor::Impersonation { .. } => None,
        }
    }

    /// The acting user, or [`DomainError::UserOnly`] for an API key or an impersonation and
    /// [`DomainError::Unauthorized`] for a system scope: for operations only a signed-in
    /// member may do (their sessions, their password, managing API keys).
    pub fn require_user(&self) -> DomainResult<UserId> {
        match self.actor {
            Actor::User(id) => Ok(id),
            Actor::ApiKey { .. } | Actor::Impersonation { .. } => Err(DomainError::UserOnly),
            Actor::System(_) | Actor::Platform(_) => Err(DomainError::Unauthorized),
        }
    }

    /// The user recorded as the author of what this scope creates: the acting user, or the
    /// creator of the acting API key. None for system tasks and impersonations.
    pub fn author(&self) -> Option<UserId> {
        match self.actor {
            Actor::User(id) | Actor::ApiKey { created_by: id, .. } => Some(id),
            Actor::System(_) | Actor::Platform(_) | Actor::Impersonation { .. } => None,
        }
    }

    /// The superuser behind an impersonation, recorded with everything it does.
    pub fn impersonator(&self) -> Option<UserId> {
        match self.actor {
            Actor::Impersonation { superuser, .. } => Some(superuser),
            _ => None,
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

    /// The acting user's current role in the organization (none for other actors).
    pub fn role(&self) -> Option<RoleRef> {
        self.grant.map(|g| g.role)
    }

    /// The acting user's current role and its permissions (none for other actors).
    pub fn grant(&self) -> Option<Grant> {
        self.grant
    }

    /// Whether the acting user is an owner of the organization.
    pub fn is_owner(&self) -> bool {
        self.role() == Some(RoleRef::OWNER)
    }

    /// Everything the scope may do.
    pub fn permissions(&self) -> PermissionSet {
        match self.actor {
            Actor::User(_) => self.grant.map(|g| g.permissions).unwrap_or_default(),
            Actor::ApiKey { .. } | Actor::Impersonation { .. } => {
                self.key_scopes.iter().copied().collect()
            }
            Actor::System(task) => task.permissions().iter().copied().collect(),
            Actor::Platform(_) => PermissionSet::EMPTY,
        }
    }

    /// Where the request came from.
    pub fn request(&self) -> &RequestMeta {
        &self.request
    }

    /// Whether the scope carries `permission`.
    pub fn has(&self, permission: Permission) -> bool {
        match self.actor {
            Actor::User(_) => self
                .grant
                .is_some_and(|grant| grant.permissions.contains(permission)),
            Actor::ApiKey { .. } | Actor::Impersonation { .. } => {
                self.key_scopes.contains(&permission)
            }
            Actor::System(task) => task.permissions().contains(&permission),
            Actor::Platform(_) => false,
        }
    }

    /// Fails with [`DomainError::Forbidden`] unless the scope carries `permission`, and records
    /// the refusal in `refusals` (the audit trail). This is the only way to decide on a
    /// permission: every refusal is then recorded as `permission.denied`, whichever service
    /// made it. The refusal is reported even if recording it fails.
    pub async fn authorize<R: RefusalLog + ?Sized>(
        &self,
        refusals: &R,
        permission: Permission,
    ) -> DomainResult<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(self.refuse(refusals, permission).await)
        }
    }

    /// Like [`TenantScope::authorize`], for every permission of `permissions` at once: nobody
    /// grants, or acts on someone holding, what they do not hold themselves.
    pub async fn authorize_all<R: RefusalLog + ?Sized>(
        &self,
        refusals: &R,
        permissions: PermissionSet,
    ) -> DomainResult<()> {
        match permissions.missing_from(self.permissions()).next() {
            Some(missing) => Err(self.refuse(refusals, missing).await),
            None => Ok(()),
        }
    }

    /// Records a refusal for lack of `permission` that a rule other than holding it made (an
    /// owner-only decision, say) and answers the [`DomainError::Forbidden`] to return.
    pub async fn refuse<R: RefusalLog + ?Sized>(
        &self,
        refusals: &R,
        permission: Permission,
    ) -> DomainError {
        refusals.permission_denied(self, permission).await;
        DomainError::Forbidden(permission)
    }

    /// The principal this scope acts as, as `kind:id`: the user (for a session, a sign-in or
    /// an impersonation, the person), the API key, or the system task. Rate limits and
    /// idempotency keys belong to a principal.
    pub fn principal(&self) -> String {
        match self.actor {
            Actor::User(id) => format!("user:{id}"),
            Actor::ApiKey { id, .. } => format!("key:{id}"),
            Actor::System(task) => format!("system:{}", task.as_str()),
            Actor::Impersonation { superuser, .. } | Actor::Platform(superuser) => {
                format!("user:{superuser}")
            }
        }
    }
}

/// Where refusals are recorded. The audit trail implements it (see
/// [`crate::audit::AuditRepository`]); services pass theirs to [`TenantScope::authorize`].
#[async_trait::async_trait]
pub trait RefusalLog: Send + Sync {
    /// Records that `scope` was refused for lack of `permission`. Failing to record does not
    /// change the refusal, so this reports nothing.
    async fn permission_denied(&self, scope: &TenantScope, permission: Permission);
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
            [Permission::OrganizationDelete, Permission::BillingManage]
        );
        assert_eq!(PermissionSet::from_names(&admin.to_names()), Some(admin));
        assert_eq!(PermissionSet::from_names(""), Some(PermissionSet::EMPTY));
        assert_eq!(PermissionSet::from_names("projects:read nope"), None);
    }

    #[test]
    fn role_refs_are_system_names_or_custom_ids() {
        assert_eq!(RoleRef::parse("admin"), Some(RoleRef::System(Role::Admin)));
        let id = RoleId::new();
        assert_eq!(RoleRef::parse(&id.to_string()), Some(RoleRef::Custom(id)));
        assert_eq!(RoleRef::parse("superuser"), None);
    }

    #[test]
    fn impersonations_only_read_and_are_no_user() {
        let superuser = UserId::new();
        let scope = TenantScope::for_impersonation(
            OrganizationId::new(),
            ImpersonationId::new(),
            superuser,
        );
        assert!(scope.has(Permission::ProjectsRead));
        assert!(scope.has(Permission::AuditRead));
        assert!(!scope.has(Permission::ProjectsWrite));
        assert!(!scope.has(Permission::MembersManage));
        assert_eq!(scope.impersonator(), Some(superuser));
        assert_eq!(scope.author(), None);
        assert!(matches!(scope.require_user(), Err(DomainError::UserOnly)));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("superuser".parse::<Role>().is_err());
    }
}
