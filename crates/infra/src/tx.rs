//! The tenant transaction: every unit of work for a tenant runs in one.

use std::ops::Deref;

use bulkhead_domain::{Actor, DomainError, DomainResult, OrganizationId, TenantScope, UserId};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement};
use tokio::sync::OwnedSemaphorePermit;

use crate::error::to_domain;
use crate::store::Store;

/// The span of one unit of work on `store`.
fn unit_of_work(store: &Store, access: Access) -> tracing::Span {
    tracing::info_span!(
        "unit_of_work",
        otel.name = match access {
            Access::ReadOnly => "db read",
            Access::ReadWrite => "db write",
        },
        otel.kind = "client",
        db.system.name = if store.is_postgres() {
            "postgresql"
        } else {
            "sqlite"
        },
    )
}

/// A transaction whose first statement sets the tenant for PostgreSQL's row-level security.
///
/// The settings are transaction-local (`set_config(..., true)`), so they vanish at commit or
/// rollback and cannot leak to the next request on a pooled connection. Queries inside must
/// still filter by `organization_id` themselves, so indexes are used and SQLite, which has no
/// RLS, is isolated too. Dropping an `OrgTx` without [`OrgTx::commit`] rolls back.
pub(crate) struct OrgTx {
    // Dropped before the turn below: the rollback is queued before the next read may start.
    txn: DatabaseTransaction,
    access: Access,
    /// A read-only unit of work's turn (see `StoreOptions::read_limit`), held to its end.
    _turn: Option<OwnedSemaphorePermit>,
    /// The unit of work's span, from waiting for a connection to commit or rollback: a child
    /// of the request's in traces.
    _span: tracing::Span,
}

pub(crate) use crate::tenant::Access;

/// Whether a unit of work's writes are the organization's own, refused while it is read-only
/// for a lapsed subscription, or the few that stay possible then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    Metered,
    Exempt,
}

impl OrgTx {
    /// A transaction confined to `scope`'s organization. For a user's scope it also confirms,
    /// in the same first statement on PostgreSQL, that the scope's session (if it came from an
    /// access token) is live and still in this organization, and that the user still holds
    /// the scope's grant there, or more (a promotion since); otherwise
    /// [`DomainError::Unauthorized`] and nothing runs.
    /// This is where the session and membership behind a token are checked, once per unit of
    /// work, at no extra round trip. A deleted (suspended) organization admits no user.
    /// A user's or key's write into an organization that is read-only for a lapsed
    /// subscription fails with [`DomainError::SubscriptionInactive`].
    pub(crate) async fn begin(store: &Store, scope: &TenantScope) -> DomainResult<Self> {
        Self::enter(store, scope, false, Access::ReadWrite, Writes::Metered).await
    }

    /// Like [`OrgTx::begin`], for the writes that stay possible while the organization is
    /// read-only for a lapsed subscription: paying (billing), signing in and out, the audit
    /// trail's own records, request bookkeeping (idempotency keys), a user's own account, and
    /// what only takes away (members leaving or removed, the organization deleted).
    pub(crate) async fn begin_exempt(store: &Store, scope: &TenantScope) -> DomainResult<Self> {
        Self::enter(store, scope, false, Access::ReadWrite, Writes::Exempt).await
    }

    /// Like [`OrgTx::begin`], for a unit of work that only reads: on PostgreSQL the
    /// transaction is read-only from its first statement, and [`OrgTx::finish_read`] ends it
    /// without a round trip of its own.
    pub(crate) async fn begin_read(store: &Store, scope: &TenantScope) -> DomainResult<Self> {
        Self::enter(store, scope, false, Access::ReadOnly, Writes::Exempt).await
    }

