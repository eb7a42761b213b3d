//! The port the export is read through.

use async_trait::async_trait;

use super::format::ExportRow;
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::scope::TenantScope;

/// Rows of one consistent snapshot of an organization, a batch at a time.
#[async_trait]
pub trait ExportCursor: Send {
    /// The next rows, table after table; `None` once every table was read.
    async fn next_rows(&mut self) -> DomainResult<Option<Vec<ExportRow>>>;
}

/// Reads everything an organization owns.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TenantExporter: Send + Sync {
    /// Records `entry` in the organization's audit trail, then opens a snapshot of its rows
    /// (the entry included), every table of the organization, its members' user records
    /// without their credentials, parents before children.
    async fn open(
        &self,
        scope: &TenantScope,
        entry: AuditEntry,
    ) -> DomainResult<Box<dyn ExportCursor>>;
}
