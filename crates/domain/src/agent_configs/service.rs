//! Agent configuration use cases: the kit's steps, plus what is this aggregate's own: provider
//! URLs admitted by the deployment's policy, activation, the sealed credential and versions.

use std::sync::Arc;

use super::model::{
    AgentConfig, AgentConfigFilter, AgentConfigVersion, AgentConfigs, CreateAgentConfig,
    ProviderKey, UpdateAgentConfig,
};
use super::port::{AgentConfigVersionRepository, EndpointPolicy};
use super::tools::Tool;
use crate::audit::AuditRepository;
use crate::error::DomainResult;
use crate::ids::AgentConfigId;
use crate::page::Page;
use crate::resource::{ListParams, Resource, Resources, TenantRepository};
use crate::scope::{Permission, TenantScope};
use crate::sealed::Sealer;

/// Where the credential of configuration `id` is sealed for: a sealed credential opens only
/// for the configuration it was stored on.
pub fn credential_place(id: AgentConfigId) -> String {
    format!("agent_configs.credential:{id}")
}

/// What [`AgentConfigService`] is built on.
pub struct AgentConfigPorts {
    /// The configurations.
    pub repo: Arc<dyn TenantRepository<AgentConfigs>>,
    /// Their versions.
    pub versions: Arc<dyn AgentConfigVersionRepository>,
    /// Which provider URLs the deployment may call.
    pub endpoints: Arc<dyn EndpointPolicy>,
    /// Seals provider credentials.
    pub sealer: Arc<dyn Sealer>,
    /// Records refusals.
    pub audit: Arc<dyn AuditRepository>,
}

/// The agent configuration use cases.
#[derive(Clone)]
pub struct AgentConfigService {
    configs: Resources<AgentConfigs>,
    versions: Arc<dyn AgentConfigVersionRepository>,
    endpoints: Arc<dyn EndpointPolicy>,
    sealer: Arc<dyn Sealer>,
}

impl AgentConfigService {
    /// Builds the service on its ports.
    pub fn new(ports: AgentConfigPorts) -> Self {
        Self {
            configs: Resources::new(ports.repo, ports.audit),
            versions: ports.versions,
            endpoints: ports.endpoints,
            sealer: ports.sealer,
        }
    }

    /// The kit's use cases of configurations, for the jobs that run over every resource.
    pub fn resources(&self) -> &Resources<AgentConfigs> {
        &self.configs
    }

