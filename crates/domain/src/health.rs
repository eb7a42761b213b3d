//! Readiness of the process's dependencies, and the backlogs of its queues.

use async_trait::async_trait;

use crate::error::DomainResult;

/// How much waits in each queue the store holds, across organizations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueFigures {
    /// Emails stored in the outbox and not sent yet.
    pub outbox_pending: i64,
    /// Runs waiting for a worker.
    pub runs_queued: i64,
    /// Runs a worker holds.
    pub runs_leased: i64,
    /// Stripe's events stored and not applied yet (retries included).
    pub billing_events_pending: i64,
    /// Stripe's events left failed after their last attempt: an operator's to look at.
    pub billing_events_failed: i64,
}

/// What a readiness check found: each dependency answered; the queues' figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// How long the database took to answer, in milliseconds.
    pub database_ms: u64,
    /// The queues' backlogs.
    pub queues: QueueFigures,
}

/// Answers whether the store can serve requests right now.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait HealthProbe: Send + Sync {
    /// What the dependencies answered; [`crate::DomainError::Unavailable`] when one does not.
    async fn ready(&self) -> DomainResult<Readiness>;
}
