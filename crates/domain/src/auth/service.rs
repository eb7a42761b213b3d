//! The authentication service: its adapters, and what its use cases share (issuing a
//! session's tokens, the current user). Sign-up is in `register`, login in `login`, the
//! authentication of every request in `authenticate`, sessions in `sessions`.

use std::sync::Arc;

use super::authenticate::Authenticator;
use super::model::CurrentUser;
use crate::accounts::AccountSettings;
use crate::api_keys::{ApiKeyRepository, ApiKeyService};
use crate::audit::AuditRepository;
use crate::credentials::TokenSubject;
use crate::credentials::{Deferred, PasswordHasher, TokenCodec};
use crate::error::{DomainError, DomainResult};
use crate::ids::OrganizationId;
use crate::limits::{RateLimiter, RateLimits};
use crate::memberships::MembershipRepository;
use crate::organizations::OrganizationRepository;
use crate::platform::PlatformRepository;
use crate::scope::TenantScope;
use crate::secret::Secret;
use crate::sessions::{Session, SessionPolicy, SessionRepository, TokenPair};
use crate::users::UserRepository;

/// Raw sign-up input, as a client sent it.
#[derive(Clone, Default)]
pub struct Register {
    /// The account's email.
    pub email: String,
    /// The new password.
    pub password: String,
    /// The person's display name.
    pub name: String,
    /// The name of the organization to create.
    pub organization_name: String,
}

/// Raw login input.
#[derive(Clone, Default)]
pub struct Login {
    /// The account's email.
    pub email: String,
    /// The password attempt.
    pub password: String,
    /// The organization to sign in to; by default the one last used, else the oldest.
    pub organization_id: Option<OrganizationId>,
}

/// The repositories and adapters the auth use cases need.
#[derive(Clone)]
pub struct AuthService {
    pub(super) organizations: Arc<dyn OrganizationRepository>,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) memberships: Arc<dyn MembershipRepository>,
    pub(super) hasher: Arc<dyn PasswordHasher>,
    pub(super) tokens: Arc<dyn TokenCodec>,
    pub(super) audit: Arc<dyn AuditRepository>,
    pub(super) sessions: Arc<dyn SessionRepository>,
    pub(super) policy: SessionPolicy,
    pub(super) settings: AccountSettings,
    pub(super) limiter: Arc<dyn RateLimiter>,
    pub(super) limits: RateLimits,
    pub(super) deferred: Arc<dyn Deferred>,
    pub(super) authenticator: Authenticator,
}

/// The adapters [`AuthService`] needs.
pub struct AuthPorts {
    /// Organizations.
    pub organizations: Arc<dyn OrganizationRepository>,
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Memberships.
    pub memberships: Arc<dyn MembershipRepository>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Access tokens.
    pub tokens: Arc<dyn TokenCodec>,
    /// The audit trail, for logins.
    pub audit: Arc<dyn AuditRepository>,
    /// Sessions and refresh tokens.
    pub sessions: Arc<dyn SessionRepository>,
    /// How long sessions live.
    pub policy: SessionPolicy,
    /// API keys, which authenticate like access tokens.
    pub api_keys: Arc<dyn ApiKeyRepository>,
    /// Links in verification emails, and whether logins need a verified email.
    pub settings: AccountSettings,
    /// Exact counters for the authentication endpoints' limits.
    pub limiter: Arc<dyn RateLimiter>,
    /// Counters for the per-principal request limit, consulted on every authenticated
    /// request (an adapter may batch them; see the infra crate).
    pub budget: Arc<dyn RateLimiter>,
    /// The limits.
    pub limits: RateLimits,
    /// The superuser flag and organizations' state, for impersonation tokens.
    pub platform: Arc<dyn PlatformRepository>,
    /// Where work off the response path runs (the audit records of failed logins).
    pub deferred: Arc<dyn Deferred>,
}

impl AuthService {
    /// Wires the service.
    pub fn new(ports: AuthPorts) -> Self {
        let authenticator = Authenticator {
            tokens: ports.tokens.clone(),
            memberships: ports.memberships.clone(),
            api_keys: ApiKeyService::new(ports.api_keys, ports.audit.clone()),
            platform: ports.platform,
            audit: ports.audit.clone(),
            budget: ports.budget,
            limits: ports.limits,
        };
        Self {
            organizations: ports.organizations,
            users: ports.users,
            memberships: ports.memberships,
            hasher: ports.hasher,
            tokens: ports.tokens,
            audit: ports.audit.clone(),
            sessions: ports.sessions,
            policy: ports.policy,
            settings: ports.settings,
            limiter: ports.limiter,
            limits: ports.limits,
            deferred: ports.deferred,
            authenticator,
        }
    }

    /// Signs an access token for `session` and pairs it with its live refresh token.
    pub(super) fn issue(
        &self,
        session: &Session,
        refresh_token: Secret,
    ) -> DomainResult<TokenPair> {
        let access = self.tokens.issue(&TokenSubject {
            user_id: session.user_id,
            organization_id: session.organization_id,
            session_id: session.id,
        })?;
        Ok(TokenPair {
            session_id: session.id,
            access,
            refresh_token,
        })
    }

    /// The acting user, organization and role.
    pub async fn current_user(&self, scope: &TenantScope) -> DomainResult<CurrentUser> {
        let user = self.users.current(scope).await?;
        let organization = self.organizations.current(scope).await?;
        let grant = scope.grant().ok_or(DomainError::Unauthorized)?;
        Ok(CurrentUser {
            user,
            organization,
            role: grant.role,
            permissions: grant.permissions,
        })
    }
}
