//! User accounts in SQL.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::users::{
    Email, PasswordHash, User, UserCredentials, UserName, UserRepository,
};
use bulkhead_domain::{DomainError, DomainResult, TenantScope, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::tx::OrgTx;

use crate::error::{corrupt, to_domain};
use crate::store::Store;

use crate::entities::users as entity;

/// The row of a new account.
pub(crate) fn new_row(
    user: &bulkhead_domain::users::User,
    password_hash: &bulkhead_domain::users::PasswordHash,
) -> entity::ActiveModel {
    use sea_orm::Set;
    entity::ActiveModel {
        id: Set(user.id.as_uuid()),
        email: Set(user.email.as_str().to_owned()),
        name: Set(user.name.as_str().to_owned()),
        password_hash: Set(password_hash.as_str().to_owned()),
        created_at: Set(user.created_at),
        email_verified_at: Set(user.email_verified_at),
    }
}

impl entity::Model {
    pub(crate) fn into_credentials(self) -> DomainResult<UserCredentials> {
        let user = User {
            id: UserId::from_uuid(self.id),
            email: Email::parse(&self.email).map_err(corrupt("user email"))?,
            name: UserName::parse(&self.name).map_err(corrupt("user name"))?,
            created_at: self.created_at,
            email_verified_at: self.email_verified_at,
        };
        Ok(UserCredentials {
            user,
            password_hash: PasswordHash::new(self.password_hash),
        })
    }
}

/// [`UserRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlUserRepository {
    store: Store,
}

impl SqlUserRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl UserRepository for SqlUserRepository {
    async fn find_credentials_by_email(
        &self,
        email: &Email,
    ) -> DomainResult<Option<UserCredentials>> {
        entity::Entity::find()
            .filter(entity::Column::Email.eq(email.as_str()))
            .one(self.store.connection())
            .await
            .map_err(to_domain)?
            .map(entity::Model::into_credentials)
            .transpose()
    }

    async fn rename(
        &self,
        scope: &TenantScope,
        name: &UserName,
        entry: AuditEntry,
    ) -> DomainResult<User> {
        let user = scope.require_user()?;
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        let row = entity::Entity::update_many()
            .col_expr(entity::Column::Name, Expr::value(name.as_str().to_owned()))
            .filter(entity::Column::Id.eq(user.as_uuid()))
            .exec_with_returning(&*tx)
            .await
            .map_err(to_domain)?
            .into_iter()
            .next()
            .ok_or(DomainError::Unauthorized)?;
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        row.into_credentials().map(|c| c.user)
    }

    async fn current(&self, scope: &TenantScope) -> DomainResult<User> {
        // In the tenant transaction, like everything a token does: its first statement is
        // what refuses an ended session.
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let row = entity::Entity::find_by_id(scope.require_user()?.as_uuid())
            .one(&*tx)
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        row.ok_or(DomainError::Unauthorized)?
            .into_credentials()
            .map(|c| c.user)
    }
}
