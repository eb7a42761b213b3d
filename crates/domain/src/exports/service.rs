//! Exporting the scope's organization.

use std::sync::Arc;

use super::format::{FORMAT, FORMAT_VERSION, Header};
use super::port::{ExportCursor, TenantExporter};
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::DomainResult;
use crate::scope::{Permission, TenantScope};

/// The export use case.
#[derive(Clone)]
pub struct ExportService {
    exporter: Arc<dyn TenantExporter>,
    audit: Arc<dyn AuditRepository>,
    schema: String,
}

impl ExportService {
    /// Wires the service; `schema` names the database's last migration, which the export's
    /// header carries so that a loader can refuse a mismatch.
    pub fn new(
        exporter: Arc<dyn TenantExporter>,
        audit: Arc<dyn AuditRepository>,
        schema: impl Into<String>,
    ) -> Self {
        Self {
            exporter,
            audit,
            schema: schema.into(),
        }
    }

    /// Everything the organization owns (organization:export: owners, never an API key): the
    /// header, and the cursor over the rows. The export is recorded in the audit trail first.
    pub async fn export(
        &self,
        scope: &TenantScope,
    ) -> DomainResult<(Header, Box<dyn ExportCursor>)> {
        scope
            .authorize(&*self.audit, Permission::OrganizationExport)
            .await?;
        let entry = AuditEntry::event(
            "organization.exported",
            "organization",
            Some(scope.organization_id().to_string()),
            serde_json::json!({ "format_version": FORMAT_VERSION, "schema": self.schema }),
        );
        let cursor = self.exporter.open(scope, entry).await?;
        Ok((
            Header {
                format: FORMAT.into(),
                version: FORMAT_VERSION,
                schema: self.schema.clone(),
                organization_id: scope.organization_id(),
                exported_at: crate::now(),
            },
            cursor,
        ))
    }
}
