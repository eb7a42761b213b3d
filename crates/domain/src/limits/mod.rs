//! Rate limits: per-address and per-account limits on the authentication endpoints, and a
//! general per-principal request limit. Counters live in a shared store (see
//! [`RateLimiter`]), so limits hold across server instances.

pub mod model;
pub mod port;

pub use model::{Limit, RateDecision, RateLimits};
#[cfg(any(test, feature = "mock"))]
pub use port::MockRateLimiter;
pub use port::RateLimiter;

use crate::error::{DomainError, DomainResult};

/// Counts one event against `key` and fails with [`DomainError::RateLimited`] once `limit` is
/// exceeded. A limit with `max == 0` is off.
pub(crate) async fn enforce(
    limiter: &dyn RateLimiter,
    key: &str,
    limit: Limit,
) -> DomainResult<()> {
    if limit.max == 0 {
        return Ok(());
    }
    match limiter.hit(key, limit).await? {
        RateDecision::Allowed { .. } => Ok(()),
        RateDecision::Limited { retry_after_secs } => {
            Err(DomainError::RateLimited { retry_after_secs })
        }
    }
}

/// The key of a per-address counter; requests without a known address share one.
pub(crate) fn address_key(kind: &str, address: Option<&str>) -> String {
    format!("{kind}:ip:{}", address.unwrap_or("unknown"))
}
