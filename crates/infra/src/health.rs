//! Readiness: does the database answer, and how much waits in its queues?

use std::time::Instant;

use async_trait::async_trait;
use bulkhead_domain::health::{HealthProbe, QueueFigures, Readiness};
use bulkhead_domain::{DomainError, DomainResult};
use sea_orm::sea_query::{Expr, ExprTrait, Query};

use crate::error::to_domain;
use crate::resources::scalar;
use crate::store::Store;
use crate::tx::set_local;

#[async_trait]
impl HealthProbe for Store {
    async fn ready(&self) -> DomainResult<Readiness> {
        let began = Instant::now();
        self.connection()
            .ping()
            .await
            .map_err(|e| DomainError::Unavailable(e.to_string()))?;
        let database_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
        let queues = queue_figures(self)
            .await
            .map_err(|e| DomainError::Unavailable(e.to_string()))?;
        Ok(Readiness {
            database_ms,
            queues,
        })
    }
}

/// The queues' backlogs across organizations, in one read-only unit of work.
pub(crate) async fn queue_figures(store: &Store) -> DomainResult<QueueFigures> {
    let tx = store.begin().await.map_err(to_domain)?;
    let outbox = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from("outbox_emails")
        .and_where(Expr::col(("outbox_emails", "sent_at")).is_null())
        .to_owned();
    let outbox_pending = scalar(&tx, &outbox).await?;
    // A worker's claim looks at every organization's queue rows, and so may this.
    set_local(&tx, "app.queue", "claim").await?;
    let runs = |held: bool| {
        let owner = Expr::col(("run_queue", "lease_owner"));
        Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from("run_queue")
            .and_where(if held {
                owner.is_not_null()
            } else {
                owner.is_null()
            })
            .to_owned()
    };
    let runs_queued = scalar(&tx, &runs(false)).await?;
    let runs_leased = scalar(&tx, &runs(true)).await?;
    // Billing's processor looks at every organization's events, and so may this.
    set_local(&tx, "app.queue", "billing").await?;
    let events = |status: &str| {
        Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from("billing_events")
            .and_where(Expr::col(("billing_events", "status")).eq(status))
            .to_owned()
    };
    let billing_events_pending = scalar(&tx, &events("pending")).await?;
    let billing_events_failed = scalar(&tx, &events("failed")).await?;
    tx.rollback().await.map_err(to_domain)?;
    Ok(QueueFigures {
        outbox_pending,
        runs_queued,
        runs_leased,
        billing_events_pending,
        billing_events_failed,
    })
}
