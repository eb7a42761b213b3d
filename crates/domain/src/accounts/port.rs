//! Storage port for account tokens and password changes.

use async_trait::async_trait;

use super::model::{AccountToken, TokenPurpose};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::UserId;
use crate::outbox::OutgoingEmail;
use crate::scope::TenantScope;
use crate::secret::SecretDigest;
use crate::users::{PasswordHash, UserCredentials};

/// Stores account tokens and applies what they allow, each in one transaction. Accounts are
/// not tenant data: these run before (or beside) any tenant.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Stores `token` and queues `email` in the outbox, atomically.
    async fn issue_token(&self, token: &AccountToken, email: &OutgoingEmail) -> DomainResult<()>;

    /// The account a live (unused, unexpired) token of `purpose` belongs to, without using it.
    async fn token_owner(
        &self,
        purpose: TokenPurpose,
        digest: &SecretDigest,
    ) -> DomainResult<Option<UserCredentials>>;

    /// Uses a live reset token: sets `hash`, marks the email verified (the reset proved it),
    /// spends the account's other reset tokens and ends every session, atomically. `None` when
    /// the token is no longer live (for example used by a concurrent request).
    async fn reset_password(
        &self,
        digest: &SecretDigest,
        hash: &PasswordHash,
    ) -> DomainResult<Option<UserId>>;

    /// Uses a live verification token and marks the email verified. `None` when not live.
    async fn verify_email(&self, digest: &SecretDigest) -> DomainResult<Option<UserId>>;

    /// Sets the password of `scope`'s user, ends their sessions other than the scope's own,
    /// and records `entry`, atomically. Answers how many sessions ended.
    async fn change_password(
        &self,
        scope: &TenantScope,
        hash: &PasswordHash,
        entry: AuditEntry,
    ) -> DomainResult<u64>;

    /// The account and its password hash, by id.
    async fn credentials(&self, user: UserId) -> DomainResult<Option<UserCredentials>>;
}
