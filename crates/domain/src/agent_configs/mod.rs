//! Agent configurations: how an organization's agents call a model (provider, model,
//! prompt, tools), with numbered versions of that behaviour and a sealed provider credential.

mod model;
mod port;
mod service;
mod tools;

pub use model::{
    AgentConfig, AgentConfigChanges, AgentConfigFields, AgentConfigFilter, AgentConfigVersion,
    AgentConfigs, AgentType, Behaviour, CreateAgentConfig, MaxTokens, Provider, ProviderKey,
    ProviderUrl, SystemPrompt, Temperature, UpdateAgentConfig,
};
pub use port::{AgentConfigVersionRepository, EndpointPolicy};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockAgentConfigVersionRepository, MockEndpointPolicy};
pub use service::{AgentConfigPorts, AgentConfigService, credential_place};
pub use tools::Tool;
