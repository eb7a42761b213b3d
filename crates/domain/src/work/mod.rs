//! Work: sessions a member asks for on a project, executed by an agent's runs, producing
//! artifacts for review and stopping at checkpoints for a person's decision.

mod artifacts;
mod checkpoints;
mod port;
mod products;
mod service;
mod sessions;

pub use artifacts::{
    Artifact, ArtifactFields, ArtifactFilter, Artifacts, Decision, ReviewStatus, feedback,
};
pub use checkpoints::{
    Checkpoint, CheckpointFields, CheckpointFilter, CheckpointStatus, Checkpoints,
};
#[cfg(any(test, feature = "mock"))]
pub use port::MockWorkRepository;
pub use port::{WorkEvent, WorkEventKind, WorkRepository, WorkStats};
pub use products::{MAX_ARTIFACTS, Products};
pub use service::{INDEPENDENT_REVIEW, WorkService};
pub use sessions::{
    CreateWorkSession, SessionFields, SessionFilter, SessionStatus, TaskParameters, TaskType,
    WorkSession, WorkSessions,
};
