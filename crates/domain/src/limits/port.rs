//! The counter store behind rate limits.

use async_trait::async_trait;

use super::model::{Limit, RateDecision};
use crate::error::DomainResult;

/// Counts events per key in fixed windows, in a store shared by every server instance.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one event for `key` and says whether it stays within `limit`.
    async fn hit(&self, key: &str, limit: Limit) -> DomainResult<RateDecision>;

    /// Says whether one more event for `key` would stay within `limit`, without counting it.
    async fn peek(&self, key: &str, limit: Limit) -> DomainResult<RateDecision>;
}
