//! Idempotency keys in SQL.

use async_trait::async_trait;
use bulkhead_domain::idempotency::{
    IdempotencyKey, IdempotencyRepository, Reservation, StoredResponse,
};
use bulkhead_domain::{DomainError, DomainResult, TenantScope};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::error::to_domain;
use crate::store::Store;
use crate::tx::OrgTx;

use crate::entities::idempotency_keys as entity;

use entity::{Column, Entity};

/// [`IdempotencyRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlIdempotencyRepository {
    store: Store,
}

impl SqlIdempotencyRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// The key as the scope's principal sent it: another principal's key of the same name is
/// another row.
fn this_key(scope: &TenantScope, key: &IdempotencyKey) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
        .add(Column::Principal.eq(scope.principal()))
        .add(Column::Key.eq(key.as_str()))
}

#[async_trait]
impl IdempotencyRepository for SqlIdempotencyRepository {
    async fn reserve(
        &self,
        scope: &TenantScope,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> DomainResult<Reservation> {
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        Entity::delete_many()
            .filter(this_key(scope, key))
            .filter(Column::CreatedAt.lt(expired_before))
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        // On PostgreSQL a concurrent claim of the same key waits here for the first to commit,
        // then inserts nothing and reads the first claim below.
        let inserted = Entity::insert(entity::ActiveModel {
            organization_id: Set(scope.organization_id().as_uuid()),
            principal: Set(scope.principal()),
            key: Set(key.as_str().to_owned()),
            fingerprint: Set(fingerprint.to_owned()),
            status: Set(None),
            response_body: Set(None),
            response_headers: Set(None),
            created_at: Set(now),
        })
        .on_conflict_do_nothing_on([Column::OrganizationId, Column::Principal, Column::Key])
        .exec_without_returning(&*tx)
        .await
        .map_err(to_domain)?;
        let fresh = matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0);
        let outcome = if fresh {
            Reservation::Fresh
        } else {
            let row = Entity::find()
                .filter(this_key(scope, key))
                .one(&*tx)
                .await
                .map_err(to_domain)?
                .ok_or_else(|| {
                    DomainError::Internal("idempotency key vanished during its claim".into())
                })?;
            match (
                row.fingerprint == fingerprint,
                row.status,
                row.response_body,
            ) {
                (false, _, _) => Reservation::Mismatch,
                (true, Some(status), Some(body)) => Reservation::Replay(StoredResponse {
                    status: u16::try_from(status).unwrap_or(200),
                    headers: row
                        .response_headers
                        .as_deref()
                        .and_then(|h| serde_json::from_str(h).ok())
                        .unwrap_or_default(),
                    body,
                }),
                (true, _, _) => Reservation::InFlight,
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn complete(
        &self,
        scope: &TenantScope,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> DomainResult<()> {
        let headers = serde_json::to_string(&response.headers)
            .map_err(|e| DomainError::Internal(format!("cannot keep response headers: {e}")))?;
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        Entity::update_many()
            .col_expr(Column::Status, Expr::value(i32::from(response.status)))
            .col_expr(Column::ResponseBody, Expr::value(response.body.clone()))
            .col_expr(Column::ResponseHeaders, Expr::value(headers))
            .filter(this_key(scope, key))
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        tx.commit().await
    }

    async fn release(&self, scope: &TenantScope, key: &IdempotencyKey) -> DomainResult<()> {
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        Entity::delete_many()
            .filter(this_key(scope, key))
            .filter(Column::Status.is_null())
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        tx.commit().await
    }
}
