//! Wake-ups for readers of run events and for idle workers. On PostgreSQL an event's unit of
//! work sends `NOTIFY run_events, '<run id>'`, delivered when it commits, to every instance that
//! listens, so a client streaming from instance B sees a run that instance A executes. SQLite
//! serves one instance, which wakes its own readers; readers also look again every so often, so
//! a lost wake-up only delays an event.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bulkhead_domain::DomainResult;
use bulkhead_domain::runs::{RunSignals, RunWakeups};
use sea_orm::sqlx::PgPool;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement};
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use crate::error::to_domain;

const CHANNEL: &str = "run_events";

/// The signals of one process.
#[derive(Clone)]
pub struct SqlRunSignals {
    events: broadcast::Sender<Uuid>,
    workers: Arc<Notify>,
}

impl Default for SqlRunSignals {
    fn default() -> Self {
        Self::new()
    }
}

impl SqlRunSignals {
    /// Signals with nobody listening yet.
    pub fn new() -> Self {
        // Readers that fall this far behind look again, so nothing is lost by lagging.
        let (events, _) = broadcast::channel(1024);
        Self {
            events,
            workers: Arc::new(Notify::new()),
        }
    }

    /// Announces, inside the unit of work that stored an event of stream `stream` (a run or a
    /// work session), that it has one.
    pub(crate) async fn announce(
        &self,
        tx: &DatabaseTransaction,
        stream: Uuid,
    ) -> DomainResult<()> {
        if tx.get_database_backend() == DatabaseBackend::Postgres {
            tx.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), stream.to_string().into()],
            ))
            .await
            .map_err(to_domain)?;
        } else {
            let _ = self.events.send(stream);
        }
        Ok(())
    }

    /// Wakes this process's idle worker: a run was queued or handed back. A wake-up while it
    /// is busy is kept for its next wait, so none is lost.
    pub fn wake_workers(&self) {
        self.workers.notify_one();
    }

    /// Waits until [`SqlRunSignals::wake_workers`] or `timeout`.
    pub async fn idle(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.workers.notified()).await;
    }

    /// Forwards PostgreSQL's notifications on `pool` to this process's readers for as long as
    /// it runs, listening again a second after a lost connection (see
    /// [`crate::Store::follow_signals`]).
    pub(crate) fn follow(&self, pool: PgPool) -> impl Future<Output = ()> + Send + 'static {
        let events = self.events.clone();
        let workers = self.workers.clone();
        async move {
            loop {
                let listening = async {
                    let mut listener = PgListener::connect_with(&pool).await?;
                    listener.listen(CHANNEL).await?;
                    Ok::<_, sea_orm::sqlx::Error>(listener)
                }
                .await;
                match listening {
                    Ok(mut listener) => loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => {
                                if let Ok(id) = notification.payload().parse::<Uuid>() {
                                    let _ = events.send(id);
                                }
                                // Runs queued on other instances announce themselves too.
                                workers.notify_one();
                            }
                            Ok(None) => break,
                            Err(err) => {
                                tracing::warn!(error = %err, "run events: listener failed");
                                break;
                            }
                        }
                    },
                    Err(err) => {
                        tracing::warn!(error = %err, "run events: cannot listen; streams fall back to polling");
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

impl RunSignals for SqlRunSignals {
    fn subscribe(&self) -> Box<dyn RunWakeups> {
        Box::new(Subscription(self.events.subscribe()))
    }
}

struct Subscription(broadcast::Receiver<Uuid>);

#[async_trait]
impl RunWakeups for Subscription {
    async fn wait(&mut self, stream: Uuid, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, async {
            loop {
                match self.0.recv().await {
                    Ok(id) if id == stream => return,
                    Ok(_) => {}
                    // Behind: something may have happened to `stream` among the skipped.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        })
        .await;
    }
}
