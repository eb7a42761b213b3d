//! Storage port for the audit trail.

use async_trait::async_trait;

use super::model::{AuditEntry, AuditEvent, AuditQuery};
use crate::error::DomainResult;
use crate::page::Page;
use crate::scope::TenantScope;

/// Appends to and reads an organization's audit chain. Writes of other repositories append
/// their own events inside their transactions; this port records events that stand alone
/// (logins, refusals) and reads the chain.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AuditRepository: Send + Sync {
    /// Appends one event to the scope's organization's chain, in a transaction of its own.
    async fn record(&self, scope: &TenantScope, entry: AuditEntry) -> DomainResult<()>;

    /// One page of events matching the query, newest first.
    async fn list(&self, scope: &TenantScope, query: &AuditQuery)
    -> DomainResult<Page<AuditEvent>>;

    /// Up to `limit` events with `seq > after_seq`, in chain order.
    async fn chain_after(
        &self,
        scope: &TenantScope,
        after_seq: i64,
        limit: u64,
    ) -> DomainResult<Vec<AuditEvent>>;
}
