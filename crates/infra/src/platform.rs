//! Platform administration in SQL.
//!
//! A platform transaction names its superuser in `app.platform_user`; on PostgreSQL the
//! organizations policy then lets it read every organization's record, and nothing else of a
//! tenant. Writing one organization (creating, suspending) still enters it as the current
//! tenant, so the policies' write checks hold as for any request.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::page::Page;
use bulkhead_domain::platform::{
    NewOrganization, OrganizationStatus, PlatformOrganization, PlatformOrganizationQuery,
    PlatformRepository, PlatformScope,
};
use bulkhead_domain::users::{PasswordHash, User};
use bulkhead_domain::{DomainError, DomainResult, OrganizationId, TenantScope, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use crate::entities::organizations::{self as entity, to_organization};
use crate::error::to_domain;
use crate::store::Store;
use crate::tx::OrgTx;
use crate::users;

impl TryFrom<entity::Model> for PlatformOrganization {
    type Error = DomainError;

    fn try_from(row: entity::Model) -> DomainResult<Self> {
        Ok(PlatformOrganization {
            deleted_at: row.deleted_at,
            suspended_at: row.suspended_at,
            organization: to_organization(row)?,
        })
    }
}

/// A transaction in which `scope`'s superuser may read every organization's record.
async fn platform_tx(store: &Store, scope: &PlatformScope) -> DomainResult<DatabaseTransaction> {
    let txn = store.begin().await.map_err(to_domain)?;
    crate::tx::set_local(&txn, "app.platform_user", &scope.superuser().to_string()).await?;
    Ok(txn)
}

async fn find(db: &impl ConnectionTrait, id: OrganizationId) -> DomainResult<PlatformOrganization> {
    entity::Entity::find_by_id(id.as_uuid())
        .one(db)
        .await
        .map_err(to_domain)?
        .ok_or(DomainError::NotFound)?
        .try_into()
}

/// [`PlatformRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlPlatformRepository {
    store: Store,
}

impl SqlPlatformRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// Whether `user` is a superuser, read on `db` (users are not tenant data).
pub(crate) async fn is_superuser(db: &impl ConnectionTrait, user: UserId) -> DomainResult<bool> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                DatabaseBackend::Postgres => "SELECT is_superuser FROM users WHERE id = $1",
                _ => "SELECT is_superuser FROM users WHERE id = ?",
            },
            [user.as_uuid().into()],
        ))
        .await
        .map_err(to_domain)?;
    row.map(|r| r.try_get::<bool>("", "is_superuser"))
        .transpose()
        .map_err(to_domain)
        .map(|flag| flag.unwrap_or(false))
}

impl SqlPlatformRepository {
    /// Makes `user` a superuser: the account with that email is promoted (its password
    /// unchanged), or created with `password_hash`. Answers the user's id and whether the
    /// account was created. Run on the owner's connection: the app role may not set the flag.
    pub async fn make_superuser(
        &self,
        user: &User,
        password_hash: &PasswordHash,
    ) -> DomainResult<(UserId, bool)> {
        let txn = self.store.begin().await.map_err(to_domain)?;
        let existing = crate::entities::users::Entity::find()
            .filter(crate::entities::users::Column::Email.eq(user.email.as_str()))
            .one(&txn)
            .await
            .map_err(to_domain)?;
        let (id, created) = match existing {
            Some(row) => (row.id, false),
            None => {
                users::new_row(user, password_hash)
                    .insert(&txn)
                    .await
                    .map_err(to_domain)?;
                (user.id.as_uuid(), true)
            }
        };
        let backend = txn.get_database_backend();
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                DatabaseBackend::Postgres => "UPDATE users SET is_superuser = true WHERE id = $1",
                _ => "UPDATE users SET is_superuser = true WHERE id = ?",
            },
            [id.into()],
        ))
        .await
        .map_err(to_domain)?;
        txn.commit().await.map_err(to_domain)?;
        Ok((UserId::from_uuid(id), created))
    }
}

