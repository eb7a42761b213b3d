//! Session use cases: refresh-token rotation, logout, listing and revoking sessions, and
//! moving a session to another organization.

use super::service::AuthService;
use crate::audit::AuditEntry;
use crate::error::{DomainError, DomainResult};
use crate::ids::{OrganizationId, SessionId};
use crate::limits::{address_key, enforce};
use crate::organizations::OrganizationMembership;
use crate::scope::{RequestMeta, TenantScope};
use crate::secret::Secret;
use crate::sessions::{REFRESH_TOKEN_PREFIX, Rotation, Session, TokenPair};

/// The session of a signed-in user's scope. An API key is [`DomainError::UserOnly`]; a scope
/// not made from a session's access token is [`DomainError::Unauthorized`].
fn own_session(scope: &TenantScope) -> DomainResult<SessionId> {
    scope.require_user()?;
    scope.require_session()
}

fn session_entry(action: &str, session: SessionId, details: serde_json::Value) -> AuditEntry {
    AuditEntry::event(action, "session", Some(session.to_string()), details)
}

impl AuthService {
    /// Spends a refresh token and issues a new pair for the same session. A token that was
    /// spent already revokes the whole session (it was replayed or stolen) and is audited; any
    /// failure is [`DomainError::Unauthorized`].
    pub async fn refresh(
        &self,
        refresh_token: &str,
        request: RequestMeta,
    ) -> DomainResult<TokenPair> {
        let address = address_key("auth", request.client_ip.as_deref());
        enforce(&*self.limiter, &address, self.limits.auth_per_address).await?;
        let presented =
            Secret::parse(REFRESH_TOKEN_PREFIX, refresh_token).ok_or(DomainError::Unauthorized)?;
        let replacement = Secret::generate(REFRESH_TOKEN_PREFIX);
        let rotation = self
            .sessions
            .rotate(
                &presented.digest(),
                &replacement.digest(),
                self.policy,
                &request,
            )
            .await?;
        match rotation {
            Rotation::Rotated { session } => self.issue(&session, replacement),
            Rotation::Reused { session } => {
                // Recorded in the session's organization while the user is still a member there.
                let grant = self
                    .memberships
                    .grant(session.organization_id, session.user_id, None)
                    .await?;
                if let Some(grant) = grant {
                    let scope =
                        TenantScope::authenticated(session.organization_id, session.user_id, grant)
                            .with_request(request);
                    let entry = session_entry(
                        "auth.refresh_token_reused",
                        session.id,
                        serde_json::json!({ "session_revoked": true }),
                    );
                    self.audit.record(&scope, entry).await?;
                }
                Err(DomainError::Unauthorized)
            }
            Rotation::Invalid => Err(DomainError::Unauthorized),
        }
    }

    /// Ends the session whose access token made `scope`.
    pub async fn logout(&self, scope: &TenantScope) -> DomainResult<()> {
        let session = own_session(scope)?;
        let entry = session_entry("auth.logout", session, serde_json::Value::Null);
        self.sessions.revoke(scope, session, entry).await
    }

    /// Ends every session of the user, in every organization, including the current one.
    /// Answers how many were ended.
    pub async fn logout_all(&self, scope: &TenantScope) -> DomainResult<u64> {
        own_session(scope)?;
        let user = scope.require_user()?;
        let entry = AuditEntry::event(
            "auth.logout_all",
            "user",
            Some(user.to_string()),
            serde_json::Value::Null,
        );
        self.sessions.revoke_all(scope, None, entry).await
    }

    /// The user's live sessions, most recently used first.
    pub async fn sessions(&self, scope: &TenantScope) -> DomainResult<Vec<Session>> {
        own_session(scope)?;
        self.sessions.list(scope, self.policy).await
    }

    /// Ends one of the user's own sessions; any other id is [`DomainError::NotFound`].
    pub async fn revoke_session(&self, scope: &TenantScope, id: SessionId) -> DomainResult<()> {
        own_session(scope)?;
        let entry = session_entry("auth.session_revoked", id, serde_json::Value::Null);
        self.sessions.revoke(scope, id, entry).await
    }

