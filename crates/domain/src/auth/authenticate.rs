//! The authentication of every request: a bearer credential (access token, API key or
//! impersonation token) turned into a [`TenantScope`].

use std::sync::Arc;

use super::service::AuthService;
use crate::api_keys::{API_KEY_PREFIX, ApiKeyService};
use crate::audit::{AuditEntry, AuditRepository};
use crate::credentials::{PlatformToken, TokenCodec};
use crate::error::{DomainError, DomainResult};
use crate::ids::{ImpersonationId, OrganizationId, UserId};
use crate::limits::{RateLimiter, RateLimits, enforce};
use crate::memberships::MembershipRepository;
use crate::platform::{PlatformRepository, PlatformScope};
use crate::scope::{RequestMeta, TenantScope};

/// The authentication of every request, on its own: what the HTTP extractor needs, and
/// nothing of sign-up, login or sessions. [`AuthService::new`] builds it from the same ports.
#[derive(Clone)]
pub struct Authenticator {
    pub(super) tokens: Arc<dyn TokenCodec>,
    pub(super) memberships: Arc<dyn MembershipRepository>,
    pub(super) api_keys: ApiKeyService,
    pub(super) platform: Arc<dyn PlatformRepository>,
    pub(super) audit: Arc<dyn AuditRepository>,
    pub(super) budget: Arc<dyn RateLimiter>,
    pub(super) limits: RateLimits,
}

impl AuthService {
    /// The authentication of requests, for the extractor.
    pub fn authenticator(&self) -> Authenticator {
        self.authenticator.clone()
    }

    /// See [`Authenticator::authenticate`].
    pub async fn authenticate(
        &self,
        token: &str,
        request: RequestMeta,
    ) -> DomainResult<TenantScope> {
        self.authenticator.authenticate(token, request).await
    }
}

impl Authenticator {
    /// Turns a bearer credential into a [`TenantScope`]. An API key (`bhk_…`) is looked up and
    /// gives its organization's scope with the key's scopes as permissions (see
    /// [`crate::api_keys::ApiKeyService::authenticate`]). An access token names an organization, a user and a
    /// session; the scope gets the role the user holds there now and its current permissions,
    /// read in one statement that also checks that the session is live and the organization
    /// is not deleted. So a logged-out session or a removed member is refused (401), and a
    /// demoted member or an edited custom role gets the new permissions, on the next request.
    pub async fn authenticate(
        &self,
        token: &str,
        request: RequestMeta,
    ) -> DomainResult<TenantScope> {
        let scope = if token.starts_with(API_KEY_PREFIX) {
            self.api_keys.authenticate(token, request).await?
        } else if let Ok(PlatformToken::Impersonation {
            superuser,
            organization_id,
            id,
        }) = self.tokens.verify_platform(token)
        {
            self.impersonate(superuser, organization_id, id, request)
                .await?
        } else {
            let subject = self.tokens.verify(token)?;
            let grant = self
                .memberships
                .grant(
                    subject.organization_id,
                    subject.user_id,
                    Some(subject.session_id),
                )
                .await?
                .ok_or(DomainError::Unauthorized)?;
            TenantScope::for_session(
                subject.organization_id,
                subject.user_id,
                grant,
                subject.session_id,
            )
            .with_request(request)
        };
        let principal = format!("principal:{}", scope.principal());
        enforce(
            &*self.budget,
            &principal,
            self.limits.requests_per_principal,
        )
        .await?;
        Ok(scope)
    }

