//! The run worker: claims queued runs, executes them with the executor of their provider under
//! a time limit, renews its leases while they run, stops runs cancelled meanwhile, and on
//! shutdown stops claiming, lets running runs finish within a grace period and hands back the
//! rest. Several workers (in one process or many) share the queue; each run executes once at a
//! time, and a worker that dies loses its leases, so its runs are retried or failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bulkhead_domain::agent_configs::Provider;
use bulkhead_domain::runs::{Claim, EventKind, EventSink, Executor, Outcome, RunQueue};
use bulkhead_domain::{DomainResult, RunId, SystemTask, TenantScope};
use bulkhead_infra::SqlRunSignals;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Runs executed at once (0: no worker).
    pub concurrency: u32,
    /// Leased runs one organization may hold at once, across workers: one tenant cannot take
    /// every slot.
    pub per_organization: u32,
    /// Starts of one run (retries after a lost worker included) before it fails.
    pub max_attempts: i32,
    /// How long one execution may take.
    pub timeout: Duration,
    /// How long a claim lasts unless renewed; renewed at a third of it.
    pub lease: Duration,
    /// How often an idle worker looks for work without being woken.
    pub poll: Duration,
    /// How long running runs get to finish at shutdown before they are handed back.
    pub grace: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            per_organization: 2,
            max_attempts: 3,
            timeout: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            grace: Duration::from_secs(20),
        }
    }
}

/// A worker, ready to run.
pub struct Worker {
    id: Uuid,
    queue: Arc<dyn RunQueue>,
    executors: HashMap<Provider, Arc<dyn Executor>>,
    signals: SqlRunSignals,
    settings: WorkerSettings,
}

/// The executions a worker holds (by a token of each), with the switch that stops each.
type Active = Arc<Mutex<HashMap<Uuid, (Claim, watch::Sender<bool>)>>>;

impl Worker {
    /// A worker with a fresh id over `queue`, executing each provider's runs with its executor.
    pub fn new(
        queue: Arc<dyn RunQueue>,
        executors: HashMap<Provider, Arc<dyn Executor>>,
        signals: SqlRunSignals,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            queue,
            executors,
            signals,
            settings,
        }
    }

    /// Works until `shutdown` turns true, then drains as [`WorkerSettings::grace`] allows.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        let slots = Arc::new(Semaphore::new(me.settings.concurrency.max(1) as usize));
        // A finished execution frees a slot: the loop looks for work at once, not at its next
        // poll.
        let freed = Arc::new(tokio::sync::Notify::new());
        let active: Active = Arc::default();
        let mut tasks = JoinSet::new();
        let renewer = tokio::spawn(me.clone().renew(active.clone()));
        tracing::info!(worker = %me.id, concurrency = me.settings.concurrency, "run worker started");
        let mut last_reap = tokio::time::Instant::now() - me.settings.lease;
        while !*shutdown.borrow() {
            if last_reap.elapsed() >= me.settings.lease / 3 {
                last_reap = tokio::time::Instant::now();
                if let Err(err) = me.queue.expired(me.settings.max_attempts).await {
                    tracing::warn!(error = %err, "run worker: expired leases not handled");
                }
            }
            let free = slots.available_permits() as u32;
            let claims = if free == 0 {
                Vec::new()
            } else {
                me.queue
                    .claim(me.id, free, me.settings.per_organization, me.settings.lease)
                    .await
                    .unwrap_or_else(|err| {
                        tracing::warn!(error = %err, "run worker: claim failed");
                        Vec::new()
                    })
            };
            let idle = claims.is_empty();
            for claim in claims {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let (stop, stopped) = watch::channel(false);
                let token = Uuid::now_v7();
                if let Ok(mut held) = active.lock() {
                    // The run came back to the queue while an execution of it here was still
                    // going (its lease had run out): that execution is stale and stops.
                    for (held_claim, switch) in held.values() {
                        if held_claim.run == claim.run {
                            let _ = switch.send(true);
                        }
                    }
                    held.insert(token, (claim, stop));
                }
                let (me, active, freed) = (me.clone(), active.clone(), freed.clone());
                tasks.spawn(async move {
                    me.execute(claim, stopped).await;
                    if let Ok(mut held) = active.lock() {
                        held.remove(&token);
                    }
                    drop(permit);
                    freed.notify_one();
                });
            }
            // Reap finished tasks so the set does not grow.
            while tasks.try_join_next().is_some() {}
            if idle || slots.available_permits() == 0 {
                tokio::select! {
                    () = me.signals.idle(me.settings.poll) => {}
                    () = freed.notified(), if !idle => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        tracing::info!(worker = %me.id, running = tasks.len(), "run worker stopping: no new claims");
        let drained = tokio::time::timeout(me.settings.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            let left: Vec<Claim> = active
                .lock()
                .map(|held| held.values().map(|(claim, _)| *claim).collect())
                .unwrap_or_default();
            for claim in left {
                let scope = TenantScope::system(claim.organization_id, SystemTask::Runs);
                if let Err(err) = me.queue.release(&scope, me.id, claim.run).await {
                    tracing::warn!(error = %err, run = %claim.run, "run worker: hand-back failed; its lease will expire");
                }
            }
        }
        renewer.abort();
        tracing::info!(worker = %me.id, "run worker stopped");
    }

    /// Renews the leases of the runs held, and stops those cancelled or lost.
    async fn renew(self: Arc<Self>, active: Active) {
        loop {
            tokio::time::sleep(self.settings.lease / 3).await;
            let held: Vec<Claim> = active
                .lock()
                .map(|held| held.values().map(|(claim, _)| *claim).collect())
                .unwrap_or_default();
            if held.is_empty() {
                continue;
            }
            match self.queue.renew(self.id, &held, self.settings.lease).await {
                Ok(stop) => {
                    if let Ok(held) = active.lock() {
                        for (claim, switch) in held.values() {
                            if stop.contains(&claim.run) {
                                let _ = switch.send(true);
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "run worker: lease renewal failed"),
            }
        }
    }

    async fn execute(&self, claim: Claim, mut stopped: watch::Receiver<bool>) {
        let scope = TenantScope::system(claim.organization_id, SystemTask::Runs);
        let started = match self.queue.start(&scope, self.id, claim.run).await {
            Ok(Some(started)) => started,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, run = %claim.run, "run worker: start failed; the lease will expire");
                return;
            }
        };
        let sink = QueueSink {
            queue: self.queue.clone(),
            scope: scope.clone(),
            run: claim.run,
        };
        let outcome = match self.executors.get(&started.provider) {
            None => Some(Outcome::Failed(format!(
                "this server has no executor for the {} provider",
                started.provider.as_str()
            ))),
            Some(executor) => tokio::select! {
                result = tokio::time::timeout(self.settings.timeout, executor.execute(&started, &sink)) => {
                    Some(result.unwrap_or(Outcome::TimedOut))
                }
                // Cancelled, or the lease went to another worker: leave the run as it is.
                _ = stopped.wait_for(|stop| *stop) => None,
            },
        };
        if let Some(outcome) = outcome
            && let Err(err) = self.queue.finish(&scope, self.id, claim.run, outcome).await
        {
            tracing::warn!(error = %err, run = %claim.run, "run worker: finish failed; the lease will expire");
        }
    }
}

/// Stores an executor's events as the run's.
struct QueueSink {
    queue: Arc<dyn RunQueue>,
    scope: TenantScope,
    run: RunId,
}

#[async_trait]
impl EventSink for QueueSink {
    async fn emit(&self, kind: EventKind, data: Value) -> DomainResult<()> {
        self.queue.event(&self.scope, self.run, kind, data).await
    }
}
