//! Work the server does after a response has gone.

use bulkhead_domain::auth::{Deferred, DeferredWork};

/// [`Deferred`] on tokio: each piece of work becomes a task of the runtime that deferred it.
/// Nobody waits for it, so a failure is logged.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpawnedWork;

impl Deferred for SpawnedWork {
    fn defer(&self, work: DeferredWork) {
        tokio::spawn(async move {
            if let Err(err) = work.await {
                tracing::error!(error = %err, "deferred work failed");
            }
        });
    }
}
