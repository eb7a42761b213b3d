//! Storage port for API keys.

use async_trait::async_trait;

use super::model::{ApiKey, NewApiKey, ResolvedKey};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::ApiKeyId;
use crate::page::{Page, PageRequest};
use crate::scope::TenantScope;
use crate::secret::SecretDigest;

/// Stores the organization's API keys.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores a new key of `scope`'s organization, recording `entry`.
    async fn create(
        &self,
        scope: &TenantScope,
        key: &NewApiKey,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// The organization's live (unrevoked) keys, newest first.
    async fn list(&self, scope: &TenantScope, page: PageRequest) -> DomainResult<Page<ApiKey>>;

    /// Revokes a live key of the organization ([`crate::DomainError::NotFound`] otherwise),
    /// recording `entry`. It stops authenticating at once.
    async fn revoke(
        &self,
        scope: &TenantScope,
        id: ApiKeyId,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// The live key with this prefix whose secret has this digest: unrevoked and unexpired.
    /// This is the authentication path, before any tenant is known; only the row with this
    /// prefix is readable.
    async fn resolve(
        &self,
        prefix: &str,
        digest: &SecretDigest,
    ) -> DomainResult<Option<ResolvedKey>>;
}
