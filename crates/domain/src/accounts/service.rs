//! Password change and reset, and email verification.

use std::sync::Arc;

use super::model::{AccountSettings, TokenPurpose, token_email};
use super::port::AccountRepository;
use crate::audit::{AuditEntry, AuditRepository};
use crate::credentials::{Deferred, PasswordHasher};
use crate::error::{DomainError, DomainResult};
use crate::ids::UserId;
use crate::limits::{RateLimiter, RateLimits, address_key, enforce};
use crate::memberships::MembershipRepository;
use crate::scope::{RequestMeta, TenantScope};
use crate::secret::Secret;
use crate::users::{Email, Password, User, UserRepository};

/// The adapters [`AccountService`] needs.
pub struct AccountPorts {
    /// Tokens, passwords and the outbox.
    pub accounts: Arc<dyn AccountRepository>,
    /// Accounts by email.
    pub users: Arc<dyn UserRepository>,
    /// The organizations whose audit trails record account events.
    pub memberships: Arc<dyn MembershipRepository>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// The audit trail.
    pub audit: Arc<dyn AuditRepository>,
    /// Links in emails, and the verified-email switch.
    pub settings: AccountSettings,
    /// Counters for the per-address and per-account limits.
    pub limiter: Arc<dyn RateLimiter>,
    /// The limits.
    pub limits: RateLimits,
    /// Where work off the response path runs (what a request for an existing account does).
    pub deferred: Arc<dyn Deferred>,
}

/// Account use cases. Requests naming an email answer the same whether or not an account
/// exists, and after the same work: what they do for an existing account (a token, an email,
/// audit records) happens after the response, so neither the answer nor its timing reveals
/// who has an account.
#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn AccountRepository>,
    users: Arc<dyn UserRepository>,
    memberships: Arc<dyn MembershipRepository>,
    hasher: Arc<dyn PasswordHasher>,
    audit: Arc<dyn AuditRepository>,
    settings: AccountSettings,
    limiter: Arc<dyn RateLimiter>,
    limits: RateLimits,
    deferred: Arc<dyn Deferred>,
}

fn invalid_token() -> DomainError {
    DomainError::invalid("token", "invalid", "the token is invalid, used or expired")
}

impl AccountService {
    /// Wires the service.
    pub fn new(ports: AccountPorts) -> Self {
        Self {
            accounts: ports.accounts,
            users: ports.users,
            memberships: ports.memberships,
            hasher: ports.hasher,
            audit: ports.audit,
            settings: ports.settings,
            limiter: ports.limiter,
            limits: ports.limits,
            deferred: ports.deferred,
        }
    }

    /// Emails a reset link (valid 30 minutes) if an account has this address. Succeeds the
    /// same either way; only a malformed address is an error.
    pub async fn forgot_password(&self, email: &str, request: RequestMeta) -> DomainResult<()> {
        let email = self.email_request(email, &request).await?;
        if let Some(credentials) = self.users.find_credentials_by_email(&email).await? {
            let service = self.clone();
            self.deferred.defer(Box::pin(async move {
                let user = credentials.user;
                let (token, message) =
                    token_email(&user, TokenPurpose::PasswordReset, &service.settings);
                service.accounts.issue_token(&token, &message).await?;
                service
                    .record_everywhere(user.id, "auth.password_reset_requested", request)
                    .await
            }));
        }
        Ok(())
    }

