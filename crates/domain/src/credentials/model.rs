//! What a credential says: whom a token speaks for, and a signed token.

use crate::ids::{ImpersonationId, OrganizationId, SessionId, UserId};

/// Who an access token speaks for. It names no role: authorization reads the current
/// membership on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user.
    pub user_id: UserId,
    /// The organization the token is for.
    pub organization_id: OrganizationId,
    /// The session the token belongs to; revoking it stops the token at once.
    pub session_id: SessionId,
}

/// Who a platform token speaks for. Platform tokens are short-lived, have no refresh token,
/// and are checked against the user's current superuser flag on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformToken {
    /// A superuser administering the platform (`/admin`); no access to any tenant's data.
    Admin {
        /// The superuser.
        superuser: UserId,
    },
    /// A superuser impersonating an organization: read access to its data, every request
    /// audited there with the superuser as impersonator.
    Impersonation {
        /// The superuser.
        superuser: UserId,
        /// The organization.
        organization_id: OrganizationId,
        /// The impersonation, as recorded when it started.
        id: ImpersonationId,
    },
}

/// A signed access token, ready for the client.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The encoded token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}
