//! The tenant transaction: every unit of work for a tenant runs in one.

use std::ops::Deref;

use bulkhead_domain::{DomainResult, OrganizationId, TenantScope, UserId};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement, TransactionTrait};

use crate::error::to_domain;
use crate::store::Store;

/// A transaction whose first statement sets the tenant for PostgreSQL's row-level security.
///
/// The settings are transaction-local (`set_config(..., true)`), so they vanish at commit or
/// rollback and cannot leak to the next request on a pooled connection. Queries inside must
/// still filter by `organization_id` themselves, so indexes are used and SQLite, which has no
/// RLS, is isolated too. Dropping an `OrgTx` without [`OrgTx::commit`] rolls back.
pub(crate) struct OrgTx(DatabaseTransaction);

impl OrgTx {
    /// A transaction confined to `scope`'s organization, acting as its user.
    pub(crate) async fn begin(store: &Store, scope: &TenantScope) -> DomainResult<Self> {
        Self::begin_with(store, Some(scope.organization_id()), scope.user_id()).await
    }

    /// The authentication path, before a scope exists: the organization and user come from a
    /// verified token, a sign-up being created, or a login (user only).
    pub(crate) async fn begin_with(
        store: &Store,
        organization: Option<OrganizationId>,
        user: Option<UserId>,
    ) -> DomainResult<Self> {
        let txn = store.connection().begin().await.map_err(to_domain)?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
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
            .map_err(to_domain)?;
        }
        Ok(Self(txn))
    }

    /// Records `entry` in the audit chain, inside this transaction.
    pub(crate) async fn audit(
        &self,
        scope: &TenantScope,
        entry: bulkhead_domain::audit::AuditEntry,
    ) -> DomainResult<()> {
        crate::audit::append(&self.0, scope, entry).await
    }

    /// Commits the unit of work.
    pub(crate) async fn commit(self) -> DomainResult<()> {
        self.0.commit().await.map_err(to_domain)
    }
}

impl Deref for OrgTx {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
