//! Run use cases for people and API keys: start, read, list, cancel, events and metrics.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{Run, RunEvent, RunInput, RunMetrics, RunPage, RunQuery};
use super::port::RunRepository;
use crate::agents::Agents;
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::{DomainError, DomainResult};
use crate::ids::{AgentId, ResourceId, RunId};
use crate::page::PageRequest;
use crate::resource::{Resource, TenantRepository};
use crate::scope::{Permission, TenantScope};

/// The audit trail's name of runs.
pub const RUN: &str = "agent_run";

/// The most events one read answers.
pub const MAX_EVENTS: u64 = 500;

/// Checks a read of a stream's events after sequence number `after`, and answers how many to
/// read: `limit` (1 to [`MAX_EVENTS`]) or, absent, [`MAX_EVENTS`].
pub fn event_window(after: i64, limit: Option<i64>) -> DomainResult<u64> {
    if after < 0 {
        return Err(DomainError::invalid(
            "after",
            "range",
            "after must not be negative",
        ));
    }
    match limit {
        None => Ok(MAX_EVENTS),
        Some(n) if (1..=MAX_EVENTS as i64).contains(&n) => Ok(n as u64),
        Some(_) => Err(DomainError::invalid(
            "limit",
            "range",
            format!("limit must be between 1 and {MAX_EVENTS}"),
        )),
    }
}

/// The run use cases.
#[derive(Clone)]
pub struct RunService {
    runs: Arc<dyn RunRepository>,
    agents: Arc<dyn TenantRepository<Agents>>,
    configs: Arc<dyn TenantRepository<crate::agent_configs::AgentConfigs>>,
    audit: Arc<dyn AuditRepository>,
}

impl RunService {
    /// Builds the service on its repositories; refusals are recorded through `audit`.
    pub fn new(
        runs: Arc<dyn RunRepository>,
        agents: Arc<dyn TenantRepository<Agents>>,
        configs: Arc<dyn TenantRepository<crate::agent_configs::AgentConfigs>>,
        audit: Arc<dyn AuditRepository>,
    ) -> Self {
        Self {
            runs,
            agents,
            configs,
            audit,
        }
    }

    /// Queues a run of a live agent on `input` (needs `agents:run`). A paused agent or an
    /// inactive configuration is [`DomainError::Conflict`]. The run records the configuration's
    /// behaviour version as it is now.
    pub async fn start(
        &self,
        scope: &TenantScope,
        agent_id: AgentId,
        input: Value,
    ) -> DomainResult<Run> {
        scope.authorize(&*self.audit, Permission::AgentsRun).await?;
        let input = RunInput::parse(input)?;
        let agent = self
            .agents
            .get(scope, agent_id, crate::resource::RowState::Live)
            .await?;
        let config = self
            .configs
            .get(scope, agent.config_id, crate::resource::RowState::Live)
            .await?;
        let run = Run::queued(
            scope,
            RunId::generate(),
            agent_id,
            (config.id, config.behaviour_version),
            input,
        )?;
        let entry = AuditEntry::event(
            &format!("{RUN}.queued"),
            RUN,
            Some(run.id.to_string()),
            json!({
                "agent_id": agent_id.to_string(),
                "config_id": config.id.to_string(),
                "config_version": config.behaviour_version,
            }),
        );
        self.runs.create(scope, &run, entry).await?;
        Ok(run)
    }

    /// One run (needs `agents:read`); runs of deleted agents stay readable.
    pub async fn get(&self, scope: &TenantScope, id: RunId) -> DomainResult<Run> {
        scope.authorize(&*self.audit, Agents::READ).await?;
        self.runs.get(scope, id).await
    }

    /// A page of an agent's runs, newest first (needs `agents:read`).
    pub async fn list(
        &self,
        scope: &TenantScope,
        agent: AgentId,
        limit: Option<i64>,
        query: RunQuery,
    ) -> DomainResult<RunPage> {
        scope.authorize(&*self.audit, Agents::READ).await?;
        let page = PageRequest::parse(limit, None)?;
        let query = RunQuery {
            limit: page.limit(),
            ..query
        };
        self.runs.list(scope, agent, &query).await
    }