    /// Like [`OrgTx::begin_read`], on one snapshot for the whole unit of work (repeatable
    /// read), and without a read's turn: an export reads for long and would hold one.
    /// PostgreSQL only.
    pub(crate) async fn begin_snapshot(store: &Store, scope: &TenantScope) -> DomainResult<Self> {
        let span = unit_of_work(store, Access::ReadOnly);
        let txn = store.begin_snapshot().await.map_err(to_domain)?;
        crate::tenant::enter_tenant(
            &txn,
            scope.organization_id(),
            None,
            None,
            false,
            Access::ReadOnly,
            None,
        )
        .await?;
        Ok(Self {
            txn,
            access: Access::ReadOnly,
            _turn: None,
            _span: span,
        })
    }

    /// Like [`OrgTx::begin`], but only into a deleted organization: the one way in while it
    /// waits for its purge, used to restore it.
    pub(crate) async fn begin_deleted(store: &Store, scope: &TenantScope) -> DomainResult<Self> {
        Self::enter(store, scope, true, Access::ReadWrite, Writes::Metered).await
    }

    async fn enter(
        store: &Store,
        scope: &TenantScope,
        deleted: bool,
        access: Access,
        writes: Writes,
    ) -> DomainResult<Self> {
        let span = unit_of_work(store, access);
        let refuse_read_only = |admission: &crate::tenant::Admission| {
            if access == Access::ReadWrite && writes == Writes::Metered && admission.read_only {
                Err(DomainError::SubscriptionInactive)
            } else {
                Ok(())
            }
        };
        let generation = store.grants().generation();
        let turn = match access {
            Access::ReadOnly => store.read_turn().await.map_err(to_domain)?,
            Access::ReadWrite => None,
        };
        let txn = store.begin().await.map_err(to_domain)?;
        let org = scope.organization_id();
        let Some(user) = scope.user_id() else {
            if let Actor::ApiKey { id, .. } = scope.actor() {
                // A key acts on its creator's authority: it must still be live, and its
                // creator must still hold everything the request was authorized with.
                let admission = crate::tenant::admitted_key(&txn, org, id, deleted, access).await?;
                if !admission
                    .grant
                    .is_some_and(|grant| scope.permissions().is_subset(grant.permissions))
                {
                    return Err(DomainError::Unauthorized);
                }
                refuse_read_only(&admission)?;
            } else if txn.get_database_backend() == DatabaseBackend::Postgres {
                // Only the tenant to set: system tasks and impersonations were checked where
                // they were made.
                crate::tenant::enter_tenant(&txn, org, None, None, deleted, access, None).await?;
            }
            return Ok(Self {
                txn,
                access,
                _turn: turn,
                _span: span,
            });
        };
        let admission =
            crate::tenant::admitted_user(&txn, org, user, scope.session_id(), deleted, access)
                .await?;
        let current = admission.grant;
        if let Some(expected) = scope.grant()
            && current != Some(expected)
        {
            // The request was authorized with a grant that has changed since (possibly a
            // cached one): correct the cache, and go on only if nothing was taken away.
            if let (Some(session), false) = (scope.session_id(), deleted) {
                let key = (org, user, session);
                match current {
                    Some(grant) => store.grants().store(key, grant, generation),
                    None => store.grants().forget(&key),
                }
            }
            if !current.is_some_and(|now| now.covers(&expected)) {
                return Err(DomainError::Unauthorized);
            }
        }
        if current.is_some() {
            refuse_read_only(&admission)?;
        }
        Ok(Self {
            txn,
            access,
            _turn: turn,
            _span: span,
        })
    }

    /// The sign-up's transaction: the organization and membership it creates do not exist yet,
    /// so there is nothing to check.
    pub(crate) async fn begin_for_new_tenant(
        store: &Store,
        scope: &TenantScope,
    ) -> DomainResult<Self> {
        Self::begin_with(store, Some(scope.organization_id()), scope.user_id()).await
    }

    /// A platform superuser acting on one organization's own record (creating, suspending or
    /// reactivating it): the tenant is set, no membership is checked, and the scope holds no
    /// permission on the organization's data.
    pub(crate) async fn begin_for_platform(
        store: &Store,
        scope: &TenantScope,
    ) -> DomainResult<Self> {
        Self::begin_with(store, Some(scope.organization_id()), None).await
    }

