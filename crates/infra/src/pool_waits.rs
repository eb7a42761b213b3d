//! How long units of work wait before they run: for a pooled connection (and its `BEGIN`), and
//! for a read's turn. Shared by every pool of one process; recorded once `/metrics` exports it.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use prometheus::{HistogramOpts, HistogramVec, Registry};

/// The wait histogram, one series per thing waited for; nothing is recorded until it is
/// registered.
#[derive(Clone, Default)]
pub struct PoolWaits(Arc<OnceLock<HistogramVec>>);

impl std::fmt::Debug for PoolWaits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolWaits")
    }
}

impl PoolWaits {
    /// Creates the histogram and registers it with `registry`.
    pub(crate) fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        let histogram = match self.0.get() {
            Some(histogram) => histogram.clone(),
            None => {
                let histogram = HistogramVec::new(
                    HistogramOpts::new(
                        "bulkhead_db_pool_wait_seconds",
                        "Time units of work waited before running: for a pooled connection and \
                         its BEGIN (connection), or for a read's turn (read_turn).",
                    )
                    .buckets(vec![
                        0.000_25, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                        1.0, 2.5, 5.0,
                    ]),
                    &["for"],
                )?;
                self.0.get_or_init(|| histogram).clone()
            }
        };
        registry.register(Box::new(histogram))
    }

    /// Records a wait for `what` that began at `since`.
    pub(crate) fn observe(&self, what: &'static str, since: Instant) {
        if let Some(histogram) = self.0.get() {
            histogram
                .with_label_values(&[what])
                .observe(since.elapsed().as_secs_f64());
        }
    }
}
