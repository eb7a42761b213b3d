//! The audit chain's writing half: every change appends its record inside its own transaction
//! ([`crate::tx::OrgTx::audit`]), chained per organization. The adapter that reads the trail is
//! `crate::audit`.

use bulkhead_domain::audit::{AuditEntry, AuditEvent};
use bulkhead_domain::{DomainError, DomainResult, TenantScope};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

use crate::entities::audit_events as entity;
use crate::entities::audit_heads as head;
use crate::error::to_domain;

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
