//! `bulkhead rotate-secrets`: seals again, under the current key, every secret at rest sealed
//! under an earlier one, so the earlier key can then be retired. Provider credentials are
//! resealed organization by organization under a system scope (row-level security stays on, and
//! each organization's audit trail records how many, never the values); queued email bodies,
//! which belong to no organization, in one transaction.

use bulkhead_domain::agent_configs::credential_place;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::{
    AgentConfigId, DomainError, DomainResult, OrganizationId, SystemTask, TenantScope,
};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, Query};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::error::to_domain;
use crate::outbox::BODY_PLACE;
use crate::store::Store;
use crate::tx::OrgTx;

/// How many secrets were sealed again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Provider credentials of agent configurations.
    pub credentials: u64,
    /// Bodies of emails not yet delivered.
    pub emails: u64,
}

/// Seals again under the store's current key whatever is sealed under another; the keyring
/// must still hold the earlier keys. Run it on a connection that sees every tenant (the
/// owner's), as `bulkhead purge` is.
pub async fn rotate_secrets(store: &Store) -> DomainResult<Rotation> {
    let current = format!("bhs1:{}:%", store.keyring().current_id());
    let stale = || {
        Expr::col(("agent_configs", "credential"))
            .is_not_null()
            .and(Expr::col(("agent_configs", "credential")).not_like(LikeExpr::new(&current)))
    };
    let db = store.connection();
    let organizations = Query::select()
        .distinct()
        .column(("agent_configs", "organization_id"))
        .from("agent_configs")
        .and_where(stale())
        .to_owned();
    let organizations = db
        .query_all_raw(db.get_database_backend().build(&organizations))
        .await
        .map_err(to_domain)?
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0).map_err(to_domain))
        .collect::<DomainResult<Vec<_>>>()?;
    let mut rotation = Rotation::default();
    for organization in organizations {
        let scope = TenantScope::system(
            OrganizationId::from_uuid(organization),
            SystemTask::RotateSecrets,
        );
        let tx = OrgTx::begin(store, &scope).await?;
        let backend = tx.get_database_backend();
        let rows = Query::select()
            .columns([("agent_configs", "id"), ("agent_configs", "credential")])
            .from("agent_configs")
            .and_where(Expr::col(("agent_configs", "organization_id")).eq(organization))
            .and_where(stale())
            .lock_exclusive()
            .to_owned();
        let rows = tx
            .query_all_raw(backend.build(&rows))
            .await
            .map_err(to_domain)?;
        let mut count = 0u64;
        for row in &rows {
            let id = AgentConfigId::from_uuid(row.try_get_by_index(0).map_err(to_domain)?);
            let sealed: String = row.try_get_by_index(1).map_err(to_domain)?;
            let place = credential_place(id);
            let plain = store.keyring().open(&place, &sealed).map_err(|e| {
                DomainError::Internal(format!("the credential of configuration {id}: {e}"))
            })?;
            let update = Query::update()
                .table("agent_configs")
                .value("credential", store.keyring().seal(&place, &plain))
                .and_where(Expr::col(("agent_configs", "organization_id")).eq(organization))
                .and_where(Expr::col(("agent_configs", "id")).eq(id.as_uuid()))
                .to_owned();
            tx.execute_raw(backend.build(&update))
                .await
                .map_err(to_domain)?;
            count += 1;
        }
        tx.audit(
            &scope,
            AuditEntry::event(
                "agent_config.credentials_resealed",
                "agent_config",
                None,
                json!({ "count": count, "key": store.keyring().current_id() }),
            ),
        )
        .await?;
        tx.commit().await?;
        rotation.credentials += count;
    }

    let tx = db.begin().await.map_err(to_domain)?;
    let backend = tx.get_database_backend();
    let bodies = Query::select()
        .columns([("outbox_emails", "id"), ("outbox_emails", "body")])
        .from("outbox_emails")
        .and_where(Expr::col(("outbox_emails", "sent_at")).is_null())
        .and_where(Expr::col(("outbox_emails", "body")).not_like(LikeExpr::new(&current)))
        .to_owned();
    for row in tx
        .query_all_raw(backend.build(&bodies))
        .await
        .map_err(to_domain)?
    {
        let id: Uuid = row.try_get_by_index(0).map_err(to_domain)?;
        let sealed: String = row.try_get_by_index(1).map_err(to_domain)?;
        let plain = store
            .keyring()
            .open(BODY_PLACE, &sealed)
            .map_err(|e| DomainError::Internal(format!("queued email {id}: {e}")))?;
        let update = Query::update()
            .table("outbox_emails")
            .value("body", store.keyring().seal(BODY_PLACE, &plain))
            .and_where(Expr::col(("outbox_emails", "id")).eq(id))
            .to_owned();
        tx.execute_raw(backend.build(&update))
            .await
            .map_err(to_domain)?;
        rotation.emails += 1;
    }
    tx.commit().await.map_err(to_domain)?;
    Ok(rotation)
}
