//! Waiting for what settles a moment after a reply.

use super::*;

/// Runs `check` every 20 ms until it passes (`Ok`), for at most five seconds, then fails with
/// its last complaint: for what another task or instance does a moment after a reply.
pub async fn eventually<F, Fut>(check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    within(std::time::Duration::from_secs(5), check).await;
}

/// Asks `request` until it answers `wanted`, for at most five seconds, and fails on any
/// answer outside `allowed` meanwhile: a change made elsewhere reaches an instance through
/// PostgreSQL's notification, a moment after it commits.
pub async fn settles<F, Fut>(wanted: StatusCode, allowed: &[StatusCode], mut request: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    eventually(|| {
        let reply = request();
        async move {
            let reply = reply.await;
            if reply.status == wanted {
                return Ok(());
            }
            assert!(
                allowed.contains(&reply.status),
                "{} before settling: {}",
                reply.status,
                reply.body
            );
            Err(format!("still {}", reply.status))
        }
    })
    .await;
}

/// Runs `check` every 20 ms until it passes, for at most `limit`, then fails with its last
/// complaint: for background work slower than a moment (a run retried after its worker's lease
/// runs out).
pub async fn within<F, Fut>(limit: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        let Err(complaint) = check().await else {
            return;
        };
        assert!(
            std::time::Instant::now() < deadline,
            "{complaint} after {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
