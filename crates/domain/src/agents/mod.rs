//! Agents: an organization's named workers, each running with one agent configuration.

mod model;
mod service;

pub use model::{
    Agent, AgentChanges, AgentFields, AgentFilter, AgentKey, AgentSettings, AgentStatus, Agents,
    CreateAgent, UpdateAgent,
};
pub use service::AgentService;
