//! Agent use cases: the kit's steps, and pausing and resuming, which are this aggregate's own.

use std::sync::Arc;

use super::model::{Agent, AgentFilter, AgentStatus, Agents, CreateAgent, UpdateAgent};
use crate::audit::AuditRepository;
use crate::error::{DomainError, DomainResult};
use crate::ids::AgentId;
use crate::page::Page;
use crate::resource::{ListParams, Resource, Resources, TenantRepository};
use crate::scope::TenantScope;

/// The agent use cases.
#[derive(Clone)]
pub struct AgentService {
    agents: Resources<Agents>,
}

impl AgentService {
    /// Builds the service on its repository; refusals are recorded through `audit`.
    pub fn new(repo: Arc<dyn TenantRepository<Agents>>, audit: Arc<dyn AuditRepository>) -> Self {
        Self {
            agents: Resources::new(repo, audit),
        }
    }

    /// The kit's use cases of agents, for the jobs that run over every resource.
    pub fn resources(&self) -> &Resources<Agents> {
        &self.agents
    }

    /// Creates an agent on a live configuration of the organization (needs `agents:write`).
    pub async fn create(&self, scope: &TenantScope, input: CreateAgent) -> DomainResult<Agent> {
        self.agents.create(scope, input).await
    }

    /// Lists agents.
    pub async fn list(
        &self,
        scope: &TenantScope,
        params: ListParams,
        filter: AgentFilter,
    ) -> DomainResult<Page<Agent>> {
        self.agents.list(scope, params, filter).await
    }

    /// Reads one agent.
    pub async fn get(&self, scope: &TenantScope, id: AgentId) -> DomainResult<Agent> {
        self.agents.get(scope, id).await
    }

    /// Applies a partial update (needs `agents:write`).
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: AgentId,
        patch: UpdateAgent,
        expected_version: Option<i64>,
    ) -> DomainResult<Agent> {
        self.agents.update(scope, id, patch, expected_version).await
    }

    /// Soft-deletes an agent; its runs stay readable.
    pub async fn delete(
        &self,
        scope: &TenantScope,
        id: AgentId,
        expected_version: Option<i64>,
    ) -> DomainResult<Agent> {
        self.agents.delete(scope, id, expected_version).await
    }

    /// Brings back a deleted agent, if its configuration is live.
    pub async fn restore(&self, scope: &TenantScope, id: AgentId) -> DomainResult<Agent> {
        self.agents.restore(scope, id).await
    }

    /// Stops the agent from starting runs; running ones finish. [`DomainError::Conflict`] if
    /// it is paused already.
    pub async fn pause(
        &self,
        scope: &TenantScope,
        id: AgentId,
        expected_version: Option<i64>,
    ) -> DomainResult<Agent> {
        self.agents
            .act(
                scope,
                id,
                Agents::WRITE,
                expected_version,
                "paused",
                |fields| {
                    if fields.status == AgentStatus::Paused {
                        return Err(DomainError::Conflict("the agent is already paused".into()));
                    }
                    fields.status = AgentStatus::Paused;
                    Ok(true)
                },
            )
            .await
    }

    /// Lets a paused agent start runs again. [`DomainError::Conflict`] if it is not paused.
    pub async fn resume(
        &self,
        scope: &TenantScope,
        id: AgentId,
        expected_version: Option<i64>,
    ) -> DomainResult<Agent> {
        self.agents
            .act(
                scope,
                id,
                Agents::WRITE,
                expected_version,
                "resumed",
                |fields| {
                    if fields.status != AgentStatus::Paused {
                        return Err(DomainError::Conflict("the agent is not paused".into()));
                    }
                    fields.status = AgentStatus::Idle;
                    Ok(true)
                },
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::AgentKey;
    use crate::ids::{AgentConfigId, OrganizationId, UserId};
    use crate::resource::{MockTenantRepository, Record};
    use crate::scope::{Permission, Role};

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn stored(org: OrganizationId, status: AgentStatus) -> Agent {
        Record::new(
            org,
            UserId::new(),
            super::super::AgentFields {
                agent_key: AgentKey::parse("a").expect("valid"),
                name: None,
                config_id: AgentConfigId::new(),
                configuration: Default::default(),
                status,
            },
        )
    }

    fn service(status: AgentStatus, org: OrganizationId) -> AgentService {
        let mut repo = MockTenantRepository::<Agents>::new();
        repo.expect_change().returning(move |_, _, _, change| {
            let current = stored(org, status);
            Ok(change
                .next(&current)?
                .map(|(next, _)| next)
                .unwrap_or(current))
        });
        let mut audit = crate::audit::MockAuditRepository::new();
        audit.expect_record().returning(|_, _| Ok(()));
        AgentService::new(Arc::new(repo), Arc::new(audit))
    }

    #[tokio::test]
    async fn pausing_and_resuming_apply_only_to_the_right_state() {
        let member = scope(Role::Member);
        let org = member.organization_id();
        let id = AgentId::new();
        let paused = service(AgentStatus::Idle, org)
            .pause(&member, id, None)
            .await
            .expect("paused");
        assert_eq!(paused.status, AgentStatus::Paused);
        assert!(matches!(
            service(AgentStatus::Paused, org)
                .pause(&member, id, None)
                .await,
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            service(AgentStatus::Idle, org)
                .resume(&member, id, None)
                .await,
            Err(DomainError::Conflict(_))
        ));
        let resumed = service(AgentStatus::Paused, org)
            .resume(&member, id, None)
            .await
            .expect("resumed");
        assert_eq!(resumed.status, AgentStatus::Idle);
        assert!(matches!(
            service(AgentStatus::Idle, org)
                .pause(&scope(Role::Viewer), id, None)
                .await,
            Err(DomainError::Forbidden(Permission::AgentsWrite))
        ));
    }
}
