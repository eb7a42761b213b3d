//! Memberships in SQL.

use async_trait::async_trait;
use bulkhead_domain::auth::OrganizationMembership;
use bulkhead_domain::memberships::{Membership, MembershipRepository};
use bulkhead_domain::organizations::{Organization, OrganizationName};
use bulkhead_domain::{DomainError, DomainResult, OrganizationId, Role, TenantScope, UserId};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::error::{corrupt, to_domain};
use crate::organizations::entity as organizations;
use crate::store::Store;
use crate::tx::OrgTx;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub organization_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub role: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl TryFrom<entity::Model> for Membership {
    type Error = bulkhead_domain::DomainError;

    fn try_from(row: entity::Model) -> DomainResult<Self> {
        Ok(Membership {
            organization_id: OrganizationId::from_uuid(row.organization_id),
            user_id: UserId::from_uuid(row.user_id),
            role: row.role.parse().map_err(corrupt("membership role"))?,
            created_at: row.created_at,
        })
    }
}

/// The user's role in `org`, read inside `txn` (under whatever tenant settings it has).
pub(crate) async fn role_of(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    user: UserId,
) -> DomainResult<Option<Role>> {
    entity::Entity::find()
        .select_only()
        .column(entity::Column::Role)
        .filter(entity::Column::OrganizationId.eq(org.as_uuid()))
        .filter(entity::Column::UserId.eq(user.as_uuid()))
        .into_tuple::<String>()
        .one(txn)
        .await
        .map_err(to_domain)?
        .map(|r| r.parse::<Role>())
        .transpose()
        .map_err(corrupt("membership role"))
}

/// The user's memberships visible in `txn`, oldest first.
async fn of_user(txn: &DatabaseTransaction, user: UserId) -> DomainResult<Vec<entity::Model>> {
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
    async fn list_for_user(&self, user_id: UserId) -> DomainResult<Vec<Membership>> {
        let tx = OrgTx::begin_for_user(&self.store, user_id).await?;
        let rows = of_user(&tx, user_id).await?;
        tx.commit().await?;
        rows.into_iter().map(Membership::try_from).collect()
    }

    async fn organizations_of(
        &self,
        scope: &TenantScope,
    ) -> DomainResult<Vec<OrganizationMembership>> {
        let user = scope.require_user()?;
        // The scope's own tenant transaction: its user's memberships, and the organizations
        // they name, are readable beyond the current tenant; nothing else is.
        let tx = OrgTx::begin(&self.store, scope).await?;
        let rows = of_user(&tx, user).await?;
        let ids: Vec<_> = rows.iter().map(|m| m.organization_id).collect();
        let organizations = organizations::Entity::find()
            .filter(organizations::Column::Id.is_in(ids))
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        tx.commit().await?;
        rows.into_iter()
            .map(|m| {
                let org = organizations
                    .iter()
                    .find(|o| o.id == m.organization_id)
                    .ok_or_else(|| {
                        DomainError::Internal(
                            "a membership names an unreadable organization".into(),
                        )
                    })?;
                Ok(OrganizationMembership {
                    organization: Organization {
                        id: OrganizationId::from_uuid(org.id),
                        name: OrganizationName::parse("name", &org.name)
                            .map_err(corrupt("organization name"))?,
                        created_at: org.created_at,
                    },
                    role: m.role.parse().map_err(corrupt("membership role"))?,
                    joined_at: m.created_at,
                })
            })
            .collect()
    }
}
