//! Storage port for user accounts.

use async_trait::async_trait;

use super::model::{Email, User, UserCredentials, UserName};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::scope::TenantScope;

/// Reads user accounts. Accounts are created together with an organization
/// ([`crate::organizations::OrganizationRepository::register`]).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Finds an account and its password hash by normalized email, for login. This is the
    /// authentication path: no tenant is known yet, and users are not tenant data.
    async fn find_credentials_by_email(
        &self,
        email: &Email,
    ) -> DomainResult<Option<UserCredentials>>;

    /// The acting user of `scope`.
    async fn current(&self, scope: &TenantScope) -> DomainResult<User>;

    /// Renames the acting user of `scope`, recording `entry` in the scope's organization;
    /// answers the user renamed.
    async fn rename(
        &self,
        scope: &TenantScope,
        name: &UserName,
        entry: AuditEntry,
    ) -> DomainResult<User>;
}
