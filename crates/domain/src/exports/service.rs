//! Exporting the scope's organization.

use std::sync::Arc;

use super::format::{Encoder, FORMAT, FORMAT_VERSION, Header};
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

    /// Everything the organization owns (organization:export: owners, never an API key), to
    /// be written chunk by chunk. The export is recorded in the audit trail first.
    pub async fn export(&self, scope: &TenantScope) -> DomainResult<Export> {
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
        Ok(Export {
            header: Header {
                format: FORMAT.into(),
                version: FORMAT_VERSION,
                schema: self.schema.clone(),
                organization_id: scope.organization_id(),
                exported_at: crate::now(),
            },
            encoder: Encoder::new(),
            cursor: Some(cursor),
            started: false,
        })
    }
}

/// An export being written: its header line, its rows' lines batch by batch, its manifest.
pub struct Export {
    header: Header,
    encoder: Encoder,
    /// The rows still to read; `None` once the manifest went out.
    cursor: Option<Box<dyn ExportCursor>>,
    started: bool,
}

impl Export {
    /// Its header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The rows written so far, per table.
    pub fn counts(&self) -> &std::collections::BTreeMap<String, u64> {
        self.encoder.counts()
    }

    /// The next bytes of the file; `None` after the manifest.
    pub async fn next_chunk(&mut self) -> DomainResult<Option<Vec<u8>>> {
        if !self.started {
            self.started = true;
            return Ok(Some(self.encoder.header(&self.header)));
        }
        let Some(cursor) = self.cursor.as_mut() else {
            return Ok(None);
        };
        match cursor.next_rows().await? {
            Some(rows) => Ok(Some(
                rows.iter().flat_map(|row| self.encoder.row(row)).collect(),
            )),
            None => {
                self.cursor = None;
                Ok(Some(self.encoder.finish()))
            }
        }
    }
}
