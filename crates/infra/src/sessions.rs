//! Sessions and refresh tokens in SQL.
//!
//! Neither table is tenant data (see the migration), so rotation can find a session from a
//! token digest alone. Everything done for a signed-in user still runs in an [`OrgTx`], which
//! checks that user's session and membership and carries the audit record.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::secret::SecretDigest;
use bulkhead_domain::sessions::{NewSession, Rotation, Session, SessionPolicy, SessionRepository};
use bulkhead_domain::{
    DomainError, DomainResult, OrganizationId, RequestMeta, SessionId, TenantScope, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::error::to_domain;
use crate::store::Store;
use crate::tx::{OrgTx, set_local, set_tenant};

/// Why a session ended, as stored.
mod reasons {
    pub(super) const REUSED: &str = "refresh_token_reused";
    pub(super) const MEMBERSHIP_ENDED: &str = "membership_ended";
    pub(super) const ROLE_DOWNGRADED: &str = "role_downgraded";
}

/// Ends the live sessions of `users` in `org`, because their role there now grants less.
pub(crate) async fn end_downgraded(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    users: &[Uuid],
) -> DomainResult<u64> {
    entity::Entity::update_many()
        .col_expr(
            entity::Column::RevokedAt,
            Expr::value(bulkhead_domain::now()),
        )
        .col_expr(
            entity::Column::RevokedReason,
            Expr::value(reasons::ROLE_DOWNGRADED),
        )
        .filter(entity::Column::OrganizationId.eq(org.as_uuid()))
        .filter(entity::Column::UserId.is_in(users.iter().copied()))
        .filter(entity::Column::RevokedAt.is_null())
        .exec(txn)
        .await
        .map_err(to_domain)
        .map(|r| r.rows_affected)
}

use crate::entities::sessions as entity;

use crate::entities::refresh_tokens as token;

impl From<entity::Model> for Session {
    fn from(row: entity::Model) -> Self {
        Session {
            id: SessionId::from_uuid(row.id),
            user_id: UserId::from_uuid(row.user_id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
        }
    }
}

fn new_token(digest: &SecretDigest, session: SessionId, now: DateTime<Utc>) -> token::ActiveModel {
    token::ActiveModel {
        digest: Set(digest.as_str().to_owned()),
        session_id: Set(session.as_uuid()),
        created_at: Set(now),
        spent_at: Set(None),
    }
}

async fn end(
    txn: &DatabaseTransaction,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    entity::Entity::update_many()
        .col_expr(entity::Column::RevokedAt, Expr::value(now))
        .col_expr(entity::Column::RevokedReason, Expr::value(reason))
        .filter(entity::Column::Id.eq(id))
        .exec(txn)
        .await
        .map_err(to_domain)
        .map(|_| ())
}

/// [`SessionRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlSessionRepository {
    store: Store,
}

impl SqlSessionRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl SessionRepository for SqlSessionRepository {
    async fn create(
        &self,
        scope: &TenantScope,
        new: &NewSession,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let session = &new.session;
        if scope.user_id() != Some(session.user_id)
            || scope.organization_id() != session.organization_id
        {
            return Err(DomainError::Internal(
                "a session must be created in its own user's scope".into(),
            ));
        }
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        insert(&tx, new).await?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn rotate(
        &self,
        presented: &SecretDigest,
        replacement: &SecretDigest,
        policy: SessionPolicy,
        request: &RequestMeta,
    ) -> DomainResult<Rotation> {
        let txn = self.store.begin().await.map_err(to_domain)?;
        // Before any tenant is known, the token's digest is what opens its session's row (see
        // the sessions policy).
        set_local(&txn, "app.refresh_digest", presented.as_str()).await?;
        // The token's row lock makes concurrent refreshes with one token queue here; the
        // second then finds it spent.
        let Some(presented_row) = token::Entity::find_by_id(presented.as_str().to_owned())
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(to_domain)?
        else {
            return Ok(Rotation::Invalid);
        };
        let Some(row) = entity::Entity::find_by_id(presented_row.session_id)
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(to_domain)?
        else {
            return Ok(Rotation::Invalid);
        };
        let now = bulkhead_domain::now();
        let revoked = row.revoked_at.is_some();
        let session = Session::from(row);
        if revoked || !session.refreshable_at(now, policy) {
            return Ok(Rotation::Invalid);
        }
        // From here on the transaction acts for the session's user in its organization.
        set_tenant(&txn, Some(session.organization_id), Some(session.user_id)).await?;
        let org = session.organization_id;
        let member = crate::tenant::role_of(&txn, org, session.user_id)
            .await?
            .is_some();
        if presented_row.spent_at.is_some() {
            end(&txn, session.id.as_uuid(), reasons::REUSED, now).await?;
            txn.commit().await.map_err(to_domain)?;
            return Ok(Rotation::Reused { session });
        }
        if !member {
            end(&txn, session.id.as_uuid(), reasons::MEMBERSHIP_ENDED, now).await?;
            txn.commit().await.map_err(to_domain)?;
            return Ok(Rotation::Invalid);
        };
        // A suspended or deleted organization refuses refreshes as it refuses logins. The
        // session is left as it is (neither spent nor renewed), so it works again if the
        // organization is reactivated or restored within the session's lifetime.
        if crate::tenant::is_deleted(&txn, org).await? != Some(false) {
            return Ok(Rotation::Invalid);
        }
        token::Entity::update_many()
            .col_expr(token::Column::SpentAt, Expr::value(now))
            .filter(token::Column::Digest.eq(presented.as_str()))
            .exec(&txn)
            .await
            .map_err(to_domain)?;
        new_token(replacement, session.id, now)
            .insert(&txn)
            .await
            .map_err(to_domain)?;
        let session = Session {
            last_used_at: now,
            client_ip: request.client_ip.clone(),
            user_agent: request.user_agent.clone(),
            ..session
        };
        entity::ActiveModel {
            id: Set(session.id.as_uuid()),
            last_used_at: Set(now),
            client_ip: Set(session.client_ip.clone()),
            user_agent: Set(session.user_agent.clone()),
            ..Default::default()
        }
        .update(&txn)
        .await
        .map_err(to_domain)?;
        txn.commit().await.map_err(to_domain)?;
        Ok(Rotation::Rotated { session })
    }

    async fn list(&self, scope: &TenantScope, policy: SessionPolicy) -> DomainResult<Vec<Session>> {
        let user = scope.require_user()?;
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let now = bulkhead_domain::now();
        let rows = entity::Entity::find()
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .filter(entity::Column::RevokedAt.is_null())
            .filter(entity::Column::ExpiresAt.gt(now))
            .filter(entity::Column::LastUsedAt.gt(now - policy.idle_timeout))
            .order_by_desc(entity::Column::LastUsedAt)
            .order_by_desc(entity::Column::Id)
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn revoke(
        &self,
        scope: &TenantScope,
        id: SessionId,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let user = scope.require_user()?;
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        let now = bulkhead_domain::now();
        let ended = entity::Entity::update_many()
            .col_expr(entity::Column::RevokedAt, Expr::value(now))
            .col_expr(
                entity::Column::RevokedReason,
                Expr::value(entry.action.clone()),
            )
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .filter(entity::Column::RevokedAt.is_null())
            .filter(entity::Column::ExpiresAt.gt(now))
            .exec(&*tx)
            .await
            .map_err(to_domain)?
            .rows_affected;
        if ended == 0 {
            return Err(DomainError::NotFound);
        }
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn revoke_all(
        &self,
        scope: &TenantScope,
        keep: Option<SessionId>,
        mut entry: AuditEntry,
    ) -> DomainResult<u64> {
        let user = scope.require_user()?;
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        let now = bulkhead_domain::now();
        let mut update = entity::Entity::update_many()
            .col_expr(entity::Column::RevokedAt, Expr::value(now))
            .col_expr(
                entity::Column::RevokedReason,
                Expr::value(entry.action.clone()),
            )
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .filter(entity::Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            update = update.filter(entity::Column::Id.ne(keep.as_uuid()));
        }
        let ended = update.exec(&*tx).await.map_err(to_domain)?.rows_affected;
        entry.changes = serde_json::json!({ "sessions_revoked": ended });
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        Ok(ended)
    }

    async fn switch_organization(
        &self,
        scope: &TenantScope,
        target: OrganizationId,
        replacement: &SecretDigest,
        entry: AuditEntry,
    ) -> DomainResult<Session> {
        let user = scope.require_user()?;
        let id = scope.require_session()?;
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        // The unit of work acts for the user, whose memberships (and their organizations)
        // are visible everywhere. A suspended or deleted organization is no place to move a
        // session to, as it is none to log in to.
        if crate::tenant::role_of(&tx, target, user).await?.is_none()
            || crate::tenant::is_deleted(&*tx, target).await? != Some(false)
        {
            return Err(DomainError::NotFound);
        }
        let now = bulkhead_domain::now();
        let row = entity::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(target.as_uuid()),
            last_used_at: Set(now),
            ..Default::default()
        }
        .update(&*tx)
        .await
        .map_err(to_domain)?;
        // The session's earlier refresh tokens are spent: presenting one now counts as reuse.
        token::Entity::update_many()
            .col_expr(token::Column::SpentAt, Expr::value(now))
            .filter(token::Column::SessionId.eq(id.as_uuid()))
            .filter(token::Column::SpentAt.is_null())
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        new_token(replacement, id, now)
            .insert(&*tx)
            .await
            .map_err(to_domain)?;
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        Ok(Session::from(row))
    }

    async fn last_used_organization(&self, user: UserId) -> DomainResult<Option<OrganizationId>> {
        // The user's own sessions, in every organization: the login path acts for the user.
        let tx = OrgTx::begin_for_user(&self.store, user).await?;
        let org = entity::Entity::find()
            .select_only()
            .column(entity::Column::OrganizationId)
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .order_by_desc(entity::Column::LastUsedAt)
            .into_tuple::<Uuid>()
            .one(&*tx)
            .await
            .map_err(to_domain)?;
        tx.commit().await?;
        Ok(org.map(OrganizationId::from_uuid))
    }
}

/// Ends every live session of `user` but `keep`, in every organization, inside `txn`, giving
/// `reason`. Answers how many ended. The rest of `txn` acts for `user` (on PostgreSQL the
/// sessions policy opens a user's sessions everywhere only to that user); the tenant, if any,
/// stays as it was.
pub(crate) async fn end_all_of(
    txn: &DatabaseTransaction,
    user: UserId,
    keep: Option<SessionId>,
    reason: &str,
    now: DateTime<Utc>,
) -> DomainResult<u64> {
    set_local(txn, "app.current_user", &user.to_string()).await?;
    let mut update = entity::Entity::update_many()
        .col_expr(entity::Column::RevokedAt, Expr::value(now))
        .col_expr(entity::Column::RevokedReason, Expr::value(reason))
        .filter(entity::Column::UserId.eq(user.as_uuid()))
        .filter(entity::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(entity::Column::Id.ne(keep.as_uuid()));
    }
    Ok(update.exec(txn).await.map_err(to_domain)?.rows_affected)
}

/// Stores a session and its first refresh token inside `txn` (also used by sign-up).
pub(crate) async fn insert(txn: &DatabaseTransaction, new: &NewSession) -> DomainResult<()> {
    let s = &new.session;
    entity::ActiveModel {
        id: Set(s.id.as_uuid()),
        user_id: Set(s.user_id.as_uuid()),
        organization_id: Set(s.organization_id.as_uuid()),
        created_at: Set(s.created_at),
        last_used_at: Set(s.last_used_at),
        expires_at: Set(s.expires_at),
        revoked_at: Set(None),
        revoked_reason: Set(None),
        client_ip: Set(s.client_ip.clone()),
        user_agent: Set(s.user_agent.clone()),
    }
    .insert(txn)
    .await
    .map_err(to_domain)?;
    new_token(&new.refresh, s.id, s.created_at)
        .insert(txn)
        .await
        .map_err(to_domain)?;
    Ok(())
}
