//! The invitation entity.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::accounts::AccountSettings;
use crate::audit::Auditable;
use crate::ids::{InvitationId, OrganizationId, UserId};
use crate::organizations::Organization;
use crate::outbox::OutgoingEmail;
use crate::scope::RoleRef;
use crate::secret::Secret;
use crate::users::{Email, PasswordHash, User};

/// How invitation tokens start, so that no other token passes for one.
pub const INVITATION_PREFIX: &str = "bhi_";

/// How long an invitation stays valid.
pub fn lifetime() -> Duration {
    Duration::days(7)
}

/// A pending invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The invitation.
    pub id: InvitationId,
    /// The organization to join.
    pub organization_id: OrganizationId,
    /// Who is invited.
    pub email: Email,
    /// The role they get.
    pub role: RoleRef,
    /// Who invited them.
    pub invited_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Until when the token works.
    pub expires_at: DateTime<Utc>,
}

impl Auditable for Invitation {
    const RESOURCE_TYPE: &'static str = "invitation";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("email".into(), self.email.as_str().into());
        fields.insert("role".into(), self.role.to_string().into());
        fields.insert("expires_at".into(), self.expires_at.to_rfc3339().into());
        fields
    }
}

/// Raw input of an acceptance.
#[derive(Debug, Clone, Default)]
pub struct AcceptInvitation {
    /// The token from the email.
    pub token: String,
    /// The new account's display name (only when the email has no account yet).
    pub name: Option<String>,
    /// The new account's password (only when the email has no account yet).
    pub password: Option<String>,
}

/// Who joins.
#[derive(Debug, Clone)]
pub enum Joining {
    /// An existing account with the invited email.
    Existing(UserId),
    /// A new account, created with the membership (its email counts as verified: the token
    /// came through it).
    New {
        /// The account.
        user: User,
        /// Its password hash.
        password_hash: PasswordHash,
    },
}

/// The outcome of an acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The organization joined.
    pub organization_id: OrganizationId,
    /// The member.
    pub user_id: UserId,
    /// The role they got.
    pub role: RoleRef,
    /// Whether an account was created.
    pub account_created: bool,
}

/// The email that carries an invitation's token to the invited address.
pub(crate) fn invitation_email(
    to: Email,
    organization: &Organization,
    role_name: &str,
    secret: &Secret,
    settings: &AccountSettings,
) -> OutgoingEmail {
    let base = settings.public_url.trim_end_matches('/');
    OutgoingEmail {
        to,
        subject: format!(
            "You are invited to {} on Bulkhead",
            organization.name.as_str()
        ),
        body: format!(
            "Hello,\n\nYou are invited to join {} as {role_name}. Accept within 7 days:\n\n\
             {base}/accept-invitation?token={}\n\n\
             Or send the token to POST /api/v1/invitations/accept:\n\n{}\n",
            organization.name.as_str(),
            secret.expose(),
            secret.expose(),
        ),
    }
}
