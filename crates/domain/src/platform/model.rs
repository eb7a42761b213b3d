//! What platform administration works with.

use chrono::{DateTime, Utc};

use crate::credentials::AccessToken;
use crate::error::DomainResult;
use crate::ids::{ImpersonationId, OrganizationId, UserId};
use crate::invitations::Invitation;
use crate::organizations::Organization;
use crate::outbox::OutgoingEmail;
use crate::page::PageRequest;
use crate::scope::{RequestMeta, TenantScope};
use crate::secret::SecretDigest;
use crate::text::bounded;

/// Proof that the caller is a platform superuser right now. Made only by
/// [`crate::platform::PlatformService::authenticate`]; it opens no tenant's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformScope {
    superuser: UserId,
    request: RequestMeta,
}

impl PlatformScope {
    pub(crate) fn new(superuser: UserId, request: RequestMeta) -> Self {
        Self { superuser, request }
    }

    /// The superuser.
    pub fn superuser(&self) -> UserId {
        self.superuser
    }

    /// Where the request came from.
    pub fn request(&self) -> &RequestMeta {
        &self.request
    }

    /// The superuser acting on one organization itself (not its data), for its audit trail.
    pub(crate) fn tenant(&self, organization: OrganizationId) -> TenantScope {
        TenantScope::for_platform(organization, self.superuser).with_request(self.request.clone())
    }
}

/// A reason for a platform action, recorded in the organization's audit trail.
pub(crate) fn reason(raw: &str) -> DomainResult<String> {
    bounded("reason", raw, 3, 500)
}

/// Where an organization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganizationStatus {
    /// In use.
    Active,
    /// Stopped by the platform: no token or key of it works until reactivated.
    Suspended,
    /// Deleted by its owners, waiting for its purge.
    Deleted,
}

impl OrganizationStatus {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }
}

/// An organization as the platform sees it: its record, never its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformOrganization {
    /// The organization.
    pub organization: Organization,
    /// When its owners deleted it.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the platform suspended it.
    pub suspended_at: Option<DateTime<Utc>>,
}

impl PlatformOrganization {
    /// Where it stands; a deleted organization counts as deleted even when also suspended.
    pub fn status(&self) -> OrganizationStatus {
        match (self.deleted_at, self.suspended_at) {
            (Some(_), _) => OrganizationStatus::Deleted,
            (None, Some(_)) => OrganizationStatus::Suspended,
            (None, None) => OrganizationStatus::Active,
        }
    }
}

/// A validated search over every organization.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlatformOrganizationQuery {
    /// Case-insensitive search in the name.
    pub q: Option<String>,
    /// Only organizations with this status.
    pub status: Option<OrganizationStatus>,
    /// The page.
    pub page: PageRequest,
}

impl PlatformOrganizationQuery {
    /// Validates raw list parameters.
    pub fn parse(
        q: Option<&str>,
        status: Option<OrganizationStatus>,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> DomainResult<Self> {
        let q = q
            .map(|q| bounded("q", q, 0, 200))
            .transpose()?
            .filter(|q| !q.is_empty());
        Ok(Self {
            q,
            status,
            page: PageRequest::parse(limit, offset)?,
        })
    }
}

/// An organization the platform creates, with the invitation that makes its first owner.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    /// The organization.
    pub organization: Organization,
    /// The owner's invitation.
    pub invitation: Invitation,
    /// The invitation token's digest.
    pub digest: SecretDigest,
    /// The email carrying the token.
    pub email: OutgoingEmail,
}

/// A started impersonation: a read-only token for one organization.
#[derive(Debug, Clone)]
pub struct Impersonation {
    /// Ties together the audit records of this impersonation.
    pub id: ImpersonationId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The token.
    pub token: AccessToken,
}
