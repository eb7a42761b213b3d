//! The audit trail in SQL: appends inside the caller's transaction, chained per organization.

use async_trait::async_trait;
use bulkhead_domain::audit::{AuditEntry, AuditEvent, AuditQuery, AuditRepository};
use bulkhead_domain::page::Page;
use bulkhead_domain::{
    AuditEventId, DomainError, DomainResult, OrganizationId, TenantScope, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::error::to_domain;
use crate::store::Store;
use crate::tx::OrgTx;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub organization_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub seq: i64,
        pub actor_type: String,
        pub actor_id: Option<String>,
        pub impersonator_id: Option<Uuid>,
        pub action: String,
        pub resource_type: String,
        pub resource_id: Option<String>,
        pub changes: String,
        pub request_id: Option<String>,
        pub client_ip: Option<String>,
        pub user_agent: Option<String>,
        pub created_at: DateTimeUtc,
        pub prev_hash: String,
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_heads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub organization_id: Uuid,
        pub last_seq: i64,
        pub last_hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Appends `entry` to the chain of `scope`'s organization, inside `tx`: it commits or rolls
/// back with the change it describes.
pub(crate) async fn append(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    entry: AuditEntry,
) -> DomainResult<()> {
    let org = scope.organization_id().as_uuid();
    head::Entity::insert(head::ActiveModel {
        organization_id: Set(org),
        last_seq: Set(0),
        last_hash: Set(String::new()),
    })
    .on_conflict_do_nothing_on([head::Column::OrganizationId])
    .exec_without_returning(tx)
    .await
    .map_err(to_domain)?;
    // Bumping the head takes its row lock until the transaction ends: concurrent writers of
    // this organization queue here, those of other organizations do not.
    let bumped = head::Entity::update_many()
        .col_expr(
            head::Column::LastSeq,
            Expr::col(head::Column::LastSeq).add(1),
        )
        .filter(head::Column::OrganizationId.eq(org))
        .exec_with_returning(tx)
        .await
        .map_err(to_domain)?;
    let current = bumped
        .into_iter()
        .next()
        .ok_or_else(|| DomainError::Internal("audit head missing after upsert".into()))?;
    let event = AuditEvent::seal(
        scope,
        entry,
        current.last_seq,
        current.last_hash,
        bulkhead_domain::now(),
    );
    let hash = event.hash.clone();
    entity::Entity::insert(to_row(event))
        .exec_without_returning(tx)
        .await
        .map_err(to_domain)?;
    head::Entity::update_many()
        .col_expr(head::Column::LastHash, Expr::value(hash))
        .filter(head::Column::OrganizationId.eq(org))
        .exec(tx)
        .await
        .map_err(to_domain)?;
    Ok(())
}

/// Deletes an organization's chain head (the organization purge only).
pub(crate) async fn delete_head(tx: &DatabaseTransaction, org: uuid::Uuid) -> DomainResult<()> {
    head::Entity::delete_many()
        .filter(head::Column::OrganizationId.eq(org))
        .exec(tx)
        .await
        .map_err(to_domain)
        .map(|_| ())
}

fn to_row(event: AuditEvent) -> entity::ActiveModel {
    entity::ActiveModel {
        organization_id: Set(event.organization_id.as_uuid()),
        id: Set(event.id.as_uuid()),
        seq: Set(event.seq),
        actor_type: Set(event.actor_type),
        actor_id: Set(event.actor_id),
        impersonator_id: Set(event.impersonator_id.map(|id| id.as_uuid())),
        action: Set(event.action),
        resource_type: Set(event.resource_type),
        resource_id: Set(event.resource_id),
        changes: Set(bulkhead_domain::audit::model::canonical_json(
            &event.changes,
        )),
        request_id: Set(event.request_id),
        client_ip: Set(event.client_ip),
        user_agent: Set(event.user_agent),
        created_at: Set(event.created_at),
        prev_hash: Set(event.prev_hash),
        hash: Set(event.hash),
    }
}

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
        let tx = OrgTx::begin(&self.store, scope).await?;
        append(&tx, scope, entry).await?;
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
