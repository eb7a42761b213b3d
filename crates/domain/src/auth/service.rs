//! Registration, login, and authentication of access tokens.

use std::sync::Arc;

use super::model::{CurrentUser, PlatformToken, Registered, TokenSubject};
use super::port::{Deferred, PasswordHasher, TokenCodec};
use crate::accounts::model::token_email;
use crate::accounts::{AccountSettings, TokenPurpose};
use crate::api_keys::{API_KEY_PREFIX, ApiKeyRepository, ApiKeyService};
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{ImpersonationId, OrganizationId, UserId};
use crate::limits::{RateDecision, RateLimiter, RateLimits, address_key, enforce};
use crate::memberships::{Membership, MembershipRepository};
use crate::organizations::{Organization, OrganizationName, OrganizationRepository, Registration};
use crate::platform::{PlatformRepository, PlatformScope};
use crate::scope::{Grant, RequestMeta, Role, TenantScope};
use crate::secret::Secret;
use crate::sessions::{
    NewSession, REFRESH_TOKEN_PREFIX, Session, SessionPolicy, SessionRepository, TokenPair,
};
use crate::users::{Email, Password, User, UserName, UserRepository};

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
    organizations: Arc<dyn OrganizationRepository>,
    users: Arc<dyn UserRepository>,
    pub(super) memberships: Arc<dyn MembershipRepository>,
    hasher: Arc<dyn PasswordHasher>,
    pub(super) tokens: Arc<dyn TokenCodec>,
    pub(super) audit: Arc<dyn AuditRepository>,
    pub(super) sessions: Arc<dyn SessionRepository>,
    pub(super) policy: SessionPolicy,
    api_keys: ApiKeyService,
    settings: AccountSettings,
    pub(super) limiter: Arc<dyn RateLimiter>,
    budget: Arc<dyn RateLimiter>,
    pub(super) limits: RateLimits,
    platform: Arc<dyn PlatformRepository>,
    deferred: Arc<dyn Deferred>,
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
        Self {
            organizations: ports.organizations,
            users: ports.users,
            memberships: ports.memberships,
            hasher: ports.hasher,
            tokens: ports.tokens,
            audit: ports.audit.clone(),
            sessions: ports.sessions,
            policy: ports.policy,
            api_keys: ApiKeyService::new(ports.api_keys, ports.audit.clone()),
            settings: ports.settings,
            limiter: ports.limiter,
            budget: ports.budget,
            limits: ports.limits,
            platform: ports.platform,
            deferred: ports.deferred,
        }
    }

    /// Creates an organization with the new user as its owner, and signs the user in.
    /// An email that is already registered is a [`DomainError::Conflict`].
    pub async fn register(
        &self,
        input: Register,
        request: RequestMeta,
    ) -> DomainResult<Registered> {
        let address = address_key("auth", request.client_ip.as_deref());
        enforce(&*self.limiter, &address, self.limits.auth_per_address).await?;
        let mut v = Validator::new();
        let email = v.check(Email::parse(&input.email));
        let password = match &email {
            Some(email) => v.check(Password::parse_new("password", &input.password, email)),
            None => v.check(Password::parse("password", &input.password)),
        };
        let name = v.check(UserName::parse(&input.name));
        let organization_name = v.check(OrganizationName::parse(
            "organization_name",
            &input.organization_name,
        ));
        v.finish()?;
        let (Some(email), Some(password), Some(name), Some(organization_name)) =
            (email, password, name, organization_name)
        else {
            unreachable!("Validator::finish fails when a check failed")
        };

        let password_hash = self.hasher.hash(&password).await?;
        let now = crate::now();
        let organization = Organization {
            id: OrganizationId::new(),
            name: organization_name,
            created_at: now,
            settings: Default::default(),
        };
        let user = User {
            id: UserId::new(),
            email,
            name,
            created_at: now,
            email_verified_at: None,
        };
        let membership = Membership {
            organization_id: organization.id,
            user_id: user.id,
            role: Role::Owner.into(),
            created_at: now,
        };
        let session = Session::start(user.id, organization.id, self.policy, &request);
        let refresh = Secret::generate(REFRESH_TOKEN_PREFIX);
        let verification = token_email(&user, TokenPurpose::EmailVerification, &self.settings);
        let registration = Registration {
            organization,
            user,
            password_hash,
            membership,
            session: NewSession {
                session,
                refresh: refresh.digest(),
            },
            verification,
        };
        let scope = TenantScope::authenticated(
            registration.organization.id,
            registration.user.id,
            Grant::system(Role::Owner),
        )
        .with_request(request);
        self.organizations.register(&scope, &registration).await?;
        let tokens = self.issue(&registration.session.session, refresh)?;
        Ok(Registered {
            user: registration.user,
            organization: registration.organization,
            role: Role::Owner,
            tokens,
        })
    }

    /// Checks credentials and starts a session in the chosen organization: the one named in
    /// the input, else the one the user last used, else the oldest membership.
    /// A wrong password, an unknown or malformed email, an account without organization and
    /// an organization the user does not belong to all fail the same way
    /// ([`DomainError::Unauthorized`]) after the same amount of hashing.
    /// Successes and wrong passwords of existing accounts are audited in the account's
    /// organization; an unknown email belongs to no tenant and is not. A wrong password is
    /// answered once the failure is counted, before anything else about the account is read:
    /// its audit records are written after the response ([`Deferred`]), so that it answers
    /// after the same work, in the same order, as an unknown email.
    pub async fn login(&self, input: Login, request: RequestMeta) -> DomainResult<TokenPair> {
        let address = address_key("auth", request.client_ip.as_deref());
        enforce(&*self.limiter, &address, self.limits.auth_per_address).await?;
        let email = Email::parse(&input.email).ok();
        // Failures are counted per email whether or not an account has it, so that a lockout
        // says nothing about which accounts exist.
        let lockout = self.limits.login_failures_per_account;
        let failures = email
            .as_ref()
            .filter(|_| lockout.max > 0)
            .map(|e| format!("login:fail:{}", e.as_str()));
        if let Some(key) = &failures
            && let RateDecision::Limited { retry_after_secs } =
                self.limiter.peek(key, lockout).await?
        {
            return Err(DomainError::RateLimited { retry_after_secs });
        }
        let credentials = match &email {
            Some(email) => self.users.find_credentials_by_email(email).await?,
            None => None,
        };
        let matches = self
            .hasher
            .verify(
                &input.password,
                credentials.as_ref().map(|c| c.password_hash.clone()),
            )
            .await?;
        let locks_now = match (&failures, matches) {
            (Some(key), false) => matches!(
                self.limiter.hit(key, lockout).await?,
                RateDecision::Allowed { count } if count >= lockout.max
            ),
            _ => false,
        };
        let Some(credentials) = credentials else {
            return Err(DomainError::Unauthorized);
        };
        let user = credentials.user;
        if !matches {
            let service = self.clone();
            self.deferred.defer(Box::pin(async move {
                service
                    .record_failed_login(user, input.organization_id, locks_now, request)
                    .await
            }));
            return Err(DomainError::Unauthorized);
        }
        let memberships = self.memberships.list_for_user(user.id).await?;
        let membership = match input.organization_id {
            Some(org) => memberships.iter().find(|m| m.organization_id == org),
            None => {
                let last = self.sessions.last_used_organization(user.id).await?;
                last.and_then(|org| memberships.iter().find(|m| m.organization_id == org))
                    .or(memberships.first())
            }
        };
        let Some(membership) = membership else {
            return Err(DomainError::Unauthorized);
        };
        // A suspended organization gives no grant; a deleted one refuses the session below.
        let Some(grant) = self
            .memberships
            .grant(membership.organization_id, user.id, None)
            .await?
        else {
            return Err(DomainError::Unauthorized);
        };
        let scope = TenantScope::authenticated(membership.organization_id, user.id, grant)
            .with_request(request.clone());
        if self.settings.require_verified_email && user.email_verified_at.is_none() {
            return Err(DomainError::EmailUnverified);
        }
        let session = Session::start(user.id, membership.organization_id, self.policy, &request);
        let refresh = Secret::generate(REFRESH_TOKEN_PREFIX);
        let entry = AuditEntry::event(
            "auth.login_succeeded",
            "user",
            Some(user.id.to_string()),
            serde_json::json!({ "session_id": session.id.to_string() }),
        );
        self.sessions
            .create(
                &scope,
                &NewSession {
                    session: session.clone(),
                    refresh: refresh.digest(),
                },
                entry,
            )
            .await?;
        self.issue(&session, refresh)
    }

    /// Records a wrong password for `user` (and the lockout it caused) in the organization the
    /// login named, else the user's oldest: while the user is a member there.
    async fn record_failed_login(
        &self,
        user: User,
        named: Option<OrganizationId>,
        locked: bool,
        request: RequestMeta,
    ) -> DomainResult<()> {
        let memberships = self.memberships.list_for_user(user.id).await?;
        let membership = match named {
            Some(org) => memberships.iter().find(|m| m.organization_id == org),
            None => memberships.first(),
        };
        let Some(membership) = membership else {
            return Ok(());
        };
        let Some(grant) = self
            .memberships
            .grant(membership.organization_id, user.id, None)
            .await?
        else {
            return Ok(());
        };
        let scope = TenantScope::authenticated(membership.organization_id, user.id, grant)
            .with_request(request);
        let user_entry = |action: &str, details| {
            AuditEntry::event(action, "user", Some(user.id.to_string()), details)
        };
        self.audit
            .record(
                &scope,
                user_entry("auth.login_failed", serde_json::Value::Null),
            )
            .await?;
        if locked {
            let lockout = self.limits.login_failures_per_account;
            let details = serde_json::json!({
                "failures": lockout.max,
                "locked_for_secs": lockout.window_secs,
            });
            self.audit
                .record(&scope, user_entry("auth.login_locked", details))
                .await?;
        }
        Ok(())
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

    /// Turns a bearer credential into a [`TenantScope`]. An API key (`bhk_…`) is looked up and
    /// gives its organization's scope with the key's scopes as permissions (see
    /// [`ApiKeyService::authenticate`]). An access token names an organization, a user and a
    /// session; the scope gets the role the user holds there now and its current permissions,
    /// read in one statement that also checks that the session is live and the organization
    /// is not deleted. So a logged-out session or a removed member is refused (401), and a
    /// demoted member or an edited custom role gets the new permissions, on the next request.
    pub async fn authenticate(
        &self,
        token: &str,
        request: RequestMeta,
    ) -> DomainResult<TenantScope> {
        let scope = if token.starts_with(API_KEY_PREFIX) {
            self.api_keys.authenticate(token, request).await?
        } else if let Ok(PlatformToken::Impersonation {
            superuser,
            organization_id,
            id,
        }) = self.tokens.verify_platform(token)
        {
            self.impersonate(superuser, organization_id, id, request)
                .await?
        } else {
            let subject = self.tokens.verify(token)?;
            let grant = self
                .memberships
                .grant(
                    subject.organization_id,
                    subject.user_id,
                    Some(subject.session_id),
                )
                .await?
                .ok_or(DomainError::Unauthorized)?;
            TenantScope::for_session(
                subject.organization_id,
                subject.user_id,
                grant,
                subject.session_id,
            )
            .with_request(request)
        };
        let principal = format!("principal:{}", scope.principal());
        enforce(
            &*self.budget,
            &principal,
            self.limits.requests_per_principal,
        )
        .await?;
        Ok(scope)
    }

    /// The scope of an impersonation token, while its user is still a superuser and the
    /// organization is not deleted; the request is recorded in the organization's audit
    /// trail, with the superuser as impersonator, before anything else happens.
    async fn impersonate(
        &self,
        superuser: UserId,
        organization: OrganizationId,
        id: ImpersonationId,
        request: RequestMeta,
    ) -> DomainResult<TenantScope> {
        if !self.platform.is_superuser(superuser).await? {
            return Err(DomainError::Unauthorized);
        }
        let platform = PlatformScope::new(superuser, request.clone());
        match self.platform.get(&platform, organization).await {
            Ok(org) if org.deleted_at.is_none() => {}
            Ok(_) | Err(DomainError::NotFound) => return Err(DomainError::Unauthorized),
            Err(e) => return Err(e),
        }
        let scope =
            TenantScope::for_impersonation(organization, id, superuser).with_request(request);
        let entry = AuditEntry::event(
            "impersonation.request",
            "impersonation",
            Some(id.to_string()),
            serde_json::json!({ "route": scope.request().route }),
        );
        self.audit.record(&scope, entry).await?;
        Ok(scope)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MockAuditRepository;
    use crate::auth::port::{MockPasswordHasher, MockTokenCodec};
    use crate::ids::SessionId;
    use crate::memberships::MockMembershipRepository;
    use crate::organizations::MockOrganizationRepository;
    use crate::scope::RoleRef;
    use crate::sessions::MockSessionRepository;
    use crate::users::{MockUserRepository, PasswordHash, UserCredentials};

    struct Mocks {
        organizations: MockOrganizationRepository,
        users: MockUserRepository,
        memberships: MockMembershipRepository,
        hasher: MockPasswordHasher,
        tokens: MockTokenCodec,
        audit: MockAuditRepository,
        sessions: MockSessionRepository,
        api_keys: crate::api_keys::MockApiKeyRepository,
        limiter: crate::limits::MockRateLimiter,
        budget: crate::limits::MockRateLimiter,
        platform: crate::platform::MockPlatformRepository,
        deferred: crate::auth::port::Later,
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
        fn service(self) -> AuthService {
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

    fn token() -> crate::auth::AccessToken {
        crate::auth::AccessToken {
            token: "signed".into(),
            expires_in: 900,
        }
    }

    fn ada() -> User {
        User {
            id: UserId::new(),
            email: Email::parse("ada@example.com").expect("valid"),
            name: UserName::parse("Ada").expect("valid"),
            created_at: crate::now(),
            email_verified_at: None,
        }
    }

    fn membership(user_id: UserId, role: Role) -> Membership {
        Membership {
            organization_id: OrganizationId::new(),
            user_id,
            role: role.into(),
            created_at: crate::now(),
        }
    }

    fn register_input() -> Register {
        Register {
            email: "Ada@Example.com".into(),
            password: "correct horse battery".into(),
            name: "Ada".into(),
            organization_name: "Analytical Engines".into(),
        }
    }

    #[tokio::test]
    async fn register_stores_org_user_and_owner_membership_together() {
        let mut m = Mocks::default();
        m.hasher
            .expect_hash()
            .times(1)
            .returning(|_| Ok(PasswordHash::new("$2b$hash".into())));
        m.organizations
            .expect_register()
            .withf(|scope, r| {
                scope.organization_id() == r.organization.id
                    && r.membership.role == RoleRef::OWNER
                    && r.membership.organization_id == r.organization.id
                    && r.membership.user_id == r.user.id
                    && r.user.email.as_str() == "ada@example.com"
                    && r.session.session.user_id == r.user.id
                    && r.session.session.organization_id == r.organization.id
            })
            .times(1)
            .returning(|_, _| Ok(()));
        m.tokens.expect_issue().times(1).returning(|_| Ok(token()));
        let registered = m
            .service()
            .register(register_input(), RequestMeta::default())
            .await
            .expect("registered");
        assert_eq!(registered.role, Role::Owner);
        assert_eq!(registered.organization.name.as_str(), "Analytical Engines");
    }

    #[tokio::test]
    async fn register_rejects_bad_input_without_hashing_or_storing() {
        let mut m = Mocks::default();
        m.hasher.expect_hash().never();
        m.organizations.expect_register().never();
        let input = Register {
            email: "nope".into(),
            password: "é".repeat(40),
            name: String::new(),
            organization_name: String::new(),
        };
        let Err(DomainError::Validation(errors)) =
            m.service().register(input, RequestMeta::default()).await
        else {
            panic!("expected validation errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "name", "organization_name"]);
    }

    #[tokio::test]
    async fn register_rejects_the_email_as_password() {
        let m = Mocks::default();
        let input = Register {
            password: "ada@example.com".into(),
            ..register_input()
        };
        let Err(DomainError::Validation(errors)) =
            m.service().register(input, RequestMeta::default()).await
        else {
            panic!("expected validation errors")
        };
        assert_eq!(errors[0].code, "equals_email");
    }

    #[tokio::test]
    async fn unknown_email_still_runs_a_dummy_verify_and_fails_like_a_wrong_password() {
        let mut m = Mocks::default();
        m.users
            .expect_find_credentials_by_email()
            .times(1)
            .returning(|_| Ok(None));
        m.hasher
            .expect_verify()
            .withf(|_, hash| hash.is_none())
            .times(1)
            .returning(|_, _| Ok(false));
        m.tokens.expect_issue().never();
        let err = m
            .service()
            .login(
                Login {
                    email: "ghost@example.com".into(),
                    password: "whatever1".into(),
                    organization_id: None,
                },
                RequestMeta::default(),
            )
            .await;
        assert!(matches!(err, Err(DomainError::Unauthorized)));
    }

    #[tokio::test]
    async fn wrong_password_is_unauthorized_and_audited() {
        let mut m = Mocks::default();
        let user = ada();
        let user_id_of_ada = user.id;
        m.users
            .expect_find_credentials_by_email()
            .returning(move |_| {
                Ok(Some(UserCredentials {
                    user: user.clone(),
                    password_hash: PasswordHash::new("$2b$hash".into()),
                }))
            });
        m.hasher
            .expect_verify()
            .withf(|_, hash| hash.is_some())
            .times(1)
            .returning(|_, _| Ok(false));
        let user_id = user_id_of_ada;
        m.memberships
            .expect_list_for_user()
            .returning(move |_| Ok(vec![membership(user_id, Role::Member)]));
        let recorded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = recorded.clone();
        m.audit
            .expect_record()
            .withf(|_, e| e.action == "auth.login_failed")
            .times(1)
            .returning(move |_, _| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            });
        m.tokens.expect_issue().never();
        let later = m.deferred.clone();
        let err = m
            .service()
            .login(
                Login {
                    email: "ada@example.com".into(),
                    password: "wrong password".into(),
                    organization_id: None,
                },
                RequestMeta::default(),
            )
            .await;
        assert!(matches!(err, Err(DomainError::Unauthorized)));
        // Recorded after the response, so it takes no time the client can measure.
        assert_eq!(recorded.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(later.run().await, 1);
        assert_eq!(recorded.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn login_issues_a_token_for_the_first_membership() {
        let mut m = Mocks::default();
        let user = ada();
        let first = membership(user.id, Role::Admin);
        let org = first.organization_id;
        let user_for_lookup = user.clone();
        m.users
            .expect_find_credentials_by_email()
            .returning(move |_| {
                Ok(Some(UserCredentials {
                    user: user_for_lookup.clone(),
                    password_hash: PasswordHash::new("$2b$hash".into()),
                }))
            });
        m.hasher.expect_verify().returning(|_, _| Ok(true));
        m.memberships
            .expect_list_for_user()
            .returning(move |_| Ok(vec![first.clone(), membership(UserId::new(), Role::Viewer)]));
        m.sessions
            .expect_last_used_organization()
            .returning(|_| Ok(None));
        m.sessions
            .expect_create()
            .withf(move |scope, new, e| {
                e.action == "auth.login_succeeded"
                    && scope.organization_id() == org
                    && new.session.organization_id == org
                    && new.refresh.as_str().len() == 64
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        m.tokens
            .expect_issue()
            .withf(move |s| s.organization_id == org)
            .times(1)
            .returning(|_| Ok(token()));
        let pair = m
            .service()
            .login(
                Login {
                    email: "ada@example.com".into(),
                    password: "correct horse".into(),
                    organization_id: None,
                },
                RequestMeta::default(),
            )
            .await
            .expect("logged in");
        assert!(
            pair.refresh_token
                .expose()
                .starts_with(REFRESH_TOKEN_PREFIX)
        );
    }

    fn credentials_of(user: User) -> impl Fn(&Email) -> DomainResult<Option<UserCredentials>> {
        move |_| {
            Ok(Some(UserCredentials {
                user: user.clone(),
                password_hash: PasswordHash::new("$2b$hash".into()),
            }))
        }
    }

    #[tokio::test]
    async fn login_prefers_the_named_then_the_last_used_organization() {
        let user = ada();
        let (first, second) = (
            membership(user.id, Role::Admin),
            membership(user.id, Role::Viewer),
        );
        let (first_org, second_org) = (first.organization_id, second.organization_id);
        for (named, last_used, expected) in [
            (Some(first_org), Some(second_org), first_org),
            (None, Some(second_org), second_org),
            (None, Some(OrganizationId::new()), first_org),
            (None, None, first_org),
        ] {
            let mut m = Mocks::default();
            m.users
                .expect_find_credentials_by_email()
                .returning(credentials_of(user.clone()));
            m.hasher.expect_verify().returning(|_, _| Ok(true));
            let all = vec![first.clone(), second.clone()];
            m.memberships
                .expect_list_for_user()
                .returning(move |_| Ok(all.clone()));
            m.sessions
                .expect_last_used_organization()
                .returning(move |_| Ok(last_used));
            m.sessions
                .expect_create()
                .withf(move |scope, _, _| scope.organization_id() == expected)
                .times(1)
                .returning(|_, _, _| Ok(()));
            m.tokens.expect_issue().returning(|_| Ok(token()));
            let login = Login {
                email: "ada@example.com".into(),
                password: "correct horse".into(),
                organization_id: named,
            };
            m.service()
                .login(login, RequestMeta::default())
                .await
                .expect("logged in");
        }
    }

    #[tokio::test]
    async fn login_to_an_organization_of_which_one_is_not_a_member_fails_like_a_wrong_password() {
        let mut m = Mocks::default();
        let user = ada();
        let first = membership(user.id, Role::Admin);
        m.users
            .expect_find_credentials_by_email()
            .returning(credentials_of(user));
        m.hasher.expect_verify().returning(|_, _| Ok(true));
        m.memberships
            .expect_list_for_user()
            .returning(move |_| Ok(vec![first.clone()]));
        m.sessions.expect_create().never();
        m.tokens.expect_issue().never();
        let login = Login {
            email: "ada@example.com".into(),
            password: "correct horse".into(),
            organization_id: Some(OrganizationId::new()),
        };
        assert!(matches!(
            m.service().login(login, RequestMeta::default()).await,
            Err(DomainError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn a_locked_account_is_refused_before_any_hashing() {
        let mut m = Mocks {
            limiter: crate::limits::MockRateLimiter::new(),
            ..Mocks::default()
        };
        m.limiter
            .expect_hit()
            .returning(|_, _| Ok(RateDecision::Allowed { count: 1 }));
        m.limiter
            .expect_peek()
            .withf(|key, _| key == "login:fail:ada@example.com")
            .returning(|_, _| {
                Ok(RateDecision::Limited {
                    retry_after_secs: 42,
                })
            });
        m.hasher.expect_verify().never();
        m.users.expect_find_credentials_by_email().never();
        let login = Login {
            email: "Ada@example.com".into(),
            password: "correct horse".into(),
            organization_id: None,
        };
        assert!(matches!(
            m.service().login(login, RequestMeta::default()).await,
            Err(DomainError::RateLimited {
                retry_after_secs: 42
            })
        ));
    }

    #[tokio::test]
    async fn the_failure_that_reaches_the_limit_locks_the_account_and_is_audited() {
        let mut m = Mocks {
            limiter: crate::limits::MockRateLimiter::new(),
            ..Mocks::default()
        };
        let user = ada();
        let user_id = user.id;
        m.limiter
            .expect_peek()
            .returning(|_, _| Ok(RateDecision::Allowed { count: 4 }));
        m.limiter.expect_hit().returning(|key, limit| {
            Ok(RateDecision::Allowed {
                count: if key.starts_with("login:fail:") {
                    limit.max
                } else {
                    1
                },
            })
        });
        m.users
            .expect_find_credentials_by_email()
            .returning(credentials_of(user));
        m.hasher.expect_verify().returning(|_, _| Ok(false));
        m.memberships
            .expect_list_for_user()
            .returning(move |_| Ok(vec![membership(user_id, Role::Member)]));
        m.audit
            .expect_record()
            .withf(|_, e| e.action == "auth.login_failed")
            .times(1)
            .returning(|_, _| Ok(()));
        m.audit
            .expect_record()
            .withf(|_, e| e.action == "auth.login_locked")
            .times(1)
            .returning(|_, _| Ok(()));
        let login = Login {
            email: "ada@example.com".into(),
            password: "wrong password".into(),
            organization_id: None,
        };
        let later = m.deferred.clone();
        assert!(matches!(
            m.service().login(login, RequestMeta::default()).await,
            Err(DomainError::Unauthorized)
        ));
        assert_eq!(later.run().await, 1);
    }

    fn live_session() -> Session {
        Session::start(
            UserId::new(),
            OrganizationId::new(),
            SessionPolicy::default(),
            &RequestMeta::default(),
        )
    }

    #[tokio::test]
    async fn refresh_rotates_and_issues_a_pair_for_the_same_session() {
        let mut m = Mocks::default();
        let session = live_session();
        let (sid, presented) = (session.id, Secret::generate(REFRESH_TOKEN_PREFIX));
        let digest = presented.digest();
        m.sessions
            .expect_rotate()
            .withf(move |old, new, _, _| *old == digest && *new != digest)
            .times(1)
            .returning(move |_, _, _, _| {
                Ok(crate::sessions::Rotation::Rotated {
                    session: session.clone(),
                })
            });
        m.tokens
            .expect_issue()
            .withf(move |s| s.session_id == sid)
            .times(1)
            .returning(|_| Ok(token()));
        let pair = m
            .service()
            .refresh(presented.expose(), RequestMeta::default())
            .await
            .expect("refreshed");
        assert_eq!(pair.session_id, sid);
        assert_ne!(pair.refresh_token, presented);
    }

    #[tokio::test]
    async fn a_reused_refresh_token_is_unauthorized_and_audited() {
        let mut m = Mocks::default();
        let session = live_session();
        m.sessions.expect_rotate().returning(move |_, _, _, _| {
            Ok(crate::sessions::Rotation::Reused {
                session: session.clone(),
            })
        });
        m.audit
            .expect_record()
            .withf(|_, e| e.action == "auth.refresh_token_reused")
            .times(1)
            .returning(|_, _| Ok(()));
        m.tokens.expect_issue().never();
        let presented = Secret::generate(REFRESH_TOKEN_PREFIX);
        assert!(matches!(
            m.service()
                .refresh(presented.expose(), RequestMeta::default())
                .await,
            Err(DomainError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn malformed_refresh_tokens_never_reach_storage() {
        let mut m = Mocks::default();
        m.sessions.expect_rotate().never();
        let service = m.service();
        let wrong_kind = Secret::generate("bhk_");
        for bad in [
            "",
            "bhr_",
            "not-a-token",
            wrong_kind.expose(),
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        ] {
            assert!(matches!(
                service.refresh(bad, RequestMeta::default()).await,
                Err(DomainError::Unauthorized)
            ));
        }
    }

    #[tokio::test]
    async fn session_operations_need_a_session_scope() {
        let m = Mocks::default();
        let scope = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Owner);
        let service = m.service();
        assert!(matches!(
            service.logout(&scope).await,
            Err(DomainError::Unauthorized)
        ));
        assert!(matches!(
            service
                .switch_organization(&scope, OrganizationId::new())
                .await,
            Err(DomainError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn authenticate_takes_the_role_from_the_current_membership() {
        let mut m = Mocks::default();
        let (user_id, org, sid) = (UserId::new(), OrganizationId::new(), SessionId::new());
        m.tokens.expect_verify().returning(move |_| {
            Ok(TokenSubject {
                user_id,
                organization_id: org,
                session_id: sid,
            })
        });
        m.memberships = MockMembershipRepository::new();
        m.memberships.expect_list_for_user().never();
        m.memberships
            .expect_grant()
            .withf(move |o, u, s| (*o, *u, *s) == (org, user_id, Some(sid)))
            .times(1)
            .returning(|_, _, _| Ok(Some(Role::Member.into())));
        let meta = RequestMeta {
            request_id: Some("r1".into()),
            ..RequestMeta::default()
        };
        let scope = m
            .service()
            .authenticate("token", meta)
            .await
            .expect("authenticated");
        assert_eq!(scope.role(), Some(Role::Member.into()));
        assert_eq!(
            (scope.organization_id(), scope.user_id()),
            (org, Some(user_id))
        );
        assert_eq!(scope.request().request_id.as_deref(), Some("r1"));
        assert_eq!(scope.session_id(), Some(sid));
    }

    #[tokio::test]
    async fn authenticate_rejects_a_token_that_does_not_verify() {
        let mut m = Mocks::default();
        m.tokens
            .expect_verify()
            .returning(|_| Err(DomainError::Unauthorized));
        assert!(matches!(
            m.service()
                .authenticate("forged", RequestMeta::default())
                .await,
            Err(DomainError::Unauthorized)
        ));
    }

    fn impersonation_token(
        m: &mut Mocks,
        superuser: UserId,
        org: OrganizationId,
    ) -> crate::ids::ImpersonationId {
        let id = crate::ids::ImpersonationId::new();
        m.tokens = MockTokenCodec::new();
        m.tokens.expect_verify().never();
        m.tokens.expect_verify_platform().returning(move |_| {
            Ok(PlatformToken::Impersonation {
                superuser,
                organization_id: org,
                id,
            })
        });
        id
    }

    fn live(org: OrganizationId) -> crate::platform::PlatformOrganization {
        crate::platform::PlatformOrganization {
            organization: Organization {
                id: org,
                name: OrganizationName::parse("name", "Acme").expect("valid"),
                created_at: crate::now(),
                settings: Default::default(),
            },
            deleted_at: None,
            suspended_at: None,
        }
    }

    #[tokio::test]
    async fn an_impersonation_reads_only_and_every_request_is_audited_with_the_impersonator() {
        let mut m = Mocks::default();
        let (superuser, org) = (UserId::new(), OrganizationId::new());
        let id = impersonation_token(&mut m, superuser, org);
        m.platform.expect_is_superuser().returning(|_| Ok(true));
        m.platform.expect_get().returning(move |_, o| Ok(live(o)));
        m.audit
            .expect_record()
            .withf(move |scope, e| {
                e.action == "impersonation.request"
                    && e.resource_id == Some(id.to_string())
                    && e.changes["route"] == "GET /api/v1/projects"
                    && scope.impersonator() == Some(superuser)
                    && scope.organization_id() == org
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let meta = RequestMeta {
            route: Some("GET /api/v1/projects".into()),
            ..RequestMeta::default()
        };
        let scope = m
            .service()
            .authenticate("platform-token", meta)
            .await
            .expect("impersonating");
        assert!(scope.has(crate::scope::Permission::ProjectsRead));
        assert!(!scope.has(crate::scope::Permission::ProjectsWrite));
    }

    #[tokio::test]
    async fn an_impersonation_ends_when_its_user_is_no_superuser_or_the_organization_is_deleted() {
        let mut m = Mocks::default();
        let (superuser, org) = (UserId::new(), OrganizationId::new());
        impersonation_token(&mut m, superuser, org);
        m.platform.expect_is_superuser().returning(|_| Ok(false));
        m.audit.expect_record().never();
        assert!(matches!(
            m.service().authenticate("t", RequestMeta::default()).await,
            Err(DomainError::Unauthorized)
        ));

        let mut m = Mocks::default();
        impersonation_token(&mut m, superuser, org);
        m.platform.expect_is_superuser().returning(|_| Ok(true));
        m.platform.expect_get().returning(move |_, o| {
            Ok(crate::platform::PlatformOrganization {
                deleted_at: Some(crate::now()),
                ..live(o)
            })
        });
        m.audit.expect_record().never();
        assert!(matches!(
            m.service().authenticate("t", RequestMeta::default()).await,
            Err(DomainError::Unauthorized)
        ));
    }
}
