//! Agents in SQL: the `agents` table as the kit's adapter needs it, and the one rule inside
//! each write: an agent runs with a live configuration of its own organization.

use async_trait::async_trait;
use bulkhead_domain::agents::{
    AgentFields, AgentFilter, AgentKey, AgentSettings, AgentStatus, Agents,
};
use bulkhead_domain::resource::Record;
use bulkhead_domain::{AgentConfigId, DomainResult, TenantScope};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{DatabaseTransaction, Value};
use uuid::Uuid;

use crate::agent_configs::AgentConfigTable;
use crate::error::corrupt;
use crate::resources::{Cells, SqlResources, TenantTable, newly_refers, require_reference};
use crate::store::Store;

/// The `agents` table.
pub struct AgentTable;

/// The kit's repository of agents.
pub type SqlAgentRepository = SqlResources<AgentTable>;

#[async_trait]
impl TenantTable for AgentTable {
    type Resource = Agents;
    const TABLE: &'static str = "agents";
    const QUOTA: Option<bulkhead_domain::Quota> = Some(bulkhead_domain::Quota::Agents);
    const COLUMNS: &'static [&'static str] =
        &["agent_key", "name", "config_id", "configuration", "status"];
    const SEARCH: Option<&'static str> = Some("agent_key");
    const CONFLICT: &'static str = "an agent with this agent_key already exists";

    fn read(cells: &mut Cells<'_>) -> DomainResult<AgentFields> {
        let agent_key: String = cells.take()?;
        let name: Option<String> = cells.take()?;
        let config_id: Uuid = cells.take()?;
        let configuration: String = cells.take()?;
        let status: String = cells.take()?;
        let configuration: serde_json::Value =
            serde_json::from_str(&configuration).map_err(corrupt("agent configuration"))?;
        Ok(AgentFields {
            agent_key: AgentKey::parse(&agent_key).map_err(corrupt("agent key"))?,
            name,
            config_id: AgentConfigId::from_uuid(config_id),
            configuration: AgentSettings::parse(configuration)
                .map_err(corrupt("agent configuration"))?,
            status: AgentStatus::parse("status", &status).map_err(corrupt("agent status"))?,
        })
    }

    fn values(fields: &AgentFields) -> Vec<Value> {
        vec![
            fields.agent_key.as_str().into(),
            fields.name.clone().into(),
            fields.config_id.as_uuid().into(),
            serde_json::Value::Object(fields.configuration.as_map().clone())
                .to_string()
                .into(),
            fields.status.as_str().into(),
        ]
    }

    fn filter(filter: &AgentFilter, mut condition: Condition) -> Condition {
        if let Some(status) = filter.status {
            condition = condition.add(Expr::col((Self::TABLE, "status")).eq(status.as_str()));
        }
        if let Some(config) = filter.config_id {
            condition = condition.add(Expr::col((Self::TABLE, "config_id")).eq(config.as_uuid()));
        }
        if let Some(agent_type) = filter.agent_type {
            // The composite key keeps an agent's configuration in its own organization, so the
            // configurations' ids need no organization filter of their own here.
            let configs = AgentConfigTable::TABLE;
            let of_type = Query::select()
                .column((configs, "id"))
                .from(configs)
                .and_where(Expr::col((configs, "agent_type")).eq(agent_type.as_str()))
                .to_owned();
            condition = condition.add(Expr::col((Self::TABLE, "config_id")).in_subquery(of_type));
        }
        condition
    }

    async fn guard(
        tx: &DatabaseTransaction,
        _: &Store,
        scope: &TenantScope,
        previous: Option<&Record<Agents>>,
        next: &Record<Agents>,
    ) -> DomainResult<()> {
        if newly_refers(previous, next, |f| f.config_id) {
            require_reference::<AgentConfigTable>(
                tx,
                scope,
                next.config_id.as_uuid(),
                "config_id",
                "agent configuration",
            )
            .await?;
        }
        Ok(())
    }
}
