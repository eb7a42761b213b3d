//! Account tokens and password changes in SQL.

use async_trait::async_trait;
use bulkhead_domain::accounts::{AccountRepository, AccountToken, TokenPurpose};
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::outbox::OutgoingEmail;
use bulkhead_domain::secret::SecretDigest;
use bulkhead_domain::users::{PasswordHash, UserCredentials};
use bulkhead_domain::{DomainResult, TenantScope, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    Select, Set,
};

use crate::error::to_domain;
use crate::sealing::Keyring;
use crate::sessions;
use crate::store::Store;
use crate::tx::OrgTx;

use crate::entities::account_tokens as entity;

use entity::{Column, Entity};

/// Stores `token` and queues `email`, inside the caller's transaction.
pub(crate) async fn insert_token(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    token: &AccountToken,
    email: &OutgoingEmail,
) -> DomainResult<()> {
    entity::ActiveModel {
        digest: Set(token.digest.as_str().to_owned()),
        user_id: Set(token.user_id.as_uuid()),
        purpose: Set(token.purpose.as_str().to_owned()),
        created_at: Set(token.created_at),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await
    .map_err(to_domain)?;
    crate::outbox::enqueue(db, keyring, email).await
}

/// The token with this digest, if it is of `purpose`, unused and unexpired at `now`.
fn live(purpose: TokenPurpose, digest: &SecretDigest, now: DateTime<Utc>) -> Select<Entity> {
    Entity::find_by_id(digest.as_str().to_owned())
        .filter(Column::Purpose.eq(purpose.as_str()))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
}

/// Spends a live token of `purpose` inside `txn`: answers its user, or `None` if it is
/// unknown, used or expired. The conditional update makes two concurrent uses yield one.
async fn spend(
    txn: &DatabaseTransaction,
    purpose: TokenPurpose,
    digest: &SecretDigest,
    now: DateTime<Utc>,
) -> DomainResult<Option<UserId>> {
    let Some(row) = live(purpose, digest, now)
        .one(txn)
        .await
        .map_err(to_domain)?
    else {
        return Ok(None);
    };
    let spent = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Digest.eq(digest.as_str()))
        .filter(Column::UsedAt.is_null())
        .exec(txn)
        .await
        .map_err(to_domain)?
        .rows_affected;
    Ok((spent == 1).then_some(UserId::from_uuid(row.user_id)))
}

/// Sets the password hash and/or marks the email verified (keeping the first verification
/// time), inside `txn`.
async fn set_user(
    txn: &impl ConnectionTrait,
    user: UserId,
    hash: Option<&PasswordHash>,
    verified_at: Option<DateTime<Utc>>,
) -> DomainResult<()> {
    use crate::entities::users::Column as User;
    let of_user =
        || crate::entities::users::Entity::update_many().filter(User::Id.eq(user.as_uuid()));
    if let Some(hash) = hash {
        of_user()
            .col_expr(User::PasswordHash, Expr::value(hash.as_str().to_owned()))
            .exec(txn)
            .await
            .map_err(to_domain)?;
    }
    if let Some(at) = verified_at {
        of_user()
            .col_expr(User::EmailVerifiedAt, Expr::value(at))
            .filter(User::EmailVerifiedAt.is_null())
            .exec(txn)
            .await
            .map_err(to_domain)?;
    }
    Ok(())
}

/// [`AccountRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlAccountRepository {
    store: Store,
}

impl SqlAccountRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl AccountRepository for SqlAccountRepository {
    async fn issue_token(&self, token: &AccountToken, email: &OutgoingEmail) -> DomainResult<()> {
        let txn = self.store.begin().await.map_err(to_domain)?;
        insert_token(&txn, self.store.keyring(), token, email).await?;
        txn.commit().await.map_err(to_domain)
    }

    async fn token_owner(
        &self,
        purpose: TokenPurpose,
        digest: &SecretDigest,
    ) -> DomainResult<Option<UserCredentials>> {
        let Some(row) = live(purpose, digest, bulkhead_domain::now())
            .one(self.store.connection())
            .await
            .map_err(to_domain)?
        else {
            return Ok(None);
        };
        self.credentials(UserId::from_uuid(row.user_id)).await
    }

    async fn reset_password(
        &self,
        digest: &SecretDigest,
        hash: &PasswordHash,
    ) -> DomainResult<Option<UserId>> {
        let txn = self.store.begin().await.map_err(to_domain)?;
        let now = bulkhead_domain::now();
        let Some(user) = spend(&txn, TokenPurpose::PasswordReset, digest, now).await? else {
            return Ok(None);
        };
        set_user(&txn, user, Some(hash), Some(now)).await?;
        // Other reset links of the account die with this one.
        Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(Column::UserId.eq(user.as_uuid()))
            .filter(Column::Purpose.eq(TokenPurpose::PasswordReset.as_str()))
            .filter(Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(to_domain)?;
        sessions::end_all_of(&txn, user, None, "auth.password_reset", now).await?;
        txn.commit().await.map_err(to_domain)?;
        Ok(Some(user))
    }

    async fn verify_email(&self, digest: &SecretDigest) -> DomainResult<Option<UserId>> {
        let txn = self.store.begin().await.map_err(to_domain)?;
        let now = bulkhead_domain::now();
        let Some(user) = spend(&txn, TokenPurpose::EmailVerification, digest, now).await? else {
            return Ok(None);
        };
        set_user(&txn, user, None, Some(now)).await?;
        txn.commit().await.map_err(to_domain)?;
        Ok(Some(user))
    }

    async fn change_password(
        &self,
        scope: &TenantScope,
        hash: &PasswordHash,
        entry: AuditEntry,
    ) -> DomainResult<u64> {
        let user = scope.require_user()?;
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        let now = bulkhead_domain::now();
        set_user(&*tx, user, Some(hash), None).await?;
        let ended = sessions::end_all_of(&tx, user, scope.session_id(), &entry.action, now).await?;
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        Ok(ended)
    }

    async fn credentials(&self, user: UserId) -> DomainResult<Option<UserCredentials>> {
        crate::entities::users::Entity::find_by_id(user.as_uuid())
            .one(self.store.connection())
            .await
            .map_err(to_domain)?
            .map(crate::entities::users::Model::into_credentials)
            .transpose()
    }
}
