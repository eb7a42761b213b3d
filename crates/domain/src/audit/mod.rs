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

/// An audit trail for unit tests that accepts any number of records and keeps the refusals
/// it is given, for assertions.
#[cfg(test)]
pub(crate) fn recording() -> (
    std::sync::Arc<dyn AuditRepository>,
    std::sync::Arc<std::sync::Mutex<Vec<AuditEntry>>>,
) {
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut audit = MockAuditRepository::new();
    let sink = kept.clone();
    audit.expect_record().returning(move |_, entry| {
        if let Ok(mut kept) = sink.lock() {
            kept.push(entry);
        }
        Ok(())
    });
    (std::sync::Arc::new(audit), kept)
}

/// [`recording`]'s trail alone.
#[cfg(test)]
pub(crate) fn accepting() -> std::sync::Arc<dyn AuditRepository> {
    recording().0
}
