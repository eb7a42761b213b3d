//! Readiness of the process's dependencies.

use async_trait::async_trait;

use crate::error::DomainResult;

/// Answers whether the store can serve requests right now.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait HealthProbe: Send + Sync {
    /// Succeeds when the store answers; fails with [`crate::DomainError::Unavailable`] otherwise.
    async fn ready(&self) -> DomainResult<()>;
}
