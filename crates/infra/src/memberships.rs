//! Memberships in SQL.

use async_trait::async_trait;
use bulkhead_domain::memberships::{Membership, MembershipRepository};
use bulkhead_domain::{DomainResult, OrganizationId, UserId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::error::{corrupt, to_domain};
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
        let rows = entity::Entity::find()
            .filter(entity::Column::UserId.eq(user_id.as_uuid()))
            .order_by_asc(entity::Column::CreatedAt)
            .order_by_asc(entity::Column::OrganizationId)
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        tx.commit().await?;
        rows.into_iter().map(Membership::try_from).collect()
    }
}
