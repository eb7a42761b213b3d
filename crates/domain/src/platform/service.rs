//! Platform use cases: superuser sign-in, the organizations' lifecycle, and impersonation.

use std::sync::Arc;

use super::model::{
    Impersonation, NewOrganization, PlatformOrganization, PlatformOrganizationQuery, PlatformScope,
    reason,
};
use super::port::PlatformRepository;
use crate::accounts::AccountSettings;
use crate::audit::{AuditEntry, AuditRepository, Auditable};
use crate::credentials::{AccessToken, PasswordHasher, PlatformToken, TokenCodec};
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{ImpersonationId, InvitationId, OrganizationId};
use crate::invitations::Invitation;
use crate::invitations::model::{INVITATION_PREFIX, invitation_email, lifetime};
use crate::limits::{RateLimiter, RateLimits, address_key, enforce};
use crate::organizations::{Organization, OrganizationName};
use crate::page::Page;
use crate::scope::{RequestMeta, Role, RoleRef};
use crate::secret::Secret;
use crate::users::{Email, UserRepository};

/// The adapters [`PlatformService`] needs.
pub struct PlatformPorts {
    /// Organizations across tenants, and the superuser flag.
    pub platform: Arc<dyn PlatformRepository>,
    /// Credentials, for sign-in.
    pub users: Arc<dyn UserRepository>,
    /// Password checks.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Platform tokens.
    pub tokens: Arc<dyn TokenCodec>,
    /// Each organization's audit trail.
    pub audit: Arc<dyn AuditRepository>,
    /// Links in invitation emails.
    pub settings: AccountSettings,
    /// Counters for sign-in limits.
    pub limiter: Arc<dyn RateLimiter>,
    /// The limits.
    pub limits: RateLimits,
}

/// Platform administration.
#[derive(Clone)]
pub struct PlatformService {
    platform: Arc<dyn PlatformRepository>,
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenCodec>,
    audit: Arc<dyn AuditRepository>,
    settings: AccountSettings,
    limiter: Arc<dyn RateLimiter>,
    limits: RateLimits,
}

impl PlatformService {
    /// Wires the service.
    pub fn new(ports: PlatformPorts) -> Self {
        Self {
            platform: ports.platform,
            users: ports.users,
            hasher: ports.hasher,
            tokens: ports.tokens,
            audit: ports.audit,
            settings: ports.settings,
            limiter: ports.limiter,
            limits: ports.limits,
        }
    }

