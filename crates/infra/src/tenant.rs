//! Entering a tenant: the first statement of every tenant unit of work, and what it answers.
//!
//! On PostgreSQL one call of `bulkhead_enter_tenant` sets the tenant for row-level security,
//! checks that the organization admits requests, that the session or API key is live, and
//! answers the member's grant; on SQLite the same checks are read from the tables. This module
//! reads the tables through their entities only, so the transaction ([`crate::tx`]) that starts
//! with it imports no aggregate's adapter.

use bulkhead_domain::{
    ApiKeyId, DomainError, DomainResult, Grant, OrganizationId, PermissionSet, Role, RoleId,
    RoleRef, SessionId, UserId,
};
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect, Statement,
};

use crate::entities::{api_keys, memberships, organizations, roles, sessions};
use crate::error::{corrupt, to_domain};

/// What a unit of work may do. A read-only one is marked so on PostgreSQL in its first
/// statement, and PostgreSQL then refuses any write in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
}

/// The permissions of `org`'s custom role `id`, if it exists.
async fn custom_role_permissions(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    id: RoleId,
) -> DomainResult<Option<PermissionSet>> {
    roles::Entity::find_by_id((org.as_uuid(), id.as_uuid()))
        .one(txn)
        .await
        .map_err(to_domain)?
        .map(|row| {
            PermissionSet::from_names(&row.permissions)
                .ok_or_else(|| DomainError::Internal("stored role permissions are invalid".into()))
        })
        .transpose()
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
            let role = custom_role_permissions(txn, org, id)
                .await?
                .ok_or_else(|| DomainError::Internal("a membership names no role".into()))?;
            Ok(Some(Grant {
                role: RoleRef::Custom(id),
                permissions: role,
            }))
        }
    }
}

/// What entering a tenant answered: the grant that admits the caller (`None`: nobody), and
/// whether the organization is read-only for a lapsed subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    pub grant: Option<Grant>,
    pub read_only: bool,
}

impl Admission {
    const NOBODY: Admission = Admission {
        grant: None,
        read_only: false,
    };
}

/// What `user` holds in `org`, provided the organization exists, is not suspended and is
/// deleted or not as `deleted` says, and `session` (when given) is live in it; `None`
/// otherwise. On PostgreSQL this is the one statement that also enters the tenant for the
/// rest of `txn`, and makes `txn` read-only when `access` says so.
pub(crate) async fn admitted_user(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    user: UserId,
    session: Option<SessionId>,
    deleted: bool,
    access: Access,
) -> DomainResult<Admission> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        return enter_tenant(txn, org, Some(user), session, deleted, access, None).await;
    }
    if is_deleted(txn, org).await? != Some(deleted) {
        return Ok(Admission::NOBODY);
    }
    if let Some(session) = session
        && !session_is_live(txn, session, user, org).await?
    {
        return Ok(Admission::NOBODY);
    }
    Ok(Admission {
        grant: grant_of(txn, org, user).await?,
        read_only: access == Access::ReadWrite && is_read_only(txn, org).await?,
    })
}

/// Whether `org`'s subscription has been owed past its grace period (SQLite; PostgreSQL
/// answers it in `bulkhead_enter_tenant`).
async fn is_read_only(txn: &DatabaseTransaction, org: OrganizationId) -> DomainResult<bool> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT read_only_from FROM billing_subscriptions WHERE organization_id = ?",
            [org.as_uuid().into()],
        ))
        .await
        .map_err(to_domain)?;
    let from: Option<chrono::DateTime<chrono::Utc>> = match row {
        Some(row) => row.try_get_by_index(0).map_err(to_domain)?,
        None => None,
    };
    Ok(from.is_some_and(|from| from <= bulkhead_domain::now()))
}

/// The user's role in `org`, read inside `txn` (under whatever tenant settings it has).
pub(crate) async fn role_of(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    user: UserId,
) -> DomainResult<Option<RoleRef>> {
    memberships::Entity::find()
        .filter(memberships::Column::OrganizationId.eq(org.as_uuid()))
        .filter(memberships::Column::UserId.eq(user.as_uuid()))
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
) -> DomainResult<Admission> {
    let row = db
        .query_one_raw(enter_tenant_statement(
            org, user, session, deleted, access, key,
        ))
        .await
        .map_err(to_domain)?;
    let read_only = match &row {
        Some(row) => row
            .try_get::<Option<bool>>("", "read_only")
            .map_err(to_domain)?
            .unwrap_or(false),
        None => false,
    };
    Ok(Admission {
        grant: grant_in(row)?,
        read_only,
    })
}

