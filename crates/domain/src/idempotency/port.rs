//! Storage port for idempotency keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{IdempotencyKey, Reservation, StoredResponse};
use crate::error::DomainResult;
use crate::scope::TenantScope;

/// Keeps idempotency keys per organization.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// Claims `key` for a request with `fingerprint`, unless a claim newer than `expired_before`
    /// exists, in which case that claim decides (replay, in flight or mismatch). Claims of two
    /// concurrent requests with one key cannot both be [`Reservation::Fresh`].
    async fn reserve(
        &self,
        scope: &TenantScope,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> DomainResult<Reservation>;

    /// Keeps the response of a fresh claim.
    async fn complete(
        &self,
        scope: &TenantScope,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> DomainResult<()>;

    /// Drops a fresh claim whose request failed and changed nothing, so the key can be reused.
    async fn release(&self, scope: &TenantScope, key: &IdempotencyKey) -> DomainResult<()>;
}