    /// Signs a superuser in: a platform token (15 minutes at most, no refresh). Anything but
    /// a superuser's right password fails like a wrong password, after the same hashing.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        request: RequestMeta,
    ) -> DomainResult<AccessToken> {
        let address = address_key("auth", request.client_ip.as_deref());
        enforce(&*self.limiter, &address, self.limits.auth_per_address).await?;
        let credentials = match Email::parse(email) {
            Ok(email) => self.users.find_credentials_by_email(&email).await?,
            Err(_) => None,
        };
        let matches = self
            .hasher
            .verify(
                password,
                credentials.as_ref().map(|c| c.password_hash.clone()),
            )
            .await?;
        let Some(credentials) = credentials.filter(|_| matches) else {
            return Err(DomainError::Unauthorized);
        };
        let superuser = credentials.user.id;
        if !self.platform.is_superuser(superuser).await? {
            return Err(DomainError::Unauthorized);
        }
        self.tokens
            .issue_platform(&PlatformToken::Admin { superuser })
    }

    /// Turns a platform token into a [`PlatformScope`], if its user is a superuser now.
    pub async fn authenticate(
        &self,
        token: &str,
        request: RequestMeta,
    ) -> DomainResult<PlatformScope> {
        match self.tokens.verify_platform(token)? {
            PlatformToken::Admin { superuser } if self.platform.is_superuser(superuser).await? => {
                Ok(PlatformScope::new(superuser, request))
            }
            _ => Err(DomainError::Unauthorized),
        }
    }

    /// Every organization, by name, with search and status filter.
    pub async fn list(
        &self,
        scope: &PlatformScope,
        query: PlatformOrganizationQuery,
    ) -> DomainResult<Page<PlatformOrganization>> {
        self.platform.list(scope, query).await
    }

    /// One organization's record.
    pub async fn get(
        &self,
        scope: &PlatformScope,
        id: OrganizationId,
    ) -> DomainResult<PlatformOrganization> {
        self.platform.get(scope, id).await
    }

    /// Creates an organization and invites `owner_email` as its owner (the token goes out by
    /// email, like any invitation). Answers the organization and the invitation.
    pub async fn create(
        &self,
        scope: &PlatformScope,
        name: &str,
        owner_email: &str,
    ) -> DomainResult<(PlatformOrganization, Invitation)> {
        let mut v = Validator::new();
        let name = v.check(OrganizationName::parse("name", name));
        let email = v.check(Email::parse(owner_email).map_err(|_| {
            DomainError::invalid(
                "owner_email",
                "format",
                "owner_email must be an email address",
            )
        }));
        let (name, email) = v.values((name, email))?;
        let now = crate::now();
        let organization = Organization {
            id: OrganizationId::new(),
            name,
            created_at: now,
            settings: Default::default(),
        };
        let invitation = Invitation {
            id: InvitationId::new(),
            organization_id: organization.id,
            email: email.clone(),
            role: RoleRef::OWNER,
            invited_by: scope.superuser(),
            created_at: now,
            expires_at: now + lifetime(),
        };
        let secret = Secret::generate(INVITATION_PREFIX);
        let message = invitation_email(
            email,
            &organization,
            Role::Owner.as_str(),
            &secret,
            &self.settings,
        );
        let entry = AuditEntry::about(
            "organization.created",
            &organization,
            serde_json::json!({
                "after": organization.audit_fields(),
                "owner_invitation": { "id": invitation.id.to_string(), "email": invitation.email.as_str() },
            }),
        );
        let new = NewOrganization {
            organization: organization.clone(),
            invitation: invitation.clone(),
            digest: secret.digest(),
            email: message,
        };
        let tenant = scope.tenant(organization.id);
        self.platform.create(scope, &tenant, &new, entry).await?;
        Ok((
            PlatformOrganization {
                organization,
                deleted_at: None,
                suspended_at: None,
            },
            invitation,
        ))
    }

    /// Suspends an organization: every token and key of it stops at the next request, and
    /// nobody signs in to it, until it is reactivated. Audited there with the reason.
    pub async fn suspend(
        &self,
        scope: &PlatformScope,
        id: OrganizationId,
        why: &str,
    ) -> DomainResult<PlatformOrganization> {
        let why = reason(why)?;
        let entry = AuditEntry::event(
            "organization.suspended",
            "organization",
            Some(id.to_string()),
            serde_json::json!({ "reason": why }),
        );
        self.platform
            .set_suspended(scope, &scope.tenant(id), true, entry)
            .await
    }

    /// Reactivates a suspended organization. Audited there.
    pub async fn reactivate(
        &self,
        scope: &PlatformScope,
        id: OrganizationId,
    ) -> DomainResult<PlatformOrganization> {
        let entry = AuditEntry::event(
            "organization.reactivated",
            "organization",
            Some(id.to_string()),
            serde_json::Value::Null,
        );
        self.platform
            .set_suspended(scope, &scope.tenant(id), false, entry)
            .await
    }

    /// Starts an impersonation of an organization that is not deleted: a read-only token of
    /// at most 15 minutes. The start, with its reason, and then every request made with the
    /// token are recorded in the organization's audit trail with the superuser as the
    /// impersonator. There is no other way for a superuser to read a tenant's data.
    pub async fn impersonate(
        &self,
        scope: &PlatformScope,
        organization_id: OrganizationId,
        why: &str,
    ) -> DomainResult<Impersonation> {
        let why = reason(why)?;
        let organization = self.platform.get(scope, organization_id).await?;
        if organization.deleted_at.is_some() {
            return Err(DomainError::Conflict(
                "the organization is deleted; it can only be restored by its owners".into(),
            ));
        }
        let id = ImpersonationId::new();
        let token = self.tokens.issue_platform(&PlatformToken::Impersonation {
            superuser: scope.superuser(),
            organization_id,
            id,
        })?;
        let tenant = scope.tenant(organization_id);
        let entry = AuditEntry::event(
            "impersonation.started",
            "impersonation",
            Some(id.to_string()),
            serde_json::json!({ "reason": why, "expires_in": token.expires_in }),
        );
        self.audit.record(&tenant, entry).await?;
        Ok(Impersonation {
            id,
            organization_id,
            token,
        })
    }
}
