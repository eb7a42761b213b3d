//! The store's figures for `/metrics`: its connection pools (their size and how long units of
//! work wait for them), and the backlogs of the queues it
//! holds (emails waiting in the outbox, runs waiting for or held by a worker). Read when
//! scraped, so they cost nothing between scrapes.

use bulkhead_domain::DomainResult;
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

use crate::store::Store;

/// The store's series.
pub struct StoreMetrics {
    pools: Vec<Store>,
    connections: IntGaugeVec,
    max_connections: IntGauge,
    outbox: IntGauge,
    runs: IntGaugeVec,
    billing_events: IntGaugeVec,
}

impl StoreMetrics {
    /// Series over `pools` (the process's pools of one database), registered with `registry`.
    pub fn register(pools: Vec<Store>, registry: &Registry) -> Result<Self, prometheus::Error> {
        let connections = IntGaugeVec::new(
            Opts::new(
                "bulkhead_db_pool_connections",
                "Open database connections of the process's pools, in use or idle.",
            ),
            &["state"],
        )?;
        let max_connections = IntGauge::new(
            "bulkhead_db_pool_max_connections",
            "The most connections the process's pools may open.",
        )?;
        let outbox = IntGauge::new(
            "bulkhead_outbox_pending_emails",
            "Emails stored in the outbox and not sent yet.",
        )?;
        let runs = IntGaugeVec::new(
            Opts::new(
                "bulkhead_run_queue_runs",
                "Runs in the queue: waiting for a worker (queued) or held by one (leased).",
            ),
            &["state"],
        )?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(max_connections.clone()))?;
        registry.register(Box::new(outbox.clone()))?;
        let billing_events = IntGaugeVec::new(
            Opts::new(
                "bulkhead_billing_events",
                "Stripe's events: stored and not applied yet (pending), or left failed after their last attempt (failed).",
            ),
            &["status"],
        )?;
        registry.register(Box::new(runs.clone()))?;
        registry.register(Box::new(billing_events.clone()))?;
        if let Some(store) = pools.first() {
            store.waits().register(registry)?;
        }
        Ok(Self {
            pools,
            connections,
            max_connections,
            outbox,
            runs,
            billing_events,
        })
    }

    /// Reads the figures now. A database that does not answer leaves the queue figures as they
    /// were and is reported; the pool figures are always current.
    pub async fn refresh(&self) -> DomainResult<()> {
        let (mut open, mut idle, mut max) = (0i64, 0i64, 0i64);
        for pool in &self.pools {
            let (size, free, most) = pool.pool_figures();
            open += i64::from(size);
            idle += i64::try_from(free).unwrap_or(i64::MAX);
            max += i64::from(most);
        }
        self.connections
            .with_label_values(&["in_use"])
            .set(open - idle);
        self.connections.with_label_values(&["idle"]).set(idle);
        self.max_connections.set(max);
        let Some(store) = self.pools.first() else {
            return Ok(());
        };
        let queues = crate::health::queue_figures(store).await?;
        self.outbox.set(queues.outbox_pending);
        self.runs
            .with_label_values(&["queued"])
            .set(queues.runs_queued);
        self.runs
            .with_label_values(&["leased"])
            .set(queues.runs_leased);
        self.billing_events
            .with_label_values(&["pending"])
            .set(queues.billing_events_pending);
        self.billing_events
            .with_label_values(&["failed"])
            .set(queues.billing_events_failed);
        Ok(())
    }
}