    /// The tools a configuration may name (needs `agents:read`).
    pub async fn tools(&self, scope: &TenantScope) -> DomainResult<&'static [Tool]> {
        self.configs
            .authorize(scope, Permission::AgentsRead)
            .await?;
        Ok(&Tool::ALL)
    }

    /// Creates a configuration (needs `agents:configure`); a `base_url` must be one the
    /// deployment may call, and a `project_id` a live project of the organization.
    pub async fn create(
        &self,
        scope: &TenantScope,
        input: CreateAgentConfig,
    ) -> DomainResult<AgentConfig> {
        self.configs.authorize(scope, AgentConfigs::WRITE).await?;
        let fields = AgentConfigs::validate(input)?;
        if let Some(url) = &fields.behaviour.base_url {
            self.endpoints.admit(url).await?;
        }
        self.configs.insert(scope, fields).await
    }

    /// Lists configurations (only active ones unless the filter says otherwise).
    pub async fn list(
        &self,
        scope: &TenantScope,
        params: ListParams,
        filter: AgentConfigFilter,
    ) -> DomainResult<Page<AgentConfig>> {
        self.configs.list(scope, params, filter).await
    }

    /// Reads one configuration.
    pub async fn get(&self, scope: &TenantScope, id: AgentConfigId) -> DomainResult<AgentConfig> {
        self.configs.get(scope, id).await
    }

    /// Applies a partial update (needs `agents:configure`); a change of behaviour makes a
    /// new version.
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
        patch: UpdateAgentConfig,
        expected_version: Option<i64>,
    ) -> DomainResult<AgentConfig> {
        self.configs.authorize(scope, AgentConfigs::WRITE).await?;
        let changes = AgentConfigs::changes(patch)?;
        if let Some(Some(url)) = &changes.base_url {
            self.endpoints.admit(url).await?;
        }
        self.configs
            .apply_changes(scope, id, changes, expected_version)
            .await
    }

    /// Soft-deletes a configuration. Refused ([`DomainError::Conflict`]) while live agents
    /// use it.
    pub async fn delete(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
        expected_version: Option<i64>,
    ) -> DomainResult<AgentConfig> {
        self.configs.delete(scope, id, expected_version).await
    }

    /// Brings back a deleted configuration.
    pub async fn restore(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
    ) -> DomainResult<AgentConfig> {
        self.configs.restore(scope, id).await
    }

    /// Lets the configuration's agents run again.
    pub async fn activate(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
        expected_version: Option<i64>,
    ) -> DomainResult<AgentConfig> {
        self.set_active(scope, id, expected_version, true).await
    }

    /// Stops the configuration's agents from starting runs; it is then listed only with
    /// `include_inactive`.
    pub async fn deactivate(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
        expected_version: Option<i64>,
    ) -> DomainResult<AgentConfig> {
        self.set_active(scope, id, expected_version, false).await
    }

    async fn set_active(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
        expected_version: Option<i64>,
        active: bool,
    ) -> DomainResult<AgentConfig> {
        let verb = if active { "activated" } else { "deactivated" };
        self.configs
            .act(
                scope,
                id,
                AgentConfigs::WRITE,
                expected_version,
                verb,
                move |fields| Ok(std::mem::replace(&mut fields.active, active) != active),
            )
            .await
    }

    /// Stores the provider's API key, sealed (needs `agents:configure`). The audit trail
    /// records that it changed, never the key. Refused ([`DomainError::Conflict`]) when the
    /// deployment has no secrets key.
    pub async fn set_credential(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
        api_key: &str,
    ) -> DomainResult<AgentConfig> {
        self.configs.authorize(scope, AgentConfigs::WRITE).await?;
        let key = ProviderKey::parse(api_key)?;
        let sealed = self.sealer.seal(&credential_place(id), key.expose())?;
        self.configs
            .act(
                scope,
                id,
                AgentConfigs::WRITE,
                None,
                "credential_set",
                move |fields| {
                    fields.credential = Some(sealed.clone());
                    fields.credential_changed_at = Some(crate::now());
                    Ok(true)
                },
            )
            .await
    }

    /// Removes the provider's API key; nothing is written if there was none.
    pub async fn remove_credential(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
    ) -> DomainResult<AgentConfig> {
        self.configs
            .act(
                scope,
                id,
                AgentConfigs::WRITE,
                None,
                "credential_removed",
                |fields| {
                    if fields.credential.take().is_none() {
                        return Ok(false);
                    }
                    fields.credential_changed_at = Some(crate::now());
                    Ok(true)
                },
            )
            .await
    }

    /// The numbered versions of a configuration's behaviour, newest first (needs
    /// `agents:read`).
    pub async fn versions(
        &self,
        scope: &TenantScope,
        id: AgentConfigId,
    ) -> DomainResult<Vec<AgentConfigVersion>> {
        self.configs.authorize(scope, AgentConfigs::READ).await?;
        self.versions.list(scope, id).await
    }

    /// The configuration's provider key in clear, for the executor about to call the provider;
    /// `None` if none is stored.
    pub fn open_credential(&self, config: &AgentConfig) -> DomainResult<Option<String>> {
        config
            .credential
            .as_ref()
            .map(|sealed| self.sealer.open(&credential_place(config.id), sealed))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent_configs::{MockAgentConfigVersionRepository, MockEndpointPolicy};
    use crate::error::DomainError;
    use crate::ids::{OrganizationId, UserId};
    use crate::resource::{MockTenantRepository, Record};
    use crate::scope::Role;
    use crate::sealed::{MockSealer, SealedSecret};

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn service(
        repo: MockTenantRepository<AgentConfigs>,
        endpoints: MockEndpointPolicy,
        sealer: MockSealer,
    ) -> AgentConfigService {
        let mut audit = crate::audit::MockAuditRepository::new();
        audit.expect_record().returning(|_, _| Ok(()));
        AgentConfigService::new(AgentConfigPorts {
            repo: Arc::new(repo),
            versions: Arc::new(MockAgentConfigVersionRepository::new()),
            endpoints: Arc::new(endpoints),
            sealer: Arc::new(sealer),
            audit: Arc::new(audit),
        })
    }

    fn openai(url: &str) -> CreateAgentConfig {
        CreateAgentConfig {
            name: "GPT".into(),
            agent_type: "rfp".into(),
            provider: Some("openai_compatible".into()),
            model: "gpt-4o".into(),
            base_url: Some(url.into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_url_the_policy_refuses_stores_nothing() {
        let mut repo = MockTenantRepository::new();
        repo.expect_insert().never();
        let mut endpoints = MockEndpointPolicy::new();
        endpoints.expect_admit().times(1).returning(|_| {
            Err(DomainError::invalid(
                "base_url",
                "private_address",
                "resolves to a private address",
            ))
        });
        let err = service(repo, endpoints, MockSealer::new())
            .create(&scope(Role::Admin), openai("http://169.254.169.254/v1"))
            .await;
        assert!(matches!(err, Err(DomainError::Validation(_))), "{err:?}");
    }

    #[tokio::test]
    async fn members_cannot_configure_and_are_refused_before_any_check() {
        let mut repo = MockTenantRepository::new();
        repo.expect_insert().never();
        repo.expect_change().never();
        let mut endpoints = MockEndpointPolicy::new();
        endpoints.expect_admit().never();
        let mut sealer = MockSealer::new();
        sealer.expect_seal().never();
        let configs = service(repo, endpoints, sealer);
        let member = scope(Role::Member);
        for result in [
            configs
                .create(&member, openai("https://x"))
                .await
                .map(|_| ()),
            configs
                .set_credential(&member, AgentConfigId::new(), "sk-1")
                .await
                .map(|_| ()),
        ] {
            assert!(
                matches!(
                    result,
                    Err(DomainError::Forbidden(Permission::AgentsConfigure))
                ),
                "{result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_credential_is_sealed_for_its_configuration_before_it_is_stored() {
        let admin = scope(Role::Admin);
        let id = AgentConfigId::new();
        let mut sealer = MockSealer::new();
        sealer
            .expect_seal()
            .withf(move |place, plain| place == credential_place(id) && plain == "sk-secret")
            .times(1)
            .returning(|_, _| Ok(SealedSecret::from_sealed("sealed".into())));
        let org = admin.organization_id();
        let mut repo = MockTenantRepository::new();
        repo.expect_change()
            .times(1)
            .returning(move |_, _, _, change| {
                let fields = AgentConfigs::validate(CreateAgentConfig {
                    name: "n".into(),
                    agent_type: "hr".into(),
                    model: "m".into(),
                    ..Default::default()
                })?;
                let mut current: Record<AgentConfigs> = Record::new(org, UserId::new(), fields);
                current.id = id;
                let (next, entry) = change.next(&current)?.expect("a change");
                assert_eq!(entry.action, "agent_config.credential_set");
                assert!(!entry.changes.to_string().contains("sealed"));
                assert!(!entry.changes.to_string().contains("sk-secret"));
                Ok(next)
            });
        let stored = service(repo, MockEndpointPolicy::new(), sealer)
            .set_credential(&admin, id, "sk-secret")
            .await
            .expect("stored");
        assert_eq!(
            stored.credential,
            Some(SealedSecret::from_sealed("sealed".into()))
        );
    }
}
