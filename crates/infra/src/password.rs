//! bcrypt password hashing, off the async executor.

use std::sync::Arc;

use async_trait::async_trait;
use bulkhead_domain::auth::PasswordHasher;
use bulkhead_domain::users::{Password, PasswordHash};
use bulkhead_domain::{DomainError, DomainResult};

use tokio::sync::Semaphore;

use crate::error::InfraError;

/// [`PasswordHasher`] with bcrypt at a configured cost.
///
/// Uses bcrypt's non-truncating functions: the domain already rejects passwords over the
/// byte limit, and a login attempt over it can never match, instead of matching its first 72
/// bytes.
#[derive(Debug, Clone)]
pub struct BcryptHasher {
    cost: u32,
    /// Checked against when the account does not exist, so that an unknown email costs as
    /// much time as a wrong password.
    dummy: String,
    /// Bounds the hashes that run at once to one core less than the machine has, so a burst
    /// of logins queues behind itself instead of starving every other request of CPU.
    hashing: Arc<Semaphore>,
}

impl BcryptHasher {
    /// Builds a hasher; computes the dummy hash once, at the same cost as real ones.
    pub fn new(cost: u32) -> Result<Self, InfraError> {
        if !(4..=31).contains(&cost) {
            return Err(InfraError::Config(format!(
                "bcrypt cost must be between 4 and 31, got {cost}"
            )));
        }
        let dummy = bcrypt::non_truncating_hash("bulkhead dummy password", cost)
            .map_err(|e| InfraError::Config(format!("bcrypt failed: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            cost,
            dummy,
            hashing: Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))),
        })
    }
}

impl BcryptHasher {
    /// Runs bcrypt on the blocking pool, once a hashing slot is free.
    async fn off_executor<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> DomainResult<T> {
        let _slot = self
            .hashing
            .acquire()
            .await
            .map_err(|e| DomainError::Internal(format!("hashing slots closed: {e}")))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| DomainError::Internal(format!("hashing task failed: {e}")))
    }
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &Password) -> DomainResult<PasswordHash> {
        let (plain, cost) = (password.expose().to_owned(), self.cost);
        self.off_executor(move || bcrypt::non_truncating_hash(plain, cost))
            .await?
            .map(PasswordHash::new)
            .map_err(|e| DomainError::Internal(format!("bcrypt failed: {e}")))
    }

    async fn verify(&self, candidate: &str, hash: Option<PasswordHash>) -> DomainResult<bool> {
        let known = hash.is_some();
        let target = hash.map_or_else(|| self.dummy.clone(), |h| h.as_str().to_owned());
        let dummy = self.dummy.clone();
        let candidate = candidate.to_owned();
        self.off_executor(
            move || match bcrypt::non_truncating_verify(&candidate, &target) {
                Ok(matches) => known && matches,
                // Too long (or a malformed stored hash): spend the same time, then refuse.
                Err(_) => {
                    let _ = bcrypt::verify("", &dummy);
                    false
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_long_inputs_never_match() {
        let hasher = BcryptHasher::new(4).expect("cost 4 is valid");
        let password = Password::parse("password", "correct horse").expect("valid");
        let hash = hasher.hash(&password).await.expect("hashed");
        assert!(
            hasher
                .verify("correct horse", Some(hash.clone()))
                .await
                .expect("ran")
        );
        assert!(
            !hasher
                .verify("wrong horse", Some(hash.clone()))
                .await
                .expect("ran")
        );
        assert!(!hasher.verify("correct horse", None).await.expect("ran"));
        // A stored hash of a 71-byte password is not matched by the same text plus more.
        let long = Password::parse("password", &"a".repeat(64)).expect("valid");
        let long_hash = hasher.hash(&long).await.expect("hashed");
        assert!(
            !hasher
                .verify(&"a".repeat(80), Some(long_hash))
                .await
                .expect("ran")
        );
    }

    #[test]
    fn rejects_out_of_range_costs() {
        assert!(BcryptHasher::new(3).is_err());
        assert!(BcryptHasher::new(32).is_err());
    }
}