#[async_trait]
impl PlatformRepository for SqlPlatformRepository {
    async fn is_superuser(&self, user: UserId) -> DomainResult<bool> {
        is_superuser(self.store.connection(), user).await
    }

    async fn list(
        &self,
        scope: &PlatformScope,
        query: PlatformOrganizationQuery,
    ) -> DomainResult<Page<PlatformOrganization>> {
        let txn = platform_tx(&self.store, scope).await?;
        let mut filtered = entity::Entity::find();
        if let Some(q) = &query.q {
            filtered = filtered.filter(
                Expr::expr(Func::lower(Expr::col(entity::Column::Name))).like(
                    sea_orm::sea_query::LikeExpr::new(crate::resources::contains_pattern(q))
                        .escape('\\'),
                ),
            );
        }
        filtered = match query.status {
            None => filtered,
            Some(OrganizationStatus::Deleted) => {
                filtered.filter(entity::Column::DeletedAt.is_not_null())
            }
            Some(OrganizationStatus::Suspended) => filtered
                .filter(entity::Column::DeletedAt.is_null())
                .filter(entity::Column::SuspendedAt.is_not_null()),
            Some(OrganizationStatus::Active) => filtered
                .filter(entity::Column::DeletedAt.is_null())
                .filter(entity::Column::SuspendedAt.is_null()),
        };
        let total = sea_orm::PaginatorTrait::count(filtered.clone(), &txn)
            .await
            .map_err(to_domain)?;
        let rows = filtered
            .order_by_asc(Expr::expr(Func::lower(Expr::col(entity::Column::Name))))
            .order_by_asc(entity::Column::Id)
            .limit(query.page.limit())
            .offset(query.page.offset())
            .all(&txn)
            .await
            .map_err(to_domain)?;
        txn.commit().await.map_err(to_domain)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(PlatformOrganization::try_from)
                .collect::<DomainResult<_>>()?,
            total,
            request: query.page,
        })
    }

    async fn get(
        &self,
        scope: &PlatformScope,
        id: OrganizationId,
    ) -> DomainResult<PlatformOrganization> {
        let txn = platform_tx(&self.store, scope).await?;
        let organization = find(&txn, id).await?;
        txn.commit().await.map_err(to_domain)?;
        Ok(organization)
    }

    async fn create(
        &self,
        _scope: &PlatformScope,
        tenant: &TenantScope,
        new: &NewOrganization,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        if new.organization.id != tenant.organization_id() {
            return Err(DomainError::Internal(
                "the new organization differs from the scope's".into(),
            ));
        }
        let tx = OrgTx::begin_for_platform(&self.store, tenant).await?;
        crate::organizations::insert(&tx, &new.organization).await?;
        crate::invitations::insert(&tx, &new.invitation, &new.digest).await?;
        crate::outbox::enqueue(&*tx, self.store.keyring(), &new.email).await?;
        tx.audit(tenant, entry).await?;
        tx.commit().await
    }

    async fn set_suspended(
        &self,
        _scope: &PlatformScope,
        tenant: &TenantScope,
        suspended: bool,
        entry: AuditEntry,
    ) -> DomainResult<PlatformOrganization> {
        let id = tenant.organization_id();
        let tx = OrgTx::begin_for_platform(&self.store, tenant).await?;
        let before = find(&*tx, id).await?;
        if before.suspended_at.is_some() == suspended {
            return Err(DomainError::Conflict(if suspended {
                "the organization is suspended already".into()
            } else {
                "the organization is not suspended".into()
            }));
        }
        let at = suspended.then(bulkhead_domain::now);
        entity::Entity::update_many()
            .col_expr(entity::Column::SuspendedAt, Expr::value(at))
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        tx.audit(tenant, entry).await?;
        tx.commit().await?;
        Ok(PlatformOrganization {
            suspended_at: at,
            ..before
        })
    }
}
