//! The ports agent configurations need beyond the kit's repository.

use async_trait::async_trait;

use super::model::{AgentConfigVersion, ProviderUrl};
use crate::error::DomainResult;
use crate::ids::AgentConfigId;
use crate::scope::TenantScope;

/// Decides whether the deployment may call a provider URL on a tenant's behalf. A request the
/// server makes to a URL a tenant chose must not reach the deployment's own network: the URL
/// must match the operator's allowlist, and its host must not resolve to a loopback, private,
/// link-local or otherwise internal address unless the operator allowed that.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EndpointPolicy: Send + Sync {
    /// `Ok` if `url` may be called now; a validation error on `base_url` saying why not.
    async fn admit(&self, url: &ProviderUrl) -> DomainResult<()>;
}

/// Reads the numbered versions of a configuration's behaviour. The versions themselves are
/// written by the configuration's repository, in the unit of work that changes the behaviour.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AgentConfigVersionRepository: Send + Sync {
    /// Every version of live configuration `config`, newest first, or
    /// [`crate::DomainError::NotFound`].
    async fn list(
        &self,
        scope: &TenantScope,
        config: AgentConfigId,
    ) -> DomainResult<Vec<AgentConfigVersion>>;
}
