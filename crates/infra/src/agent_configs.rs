//! Agent configurations in SQL: the `agent_configs` table as the kit's adapter needs it, its
//! rules inside each write (a live project, no live agents left on a deleted configuration, a
//! version row for each change of behaviour), and the versions' reader.

use async_trait::async_trait;
use bulkhead_domain::agent_configs::{
    AgentConfigFields, AgentConfigFilter, AgentConfigVersion, AgentConfigVersionRepository,
    AgentConfigs, AgentType, Behaviour, MaxTokens, Provider, ProviderUrl, SystemPrompt,
    Temperature, Tool,
};
use bulkhead_domain::resource::Record;
use bulkhead_domain::sealed::SealedSecret;
use bulkhead_domain::{
    AgentConfigId, DocumentId, DomainError, DomainResult, ProjectId, TenantScope, UserId,
};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Value};
use uuid::Uuid;

use crate::error::{corrupt, to_domain};
use crate::projects::ProjectTable;
use crate::resources::{
    Cells, SqlResources, TenantTable, newly_refers, require_live, require_reference,
};
use crate::store::Store;
use crate::tx::OrgTx;

/// The `agent_configs` table.
pub struct AgentConfigTable;

/// The kit's repository of agent configurations.
pub type SqlAgentConfigRepository = SqlResources<AgentConfigTable>;

