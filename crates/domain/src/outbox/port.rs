//! Ports of the outbox and of the mail transport.

use async_trait::async_trait;
use uuid::Uuid;

use super::model::{OutgoingEmail, QueuedEmail};
use crate::error::DomainResult;

/// The outbox table. Emails are queued by the repositories whose transactions decide to send
/// them (a reset token and its email commit together); this port only delivers.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OutboxRepository: Send + Sync {
    /// Up to `limit` undelivered emails with fewer than `max_attempts` attempts, oldest first.
    async fn pending(&self, limit: u64, max_attempts: i32) -> DomainResult<Vec<QueuedEmail>>;

    /// Records a delivery.
    async fn mark_sent(&self, id: Uuid) -> DomainResult<()>;

    /// Records a failed attempt, to retry later.
    async fn mark_failed(&self, id: Uuid, error: &str) -> DomainResult<()>;
}

/// Sends one email.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers `email`, or fails with [`crate::DomainError::Unavailable`] to be retried.
    async fn send(&self, email: &OutgoingEmail) -> DomainResult<()>;
}
