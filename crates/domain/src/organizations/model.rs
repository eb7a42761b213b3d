//! The organization entity.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::Auditable;
use crate::error::DomainResult;
use crate::ids::OrganizationId;
use crate::memberships::Membership;
use crate::text::bounded;
use crate::users::{PasswordHash, User};

/// An organization's display name, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Validates a name. `field` names the input in errors.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        bounded(field, raw, 1, Self::MAX_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// The tenant's id; every tenant-owned row carries it.
    pub id: OrganizationId,
    /// The display name.
    pub name: OrganizationName,
    /// When the organization was created.
    pub created_at: DateTime<Utc>,
}

impl Auditable for Organization {
    const RESOURCE_TYPE: &'static str = "organization";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("name".into(), self.name.as_str().into());
        fields
    }
}

/// Everything a sign-up creates, stored atomically: the organization, its first user and that
/// user's owner membership.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The new organization.
    pub organization: Organization,
    /// The new user.
    pub user: User,
    /// The new user's password hash.
    pub password_hash: PasswordHash,
    /// The owner membership linking the two.
    pub membership: Membership,
    /// The new owner's first session.
    pub session: crate::sessions::NewSession,
    /// The token that verifies the new owner's email, and the email that carries it.
    pub verification: (crate::accounts::AccountToken, crate::outbox::OutgoingEmail),
}
