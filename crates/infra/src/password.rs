//! bcrypt password hashing, off the async executor.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bulkhead_domain::auth::PasswordHasher;
use bulkhead_domain::users::{Password, PasswordHash};
use bulkhead_domain::{DomainError, DomainResult};
use thread_priority::{ThreadPriority, set_current_thread_priority};

use crate::error::InfraError;

/// A hash or a check, run on a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

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
    /// The hashing threads' queue. There is one core less of them than the machine has, so a
    /// burst of logins queues behind itself, and they run at the lowest CPU priority, so the
    /// kernel runs request handling first whenever both want a core: a login waits a little
    /// longer, the readers do not.
    jobs: Sender<Job>,
}

impl BcryptHasher {
    /// Builds a hasher; starts its threads (they end with the last clone) and computes the
    /// dummy hash once, at the same cost as real ones.
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
            jobs: start_threads(cores.saturating_sub(1).max(1))?,
        })
    }
}

fn start_threads(count: usize) -> Result<Sender<Job>, InfraError> {
    let (jobs, queue) = channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("bcrypt-{n}"))
            .spawn(move || run_jobs(&queue))
            .map_err(|e| InfraError::Config(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(jobs)
}

fn run_jobs(queue: &Mutex<Receiver<Job>>) {
    // Lowering one's own priority needs no privilege; if it fails, hashing still works.
    if let Err(err) = set_current_thread_priority(ThreadPriority::Min) {
        tracing::warn!(error = ?err, "cannot lower the hashing thread's priority");
    }
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            // A panicking job loses its answer (the caller gets an error), not the thread.
            Ok(job) => {
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
            // Every hasher is gone.
            Err(_) => return,
        }
    }
}

impl BcryptHasher {
    /// Runs bcrypt on a hashing thread, once one is free.
    async fn off_executor<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> DomainResult<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = answer.send(work());
            }))
            .map_err(|_| DomainError::Internal("the hashing threads have stopped".into()))?;
        answered
            .await
            .map_err(|_| DomainError::Internal("a hashing job failed".into()))
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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_the_lowest_cpu_priority_and_off_the_executor() {
        let hasher = BcryptHasher::new(4).expect("cost 4 is valid");
        let caller = std::thread::current().id();
        let (nice, thread) = hasher
            .off_executor(move || {
                let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("readable");
                // Fields after the command name, which ends with the last ')'; nice is the 19th.
                let fields: Vec<String> = stat[stat.rfind(')').expect("comm") + 2..]
                    .split(' ')
                    .map(str::to_owned)
                    .collect();
                (fields[16].clone(), std::thread::current().id())
            })
            .await
            .expect("ran");
        assert_eq!(nice, "19");
        assert_ne!(thread, caller);
    }

    #[test]
    fn rejects_out_of_range_costs() {
        assert!(BcryptHasher::new(3).is_err());
        assert!(BcryptHasher::new(32).is_err());
    }
}