    /// Cancels a queued or running run (needs `agents:run`); an ended run is
    /// [`DomainError::Conflict`].
    pub async fn cancel(&self, scope: &TenantScope, id: RunId) -> DomainResult<Run> {
        scope.authorize(&*self.audit, Permission::AgentsRun).await?;
        let entry = AuditEntry::event(
            &format!("{RUN}.cancelled"),
            RUN,
            Some(id.to_string()),
            json!({}),
        );
        self.runs.cancel(scope, id, entry).await
    }

    /// Events of a run after sequence number `after` (needs `agents:read`).
    pub async fn events(
        &self,
        scope: &TenantScope,
        id: RunId,
        after: i64,
        limit: Option<i64>,
    ) -> DomainResult<Vec<RunEvent>> {
        scope.authorize(&*self.audit, Agents::READ).await?;
        let limit = event_window(after, limit)?;
        self.runs.events(scope, id, after, limit).await
    }

    /// An agent's runs in a period, summed up (needs `agents:read`).
    pub async fn metrics(
        &self,
        scope: &TenantScope,
        agent: AgentId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> DomainResult<RunMetrics> {
        scope.authorize(&*self.audit, Agents::READ).await?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(DomainError::invalid(
                "until",
                "range",
                "until must not be before since",
            ));
        }
        self.runs.metrics(scope, agent, since, until).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent_configs::{AgentConfigs, CreateAgentConfig};
    use crate::agents::{AgentFields, AgentKey, AgentStatus};
    use crate::ids::{OrganizationId, UserId};
    use crate::resource::{MockTenantRepository, Record};
    use crate::runs::{MockRunRepository, RunStatus};
    use crate::scope::Role;

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn service(runs: MockRunRepository, org: OrganizationId) -> RunService {
        let mut audit = crate::audit::MockAuditRepository::new();
        audit.expect_record().returning(|_, _| Ok(()));
        let mut configs = MockTenantRepository::<AgentConfigs>::new();
        configs.expect_get().returning(move |_, id, _| {
            let mut fields = <AgentConfigs as Resource>::validate(CreateAgentConfig {
                name: "c".into(),
                agent_type: "hr".into(),
                model: "m".into(),
                ..Default::default()
            })?;
            fields.behaviour_version = 7;
            let mut config = Record::new(org, UserId::new(), fields);
            config.id = id;
            Ok(config)
        });
        let mut agents = MockTenantRepository::<Agents>::new();
        agents.expect_get().returning(move |_, id, _| {
            let mut agent = Record::new(
                org,
                UserId::new(),
                AgentFields {
                    agent_key: AgentKey::parse("a")?,
                    name: None,
                    config_id: crate::ids::AgentConfigId::new(),
                    configuration: Default::default(),
                    status: AgentStatus::Idle,
                },
            );
            agent.id = id;
            Ok(agent)
        });
        RunService::new(
            Arc::new(runs),
            Arc::new(agents),
            Arc::new(configs),
            Arc::new(audit),
        )
    }

    #[tokio::test]
    async fn a_run_records_who_started_it_and_the_configuration_version() {
        let member = scope(Role::Member);
        let org = member.organization_id();
        let mut runs = MockRunRepository::new();
        runs.expect_create()
            .withf(move |s, run, entry| {
                s.organization_id() == org
                    && run.config_version == 7
                    && run.status == RunStatus::Queued
                    && run.created_by == s.user_id().expect("a user")
                    && entry.action == "agent_run.queued"
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let run = service(runs, org)
            .start(&member, AgentId::new(), json!({ "prompt": "hi" }))
            .await
            .expect("queued");
        assert_eq!(run.attempt, 0);
    }

    #[tokio::test]
    async fn viewers_cannot_start_or_cancel_and_bad_input_stores_nothing() {
        let viewer = scope(Role::Viewer);
        let mut runs = MockRunRepository::new();
        runs.expect_create().never();
        runs.expect_cancel().never();
        let service = service(runs, viewer.organization_id());
        assert!(matches!(
            service.start(&viewer, AgentId::new(), json!({})).await,
            Err(DomainError::Forbidden(Permission::AgentsRun))
        ));
        assert!(matches!(
            service.cancel(&viewer, RunId::new()).await,
            Err(DomainError::Forbidden(Permission::AgentsRun))
        ));
        let member = scope(Role::Member);
        assert!(matches!(
            service.start(&member, AgentId::new(), json!([1])).await,
            Err(DomainError::Validation(_))
        ));
    }
}
