//! The store's figures for `/metrics`: its connection pools, and the backlogs of the queues it
//! holds (emails waiting in the outbox, runs waiting for or held by a worker). Read when
//! scraped, so they cost nothing between scrapes.

use bulkhead_domain::DomainResult;
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::error::to_domain;
use crate::store::Store;
use crate::tx::set_local;

/// The store's series.
pub struct StoreMetrics {
    pools: Vec<Store>,
    connections: IntGaugeVec,
    max_connections: IntGauge,
    outbox: IntGauge,
    runs: IntGaugeVec,
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
        registry.register(Box::new(runs.clone()))?;
        Ok(Self {
            pools,
            connections,
            max_connections,
            outbox,
            runs,
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
        let tx = store.begin().await.map_err(to_domain)?;
        let outbox = Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from("outbox_emails")
            .and_where(Expr::col(("outbox_emails", "sent_at")).is_null())
            .to_owned();
        self.outbox.set(count(&tx, &outbox).await?);
        // A worker's claim looks at every organization's queue rows, and so may this.
        set_local(&tx, "app.queue", "claim").await?;
        for (state, held) in [("queued", false), ("leased", true)] {
            let owner = Expr::col(("run_queue", "lease_owner"));
            let select = Query::select()
                .expr(Expr::cust("COUNT(*)"))
                .from("run_queue")
                .and_where(if held {
                    owner.is_not_null()
                } else {
                    owner.is_null()
                })
                .to_owned();
            self.runs
                .with_label_values(&[state])
                .set(count(&tx, &select).await?);
        }
        tx.rollback().await.map_err(to_domain)
    }
}

async fn count(
    tx: &DatabaseTransaction,
    select: &sea_orm::sea_query::SelectStatement,
) -> DomainResult<i64> {
    Ok(tx
        .query_one_raw(tx.get_database_backend().build(select))
        .await
        .map_err(to_domain)?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()
        .map_err(to_domain)?
        .unwrap_or_default())
}
