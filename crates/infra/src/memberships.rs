//! Memberships in SQL.

use async_trait::async_trait;
use bulkhead_domain::auth::OrganizationMembership;
use bulkhead_domain::memberships::{Membership, MembershipRepository};
use bulkhead_domain::{
    ApiKeyId, DomainError, DomainResult, Grant, OrganizationId, PermissionSet, Role, RoleId,
    RoleRef, SessionId, TenantScope, UserId,
};
use sea_orm::prelude::Uuid;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, Set, Statement,
};

use crate::error::{corrupt, to_domain};
use crate::organizations::entity as organizations;
use crate::store::Store;
use crate::tx::{Access, OrgTx};

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
        pub role_id: Option<Uuid>,
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
            role: role_ref(&row.role, row.role_id)?,
            created_at: row.created_at,
        })
    }
}

/// The role a row's `role` and `role_id` columns name.
pub(crate) fn role_ref(role: &str, role_id: Option<Uuid>) -> DomainResult<RoleRef> {
    match role_id {
        Some(id) => Ok(RoleRef::Custom(RoleId::from_uuid(id))),
        None => role
            .parse::<Role>()
            .map(RoleRef::System)
            .map_err(corrupt("role")),
    }
}

/// The `role` and `role_id` columns for `role`. A custom role's holder keeps `viewer` in
/// `role`, so that anything reading only that column errs toward less access.
pub(crate) fn role_columns(role: RoleRef) -> (String, Option<Uuid>) {
    match role {
        RoleRef::System(role) => (role.as_str().to_owned(), None),
        RoleRef::Custom(id) => (Role::Viewer.as_str().to_owned(), Some(id.as_uuid())),
    }
}

/// A grant from `bulkhead_enter_tenant`'s answer: a system role's name, or a custom role's id
/// with its stored permissions.
pub(crate) fn grant_from(role: &str, permissions: Option<&str>) -> DomainResult<Grant> {
    match (RoleRef::parse(role), permissions) {
        (Some(RoleRef::System(role)), _) => Ok(Grant::system(role)),
        (Some(custom @ RoleRef::Custom(_)), Some(names)) => Ok(Grant {
            role: custom,
            permissions: PermissionSet::from_names(names)
                .ok_or_else(|| DomainError::Internal("unknown permission in a role".into()))?,
        }),
        _ => Err(DomainError::Internal(format!("unreadable grant {role:?}"))),
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

/// What the user holds in `org`, read inside `txn` (under whatever tenant settings it has):
/// the SQLite half of what `bulkhead_enter_tenant` answers on PostgreSQL.
pub(crate) async fn grant_of(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    user: UserId,
) -> DomainResult<Option<Grant>> {
    let Some(role) = role_of(txn, org, user).await? else {
        return Ok(None);
    };
    match role {
        RoleRef::System(role) => Ok(Some(Grant::system(role))),
        RoleRef::Custom(id) => {
            let role = crate::roles::find(txn, org, id)
                .await?
                .ok_or_else(|| DomainError::Internal("a membership names no role".into()))?;
            Ok(Some(Grant {
                role: RoleRef::Custom(id),
                permissions: role.permissions,
            }))
        }
    }
}

/// What `user` holds in `org`, provided the organization exists, is not suspended and is
/// deleted or not as `deleted` says, and `session` (when given) is live in it; `None`
/// otherwise. On PostgreSQL this is the one statement that also enters the tenant for the
/// rest of `txn`, and makes `txn` read-only when `access` says so.
pub(crate) async fn admitted(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    user: UserId,
    session: Option<SessionId>,
    deleted: bool,
    access: Access,
) -> DomainResult<Option<Grant>> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        return enter_tenant(txn, org, Some(user), session, deleted, access, None).await;
    }
    if crate::organizations::is_deleted(txn, org).await? != Some(deleted) {
        return Ok(None);
    }
    if let Some(session) = session
        && !crate::sessions::is_live_in(txn, session, user, org).await?
    {
        return Ok(None);
    }
    grant_of(txn, org, user).await
}