    /// Moves the current session to another organization the user belongs to and issues a
    /// new pair for it; the previous tokens of the session stop working. Naming the current
    /// organization just renews the pair.
    /// [`DomainError::NotFound`] when the user is not a member there.
    pub async fn switch_organization(
        &self,
        scope: &TenantScope,
        target: OrganizationId,
    ) -> DomainResult<TokenPair> {
        let session = own_session(scope)?;
        let replacement = Secret::generate(REFRESH_TOKEN_PREFIX);
        let entry = session_entry(
            "auth.organization_switched",
            session,
            serde_json::json!({ "to_organization_id": target.to_string() }),
        );
        let session = self
            .sessions
            .switch_organization(scope, target, &replacement.digest(), entry)
            .await?;
        self.issue(&session, replacement)
    }

    /// The organizations the user belongs to, with the role in each.
    pub async fn organizations(
        &self,
        scope: &TenantScope,
    ) -> DomainResult<Vec<OrganizationMembership>> {
        scope.require_user()?;
        self.organizations.of_user(scope).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::mocks::*;

    use crate::sessions::SessionPolicy;

    use crate::ids::{OrganizationId, UserId};
    use crate::scope::Role;

    fn live_session() -> Session {
        Session::start(
            UserId::new(),
            OrganizationId::new(),
            SessionPolicy::default(),
            &RequestMeta::default(),
        )
    }

    #[tokio::test]
    async fn refresh_rotates_and_issues_a_pair_for_the_same_session() {
        let mut m = Mocks::default();
        let session = live_session();
        let (sid, presented) = (session.id, Secret::generate(REFRESH_TOKEN_PREFIX));
        let digest = presented.digest();
        m.sessions
            .expect_rotate()
            .withf(move |old, new, _, _| *old == digest && *new != digest)
            .times(1)
            .returning(move |_, _, _, _| {
                Ok(crate::sessions::Rotation::Rotated {
                    session: session.clone(),
                })
            });
        m.tokens
            .expect_issue()
            .withf(move |s| s.session_id == sid)
            .times(1)
            .returning(|_| Ok(token()));
        let pair = m
            .service()
            .refresh(presented.expose(), RequestMeta::default())
            .await
            .expect("refreshed");
        assert_eq!(pair.session_id, sid);
        assert_ne!(pair.refresh_token, presented);
    }

    #[tokio::test]
    async fn a_reused_refresh_token_is_unauthorized_and_audited() {
        let mut m = Mocks::default();
        let session = live_session();
        m.sessions.expect_rotate().returning(move |_, _, _, _| {
            Ok(crate::sessions::Rotation::Reused {
                session: session.clone(),
            })
        });
        m.audit
            .expect_record()
            .withf(|_, e| e.action == "auth.refresh_token_reused")
            .times(1)
            .returning(|_, _| Ok(()));
        m.tokens.expect_issue().never();
        let presented = Secret::generate(REFRESH_TOKEN_PREFIX);
        assert!(matches!(
            m.service()
                .refresh(presented.expose(), RequestMeta::default())
                .await,
            Err(DomainError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn malformed_refresh_tokens_never_reach_storage() {
        let mut m = Mocks::default();
        m.sessions.expect_rotate().never();
        let service = m.service();
        let wrong_kind = Secret::generate("bhk_");
        for bad in [
            "",
            "bhr_",
            "not-a-token",
            wrong_kind.expose(),
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        ] {
            assert!(matches!(
                service.refresh(bad, RequestMeta::default()).await,
                Err(DomainError::Unauthorized)
            ));
        }
    }

    #[tokio::test]
    async fn session_operations_need_a_session_scope() {
        let m = Mocks::default();
        let scope = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Owner);
        let service = m.service();
        assert!(matches!(
            service.logout(&scope).await,
            Err(DomainError::Unauthorized)
        ));
        assert!(matches!(
            service
                .switch_organization(&scope, OrganizationId::new())
                .await,
            Err(DomainError::Unauthorized)
        ));
    }
}
