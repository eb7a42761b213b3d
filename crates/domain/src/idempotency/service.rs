//! The idempotency use case.

use std::sync::Arc;

use chrono::Duration;

use super::model::{IdempotencyKey, Reservation, StoredResponse};
use super::port::IdempotencyRepository;
use crate::audit::AuditRepository;
use crate::error::DomainResult;
use crate::scope::{Permission, TenantScope};

/// Claims, completes and releases keys, which are kept for [`IdempotencyService::TTL_HOURS`].
/// A key belongs to the organization and the principal that sent it
/// ([`TenantScope::principal`]): another principal's key is a different key.
#[derive(Clone)]
pub struct IdempotencyService {
    repo: Arc<dyn IdempotencyRepository>,
    audit: Arc<dyn AuditRepository>,
}

impl IdempotencyService {
    /// How long a key is remembered.
    pub const TTL_HOURS: i64 = 24;

    /// Builds the service; refusals are recorded through `audit`.
    pub fn new(repo: Arc<dyn IdempotencyRepository>, audit: Arc<dyn AuditRepository>) -> Self {
        Self { repo, audit }
    }

    /// Claims `key` for a request identified by `fingerprint` (a digest of method, path and
    /// body) that needs `permission`. The permission is checked first (and a refusal audited),
    /// so a caller who may not make the request can neither replay a response nor learn
    /// whether the key was used.
    pub async fn reserve(
        &self,
        scope: &TenantScope,
        permission: Permission,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> DomainResult<Reservation> {
        scope.authorize(&*self.audit, permission).await?;
        let now = crate::now();
        self.repo
            .reserve(
                scope,
                key,
                fingerprint,
                now,
                now - Duration::hours(Self::TTL_HOURS),
            )
            .await
    }

    /// Keeps the response of a fresh claim.
    pub async fn complete(
        &self,
        scope: &TenantScope,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> DomainResult<()> {
        self.repo.complete(scope, key, response).await
    }

    /// Drops a fresh claim whose request changed nothing.
    pub async fn release(&self, scope: &TenantScope, key: &IdempotencyKey) -> DomainResult<()> {
        self.repo.release(scope, key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::port::MockIdempotencyRepository;
    use crate::ids::{OrganizationId, UserId};
    use crate::scope::Role;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse("order-42_A").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("clé").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[tokio::test]
    async fn keys_expire_after_a_day() {
        let mut repo = MockIdempotencyRepository::new();
        repo.expect_reserve()
            .withf(|_, _, _, now, expired| *now - *expired == Duration::hours(24))
            .times(1)
            .returning(|_, _, _, _, _| Ok(Reservation::Fresh));
        let scope = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Member);
        let key = IdempotencyKey::parse("k").expect("valid");
        let outcome = IdempotencyService::new(Arc::new(repo), crate::audit::accepting())
            .reserve(&scope, Permission::ProjectsWrite, &key, "fp")
            .await;
        assert_eq!(outcome.expect("reserved"), Reservation::Fresh);
    }

    #[tokio::test]
    async fn a_caller_without_the_permission_is_refused_before_any_key_is_read() {
        let mut repo = MockIdempotencyRepository::new();
        repo.expect_reserve().never();
        let (audit, refusals) = crate::audit::recording();
        let scope = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Viewer);
        let key = IdempotencyKey::parse("k").expect("valid");
        let outcome = IdempotencyService::new(Arc::new(repo), audit)
            .reserve(&scope, Permission::ProjectsWrite, &key, "fp")
            .await;
        assert!(matches!(
            outcome,
            Err(crate::DomainError::Forbidden(Permission::ProjectsWrite))
        ));
        let recorded: Vec<_> = refusals
            .lock()
            .expect("kept")
            .iter()
            .map(|e| e.action.clone())
            .collect();
        assert_eq!(recorded, ["permission.denied"]);
    }
}
