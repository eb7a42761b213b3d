//! The audit trail: every write and security event, recorded in the same transaction as the
//! change, chained per organization by SHA-256 so that tampering is detectable.

pub mod model;
pub mod port;
pub mod service;

pub use model::{AuditEntry, AuditEvent, AuditQuery, Auditable, ChainReport};
pub use port::AuditRepository;
#[cfg(any(test, feature = "mock"))]
pub use port::MockAuditRepository;
pub use service::{AuditService, ListAuditEvents};
