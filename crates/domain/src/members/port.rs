//! Storage port for members.

use async_trait::async_trait;

use super::model::{Member, MemberQuery};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::{ApiKeyId, UserId};
use crate::page::Page;
use crate::scope::{RoleRef, TenantScope};

/// Reads and changes the memberships of `scope`'s organization.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MemberRepository: Send + Sync {
    /// A page of members, by name.
    async fn list(&self, scope: &TenantScope, query: MemberQuery) -> DomainResult<Page<Member>>;

    /// One member ([`crate::DomainError::NotFound`] for anyone who is not a member here).
    async fn get(&self, scope: &TenantScope, user: UserId) -> DomainResult<Member>;

    /// Sets a member's role from `current` (the role the caller decided on; if it changed
    /// meanwhile, [`crate::DomainError::Conflict`]) to `role`, recording `entry`. Taking the
    /// last owner's ownership is a conflict too; concurrent changes are serialized on the
    /// organization's owners, so one owner always remains. With `end_sessions`, the member's
    /// sessions in this organization end in the same transaction.
    async fn change_role(
        &self,
        scope: &TenantScope,
        user: UserId,
        current: RoleRef,
        role: RoleRef,
        end_sessions: bool,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Removes a member whose role is still `current` (the scope's own user, to leave),
    /// recording `entry`, under the same last-owner rule. In the same transaction it revokes
    /// the live API keys the member created here, recording `key_revoked(id)` for each: a key
    /// acts on its creator's authority, which ends with the membership.
    async fn remove(
        &self,
        scope: &TenantScope,
        user: UserId,
        current: RoleRef,
        entry: AuditEntry,
        key_revoked: fn(ApiKeyId) -> AuditEntry,
    ) -> DomainResult<()>;
}
