//! Ports for password hashing, access tokens and deferred work.

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

/// Work that must happen but that a client must not wait for, nor be able to time.
pub type DeferredWork =
    std::pin::Pin<Box<dyn std::future::Future<Output = DomainResult<()>> + Send + 'static>>;

/// Runs work after the response has gone. A failed login of an existing account records its
/// audit events this way, so that it answers after exactly the work an unknown email's does
/// and its timing tells nothing about which accounts exist.
pub trait Deferred: Send + Sync {
    /// Starts `work` in the background; it must not be dropped unrun while the server lives.
    /// Its failure can only be logged: nobody waits for it.
    fn defer(&self, work: DeferredWork);
}

/// Keeps deferred work until a unit test runs it, so a test sees what was left for later.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Later(std::sync::Arc<std::sync::Mutex<Vec<DeferredWork>>>);

#[cfg(test)]
impl Deferred for Later {
    fn defer(&self, work: DeferredWork) {
        self.0.lock().expect("not poisoned").push(work);
    }
}

#[cfg(test)]
impl Later {
    /// Runs what was deferred, in order; answers how many there were.
    pub(crate) async fn run(&self) -> usize {
        let works = std::mem::take(&mut *self.0.lock().expect("not poisoned"));
        let count = works.len();
        for work in works {
            work.await.expect("deferred work succeeds");
        }
        count
    }
}