    /// The login path, before any tenant is chosen: the user's own memberships only.
    pub(crate) async fn begin_for_user(store: &Store, user: UserId) -> DomainResult<Self> {
        Self::begin_with(store, None, Some(user)).await
    }

    async fn begin_with(
        store: &Store,
        organization: Option<OrganizationId>,
        user: Option<UserId>,
    ) -> DomainResult<Self> {
        let span = unit_of_work(store, Access::ReadWrite);
        let txn = store.begin().await.map_err(to_domain)?;
        set_tenant(&txn, organization, user).await?;
        Ok(Self {
            txn,
            access: Access::ReadWrite,
            _turn: None,
            _span: span,
        })
    }

    /// Records `entry` in the audit chain, inside this transaction.
    pub(crate) async fn audit(
        &self,
        scope: &TenantScope,
        entry: bulkhead_domain::audit::AuditEntry,
    ) -> DomainResult<()> {
        crate::chain::append(&self.txn, scope, entry).await
    }

    /// Commits the unit of work.
    pub(crate) async fn commit(self) -> DomainResult<()> {
        self.txn.commit().await.map_err(to_domain)
    }

    /// Abandons the unit of work: nothing it wrote stays.
    pub(crate) async fn rollback(self) -> DomainResult<()> {
        self.txn.rollback().await.map_err(to_domain)
    }

    /// Ends a unit of work begun with [`OrgTx::begin_read`] once everything it read is in
    /// hand; one begun otherwise is committed.
    ///
    /// A read-only transaction has nothing to commit, so on PostgreSQL it is dropped: the
    /// driver queues its ROLLBACK and sends it together with the check the pool makes of
    /// every connection on its way back (sqlx pings each released connection), instead of a
    /// COMMIT round trip of its own while the request waits. The connection goes back to the
    /// pool only once the rollback has been answered, with the tenant's transaction-local
    /// settings gone. Nothing is lost: PostgreSQL refused every write since the first
    /// statement. On SQLite, in process, it commits.
    pub(crate) async fn finish_read(self) -> DomainResult<()> {
        if self.access == Access::ReadOnly
            && self.txn.get_database_backend() == DatabaseBackend::Postgres
        {
            drop(self);
            return Ok(());
        }
        self.commit().await
    }

    /// Commits a unit of work that changed what members of `scope`'s organization hold, and
    /// drops this process's cached grants there, so that a promotion applies on the very next
    /// request here. Other processes learn of it from the database's notification.
    pub(crate) async fn commit_changing_grants(
        self,
        store: &Store,
        scope: &TenantScope,
    ) -> DomainResult<()> {
        self.commit().await?;
        store.grants().forget_organization(scope.organization_id());
        Ok(())
    }
}

/// Sets (or, with `None`, clears) the tenant and the acting user for the rest of `txn` on
/// PostgreSQL, in one statement; nothing on SQLite.
pub(crate) async fn set_tenant(
    txn: &DatabaseTransaction,
    organization: Option<OrganizationId>,
    user: Option<UserId>,
) -> DomainResult<()> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let setting = |id: Option<String>| id.unwrap_or_default();
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT set_config('app.current_org', $1, true), set_config('app.current_user', $2, true)",
        [
            setting(organization.map(|o| o.to_string())).into(),
            setting(user.map(|u| u.to_string())).into(),
        ],
    ))
    .await
    .map_err(to_domain)
    .map(|_| ())
}

/// Sets one transaction-local setting that the policies read (`app.current_user`,
/// `app.refresh_digest`, ...) to `value` for the rest of `txn` on PostgreSQL, leaving the others
/// as they are; both go as bound parameters. Nothing on SQLite, which has no policies.
pub(crate) async fn set_local(
    txn: &DatabaseTransaction,
    name: &'static str,
    value: &str,
) -> DomainResult<()> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT set_config($1, $2, true)",
        [name.into(), value.into()],
    ))
    .await
    .map_err(to_domain)
    .map(|_| ())
}

impl Deref for OrgTx {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}
