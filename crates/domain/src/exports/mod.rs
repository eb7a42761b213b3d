//! Tenant export: everything an organization owns, as NDJSON with a manifest, to move it to
//! another deployment (`bulkhead import`) or to keep a copy.

mod format;
mod port;
mod service;

pub use format::{Decoded, Encoder, ExportRow, FORMAT, FORMAT_VERSION, Header, Manifest, decode};
pub use port::{ExportCursor, TenantExporter};
pub use service::{Export, ExportService};

#[cfg(feature = "mock")]
pub use port::MockTenantExporter;
