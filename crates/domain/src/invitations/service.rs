//! Inviting people and accepting invitations.

use std::sync::Arc;

use super::model::{
    AcceptInvitation, Accepted, INVITATION_PREFIX, Invitation, Joining, invitation_email, lifetime,
};
use super::port::InvitationRepository;
use crate::accounts::AccountSettings;
use crate::audit::{AuditEntry, AuditRepository};
use crate::credentials::PasswordHasher;
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{InvitationId, UserId};
use crate::limits::{RateLimiter, RateLimits, address_key, enforce};
use crate::organizations::OrganizationRepository;
use crate::page::{Page, PageRequest};
use crate::roles::RoleService;
use crate::scope::{Grant, Permission, PermissionSet, RequestMeta, RoleRef, TenantScope};
use crate::secret::Secret;
use crate::users::{Email, Password, User, UserName, UserRepository};

/// The adapters [`InvitationService`] needs.
pub struct InvitationPorts {
    /// Invitations.
    pub invitations: Arc<dyn InvitationRepository>,
    /// The inviting organization's name, for the email.
    pub organizations: Arc<dyn OrganizationRepository>,
    /// Whether the invited address has an account.
    pub users: Arc<dyn UserRepository>,
    /// For new accounts' passwords.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Links in emails.
    pub settings: AccountSettings,
    /// Counters for the per-address limit on acceptance.
    pub limiter: Arc<dyn RateLimiter>,
    /// The limits.
    pub limits: RateLimits,
    /// The organization's roles, to check what an invitation grants.
    pub roles: RoleService,
    /// Where refusals are recorded.
    pub audit: Arc<dyn AuditRepository>,
}

/// Invitation use cases.
#[derive(Clone)]
pub struct InvitationService {
    invitations: Arc<dyn InvitationRepository>,
    organizations: Arc<dyn OrganizationRepository>,
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    settings: AccountSettings,
    limiter: Arc<dyn RateLimiter>,
    limits: RateLimits,
    roles: RoleService,
    audit: Arc<dyn AuditRepository>,
}

fn invalid_token() -> DomainError {
    DomainError::invalid(
        "token",
        "invalid",
        "the invitation is invalid, used or expired",
    )
}

impl InvitationService {
    /// Wires the service.
    pub fn new(ports: InvitationPorts) -> Self {
        Self {
            invitations: ports.invitations,
            organizations: ports.organizations,
            users: ports.users,
            hasher: ports.hasher,
            settings: ports.settings,
            limiter: ports.limiter,
            limits: ports.limits,
            roles: ports.roles,
            audit: ports.audit,
        }
    }

    /// Invites `email` with `role` (members:invite), emailing a single-use link valid 7 days.
    /// Nobody invites to a role granting a permission they lack, so only owners invite owners.
    pub async fn invite(
        &self,
        scope: &TenantScope,
        email: &str,
        role: RoleRef,
    ) -> DomainResult<Invitation> {
        scope
            .authorize(&*self.audit, Permission::MembersInvite)
            .await?;
        let invited_by = scope.require_user()?;
        let offered = self.roles.resolve(scope, "role", role).await?;
        scope
            .authorize_all(&*self.audit, offered.permissions)
            .await?;
        let email = Email::parse(email)?;
        let organization = self.organizations.current(scope).await?;
        let now = crate::now();
        let invitation = Invitation {
            id: InvitationId::new(),
            organization_id: scope.organization_id(),
            email: email.clone(),
            role,
            invited_by,
            created_at: now,
            expires_at: now + lifetime(),
        };
        let secret = Secret::generate(INVITATION_PREFIX);
        let message =
            invitation_email(email, &organization, &offered.name, &secret, &self.settings);
        self.invitations
            .create(
                scope,
                &invitation,
                &secret.digest(),
                &message,
                AuditEntry::created("invitation.created", &invitation),
            )
            .await?;
        Ok(invitation)
    }

    /// The pending invitations (members:invite).
    pub async fn list(
        &self,
        scope: &TenantScope,
        page: PageRequest,
    ) -> DomainResult<Page<Invitation>> {
        scope
            .authorize(&*self.audit, Permission::MembersInvite)
            .await?;
        self.invitations.list(scope, page).await
    }

    /// Revokes a pending invitation (members:invite); its token stops working.
    pub async fn revoke(&self, scope: &TenantScope, id: InvitationId) -> DomainResult<()> {
        scope
            .authorize(&*self.audit, Permission::MembersInvite)
            .await?;
        let entry = AuditEntry::event(
            "invitation.revoked",
            "invitation",
            Some(id.to_string()),
            serde_json::Value::Null,
        );
        self.invitations.revoke(scope, id, entry).await
    }

    /// Accepts an invitation. If the invited email has an account, it joins (no name or
    /// password needed: the token came through that address); otherwise `name` and `password`
    /// create the account, with its email verified. A token that is not a pending invitation's
    /// is a validation error on `token`.
    pub async fn accept(
        &self,
        input: AcceptInvitation,
        request: RequestMeta,
    ) -> DomainResult<Accepted> {
        let address = address_key("email", request.client_ip.as_deref());
        enforce(&*self.limiter, &address, self.limits.email_per_address).await?;
        let secret = Secret::parse(INVITATION_PREFIX, &input.token).ok_or_else(invalid_token)?;
        let digest = secret.digest();
        let invitation = self
            .invitations
            .find_pending(&digest)
            .await?
            .ok_or_else(invalid_token)?;
        let existing = self
            .users
            .find_credentials_by_email(&invitation.email)
            .await?;
        let joining = match existing {
            Some(credentials) => Joining::Existing(credentials.user.id),
            None => {
                let mut v = Validator::new();
                let name = v.check(UserName::parse(input.name.as_deref().unwrap_or_default()));
                let password = v.check(Password::parse_new(
                    "password",
                    input.password.as_deref().unwrap_or_default(),
                    &invitation.email,
                ));
                let (name, password) = v.values((name, password))?;
                let now = crate::now();
                Joining::New {
                    user: User {
                        id: UserId::new(),
                        email: invitation.email.clone(),
                        name,
                        created_at: now,
                        email_verified_at: Some(now),
                    },
                    password_hash: self.hasher.hash(&password).await?,
                }
            }
        };
        let (user_id, account_created) = match &joining {
            Joining::Existing(id) => (*id, false),
            Joining::New { user, .. } => (user.id, true),
        };
        // This scope writes the membership and its audit record, and authorizes nothing else.
        let grant = Grant {
            role: invitation.role,
            permissions: PermissionSet::EMPTY,
        };
        let scope = TenantScope::authenticated(invitation.organization_id, user_id, grant)
            .with_request(request);
        let entry = AuditEntry::event(
            "member.joined",
            "member",
            Some(user_id.to_string()),
            serde_json::json!({
                "invitation_id": invitation.id.to_string(),
                "role": invitation.role.to_string(),
                "account_created": account_created,
            }),
        );
        self.invitations
            .accept(&scope, &digest, &joining, entry)
            .await?;
        Ok(Accepted {
            organization_id: invitation.organization_id,
            user_id,
            role: invitation.role,
            account_created,
        })
    }
}
