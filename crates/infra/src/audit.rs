//! The audit trail in SQL: appends inside the caller's transaction, chained per organization.

use async_trait::async_trait;
use bulkhead_domain::audit::{AuditEntry, AuditEvent, AuditQuery, AuditRepository};
use bulkhead_domain::page::Page;
use bulkhead_domain::{
    AuditEventId, DomainError, DomainResult, OrganizationId, TenantScope, UserId,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::error::to_domain;
use crate::store::Store;
use crate::tx::OrgTx;

use crate::entities::audit_events as entity;

impl TryFrom<entity::Model> for AuditEvent {
    type Error = DomainError;

    fn try_from(row: entity::Model) -> DomainResult<Self> {
        Ok(AuditEvent {
            id: AuditEventId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            seq: row.seq,
            actor_type: row.actor_type,
            actor_id: row.actor_id,
            impersonator_id: row.impersonator_id.map(UserId::from_uuid),
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            // A row whose JSON no longer parses is tampered with; keep it as text so that
            // verification reports it instead of failing.
            changes: serde_json::from_str(&row.changes)
                .unwrap_or(serde_json::Value::String(row.changes)),
            request_id: row.request_id,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
            created_at: row.created_at,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }
}

/// [`AuditRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlAuditRepository {
    store: Store,
}

impl SqlAuditRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl AuditRepository for SqlAuditRepository {
    async fn record(&self, scope: &TenantScope, entry: AuditEntry) -> DomainResult<()> {
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        crate::chain::append(&tx, scope, entry).await?;
        tx.commit().await
    }

    async fn list(
        &self,
        scope: &TenantScope,
        query: &AuditQuery,
    ) -> DomainResult<Page<AuditEvent>> {
        use entity::Column;
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let mut select = entity::Entity::find()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()));
        if let Some(actor) = &query.actor_id {
            select = select.filter(Column::ActorId.eq(actor.as_str()));
        }
        if let Some(action) = &query.action {
            select = select.filter(Column::Action.eq(action.as_str()));
        }
        if let Some(kind) = &query.resource_type {
            select = select.filter(Column::ResourceType.eq(kind.as_str()));
        }
        if let Some(id) = &query.resource_id {
            select = select.filter(Column::ResourceId.eq(id.as_str()));
        }
        if let Some(since) = query.since {
            select = select.filter(Column::CreatedAt.gte(since));
        }
        if let Some(until) = query.until {
            select = select.filter(Column::CreatedAt.lt(until));
        }
        let page =
            crate::paging::page_of(&tx, select, |s| s.order_by_desc(Column::Seq), query.page)
                .await?;
        tx.finish_read().await?;
        Ok(page)
    }

    async fn chain_after(
        &self,
        scope: &TenantScope,
        after_seq: i64,
        limit: u64,
    ) -> DomainResult<Vec<AuditEvent>> {
        use entity::Column;
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let rows = entity::Entity::find()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(Column::Seq.gt(after_seq))
            .order_by_asc(Column::Seq)
            .limit(limit)
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }
}
