//! Storage port for invitations.

use async_trait::async_trait;

use super::model::{Invitation, Joining};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::InvitationId;
use crate::outbox::OutgoingEmail;
use crate::page::{Page, PageRequest};
use crate::scope::TenantScope;
use crate::secret::SecretDigest;

/// Stores invitations of `scope`'s organization.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait InvitationRepository: Send + Sync {
    /// Stores an invitation with the digest of its token, queues `email`, and records `entry`,
    /// atomically. [`crate::DomainError::Conflict`] when the address is already a member.
    async fn create(
        &self,
        scope: &TenantScope,
        invitation: &Invitation,
        digest: &SecretDigest,
        email: &OutgoingEmail,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// The organization's pending invitations (not accepted, revoked or expired), newest first.
    async fn list(&self, scope: &TenantScope, page: PageRequest) -> DomainResult<Page<Invitation>>;

    /// Revokes a pending invitation, recording `entry`.
    async fn revoke(
        &self,
        scope: &TenantScope,
        id: InvitationId,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// The pending invitation whose token has this digest. This is the acceptance path, before
    /// any tenant is known: only that one row is readable.
    async fn find_pending(&self, digest: &SecretDigest) -> DomainResult<Option<Invitation>>;

    /// Accepts the pending invitation with this digest: creates the account if `joining` is
    /// new, the membership, marks the invitation used and records `entry` with `scope` (the
    /// joining member's), atomically. [`crate::DomainError::Conflict`] when the user is
    /// already a member or the invitation was used meanwhile.
    async fn accept(
        &self,
        scope: &TenantScope,
        digest: &SecretDigest,
        joining: &Joining,
        entry: AuditEntry,
    ) -> DomainResult<()>;
}