#[async_trait]
impl TenantTable for AgentConfigTable {
    type Resource = AgentConfigs;
    const TABLE: &'static str = "agent_configs";
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "agent_type",
        "project_id",
        "provider",
        "model",
        "temperature",
        "max_tokens",
        "system_prompt",
        "tools",
        "base_url",
        "behaviour_version",
        "active",
        "credential",
        "credential_changed_at",
        "knowledge",
    ];
    const SEARCH: Option<&'static str> = Some("name");
    const CONFLICT: &'static str = "an agent configuration with this name already exists";

    fn read(cells: &mut Cells<'_>) -> DomainResult<AgentConfigFields> {
        let name: String = cells.take()?;
        let agent_type: String = cells.take()?;
        let project_id: Option<Uuid> = cells.take()?;
        let provider: String = cells.take()?;
        let model: String = cells.take()?;
        let temperature: f64 = cells.take()?;
        let max_tokens: i32 = cells.take()?;
        let system_prompt: String = cells.take()?;
        let tools: String = cells.take()?;
        let base_url: Option<String> = cells.take()?;
        let behaviour_version: i64 = cells.take()?;
        let active: bool = cells.take()?;
        let credential: Option<String> = cells.take()?;
        let credential_changed_at = cells.take()?;
        let knowledge: String = cells.take()?;
        let knowledge: Vec<Uuid> =
            serde_json::from_str(&knowledge).map_err(corrupt("agent knowledge"))?;
        let tools: Vec<String> = serde_json::from_str(&tools).map_err(corrupt("agent tools"))?;
        Ok(AgentConfigFields {
            name,
            agent_type: AgentType::parse("agent_type", &agent_type)
                .map_err(corrupt("agent type"))?,
            project_id: project_id.map(ProjectId::from_uuid),
            behaviour: Behaviour {
                provider: Provider::parse("provider", &provider).map_err(corrupt("provider"))?,
                model,
                temperature: Temperature::parse(temperature).map_err(corrupt("temperature"))?,
                max_tokens: MaxTokens::parse(max_tokens.into()).map_err(corrupt("max tokens"))?,
                system_prompt: SystemPrompt::parse(&system_prompt)
                    .map_err(corrupt("system prompt"))?,
                tools: tools
                    .iter()
                    .map(|t| Tool::parse(t))
                    .collect::<DomainResult<_>>()
                    .map_err(corrupt("agent tool"))?,
                base_url: base_url
                    .as_deref()
                    .map(ProviderUrl::parse)
                    .transpose()
                    .map_err(corrupt("base url"))?,
            },
            behaviour_version,
            active,
            credential: credential.map(SealedSecret::from_sealed),
            credential_changed_at,
            knowledge: knowledge.into_iter().map(DocumentId::from_uuid).collect(),
        })
    }

    fn values(fields: &AgentConfigFields) -> Vec<Value> {
        let b = &fields.behaviour;
        let tools: Vec<&str> = b.tools.iter().map(|t| t.as_str()).collect();
        vec![
            fields.name.as_str().into(),
            fields.agent_type.as_str().into(),
            fields.project_id.map(|p| p.as_uuid()).into(),
            b.provider.as_str().into(),
            b.model.as_str().into(),
            b.temperature.get().into(),
            b.max_tokens.get().into(),
            b.system_prompt.as_str().into(),
            serde_json::to_string(&tools).unwrap_or_default().into(),
            b.base_url.as_ref().map(|u| u.as_str().to_owned()).into(),
            fields.behaviour_version.into(),
            fields.active.into(),
            fields
                .credential
                .as_ref()
                .map(|c| c.as_sealed().to_owned())
                .into(),
            fields.credential_changed_at.into(),
            serde_json::to_string(
                &fields
                    .knowledge
                    .iter()
                    .map(|d| d.as_uuid())
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_default()
            .into(),
        ]
    }

    fn filter(filter: &AgentConfigFilter, mut condition: Condition) -> Condition {
        if let Some(agent_type) = filter.agent_type {
            condition =
                condition.add(Expr::col((Self::TABLE, "agent_type")).eq(agent_type.as_str()));
        }
        if let Some(project) = filter.project_id {
            condition = condition.add(Expr::col((Self::TABLE, "project_id")).eq(project.as_uuid()));
        }
        if !filter.include_inactive {
            condition = condition.add(Expr::col((Self::TABLE, "active")).eq(true));
        }
        condition
    }

    async fn guard(
        tx: &DatabaseTransaction,
        _: &Store,
        scope: &TenantScope,
        previous: Option<&Record<AgentConfigs>>,
        next: &Record<AgentConfigs>,
    ) -> DomainResult<()> {
        let named_before = previous
            .filter(|p| p.deleted_at.is_none())
            .map(|p| p.knowledge.clone())
            .unwrap_or_default();
        for document in next.knowledge.iter().filter(|d| !named_before.contains(d)) {
            require_reference::<crate::documents::DocumentTable>(
                tx,
                scope,
                document.as_uuid(),
                "knowledge_document_ids",
                "document",
            )
            .await?;
        }
        if let Some(project) = next.project_id
            && newly_refers(previous, next, |f| f.project_id)
        {
            require_reference::<ProjectTable>(
                tx,
                scope,
                project.as_uuid(),
                "project_id",
                "project",
            )
            .await?;
        }
        let deleting =
            previous.is_some_and(|p| p.deleted_at.is_none()) && next.deleted_at.is_some();
        if deleting && live_agents_of(tx, scope, next.id).await? {
            return Err(DomainError::Conflict(
                "live agents use this configuration; delete them or move them to another first"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A version row for the settings it was created with and for each change of behaviour.
    async fn written(
        tx: &DatabaseTransaction,
        _: &Store,
        scope: &TenantScope,
        previous: Option<&Record<AgentConfigs>>,
        next: &Record<AgentConfigs>,
    ) -> DomainResult<()> {
        if previous.is_none_or(|p| p.behaviour_version != next.behaviour_version) {
            let insert = Query::insert()
                .into_table("agent_config_versions")
                .columns([
                    "organization_id",
                    "config_id",
                    "number",
                    "settings",
                    "created_by",
                    "created_at",
                ])
                .values([
                    Expr::val(scope.organization_id().as_uuid()),
                    Expr::val(next.id.as_uuid()),
                    Expr::val(next.behaviour_version),
                    Expr::val(next.behaviour.to_json().to_string()),
                    Expr::val(scope.author().unwrap_or(next.created_by).as_uuid()),
                    Expr::val(next.updated_at),
                ])
                .map_err(|e| DomainError::Internal(format!("version insert: {e}")))?
                .to_owned();
            tx.execute_raw(tx.get_database_backend().build(&insert))
                .await
                .map_err(to_domain)?;
        }
        Ok(())
    }
}

/// Whether live agents of the organization use configuration `config`. The rows found are
/// locked against a concurrent move, and an agent created meanwhile waits on the
/// configuration's row lock, then finds it deleted.
async fn live_agents_of(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    config: AgentConfigId,
) -> DomainResult<bool> {
    // Named, not imported: the agents' module refers to this one, not the other way round.
    let table = "agents";
    let select = Query::select()
        .column((table, "id"))
        .from(table)
        .and_where(Expr::col((table, "organization_id")).eq(scope.organization_id().as_uuid()))
        .and_where(Expr::col((table, "config_id")).eq(config.as_uuid()))
        .and_where(Expr::col((table, "deleted_at")).is_null())
        .limit(1)
        .lock_shared()
        .to_owned();
    Ok(tx
        .query_one_raw(tx.get_database_backend().build(&select))
        .await
        .map_err(to_domain)?
        .is_some())
}

/// [`AgentConfigVersionRepository`] on the shared store.
#[derive(Clone)]
pub struct SqlAgentConfigVersionRepository {
    store: Store,
}

impl SqlAgentConfigVersionRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl AgentConfigVersionRepository for SqlAgentConfigVersionRepository {
    async fn list(
        &self,
        scope: &TenantScope,
        config: AgentConfigId,
    ) -> DomainResult<Vec<AgentConfigVersion>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        require_live::<AgentConfigTable>(&tx, scope, config.as_uuid(), false).await?;
        let table = "agent_config_versions";
        let select = Query::select()
            .columns([
                (table, "number"),
                (table, "settings"),
                (table, "created_by"),
                (table, "created_at"),
            ])
            .from(table)
            .and_where(Expr::col((table, "organization_id")).eq(scope.organization_id().as_uuid()))
            .and_where(Expr::col((table, "config_id")).eq(config.as_uuid()))
            .order_by((table, "number"), Order::Desc)
            .to_owned();
        let rows = tx
            .query_all_raw(tx.get_database_backend().build(&select))
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        rows.iter()
            .map(|row| {
                let settings: String = row.try_get_by_index(1).map_err(to_domain)?;
                Ok(AgentConfigVersion {
                    number: row.try_get_by_index(0).map_err(to_domain)?,
                    settings: serde_json::from_str(&settings)
                        .map_err(corrupt("version settings"))?,
                    created_by: UserId::from_uuid(row.try_get_by_index(2).map_err(to_domain)?),
                    created_at: row.try_get_by_index(3).map_err(to_domain)?,
                })
            })
            .collect()
    }
}
