//! Storage port for sessions and their refresh tokens.
//!
//! Sessions belong to a user, not to a tenant: refreshing happens before any tenant is known,
//! with the refresh token as the only credential. Every method that acts for a signed-in user
//! takes their [`TenantScope`] and records its audit entry in the same transaction.

use async_trait::async_trait;

use super::model::{NewSession, Rotation, Session, SessionPolicy};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::{OrganizationId, SessionId, UserId};
use crate::scope::{RequestMeta, TenantScope};
use crate::secret::SecretDigest;

/// Stores sessions and rotates their refresh tokens.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session for `scope`'s user and organization, with `entry` in the audit trail.
    async fn create(
        &self,
        scope: &TenantScope,
        session: &NewSession,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Spends the refresh token with digest `presented` and makes `replacement` the session's
    /// live token, atomically: of two concurrent calls with one token, one rotates and the other
    /// sees a spent token. A spent token revokes the whole session ([`Rotation::Reused`]).
    /// A session past `policy`, revoked, or whose user left the organization is
    /// [`Rotation::Invalid`].
    async fn rotate(
        &self,
        presented: &SecretDigest,
        replacement: &SecretDigest,
        policy: SessionPolicy,
        request: &RequestMeta,
    ) -> DomainResult<Rotation>;

    /// The user's live sessions (in every organization), most recently used first.
    async fn list(&self, scope: &TenantScope, policy: SessionPolicy) -> DomainResult<Vec<Session>>;

    /// Revokes one of the user's own live sessions ([`crate::DomainError::NotFound`] for any
    /// other id), recording `entry`.
    async fn revoke(
        &self,
        scope: &TenantScope,
        id: SessionId,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Revokes every live session of the user except `keep`, recording `entry`. Answers how
    /// many were revoked.
    async fn revoke_all(
        &self,
        scope: &TenantScope,
        keep: Option<SessionId>,
        entry: AuditEntry,
    ) -> DomainResult<u64>;

    /// Moves the scope's session to `target`, a live organization (neither suspended nor
    /// deleted) where the user is a member ([`crate::DomainError::NotFound`] otherwise): its
    /// unspent refresh tokens are spent and `replacement` becomes the live one. Records
    /// `entry` in the organization being left. Answers the moved session.
    async fn switch_organization(
        &self,
        scope: &TenantScope,
        target: OrganizationId,
        replacement: &SecretDigest,
        entry: AuditEntry,
    ) -> DomainResult<Session>;

    /// The organization of the user's most recently used session, for a login that names none.
    async fn last_used_organization(&self, user: UserId) -> DomainResult<Option<OrganizationId>>;
}
