//! API keys in SQL.

use async_trait::async_trait;
use bulkhead_domain::api_keys::{ApiKey, ApiKeyName, ApiKeyRepository, NewApiKey, ResolvedKey};
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::page::{Page, PageRequest};
use bulkhead_domain::secret::SecretDigest;
use bulkhead_domain::{
    ApiKeyId, DomainError, DomainResult, OrganizationId, Permission, TenantScope, UserId,
};
use chrono::Duration;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::error::{corrupt, to_domain};
use crate::store::Store;
use crate::tx::{Access, OrgTx};

/// `last_used_at` is refreshed at most this often, so that a busy key does not turn every
/// request into a write.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

use crate::entities::api_keys as entity;

use entity::{Column, Entity};

fn scopes_to_text(scopes: &[Permission]) -> String {
    scopes
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn scopes_from_text(text: &str) -> DomainResult<Vec<Permission>> {
    text.split(',')
        .map(|name| {
            Permission::parse(name)
                .ok_or_else(|| DomainError::Internal(format!("stored API key scope {name:?}")))
        })
        .collect()
}

impl TryFrom<entity::Model> for ApiKey {
    type Error = DomainError;

    fn try_from(row: entity::Model) -> DomainResult<Self> {
        Ok(ApiKey {
            id: ApiKeyId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            name: ApiKeyName::parse(&row.name).map_err(corrupt("API key name"))?,
            prefix: row.prefix,
            scopes: scopes_from_text(&row.scopes)?,
            created_by: UserId::from_uuid(row.created_by),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
        })
    }
}

/// Keys that still work at `now`: not revoked, not expired.
fn live(now: chrono::DateTime<chrono::Utc>) -> Condition {
    Condition::all().add(Column::RevokedAt.is_null()).add(
        Condition::any()
            .add(Column::ExpiresAt.is_null())
            .add(Column::ExpiresAt.gt(now)),
    )
}

/// Revokes the live keys `user` created in `scope`'s organization, inside `tx`, recording
/// `entry(id)` for each: a key acts on its creator's authority, which ends with the membership.
pub(crate) async fn revoke_created_by(
    tx: &OrgTx,
    scope: &TenantScope,
    user: UserId,
    entry: fn(ApiKeyId) -> AuditEntry,
) -> DomainResult<()> {
    let now = bulkhead_domain::now();
    let org = scope.organization_id().as_uuid();
    let ids = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::OrganizationId.eq(org))
        .filter(Column::CreatedBy.eq(user.as_uuid()))
        .filter(live(now))
        .into_tuple::<sea_orm::prelude::Uuid>()
        .all(&**tx)
        .await
        .map_err(to_domain)?;
    if ids.is_empty() {
        return Ok(());
    }
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .col_expr(
            Column::RevokedBy,
            Expr::value(scope.author().map(|u| u.as_uuid())),
        )
        .filter(Column::OrganizationId.eq(org))
        .filter(Column::Id.is_in(ids.clone()))
        .exec(&**tx)
        .await
        .map_err(to_domain)?;
    for id in ids {
        tx.audit(scope, entry(ApiKeyId::from_uuid(id))).await?;
    }
    Ok(())
}

/// [`ApiKeyRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlApiKeyRepository {
    store: Store,
}

impl SqlApiKeyRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl ApiKeyRepository for SqlApiKeyRepository {
    async fn create(
        &self,
        scope: &TenantScope,
        new: &NewApiKey,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let key = &new.key;
        let tx = OrgTx::begin(&self.store, scope).await?;
        crate::quotas::admit(
            &tx,
            &self.store,
            scope.organization_id(),
            bulkhead_domain::Quota::ApiKeys,
            1,
        )
        .await?;
        entity::ActiveModel {
            organization_id: Set(scope.organization_id().as_uuid()),
            id: Set(key.id.as_uuid()),
            name: Set(key.name.as_str().to_owned()),
            prefix: Set(key.prefix.clone()),
            secret_digest: Set(new.digest.as_str().to_owned()),
            scopes: Set(scopes_to_text(&key.scopes)),
            created_by: Set(key.created_by.as_uuid()),
            created_at: Set(key.created_at),
            last_used_at: Set(None),
            expires_at: Set(key.expires_at),
            revoked_at: Set(None),
            revoked_by: Set(None),
        }
        .insert(&*tx)
        .await
        .map_err(to_domain)?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn list(&self, scope: &TenantScope, page: PageRequest) -> DomainResult<Page<ApiKey>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let select = Entity::find()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(live(bulkhead_domain::now()));
        let page = crate::paging::page_of(
            &tx,
            select,
            |s| s.order_by_desc(Column::CreatedAt).order_by_desc(Column::Id),
            page,
        )
        .await?;
        tx.finish_read().await?;
        Ok(page)
    }

    async fn revoke(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let now = bulkhead_domain::now();
        let revoked = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(now))
            .col_expr(
                Column::RevokedBy,
                Expr::value(scope.author().map(|u| u.as_uuid())),
            )
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(live(now))
            .exec(&*tx)
            .await
            .map_err(to_domain)?
            .rows_affected;
        if revoked == 0 {
            return Err(DomainError::NotFound);
        }
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn resolve(
        &self,
        prefix: &str,
        digest: &SecretDigest,
    ) -> DomainResult<Option<ResolvedKey>> {
        let txn = self.store.begin().await.map_err(to_domain)?;
        crate::tx::set_local(&txn, "app.api_key_prefix", prefix).await?;
        let now = bulkhead_domain::now();
        let Some(row) = Entity::find()
            .filter(Column::Prefix.eq(prefix))
            .filter(Column::SecretDigest.eq(digest.as_str()))
            .filter(live(now))
            .one(&txn)
            .await
            .map_err(to_domain)?
        else {
            return Ok(None);
        };
        // Entering the key's own tenant (the prefix only opens the key's row for reading)
        // also reads what its creator holds there now, in the same statement.
        let organization = OrganizationId::from_uuid(row.organization_id);
        let id = ApiKeyId::from_uuid(row.id);
        let Some(creator_grant) =
            crate::tenant::admitted_key(&txn, organization, id, false, Access::ReadWrite)
                .await?
                .grant
        else {
            return Ok(None);
        };
        let stale = row
            .last_used_at
            .is_none_or(|t| t < now - Duration::seconds(LAST_USED_RESOLUTION_SECS));
        if stale {
            Entity::update_many()
                .col_expr(Column::LastUsedAt, Expr::value(now))
                .filter(Column::OrganizationId.eq(row.organization_id))
                .filter(Column::Id.eq(row.id))
                .exec(&txn)
                .await
                .map_err(to_domain)?;
        }
        txn.commit().await.map_err(to_domain)?;
        Ok(Some(ResolvedKey {
            id,
            organization_id: organization,
            created_by: UserId::from_uuid(row.created_by),
            scopes: scopes_from_text(&row.scopes)?,
            creator_grant,
        }))
    }
}
