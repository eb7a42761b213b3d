//! The ports of runs: their storage (confined to a scope like every tenant port), the queue
//! workers claim from, and the executors that do the work.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::model::{EventKind, Outcome, Run, RunEvent, RunMetrics, RunPage, RunQuery};
use crate::agent_configs::{Provider, ProviderKey};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::{AgentId, OrganizationId, RunId};
use crate::scope::TenantScope;

/// Stores runs and their events. Every method is confined to `scope`'s organization.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RunRepository: Send + Sync {
    /// Queues `run` with its first event (`status: queued`) and `entry`, in one unit of work,
    /// if its agent is live ([`crate::DomainError::NotFound`] otherwise), not paused and its
    /// configuration active ([`crate::DomainError::Conflict`] otherwise), both checked and held
    /// in that unit of work.
    async fn create(&self, scope: &TenantScope, run: &Run, entry: AuditEntry) -> DomainResult<()>;

    /// One run, also of a deleted agent.
    async fn get(&self, scope: &TenantScope, id: RunId) -> DomainResult<Run>;

    /// A page of a live agent's runs, newest first.
    async fn list(
        &self,
        scope: &TenantScope,
        agent: AgentId,
        query: &RunQuery,
    ) -> DomainResult<RunPage>;

    /// Cancels a queued or running run, with its status event and `entry`;
    /// [`crate::DomainError::Conflict`] if it has ended.
    async fn cancel(&self, scope: &TenantScope, id: RunId, entry: AuditEntry) -> DomainResult<Run>;

    /// Up to `limit` events of a run after sequence number `after`, in order.
    async fn events(
        &self,
        scope: &TenantScope,
        id: RunId,
        after: i64,
        limit: u64,
    ) -> DomainResult<Vec<RunEvent>>;

    /// A live agent's runs queued in `[since, until)`, summed up.
    async fn metrics(
        &self,
        scope: &TenantScope,
        agent: AgentId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> DomainResult<RunMetrics>;
}

/// A run a worker claimed: enough to enter its organization, nothing of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The run.
    pub run: RunId,
    /// Its organization, which the worker enters to read and write it.
    pub organization_id: OrganizationId,
}

/// A run a worker started: the run, and what executing it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// The run, now running.
    pub run: Run,
    /// The provider of the configuration version it runs with.
    pub provider: Provider,
    /// That version's settings, as [`crate::agent_configs::Behaviour::to_json`] recorded them.
    pub settings: Value,
    /// The configuration's provider key, opened for this execution; never stored elsewhere.
    pub credential: Option<ProviderKey>,
}

/// The queue of runs, as workers see it. Claims hold a lease that the worker renews; a lease
/// that runs out (the worker died) puts the run back, up to a number of attempts. Reading and
/// writing a run itself goes through its organization's scope.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RunQueue: Send + Sync {
    /// Claims up to `limit` queued runs for `worker`, skipping runs other workers hold and
    /// organizations that already have `per_organization` runs leased, oldest first.
    async fn claim(
        &self,
        worker: Uuid,
        limit: u32,
        per_organization: u32,
        lease: Duration,
    ) -> DomainResult<Vec<Claim>>;

    /// Starts a claimed run under a system scope of its organization: `running`, one more
    /// attempt, its status event and audit record. `None` if it is no longer startable
    /// (cancelled meanwhile), in which case the claim is dropped.
    async fn start(
        &self,
        scope: &TenantScope,
        worker: Uuid,
        run: RunId,
    ) -> DomainResult<Option<Started>>;

    /// Extends `worker`'s leases on `runs`; answers those it no longer holds or whose
    /// cancellation was asked for, which the worker stops.
    async fn renew(
        &self,
        worker: Uuid,
        runs: &[Claim],
        lease: Duration,
    ) -> DomainResult<Vec<RunId>>;

    /// Stores an event of a running run.
    async fn event(
        &self,
        scope: &TenantScope,
        run: RunId,
        kind: EventKind,
        data: Value,
    ) -> DomainResult<()>;

    /// Ends a running run with `outcome`, its status event and audit record, and drops the
    /// claim. A run that is no longer running (cancelled meanwhile) keeps its status.
    async fn finish(
        &self,
        scope: &TenantScope,
        worker: Uuid,
        run: RunId,
        outcome: Outcome,
    ) -> DomainResult<()>;

    /// Hands a claimed run back unstarted-for-good (a worker shutting down): queued again at
    /// once, without counting the attempt.
    async fn release(&self, scope: &TenantScope, worker: Uuid, run: RunId) -> DomainResult<()>;

    /// Deals with leases that ran out (their worker died): each run is queued again if it has
    /// attempts left, else failed, under a system scope of its organization. Answers how many.
    async fn expired(&self, max_attempts: i32) -> DomainResult<u64>;
}

/// Wakes readers of a run's events when it has new ones, on this instance or another.
pub trait RunSignals: Send + Sync {
    /// Starts listening; a wake-up sent after this call is not missed.
    fn subscribe(&self) -> Box<dyn RunWakeups>;
}

/// One reader's subscription to [`RunSignals`].
#[async_trait]
pub trait RunWakeups: Send {
    /// Returns when stream `stream` (a run's or a work session's id) may have new events, or
    /// after `timeout`, whichever comes first.
    async fn wait(&mut self, stream: Uuid, timeout: Duration);
}

/// Where an executor reports progress while it works.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Records an event of the run being executed.
    async fn emit(&self, kind: EventKind, data: Value) -> DomainResult<()>;
}

/// Does a run's work for one provider.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Executes a started run, reporting progress to `events`; the outcome ends the run.
    async fn execute(&self, job: &Started, events: &dyn EventSink) -> Outcome;
}
