//! Mocks of every port the authentication service takes, for its unit tests.

use std::sync::Arc;

use super::service::{AuthPorts, AuthService};
use crate::accounts::AccountSettings;
use crate::audit::MockAuditRepository;
use crate::credentials::{Later, MockPasswordHasher, MockTokenCodec};
use crate::error::{DomainError, DomainResult};
use crate::ids::{OrganizationId, UserId};
use crate::limits::{RateDecision, RateLimits};
use crate::memberships::{Membership, MockMembershipRepository};
use crate::organizations::MockOrganizationRepository;
use crate::scope::Role;
use crate::sessions::{MockSessionRepository, SessionPolicy};
use crate::users::{Email, MockUserRepository, PasswordHash, User, UserCredentials, UserName};

pub(super) struct Mocks {
    pub(super) organizations: MockOrganizationRepository,
    pub(super) users: MockUserRepository,
    pub(super) memberships: MockMembershipRepository,
    pub(super) hasher: MockPasswordHasher,
    pub(super) tokens: MockTokenCodec,
    pub(super) audit: MockAuditRepository,
    pub(super) sessions: MockSessionRepository,
    pub(super) api_keys: crate::api_keys::MockApiKeyRepository,
    pub(super) limiter: crate::limits::MockRateLimiter,
    pub(super) budget: crate::limits::MockRateLimiter,
    pub(super) platform: crate::platform::MockPlatformRepository,
    pub(super) deferred: Later,
}

impl Default for Mocks {
    fn default() -> Self {
        let mut limiter = crate::limits::MockRateLimiter::new();
        limiter
            .expect_hit()
            .returning(|_, _| Ok(RateDecision::Allowed { count: 1 }));
        limiter
            .expect_peek()
            .returning(|_, _| Ok(RateDecision::Allowed { count: 0 }));
        // Every member holds a plain member's grant unless a test says otherwise.
        let mut memberships = MockMembershipRepository::new();
        memberships
            .expect_grant()
            .returning(|_, _, _| Ok(Some(Role::Member.into())));
        // Access tokens are not platform tokens unless a test says otherwise.
        let mut tokens = MockTokenCodec::new();
        tokens
            .expect_verify_platform()
            .returning(|_| Err(DomainError::Unauthorized));
        let mut budget = crate::limits::MockRateLimiter::new();
        budget
            .expect_hit()
            .returning(|_, _| Ok(RateDecision::Allowed { count: 1 }));
        Self {
            organizations: Default::default(),
            users: Default::default(),
            memberships,
            hasher: Default::default(),
            tokens,
            audit: Default::default(),
            sessions: Default::default(),
            api_keys: Default::default(),
            limiter,
            budget,
            platform: Default::default(),
            deferred: Default::default(),
        }
    }
}

impl Mocks {
    pub(super) fn service(self) -> AuthService {
        AuthService::new(AuthPorts {
            organizations: Arc::new(self.organizations),
            users: Arc::new(self.users),
            memberships: Arc::new(self.memberships),
            hasher: Arc::new(self.hasher),
            tokens: Arc::new(self.tokens),
            audit: Arc::new(self.audit),
            sessions: Arc::new(self.sessions),
            policy: SessionPolicy::default(),
            api_keys: Arc::new(self.api_keys),
            settings: AccountSettings::default(),
            limiter: Arc::new(self.limiter),
            budget: Arc::new(self.budget),
            limits: RateLimits::default(),
            platform: Arc::new(self.platform),
            deferred: Arc::new(self.deferred),
        })
    }
}

pub(super) fn token() -> crate::auth::AccessToken {
    crate::auth::AccessToken {
        token: "signed".into(),
        expires_in: 900,
    }
}

pub(super) fn ada() -> User {
    User {
        id: UserId::new(),
        email: Email::parse("ada@example.com").expect("valid"),
        name: UserName::parse("Ada").expect("valid"),
        created_at: crate::now(),
        email_verified_at: None,
    }
}

pub(super) fn membership(user_id: UserId, role: Role) -> Membership {
    Membership {
        organization_id: OrganizationId::new(),
        user_id,
        role: role.into(),
        created_at: crate::now(),
    }
}

pub(super) fn credentials_of(
    user: User,
) -> impl Fn(&Email) -> DomainResult<Option<UserCredentials>> {
    move |_| {
        Ok(Some(UserCredentials {
            user: user.clone(),
            password_hash: PasswordHash::new("$2b$hash".into()),
        }))
    }
}
