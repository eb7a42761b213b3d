//! Ports for password hashing and access tokens.

use async_trait::async_trait;

use super::model::{AccessToken, PlatformToken, TokenSubject};
use crate::error::DomainResult;
use crate::users::{Password, PasswordHash};

/// Hashes and checks passwords. Implementations must not block the async executor.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password.
    async fn hash(&self, password: &Password) -> DomainResult<PasswordHash>;

    /// Checks a login attempt. With `hash: None` (unknown account) it still does the work of a
    /// real check against a dummy hash and answers `false`, so timing does not reveal whether
    /// the account exists.
    async fn verify(&self, candidate: &str, hash: Option<PasswordHash>) -> DomainResult<bool>;
}

/// Issues and verifies access tokens.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenCodec: Send + Sync {
    /// Signs an access token for `subject`.
    fn issue(&self, subject: &TokenSubject) -> DomainResult<AccessToken>;

    /// Verifies signature, algorithm, type, issuer, audience and times. Any failure is
    /// [`crate::DomainError::Unauthorized`].
    fn verify(&self, token: &str) -> DomainResult<TokenSubject>;

    /// Signs a platform token, valid for at most 15 minutes, which no access-token check
    /// accepts (and the other way round).
    fn issue_platform(&self, subject: &PlatformToken) -> DomainResult<AccessToken>;

    /// Verifies a platform token as strictly as [`TokenCodec::verify`].
    fn verify_platform(&self, token: &str) -> DomainResult<PlatformToken>;
}
