//! The session entity and its expiry rules.

use chrono::{DateTime, Duration, Utc};

use crate::credentials::AccessToken;
use crate::ids::{OrganizationId, SessionId, UserId};
use crate::scope::RequestMeta;
use crate::secret::{Secret, SecretDigest};

/// The prefix of refresh tokens, so that a refresh token is recognisable (and never mistaken
/// for an access token, which is a JWT, or for another kind of secret).
pub const REFRESH_TOKEN_PREFIX: &str = "bhr_";

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session not refreshed for this long expires.
    pub idle_timeout: Duration,
    /// A session expires this long after sign-in, however active.
    pub lifetime: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::days(7),
            lifetime: Duration::days(30),
        }
    }
}

/// One signed-in device: a family of refresh tokens, each spent by the refresh that replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// The organization its tokens are for.
    pub organization_id: OrganizationId,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed (or created).
    pub last_used_at: DateTime<Utc>,
    /// The absolute end of the session.
    pub expires_at: DateTime<Utc>,
    /// The client's address when last used.
    pub client_ip: Option<String>,
    /// The client's `User-Agent` when last used.
    pub user_agent: Option<String>,
}

impl Session {
    /// A session starting now for `user` in `organization`, from the request that signed in.
    pub fn start(
        user_id: UserId,
        organization_id: OrganizationId,
        policy: SessionPolicy,
        request: &RequestMeta,
    ) -> Self {
        let now = crate::now();
        Self {
            id: SessionId::new(),
            user_id,
            organization_id,
            created_at: now,
            last_used_at: now,
            expires_at: now + policy.lifetime,
            client_ip: request.client_ip.clone(),
            user_agent: request.user_agent.clone(),
        }
    }

    /// Whether a refresh at `now` is still allowed: neither the idle timeout nor the lifetime
    /// has passed. (Revocation is stored separately and checked by the adapter.)
    pub fn refreshable_at(&self, now: DateTime<Utc>, policy: SessionPolicy) -> bool {
        now < self.expires_at && now < self.last_used_at + policy.idle_timeout
    }
}

/// A session to store, with the digest of its first refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The session.
    pub session: Session,
    /// The digest of its first refresh token.
    pub refresh: SecretDigest,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live and is now spent; the replacement is the session's live token.
    Rotated {
        /// The session, with its new last use.
        session: Session,
    },
    /// The token had been spent already: it was stolen or replayed, so the whole session has
    /// been revoked, including its newest token.
    Reused {
        /// The revoked session.
        session: Session,
    },
    /// Unknown token, or a revoked or expired session, or the user left the organization.
    Invalid,
}

/// The tokens a sign-in, refresh or organization switch hands out.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The session they belong to.
    pub session_id: SessionId,
    /// The short-lived access token.
    pub access: AccessToken,
    /// The single-use refresh token; shown once, stored only as a digest.
    pub refresh_token: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_or_too_old() {
        let policy = SessionPolicy::default();
        let session = Session::start(
            UserId::new(),
            OrganizationId::new(),
            policy,
            &RequestMeta::default(),
        );
        let start = session.created_at;
        assert!(session.refreshable_at(start + Duration::days(6), policy));
        assert!(!session.refreshable_at(start + Duration::days(8), policy));
        let active = Session {
            last_used_at: start + Duration::days(29),
            ..session
        };
        assert!(active.refreshable_at(start + Duration::days(29), policy));
        assert!(!active.refreshable_at(start + Duration::days(30), policy));
    }
}
