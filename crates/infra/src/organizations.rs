//! Organizations in SQL, including the atomic sign-up.

use async_trait::async_trait;
use bulkhead_domain::audit::{AuditEntry, Auditable};
use bulkhead_domain::organizations::{
    Organization, OrganizationMembership, OrganizationRepository, Registration,
};
use bulkhead_domain::{DomainError, DomainResult, TenantScope};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use crate::error::{conflict_or_domain, to_domain};
use crate::store::Store;
use crate::tx::OrgTx;
use crate::{memberships, users};

mod actions {
    pub(super) const ORGANIZATION_CREATED: &str = "organization.created";
}

use crate::entities::organizations::{self as entity, to_organization};

/// Stores a new, live organization inside `txn`.
pub(crate) async fn insert(
    txn: &sea_orm::DatabaseTransaction,
    organization: &Organization,
) -> DomainResult<()> {
    entity::ActiveModel {
        id: Set(organization.id.as_uuid()),
        name: Set(organization.name.as_str().to_owned()),
        created_at: Set(organization.created_at),
        deleted_at: Set(None),
        deleted_by: Set(None),
        suspended_at: Set(None),
        settings: Set(organization.settings.to_stored()),
    }
    .insert(txn)
    .await
    .map_err(to_domain)
    .map(|_| ())
}

/// [`OrganizationRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlOrganizationRepository {
    store: Store,
}

impl SqlOrganizationRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Removes for good the organizations deleted before `cutoff`, with all their data, their
    /// audit trail included (the point of the purge). Maintenance only: it needs a connection
    /// that sees every tenant and may delete organizations (the owner's). Answers how many
    /// went.
    pub async fn purge_deleted_before(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> DomainResult<u64> {
        let doomed: Vec<uuid::Uuid> = entity::Entity::find()
            .select_only()
            .column(entity::Column::Id)
            .filter(entity::Column::DeletedAt.lt(cutoff))
            .into_tuple()
            .all(self.store.connection())
            .await
            .map_err(to_domain)?;
        for id in &doomed {
            let txn = self.store.begin().await.map_err(to_domain)?;
            // The audit trail does not cascade (it is append-only for the server); everything
            // else goes with the organization.
            crate::entities::audit_events::Entity::delete_many()
                .filter(crate::entities::audit_events::Column::OrganizationId.eq(*id))
                .exec(&txn)
                .await
                .map_err(to_domain)?;
            crate::chain::delete_head(&txn, *id).await?;
            entity::Entity::delete_by_id(*id)
                .exec(&txn)
                .await
                .map_err(to_domain)?;
            txn.commit().await.map_err(to_domain)?;
        }
        Ok(doomed.len() as u64)
    }
}

#[async_trait]
impl OrganizationRepository for SqlOrganizationRepository {
    async fn register(&self, scope: &TenantScope, registration: &Registration) -> DomainResult<()> {
        let Registration {
            organization,
            user,
            password_hash,
            membership,
            session,
            verification,
        } = registration;
        if scope.organization_id() != organization.id {
            return Err(DomainError::Internal(
                "registration scope differs from the new organization".into(),
            ));
        }
        // The new organization is the tenant of this transaction, so the policies accept its rows.
        let tx = OrgTx::begin_for_new_tenant(&self.store, scope).await?;
        insert(&tx, organization).await?;
        users::new_row(user, password_hash)
            .insert(&*tx)
            .await
            .map_err(conflict_or_domain(
                "an account with this email already exists",
            ))?;
        memberships::insert(
            &tx,
            membership.organization_id,
            membership.user_id,
            membership.role,
            membership.created_at,
        )
        .await
        .map_err(to_domain)?;
        crate::sessions::insert(&tx, session).await?;
        crate::accounts::insert_token(&*tx, self.store.keyring(), &verification.0, &verification.1)
            .await?;
        let details = serde_json::json!({
            "after": organization.audit_fields(),
            "owner": { "user_id": user.id.to_string(), "role": membership.role.to_string() },
        });
        tx.audit(
            scope,
            AuditEntry::about(actions::ORGANIZATION_CREATED, organization, details),
        )
        .await?;
        tx.commit().await
    }

