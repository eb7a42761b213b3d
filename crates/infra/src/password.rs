//! bcrypt password hashing, off the async executor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bulkhead_domain::auth::PasswordHasher;
use bulkhead_domain::users::{Password, PasswordHash};
use bulkhead_domain::{DomainError, DomainResult};

use crate::error::InfraError;

mod threads;

use threads::{HashingThreads, Lanes};

/// The share of one core the reserve hashing thread takes by default, in percent.
pub const DEFAULT_RESERVE_PERCENT: u8 = 25;

/// [`PasswordHasher`] with bcrypt at a configured cost.
///
/// Uses bcrypt's non-truncating functions: the domain already rejects passwords over the
/// byte limit, and a login attempt over it can never match, instead of matching its first 72
/// bytes.
///
/// Hashing runs on threads of its own: one core fewer of them than the machine has, at the
/// lowest CPU priority, so that the kernel runs request handling first and a burst of logins
/// queues behind itself; and one reserve thread at normal priority, held to a share of one
/// core, which steps in when those fall behind, so that logins still complete while request
/// handling keeps every core busy.
#[derive(Debug, Clone)]
pub struct BcryptHasher {
    cost: u32,
    /// Checked against when the account does not exist, so that an unknown email costs as
    /// much time as a wrong password.
    dummy: String,
    threads: Arc<HashingThreads>,
}

impl BcryptHasher {
    /// A hasher with the default reserve ([`DEFAULT_RESERVE_PERCENT`] of one core).
    pub fn new(cost: u32) -> Result<Self, InfraError> {
        Self::with_reserve(cost, DEFAULT_RESERVE_PERCENT)
    }

    /// Builds a hasher whose reserve thread takes at most `reserve_percent` of one core (0:
    /// no reserve, so hashing gets only what request handling leaves). Starts its threads
    /// (they end with the last clone) and computes the dummy hash once, at the same cost as
    /// real ones, timing it to learn how long a hash takes on a free core.
    pub fn with_reserve(cost: u32, reserve_percent: u8) -> Result<Self, InfraError> {
        if !(4..=31).contains(&cost) {
            return Err(InfraError::Config(format!(
                "bcrypt cost must be between 4 and 31, got {cost}"
            )));
        }
        if reserve_percent > 100 {
            return Err(InfraError::Config(format!(
                "the hashing reserve is a percentage of one core (0 to 100), got {reserve_percent}"
            )));
        }
        let started = Instant::now();
        let dummy = bcrypt::non_truncating_hash("bulkhead dummy password", cost)
            .map_err(|e| InfraError::Config(format!("bcrypt failed: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = HashingThreads::start(Lanes {
            idle: cores.saturating_sub(1).max(1),
            reserve_share: (reserve_percent > 0).then(|| f64::from(reserve_percent) / 100.0),
            // Idle threads that take twice as long as a hash on a free core are being starved.
            patience: (started.elapsed() * 2).max(Duration::from_millis(10)),
        })?;
        Ok(Self {
            cost,
            dummy,
            threads: Arc::new(threads),
        })
    }

    /// Runs bcrypt on a hashing thread, once one is free.
    async fn off_executor<T: Send + 'static>(
        &self,
        work: impl Fn() -> T + Send + Sync + 'static,
    ) -> DomainResult<T> {
        self.threads
            .run(work)
            .await
            .map_err(|_| DomainError::Internal("a hashing job failed".into()))
    }
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &Password) -> DomainResult<PasswordHash> {
        let (plain, cost) = (password.expose().to_owned(), self.cost);
        self.off_executor(move || bcrypt::non_truncating_hash(&plain, cost))
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
        assert!(BcryptHasher::with_reserve(4, 101).is_err());
        assert!(BcryptHasher::with_reserve(4, 0).is_ok());
    }
}
