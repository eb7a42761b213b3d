//! The tenant scope every tenant-data operation requires, and what it is made of: the
//! permission catalogue, roles and grants, and who acts.

mod actor;
pub(crate) use crate::permissions;
mod roles;

pub use actor::{Actor, Credential, IMPERSONATION_PERMISSIONS, RequestMeta, SystemTask};
pub use permissions::{PERSON_ONLY, Permission, PermissionSet};
pub use roles::{Grant, Role, RoleRef, UnknownRole};

use crate::error::{DomainError, DomainResult};
use crate::ids::{ApiKeyId, ImpersonationId, OrganizationId, SessionId, UserId};

/// Proof that the caller acts inside one organization, with the permissions of its current
/// role.
///
/// The fields are private. A user's scope comes only from
/// [`crate::auth::Authenticator::authenticate`], which verifies a token, or from sign-up and
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
    fn system_scopes_hold_only_their_task_permissions() {
        let scope = TenantScope::system(OrganizationId::new(), SystemTask::Purge);
        assert!(scope.has(Permission::ProjectsDelete));
        assert!(!scope.has(Permission::ProjectsWrite));
        assert!(!scope.has(Permission::AuditRead));
        assert_eq!(scope.user_id(), None);
        assert!(scope.require_user().is_err());
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
}
