//! Secrets at rest (provider credentials): sealed by a port the infrastructure implements
//! (AES-256-GCM under rotating keys), so the domain holds them only as opaque sealed text.

use std::fmt;

use crate::error::DomainResult;

/// A sealed secret, as stored: opens only through the [`Sealer`] that sealed it (or one with
/// its key), at the place it was sealed for. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// Wraps what a [`Sealer`] produced or a store read back.
    pub fn from_sealed(sealed: String) -> Self {
        Self(sealed)
    }

    /// The sealed text, for storage.
    pub fn as_sealed(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

/// Seals and opens secrets at rest. `place` names where the value is kept (a column and a row
/// id), and is bound into the seal, so a sealed value copied elsewhere does not open.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Sealer: Send + Sync {
    /// Seals `plaintext` for `place`; fails with [`crate::DomainError::Conflict`] when the
    /// deployment has no secrets key configured, so nothing is stored under a weaker one.
    fn seal(&self, place: &str, plaintext: &str) -> DomainResult<SealedSecret>;

    /// Opens what [`Sealer::seal`] sealed for `place`.
    fn open(&self, place: &str, sealed: &SealedSecret) -> DomainResult<String>;
}