    /// The scope of an impersonation token, while its user is still a superuser and the
    /// organization is not deleted; the request is recorded in the organization's audit
    /// trail, with the superuser as impersonator, before anything else happens.
    async fn impersonate(
        &self,
        superuser: UserId,
        organization: OrganizationId,
        id: ImpersonationId,
        request: RequestMeta,
    ) -> DomainResult<TenantScope> {
        if !self.platform.is_superuser(superuser).await? {
            return Err(DomainError::Unauthorized);
        }
        let platform = PlatformScope::new(superuser, request.clone());
        match self.platform.get(&platform, organization).await {
            Ok(org) if org.deleted_at.is_none() => {}
            Ok(_) | Err(DomainError::NotFound) => return Err(DomainError::Unauthorized),
            Err(e) => return Err(e),
        }
        let scope =
            TenantScope::for_impersonation(organization, id, superuser).with_request(request);
        let entry = AuditEntry::event(
            "impersonation.request",
            "impersonation",
            Some(id.to_string()),
            serde_json::json!({ "route": scope.request().route }),
        );
        self.audit.record(&scope, entry).await?;
        Ok(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenSubject;
    use crate::auth::mocks::*;
    use crate::organizations::{Organization, OrganizationName};

    use crate::credentials::MockTokenCodec;
    use crate::ids::SessionId;
    use crate::memberships::MockMembershipRepository;

    use crate::ids::{OrganizationId, UserId};
    use crate::scope::Role;

    #[tokio::test]
    async fn authenticate_takes_the_role_from_the_current_membership() {
        let mut m = Mocks::default();
        let (user_id, org, sid) = (UserId::new(), OrganizationId::new(), SessionId::new());
        m.tokens.expect_verify().returning(move |_| {
            Ok(TokenSubject {
                user_id,
                organization_id: org,
                session_id: sid,
            })
        });
        m.memberships = MockMembershipRepository::new();
        m.memberships.expect_list_for_user().never();
        m.memberships
            .expect_grant()
            .withf(move |o, u, s| (*o, *u, *s) == (org, user_id, Some(sid)))
            .times(1)
            .returning(|_, _, _| Ok(Some(Role::Member.into())));
        let meta = RequestMeta {
            request_id: Some("r1".into()),
            ..RequestMeta::default()
        };
        let scope = m
            .service()
            .authenticate("token", meta)
            .await
            .expect("authenticated");
        assert_eq!(scope.role(), Some(Role::Member.into()));
        assert_eq!(
            (scope.organization_id(), scope.user_id()),
            (org, Some(user_id))
        );
        assert_eq!(scope.request().request_id.as_deref(), Some("r1"));
        assert_eq!(scope.session_id(), Some(sid));
    }

    #[tokio::test]
    async fn authenticate_rejects_a_token_that_does_not_verify() {
        let mut m = Mocks::default();
        m.tokens
            .expect_verify()
            .returning(|_| Err(DomainError::Unauthorized));
        assert!(matches!(
            m.service()
                .authenticate("forged", RequestMeta::default())
                .await,
            Err(DomainError::Unauthorized)
        ));
    }

    fn impersonation_token(
        m: &mut Mocks,
        superuser: UserId,
        org: OrganizationId,
    ) -> crate::ids::ImpersonationId {
        let id = crate::ids::ImpersonationId::new();
        m.tokens = MockTokenCodec::new();
        m.tokens.expect_verify().never();
        m.tokens.expect_verify_platform().returning(move |_| {
            Ok(PlatformToken::Impersonation {
                superuser,
                organization_id: org,
                id,
            })
        });
        id
    }

    fn live(org: OrganizationId) -> crate::platform::PlatformOrganization {
        crate::platform::PlatformOrganization {
            organization: Organization {
                id: org,
                name: OrganizationName::parse("name", "Acme").expect("valid"),
                created_at: crate::now(),
                settings: Default::default(),
            },
            deleted_at: None,
            suspended_at: None,
        }
    }

    #[tokio::test]
    async fn an_impersonation_reads_only_and_every_request_is_audited_with_the_impersonator() {
        let mut m = Mocks::default();
        let (superuser, org) = (UserId::new(), OrganizationId::new());
        let id = impersonation_token(&mut m, superuser, org);
        m.platform.expect_is_superuser().returning(|_| Ok(true));
        m.platform.expect_get().returning(move |_, o| Ok(live(o)));
        m.audit
            .expect_record()
            .withf(move |scope, e| {
                e.action == "impersonation.request"
                    && e.resource_id == Some(id.to_string())
                    && e.changes["route"] == "GET /api/v1/projects"
                    && scope.impersonator() == Some(superuser)
                    && scope.organization_id() == org
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let meta = RequestMeta {
            route: Some("GET /api/v1/projects".into()),
            ..RequestMeta::default()
        };
        let scope = m
            .service()
            .authenticate("platform-token", meta)
            .await
            .expect("impersonating");
        assert!(scope.has(crate::scope::Permission::ProjectsRead));
        assert!(!scope.has(crate::scope::Permission::ProjectsWrite));
    }

    #[tokio::test]
    async fn an_impersonation_ends_when_its_user_is_no_superuser_or_the_organization_is_deleted() {
        let mut m = Mocks::default();
        let (superuser, org) = (UserId::new(), OrganizationId::new());
        impersonation_token(&mut m, superuser, org);
        m.platform.expect_is_superuser().returning(|_| Ok(false));
        m.audit.expect_record().never();
        assert!(matches!(
            m.service().authenticate("t", RequestMeta::default()).await,
            Err(DomainError::Unauthorized)
        ));

        let mut m = Mocks::default();
        impersonation_token(&mut m, superuser, org);
        m.platform.expect_is_superuser().returning(|_| Ok(true));
        m.platform.expect_get().returning(move |_, o| {
            Ok(crate::platform::PlatformOrganization {
                deleted_at: Some(crate::now()),
                ..live(o)
            })
        });
        m.audit.expect_record().never();
        assert!(matches!(
            m.service().authenticate("t", RequestMeta::default()).await,
            Err(DomainError::Unauthorized)
        ));
    }
}