    /// Sets a new password with a reset token, and ends every session of the account.
    /// A token that is unknown, used, expired or of another kind is a validation error on
    /// `token`; an unacceptable password changes nothing and leaves the token usable.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        request: RequestMeta,
    ) -> DomainResult<()> {
        self.limit_address(&request).await?;
        let secret =
            Secret::parse(TokenPurpose::PasswordReset.prefix(), token).ok_or_else(invalid_token)?;
        let digest = secret.digest();
        let credentials = self
            .accounts
            .token_owner(TokenPurpose::PasswordReset, &digest)
            .await?
            .ok_or_else(invalid_token)?;
        let password = Password::parse_new("new_password", new_password, &credentials.user.email)?;
        let hash = self.hasher.hash(&password).await?;
        let user = self
            .accounts
            .reset_password(&digest, &hash)
            .await?
            .ok_or_else(invalid_token)?;
        self.record_everywhere(user, "auth.password_reset", request)
            .await
    }

    /// Marks the account's email verified with a verification token.
    pub async fn verify_email(&self, token: &str, request: RequestMeta) -> DomainResult<()> {
        self.limit_address(&request).await?;
        let secret = Secret::parse(TokenPurpose::EmailVerification.prefix(), token)
            .ok_or_else(invalid_token)?;
        let user = self
            .accounts
            .verify_email(&secret.digest())
            .await?
            .ok_or_else(invalid_token)?;
        self.record_everywhere(user, "auth.email_verified", request)
            .await
    }

    /// Emails a new verification link if an account with this address is still unverified.
    /// Succeeds the same either way.
    pub async fn resend_verification(&self, email: &str, request: RequestMeta) -> DomainResult<()> {
        let email = self.email_request(email, &request).await?;
        if let Some(credentials) = self.users.find_credentials_by_email(&email).await?
            && credentials.user.email_verified_at.is_none()
        {
            let service = self.clone();
            self.deferred.defer(Box::pin(async move {
                service.send_verification(&credentials.user).await
            }));
        }
        Ok(())
    }

    /// Queues a verification email for a new account.
    pub async fn send_verification(&self, user: &User) -> DomainResult<()> {
        let (token, message) = token_email(user, TokenPurpose::EmailVerification, &self.settings);
        self.accounts.issue_token(&token, &message).await
    }

    /// Changes the signed-in user's password, given the current one, and ends their other
    /// sessions. A wrong current password is a validation error on `current_password`.
    pub async fn change_password(
        &self,
        scope: &TenantScope,
        current_password: &str,
        new_password: &str,
    ) -> DomainResult<()> {
        let user = scope.require_user()?;
        scope.require_session()?;
        let credentials = self
            .accounts
            .credentials(user)
            .await?
            .ok_or(DomainError::Unauthorized)?;
        let new = Password::parse_new("new_password", new_password, &credentials.user.email)?;
        if !self
            .hasher
            .verify(current_password, Some(credentials.password_hash))
            .await?
        {
            return Err(DomainError::invalid(
                "current_password",
                "incorrect",
                "the current password is not correct",
            ));
        }
        let hash = self.hasher.hash(&new).await?;
        let entry = AuditEntry::event(
            "auth.password_changed",
            "user",
            Some(user.to_string()),
            serde_json::Value::Null,
        );
        self.accounts.change_password(scope, &hash, entry).await?;
        Ok(())
    }

    /// Counts a request of the email endpoints against the client's address.
    async fn limit_address(&self, request: &RequestMeta) -> DomainResult<()> {
        let address = address_key("email", request.client_ip.as_deref());
        enforce(&*self.limiter, &address, self.limits.email_per_address).await
    }

    /// Validates the address of a request that sends email, and counts it against the client's
    /// address and against the recipient (so nobody's inbox can be flooded).
    async fn email_request(&self, raw: &str, request: &RequestMeta) -> DomainResult<Email> {
        self.limit_address(request).await?;
        let email = Email::parse(raw)?;
        let recipient = format!("email:to:{}", email.as_str());
        enforce(&*self.limiter, &recipient, self.limits.email_per_account).await?;
        Ok(email)
    }

    /// Records an account event in the audit trail of every organization the user belongs to:
    /// an account is not a tenant's, but each of its tenants should see what happened to it.
    async fn record_everywhere(
        &self,
        user: UserId,
        action: &str,
        request: RequestMeta,
    ) -> DomainResult<()> {
        for membership in self.memberships.list_for_user(user).await? {
            let org = membership.organization_id;
            let Some(grant) = self.memberships.grant(org, user, None).await? else {
                continue;
            };
            let scope = TenantScope::authenticated(org, user, grant).with_request(request.clone());
            let entry = AuditEntry::event(
                action,
                "user",
                Some(user.to_string()),
                serde_json::Value::Null,
            );
            match self.audit.record(&scope, entry).await {
                // A deleted organization takes no record until it is restored; the account
                // event still happened everywhere else.
                Ok(()) | Err(DomainError::Unauthorized) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::port::MockAccountRepository;
    use crate::audit::MockAuditRepository;
    use crate::credentials::MockPasswordHasher;
    use crate::limits::MockRateLimiter;
    use crate::memberships::MockMembershipRepository;
    use crate::users::{MockUserRepository, PasswordHash, UserCredentials, UserName};

    #[derive(Default)]
    struct Mocks {
        accounts: MockAccountRepository,
        users: MockUserRepository,
        memberships: MockMembershipRepository,
        hasher: MockPasswordHasher,
        audit: MockAuditRepository,
        deferred: crate::credentials::Later,
    }

    fn unlimited() -> Arc<MockRateLimiter> {
        let mut limiter = MockRateLimiter::new();
        limiter
            .expect_hit()
            .returning(|_, _| Ok(crate::limits::RateDecision::Allowed { count: 1 }));
        Arc::new(limiter)
    }

    impl Mocks {
        fn service(self) -> AccountService {
            AccountService::new(AccountPorts {
                accounts: Arc::new(self.accounts),
                users: Arc::new(self.users),
                memberships: Arc::new(self.memberships),
                hasher: Arc::new(self.hasher),
                audit: Arc::new(self.audit),
                settings: AccountSettings::default(),
                limiter: unlimited(),
                limits: RateLimits::default(),
                deferred: Arc::new(self.deferred),
            })
        }
    }

    fn ada() -> UserCredentials {
        UserCredentials {
            user: User {
                id: UserId::new(),
                email: Email::parse("ada@example.com").expect("valid"),
                name: UserName::parse("Ada").expect("valid"),
                created_at: crate::now(),
                email_verified_at: None,
            },
            password_hash: PasswordHash::new("$2b$hash".into()),
        }
    }

    #[tokio::test]
    async fn forgot_password_for_an_unknown_email_sends_nothing_and_succeeds() {
        let mut m = Mocks::default();
        m.users
            .expect_find_credentials_by_email()
            .returning(|_| Ok(None));
        m.accounts.expect_issue_token().never();
        m.service()
            .forgot_password("ghost@example.com", RequestMeta::default())
            .await
            .expect("same answer as for a known email");
    }

    #[tokio::test]
    async fn forgot_password_queues_a_link_whose_token_is_stored_only_as_a_digest() {
        let mut m = Mocks::default();
        m.users
            .expect_find_credentials_by_email()
            .returning(|_| Ok(Some(ada())));
        m.accounts
            .expect_issue_token()
            .withf(|token, email| {
                token.purpose == TokenPurpose::PasswordReset
                    && email.to.as_str() == "ada@example.com"
                    && email.body.contains("bhp_")
                    && !email.body.contains(token.digest.as_str())
            })
            .times(1)
            .returning(|_, _| Ok(()));
        m.memberships
            .expect_list_for_user()
            .returning(|_| Ok(vec![]));
        let later = m.deferred.clone();
        m.service()
            .forgot_password("Ada@example.com", RequestMeta::default())
            .await
            .expect("queued");
        // Issued after the answer, which an unknown email gets as soon.
        assert_eq!(later.run().await, 1);
    }

    #[tokio::test]
    async fn a_bad_new_password_leaves_the_reset_token_unused() {
        let mut m = Mocks::default();
        m.accounts
            .expect_token_owner()
            .returning(|_, _| Ok(Some(ada())));
        m.accounts.expect_reset_password().never();
        m.hasher.expect_hash().never();
        let token = Secret::generate("bhp_");
        let err = m
            .service()
            .reset_password(token.expose(), "ada@example.com", RequestMeta::default())
            .await;
        assert!(
            matches!(&err, Err(DomainError::Validation(e)) if e[0].code == "equals_email"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn tokens_of_another_kind_are_refused_before_any_lookup() {
        let mut m = Mocks::default();
        m.accounts.expect_token_owner().never();
        m.accounts.expect_verify_email().never();
        let service = m.service();
        let verification = Secret::generate("bhv_");
        let reset = Secret::generate("bhp_");
        assert!(matches!(
            service
                .reset_password(
                    verification.expose(),
                    "a fine password",
                    RequestMeta::default()
                )
                .await,
            Err(DomainError::Validation(_))
        ));
        assert!(matches!(
            service
                .verify_email(reset.expose(), RequestMeta::default())
                .await,
            Err(DomainError::Validation(_))
        ));
    }
}
