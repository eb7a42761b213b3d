//! Who acts in a scope, how they were proven, and where their request came from.

use super::permissions::Permission;
use crate::ids::{ApiKeyId, ImpersonationId, SessionId, UserId};

/// Who acts: a user, an API key, or a named background task of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in member.
    User(UserId),
    /// A machine holding one of the organization's API keys.
    ApiKey {
        /// The key.
        id: ApiKeyId,
        /// The member who created it, recorded as the author of what the key creates.
        created_by: UserId,
    },
    /// Background work of the server itself, always audited under this name.
    System(SystemTask),
    /// A platform superuser administering the organization itself (creating, suspending,
    /// reactivating it, or starting an impersonation); it holds no permission on its data.
    Platform(UserId),
    /// A platform superuser reading the organization's data with an impersonation token;
    /// every request is audited with the superuser as the impersonator.
    Impersonation {
        /// Ties together the requests of one impersonation.
        id: ImpersonationId,
        /// The superuser.
        superuser: UserId,
    },
}

/// What an impersonation may do inside the organization: read, never change.
pub const IMPERSONATION_PERMISSIONS: &[Permission] = &[
    Permission::OrganizationRead,
    Permission::MembersRead,
    Permission::RolesRead,
    Permission::ProjectsRead,
    Permission::AuditRead,
];

/// The background tasks that may act on a tenant's data without a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemTask {
    /// Removes soft-deleted rows past their retention period.
    Purge,
    /// Executes agents' runs: starts them, records their events and outcomes.
    Runs,
    /// Seals secrets at rest again under the current key (`bulkhead rotate-secrets`).
    RotateSecrets,
    /// Exports an organization for an operator (`bulkhead export`).
    Export,
    /// Loads an exported organization (`bulkhead import`).
    Import,
    /// Applies the payment provider's (Stripe's) events to the organization's subscription.
    Stripe,
    /// Extracts and indexes the text of uploaded documents.
    Documents,
}

impl SystemTask {
    /// The task's name, as recorded in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Purge => "purge",
            Self::Runs => "runs",
            Self::RotateSecrets => "rotate-secrets",
            Self::Export => "export",
            Self::Import => "import",
            Self::Stripe => "stripe",
            Self::Documents => "documents",
        }
    }

    pub(super) fn permissions(self) -> &'static [Permission] {
        match self {
            Self::Purge => &[
                Permission::ProjectsRead,
                Permission::ProjectsDelete,
                Permission::AgentsRead,
                Permission::AgentsConfigure,
                Permission::AgentsDelete,
                Permission::ConversationsUse,
                Permission::DocumentsRead,
                Permission::DocumentsDelete,
            ],
            Self::Runs => &[Permission::AgentsRead, Permission::AgentsRun],
            Self::RotateSecrets => &[Permission::AgentsConfigure],
            Self::Export => &[Permission::OrganizationExport],
            Self::Import => &[Permission::AuditRead],
            Self::Stripe => &[Permission::BillingManage],
            Self::Documents => &[Permission::DocumentsRead, Permission::DocumentsWrite],
        }
    }
}

/// How a user's scope was proven, which decides what adapters re-check at the start of each
/// unit of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Proven inside this request by the auth service itself: a password, a refresh token, or
    /// a sign-up. Adapters confirm the membership and role.
    Request,
    /// An access token of this session. Adapters confirm that the session is live (not
    /// revoked, not expired, still in this organization) as well as the membership and role,
    /// so logging out or revoking a session stops its access tokens at once.
    Session(SessionId),
}

/// Where a request came from, for the audit trail. Carries no authority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The method and path, as `GET /api/v1/projects`, recorded for impersonated requests.
    pub route: Option<String>,
}
