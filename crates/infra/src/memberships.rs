//! Memberships in SQL.

use async_trait::async_trait;
use bulkhead_domain::memberships::{Membership, MembershipRepository};
use bulkhead_domain::{DomainResult, Grant, OrganizationId, RoleRef, SessionId, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::error::to_domain;
use crate::store::Store;
use crate::tenant::{enter_tenant, enter_tenant_statement, grant_in, role_columns, role_ref};
use crate::tx::{Access, OrgTx};

use crate::entities::memberships as entity;

impl TryFrom<entity::Model> for Membership {
    type Error = bulkhead_domain::DomainError;

    fn try_from(row: entity::Model) -> DomainResult<Self> {
        Ok(Membership {
            organization_id: OrganizationId::from_uuid(row.organization_id),
            user_id: UserId::from_uuid(row.user_id),
            role: role_ref(&row.role, row.role_id)?,
            created_at: row.created_at,
        })
    }
}

/// Adds `user` to `org` with `role`, inside `txn`.
pub(crate) async fn insert(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    user: UserId,
    role: RoleRef,
    created_at: chrono::DateTime<chrono::Utc>,
) -> Result<entity::Model, sea_orm::DbErr> {
    let (role, role_id) = role_columns(role);
    entity::ActiveModel {
        organization_id: Set(org.as_uuid()),
        user_id: Set(user.as_uuid()),
        role: Set(role),
        created_at: Set(created_at),
        role_id: Set(role_id),
    }
    .insert(txn)
    .await
}

/// The user's memberships visible in `txn`, oldest first.
pub(crate) async fn of_user(
    txn: &DatabaseTransaction,
    user: UserId,
) -> DomainResult<Vec<entity::Model>> {
    entity::Entity::find()
        .filter(entity::Column::UserId.eq(user.as_uuid()))
        .order_by_asc(entity::Column::CreatedAt)
        .order_by_asc(entity::Column::OrganizationId)
        .all(txn)
        .await
        .map_err(to_domain)
}

/// [`MembershipRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlMembershipRepository {
    store: Store,
}

impl SqlMembershipRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl MembershipRepository for SqlMembershipRepository {
    async fn grant(
        &self,
        organization: OrganizationId,
        user: UserId,
        session: Option<SessionId>,
    ) -> DomainResult<Option<Grant>> {
        let db = self.store.connection();
        if db.get_database_backend() == DatabaseBackend::Postgres {
            // A session's grant in a live organization comes from the cache when it can: the
            // unit of work's first statement checks it again (crate::grants explains why that
            // is safe).
            let cache = self.store.grants();
            let key = session.map(|s| (organization, user, s));
            if let Some(grant) = key.and_then(|k| cache.get(&k)) {
                return Ok(Some(grant));
            }
            let generation = cache.generation();
            // One statement outside any transaction: its settings end with it. As the
            // request's first statement, it moves to another connection if the server closed
            // the one it drew. Only a live organization's members get their grant in one round
            // trip; a deleted one's (to restore it) in two, and it is not cached.
            let statement = enter_tenant_statement(
                organization,
                Some(user),
                session,
                false,
                Access::ReadWrite,
                None,
            );
            let row = self
                .store
                .on_live_connection(|| db.query_one_raw(statement.clone()))
                .await
                .map_err(to_domain)?;
            let live = grant_in(row)?;
            return match live {
                Some(grant) => {
                    if let Some(key) = key {
                        cache.store(key, grant, generation);
                    }
                    Ok(Some(grant))
                }
                None => enter_tenant(
                    db,
                    organization,
                    Some(user),
                    session,
                    true,
                    Access::ReadWrite,
                    None,
                )
                .await
                .map(|admission| admission.grant),
            };
        }
        let txn = self.store.begin().await.map_err(to_domain)?;
        let access = Access::ReadWrite;
        let grant =
            match crate::tenant::admitted_user(&txn, organization, user, session, false, access)
                .await?
                .grant
            {
                Some(grant) => Some(grant),
                None => {
                    crate::tenant::admitted_user(&txn, organization, user, session, true, access)
                        .await?
                        .grant
                }
            };
        txn.commit().await.map_err(to_domain)?;
        Ok(grant)
    }

    async fn list_for_user(&self, user_id: UserId) -> DomainResult<Vec<Membership>> {
        let tx = OrgTx::begin_for_user(&self.store, user_id).await?;
        let rows = of_user(&tx, user_id).await?;
        tx.commit().await?;
        rows.into_iter().map(Membership::try_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(access: Access) -> String {
        let (org, user) = (OrganizationId::new(), UserId::new());
        enter_tenant_statement(org, Some(user), None, false, access, None).sql
    }

    #[test]
    fn only_read_only_units_of_work_turn_their_transaction_read_only() {
        let read_only = "set_config('transaction_read_only', 'on', true)";
        assert!(sql(Access::ReadOnly).contains(read_only));
        assert!(!sql(Access::ReadWrite).contains("transaction_read_only"));
        for access in [Access::ReadOnly, Access::ReadWrite] {
            assert!(sql(access).contains("bulkhead_enter_tenant($1, $2, $3, $4, $5)"));
        }
    }
}