    async fn update(
        &self,
        scope: &TenantScope,
        changed: &Organization,
        entry: AuditEntry,
    ) -> DomainResult<Organization> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let renamed = entity::Entity::update_many()
            .col_expr(
                entity::Column::Name,
                Expr::value(changed.name.as_str().to_owned()),
            )
            .col_expr(
                entity::Column::Settings,
                Expr::value(changed.settings.to_stored()),
            )
            .filter(entity::Column::Id.eq(scope.organization_id().as_uuid()))
            .exec_with_returning(&*tx)
            .await
            .map_err(to_domain)?
            .into_iter()
            .next()
            .ok_or(DomainError::NotFound)?;
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        to_organization(renamed)
    }

    async fn delete(&self, scope: &TenantScope, entry: AuditEntry) -> DomainResult<()> {
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        entity::Entity::update_many()
            .col_expr(
                entity::Column::DeletedAt,
                Expr::value(bulkhead_domain::now()),
            )
            .col_expr(
                entity::Column::DeletedBy,
                Expr::value(scope.author().map(|u| u.as_uuid())),
            )
            .filter(entity::Column::Id.eq(scope.organization_id().as_uuid()))
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn restore(
        &self,
        scope: &TenantScope,
        deleted_after: chrono::DateTime<chrono::Utc>,
        entry: AuditEntry,
    ) -> DomainResult<Organization> {
        let tx = match OrgTx::begin_deleted(&self.store, scope).await {
            // Not let in as into a deleted organization. If the caller may still use it as a
            // live one, the request is at odds with its state, not with the caller's rights.
            Err(DomainError::Unauthorized) => {
                OrgTx::begin_read(&self.store, scope)
                    .await?
                    .finish_read()
                    .await?;
                return Err(DomainError::Conflict(
                    "the organization is not deleted".into(),
                ));
            }
            entered => entered?,
        };
        let restored = entity::Entity::update_many()
            .col_expr(
                entity::Column::DeletedAt,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .col_expr(
                entity::Column::DeletedBy,
                Expr::value(Option::<uuid::Uuid>::None),
            )
            .filter(entity::Column::Id.eq(scope.organization_id().as_uuid()))
            .filter(entity::Column::DeletedAt.gt(deleted_after))
            .exec_with_returning(&*tx)
            .await
            .map_err(to_domain)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                DomainError::Conflict(
                    "the grace period has passed; the organization is being purged".into(),
                )
            })?;
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        to_organization(restored)
    }

    async fn current(&self, scope: &TenantScope) -> DomainResult<Organization> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let row = entity::Entity::find()
            .filter(entity::Column::Id.eq(scope.organization_id().as_uuid()))
            .one(&*tx)
            .await
            .map_err(to_domain)?
            .ok_or(DomainError::NotFound)?;
        tx.finish_read().await?;
        to_organization(row)
    }

    async fn of_user(&self, scope: &TenantScope) -> DomainResult<Vec<OrganizationMembership>> {
        let user = scope.require_user()?;
        // The scope's own tenant transaction: its user's memberships, and the organizations
        // they name, are readable beyond the current tenant; nothing else is.
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let rows = memberships::of_user(&tx, user).await?;
        let ids: Vec<_> = rows.iter().map(|m| m.organization_id).collect();
        let organizations = entity::Entity::find()
            .filter(entity::Column::Id.is_in(ids))
            .all(&*tx)
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
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
                    organization: to_organization(org.clone())?,
                    role: crate::tenant::role_ref(&m.role, m.role_id)?,
                    joined_at: m.created_at,
                })
            })
            .collect()
    }
}