/// The user's role in `org`, read inside `txn` (under whatever tenant settings it has).
pub(crate) async fn role_of(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    user: UserId,
) -> DomainResult<Option<RoleRef>> {
    entity::Entity::find()
        .filter(entity::Column::OrganizationId.eq(org.as_uuid()))
        .filter(entity::Column::UserId.eq(user.as_uuid()))
        .one(txn)
        .await
        .map_err(to_domain)?
        .map(|row| role_ref(&row.role, row.role_id))
        .transpose()
}

/// Runs `bulkhead_enter_tenant` on PostgreSQL and reads its answer: the grant, or `None` when
/// the organization, session or membership does not admit the user. With `key` (and no
/// user), the grant is that of the live key's creator, `None` for a revoked or expired key.
pub(crate) async fn enter_tenant(
    db: &impl ConnectionTrait,
    org: OrganizationId,
    user: Option<UserId>,
    session: Option<SessionId>,
    deleted: bool,
    access: Access,
    key: Option<ApiKeyId>,
) -> DomainResult<Option<Grant>> {
    let row = db
        .query_one_raw(enter_tenant_statement(
            org, user, session, deleted, access, key,
        ))
        .await
        .map_err(to_domain)?;
    grant_in(row)
}

fn enter_tenant_statement(
    org: OrganizationId,
    user: Option<UserId>,
    session: Option<SessionId>,
    deleted: bool,
    access: Access,
    key: Option<ApiKeyId>,
) -> Statement {
    Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        match access {
            Access::ReadWrite => {
                "SELECT member_role, role_permissions FROM bulkhead_enter_tenant($1, $2, $3, $4, $5)"
            }
            // In the same statement, so it costs no round trip. PostgreSQL lets a transaction
            // turn read-only at any point (only the way back is refused); from here on it
            // refuses every write, which is what lets `OrgTx::finish_read` end it with a
            // rollback. The outer join keeps the setting's row, so it is applied even when
            // the function answers nothing (an API key's scope has no user); the answer is
            // then one row without a role, which admits no one, as no row does.
            Access::ReadOnly => {
                "SELECT e.member_role, e.role_permissions \
                 FROM set_config('transaction_read_only', 'on', true) AS read_only \
                 LEFT JOIN bulkhead_enter_tenant($1, $2, $3, $4, $5) AS e ON true"
            }
        },
        [
            org.as_uuid().into(),
            user.map(|u| u.as_uuid()).into(),
            session.map(|s| s.as_uuid()).into(),
            deleted.into(),
            key.map(|k| k.as_uuid()).into(),
        ],
    )
}

/// The grant in `bulkhead_enter_tenant`'s answer.
fn grant_in(row: Option<sea_orm::QueryResult>) -> DomainResult<Option<Grant>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let role: Option<String> = row.try_get("", "member_role").map_err(to_domain)?;
    let permissions: Option<String> = row.try_get("", "role_permissions").map_err(to_domain)?;
    role.map(|role| grant_from(&role, permissions.as_deref()))
        .transpose()
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
                None => {
                    enter_tenant(
                        db,
                        organization,
                        Some(user),
                        session,
                        true,
                        Access::ReadWrite,
                        None,
                    )
                    .await
                }
            };
        }
        let txn = self.store.begin().await.map_err(to_domain)?;
        let access = Access::ReadWrite;
        let grant = match admitted(&txn, organization, user, session, false, access).await? {
            Some(grant) => Some(grant),
            None => admitted(&txn, organization, user, session, true, access).await?,
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

    async fn organizations_of(
        &self,
        scope: &TenantScope,
    ) -> DomainResult<Vec<OrganizationMembership>> {
        let user = scope.require_user()?;
        // The scope's own tenant transaction: its user's memberships, and the organizations
        // they name, are readable beyond the current tenant; nothing else is.
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let rows = of_user(&tx, user).await?;
        let ids: Vec<_> = rows.iter().map(|m| m.organization_id).collect();
        let organizations = organizations::Entity::find()
            .filter(organizations::Column::Id.is_in(ids))
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
                    organization: crate::organizations::to_organization(org.clone())?,
                    role: role_ref(&m.role, m.role_id)?,
                    joined_at: m.created_at,
                })
            })
            .collect()
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
