//! Runs: executions of an agent, queued by people and API keys and executed once by a worker,
//! with the events they emit and the metrics they add up to.

mod model;
mod port;
mod service;

pub use model::{
    EventKind, Outcome, Run, RunEvent, RunInput, RunMetrics, RunPage, RunQuery, RunStatus,
};
pub use port::{
    Claim, EventSink, Executor, RunQueue, RunRepository, RunSignals, RunWakeups, Started,
};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockRunQueue, MockRunRepository};
pub use service::{MAX_EVENTS, RUN, RunService, event_window};