pub(crate) fn enter_tenant_statement(
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
                "SELECT member_role, role_permissions, read_only \
                 FROM bulkhead_enter_tenant($1, $2, $3, $4, $5)"
            }
            // In the same statement, so it costs no round trip. PostgreSQL lets a transaction
            // turn read-only at any point (only the way back is refused); from here on it
            // refuses every write, which is what lets `OrgTx::finish_read` end it with a
            // rollback. The outer join keeps the setting's row, so it is applied even when
            // the function answers nothing (an API key's scope has no user); the answer is
            // then one row without a role, which admits no one, as no row does.
            Access::ReadOnly => {
                "SELECT e.member_role, e.role_permissions, e.read_only \
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
pub(crate) fn grant_in(row: Option<sea_orm::QueryResult>) -> DomainResult<Option<Grant>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let role: Option<String> = row.try_get("", "member_role").map_err(to_domain)?;
    let permissions: Option<String> = row.try_get("", "role_permissions").map_err(to_domain)?;
    role.map(|role| grant_from(&role, permissions.as_deref()))
        .transpose()
}

/// What the creator of the live key `key` holds in `org` now, provided the organization admits
/// requests (deleted or not as `deleted` says, not suspended); `None` for a revoked or expired
/// key, or a creator who is no longer a member. On PostgreSQL this is the one statement that
/// also enters the tenant for the rest of `txn`.
pub(crate) async fn admitted_key(
    txn: &DatabaseTransaction,
    org: OrganizationId,
    key: ApiKeyId,
    deleted: bool,
    access: Access,
) -> DomainResult<Admission> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        return enter_tenant(txn, org, None, None, deleted, access, Some(key)).await;
    }
    if is_deleted(txn, org).await? != Some(deleted) {
        return Ok(Admission::NOBODY);
    }
    let creator = api_keys::Entity::find()
        .select_only()
        .column(api_keys::Column::CreatedBy)
        .filter(api_keys::Column::OrganizationId.eq(org.as_uuid()))
        .filter(api_keys::Column::Id.eq(key.as_uuid()))
        .filter(api_keys::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(api_keys::Column::ExpiresAt.is_null())
                .add(api_keys::Column::ExpiresAt.gt(bulkhead_domain::now())),
        )
        .into_tuple::<sea_orm::prelude::Uuid>()
        .one(txn)
        .await
        .map_err(to_domain)?;
    match creator {
        Some(creator) => Ok(Admission {
            grant: grant_of(txn, org, UserId::from_uuid(creator)).await?,
            read_only: access == Access::ReadWrite && is_read_only(txn, org).await?,
        }),
        None => Ok(Admission::NOBODY),
    }
}

/// Whether the organization is deleted (`None` if it does not exist, is suspended by the
/// platform, or is not readable here): what admits a user, as on PostgreSQL.
pub(crate) async fn is_deleted(
    db: &impl sea_orm::ConnectionTrait,
    org: OrganizationId,
) -> DomainResult<Option<bool>> {
    Ok(organizations::Entity::find_by_id(org.as_uuid())
        .one(db)
        .await
        .map_err(to_domain)?
        .filter(|row| row.suspended_at.is_none())
        .map(|row| row.deleted_at.is_some()))
}

/// Whether `session` is unrevoked, unexpired, the user's, and in `org`: the SQLite half of the
/// check `bulkhead_enter_tenant` does on PostgreSQL.
pub(crate) async fn session_is_live(
    txn: &DatabaseTransaction,
    session: SessionId,
    user: UserId,
    org: OrganizationId,
) -> DomainResult<bool> {
    let row = sessions::Entity::find_by_id(session.as_uuid())
        .one(txn)
        .await
        .map_err(to_domain)?;
    let now = bulkhead_domain::now();
    Ok(row.is_some_and(|s| {
        s.user_id == user.as_uuid()
            && s.organization_id == org.as_uuid()
            && s.revoked_at.is_none()
            && s.expires_at > now
    }))
}
