//! Login: checking credentials and starting a session, answering a wrong password after the
//! same work as an unknown email.

use super::service::{AuthService, Login};

use crate::audit::AuditEntry;
use crate::error::{DomainError, DomainResult};
use crate::ids::OrganizationId;
use crate::limits::{RateDecision, address_key, enforce};
use crate::scope::{RequestMeta, TenantScope};
use crate::secret::Secret;
use crate::sessions::{NewSession, REFRESH_TOKEN_PREFIX, Session, TokenPair};
use crate::users::{Email, User};

impl AuthService {
    /// Checks credentials and starts a session in the chosen organization: the one named in
    /// the input, else the one the user last used, else the oldest membership.
    /// A wrong password, an unknown or malformed email, an account without organization and
    /// an organization the user does not belong to all fail the same way
    /// ([`DomainError::Unauthorized`]) after the same amount of hashing.
    /// Successes and wrong passwords of existing accounts are audited in the account's
    /// organization; an unknown email belongs to no tenant and is not. A wrong password is
    /// answered once the failure is counted, before anything else about the account is read:
    /// its audit records are written after the response ([`super::Deferred`]), so that it answers
    /// after the same work, in the same order, as an unknown email.
    pub async fn login(&self, input: Login, request: RequestMeta) -> DomainResult<TokenPair> {
        let address = address_key("auth", request.client_ip.as_deref());
        enforce(&*self.limiter, &address, self.limits.auth_per_address).await?;
        let email = Email::parse(&input.email).ok();
        // Failures are counted per email whether or not an account has it, so that a lockout
        // says nothing about which accounts exist.
        let lockout = self.limits.login_failures_per_account;
        let failures = email
            .as_ref()
            .filter(|_| lockout.max > 0)
            .map(|e| format!("login:fail:{}", e.as_str()));
        if let Some(key) = &failures
            && let RateDecision::Limited { retry_after_secs } =
                self.limiter.peek(key, lockout).await?
        {
            return Err(DomainError::RateLimited { retry_after_secs });
        }
        let credentials = match &email {
            Some(email) => self.users.find_credentials_by_email(email).await?,
            None => None,
        };
        let matches = self
            .hasher
            .verify(
                &input.password,
                credentials.as_ref().map(|c| c.password_hash.clone()),
            )
            .await?;
        let locks_now = match (&failures, matches) {
            (Some(key), false) => matches!(
                self.limiter.hit(key, lockout).await?,
                RateDecision::Allowed { count } if count >= lockout.max
            ),
            _ => false,
        };
        let Some(credentials) = credentials else {
            return Err(DomainError::Unauthorized);
        };
        let user = credentials.user;
        if !matches {
            let service = self.clone();
            self.deferred.defer(Box::pin(async move {
                service
                    .record_failed_login(user, input.organization_id, locks_now, request)
                    .await
            }));
            return Err(DomainError::Unauthorized);
        }
        let memberships = self.memberships.list_for_user(user.id).await?;
        let membership = match input.organization_id {
            Some(org) => memberships.iter().find(|m| m.organization_id == org),
            None => {
                let last = self.sessions.last_used_organization(user.id).await?;
                last.and_then(|org| memberships.iter().find(|m| m.organization_id == org))
                    .or(memberships.first())
            }
        };
        let Some(membership) = membership else {
            return Err(DomainError::Unauthorized);
        };
        // A suspended organization gives no grant; a deleted one refuses the session below.
        let Some(grant) = self
            .memberships
            .grant(membership.organization_id, user.id, None)
            .await?
        else {
            return Err(DomainError::Unauthorized);
        };
        let scope = TenantScope::authenticated(membership.organization_id, user.id, grant)
            .with_request(request.clone());
        if self.settings.require_verified_email && user.email_verified_at.is_none() {
            return Err(DomainError::EmailUnverified);
        }
        let session = Session::start(user.id, membership.organization_id, self.policy, &request);
        let refresh = Secret::generate(REFRESH_TOKEN_PREFIX);
        let entry = AuditEntry::event(
            "auth.login_succeeded",
            "user",
            Some(user.id.to_string()),
            serde_json::json!({ "session_id": session.id.to_string() }),
        );
        self.sessions
            .create(
                &scope,
                &NewSession {
                    session: session.clone(),
                    refresh: refresh.digest(),
                },
                entry,
            )
            .await?;
        self.issue(&session, refresh)
    }

    /// Records a wrong password for `user` (and the lockout it caused) in the organization the
    /// login named, else the user's oldest: while the user is a member there.
    async fn record_failed_login(
        &self,
        user: User,
        named: Option<OrganizationId>,
        locked: bool,
        request: RequestMeta,
    ) -> DomainResult<()> {
        let memberships = self.memberships.list_for_user(user.id).await?;
        let membership = match named {
            Some(org) => memberships.iter().find(|m| m.organization_id == org),
            None => memberships.first(),
        };
        let Some(membership) = membership else {
            return Ok(());
        };
        let Some(grant) = self
            .memberships
            .grant(membership.organization_id, user.id, None)
            .await?
        else {
            return Ok(());
        };
        let scope = TenantScope::authenticated(membership.organization_id, user.id, grant)
            .with_request(request);
        let user_entry = |action: &str, details| {
            AuditEntry::event(action, "user", Some(user.id.to_string()), details)
        };
        self.audit
            .record(
                &scope,
                user_entry("auth.login_failed", serde_json::Value::Null),
            )
            .await?;
        if locked {
            let lockout = self.limits.login_failures_per_account;
            let details = serde_json::json!({
                "failures": lockout.max,
                "locked_for_secs": lockout.window_secs,
            });
            self.audit
                .record(&scope, user_entry("auth.login_locked", details))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::mocks::*;

    use crate::limits::RateDecision;
    use crate::users::{PasswordHash, UserCredentials};

    use crate::ids::{OrganizationId, UserId};
    use crate::scope::Role;
    use std::sync::Arc;

    #[tokio::test]
    async fn unknown_email_still_runs_a_dummy_verify_and_fails_like_a_wrong_password() {
        let mut m = Mocks::default();
        m.users
            .expect_find_credentials_by_email()
            .times(1)
            .returning(|_| Ok(None));
        m.hasher
            .expect_verify()
            .withf(|_, hash| hash.is_none())
            .times(1)
            .returning(|_, _| Ok(false));
        m.tokens.expect_issue().never();
        let err = m
            .service()
            .login(
                Login {
                    email: "ghost@example.com".into(),
                    password: "whatever1".into(),
                    organization_id: None,
                },
                RequestMeta::default(),
            )
            .await;
        assert!(matches!(err, Err(DomainError::Unauthorized)));
    }

    #[tokio::test]
    async fn wrong_password_is_unauthorized_and_audited() {
        let mut m = Mocks::default();
        let user = ada();
        let user_id_of_ada = user.id;
        m.users
            .expect_find_credentials_by_email()
            .returning(move |_| {
                Ok(Some(UserCredentials {
                    user: user.clone(),
                    password_hash: PasswordHash::new("$2b$hash".into()),
                }))
            });
        m.hasher
            .expect_verify()
            .withf(|_, hash| hash.is_some())
            .times(1)
            .returning(|_, _| Ok(false));
        let user_id = user_id_of_ada;
        m.memberships
            .expect_list_for_user()
            .returning(move |_| Ok(vec![membership(user_id, Role::Member)]));
        let recorded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = recorded.clone();
        m.audit
            .expect_record()
            .withf(|_, e| e.action == "auth.login_failed")
            .times(1)
            .returning(move |_, _| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            });
        m.tokens.expect_issue().never();
        let later = m.deferred.clone();
        let err = m
            .service()
            .login(
                Login {
                    email: "ada@example.com".into(),
                    password: "wrong password".into(),
                    organization_id: None,
                },
                RequestMeta::default(),
            )
            .await;
        assert!(matches!(err, Err(DomainError::Unauthorized)));
        // Recorded after the response, so it takes no time the client can measure.
        assert_eq!(recorded.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(later.run().await, 1);
        assert_eq!(recorded.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn login_issues_a_token_for_the_first_membership() {
        let mut m = Mocks::default();
        let user = ada();
        let first = membership(user.id, Role::Admin);
        let org = first.organization_id;
        let user_for_lookup = user.clone();
        m.users
            .expect_find_credentials_by_email()
            .returning(move |_| {
                Ok(Some(UserCredentials {
                    user: user_for_lookup.clone(),
                    password_hash: PasswordHash::new("$2b$hash".into()),
                }))
            });
        m.hasher.expect_verify().returning(|_, _| Ok(true));
        m.memberships
            .expect_list_for_user()
            .returning(move |_| Ok(vec![first.clone(), membership(UserId::new(), Role::Viewer)]));
        m.sessions
            .expect_last_used_organization()
            .returning(|_| Ok(None));
        m.sessions
            .expect_create()
            .withf(move |scope, new, e| {
                e.action == "auth.login_succeeded"
                    && scope.organization_id() == org
                    && new.session.organization_id == org
                    && new.refresh.as_str().len() == 64
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        m.tokens
            .expect_issue()
            .withf(move |s| s.organization_id == org)
            .times(1)
            .returning(|_| Ok(token()));
        let pair = m
            .service()
            .login(
                Login {
                    email: "ada@example.com".into(),
                    password: "correct horse".into(),
                    organization_id: None,
                },
                RequestMeta::default(),
            )
            .await
            .expect("logged in");
        assert!(
            pair.refresh_token
                .expose()
                .starts_with(REFRESH_TOKEN_PREFIX)
        );
    }

    #[tokio::test]
    async fn login_prefers_the_named_then_the_last_used_organization() {
        let user = ada();
        let (first, second) = (
            membership(user.id, Role::Admin),
            membership(user.id, Role::Viewer),
        );
        let (first_org, second_org) = (first.organization_id, second.organization_id);
        for (named, last_used, expected) in [
            (Some(first_org), Some(second_org), first_org),
            (None, Some(second_org), second_org),
            (None, Some(OrganizationId::new()), first_org),
            (None, None, first_org),
        ] {
            let mut m = Mocks::default();
            m.users
                .expect_find_credentials_by_email()
                .returning(credentials_of(user.clone()));
            m.hasher.expect_verify().returning(|_, _| Ok(true));
            let all = vec![first.clone(), second.clone()];
            m.memberships
                .expect_list_for_user()
                .returning(move |_| Ok(all.clone()));
            m.sessions
                .expect_last_used_organization()
                .returning(move |_| Ok(last_used));
            m.sessions
                .expect_create()
                .withf(move |scope, _, _| scope.organization_id() == expected)
                .times(1)
                .returning(|_, _, _| Ok(()));
            m.tokens.expect_issue().returning(|_| Ok(token()));
            let login = Login {
                email: "ada@example.com".into(),
                password: "correct horse".into(),
                organization_id: named,
            };
            m.service()
                .login(login, RequestMeta::default())
                .await
                .expect("logged in");
        }
    }

    #[tokio::test]
    async fn login_to_an_organization_of_which_one_is_not_a_member_fails_like_a_wrong_password() {
        let mut m = Mocks::default();
        let user = ada();
        let first = membership(user.id, Role::Admin);
        m.users
            .expect_find_credentials_by_email()
            .returning(credentials_of(user));
        m.hasher.expect_verify().returning(|_, _| Ok(true));
        m.memberships
            .expect_list_for_user()
            .returning(move |_| Ok(vec![first.clone()]));
        m.sessions.expect_create().never();
        m.tokens.expect_issue().never();
        let login = Login {
            email: "ada@example.com".into(),
            password: "correct horse".into(),
            organization_id: Some(OrganizationId::new()),
        };
        assert!(matches!(
            m.service().login(login, RequestMeta::default()).await,
            Err(DomainError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn a_locked_account_is_refused_before_any_hashing() {
        let mut m = Mocks {
            limiter: crate::limits::MockRateLimiter::new(),
            ..Mocks::default()
        };
        m.limiter
            .expect_hit()
            .returning(|_, _| Ok(RateDecision::Allowed { count: 1 }));
        m.limiter
            .expect_peek()
            .withf(|key, _| key == "login:fail:ada@example.com")
            .returning(|_, _| {
                Ok(RateDecision::Limited {
                    retry_after_secs: 42,
                })
            });
        m.hasher.expect_verify().never();
        m.users.expect_find_credentials_by_email().never();
        let login = Login {
            email: "Ada@example.com".into(),
            password: "correct horse".into(),
            organization_id: None,
        };
        assert!(matches!(
            m.service().login(login, RequestMeta::default()).await,
            Err(DomainError::RateLimited {
                retry_after_secs: 42
            })
        ));
    }

    #[tokio::test]
    async fn the_failure_that_reaches_the_limit_locks_the_account_and_is_audited() {
        let mut m = Mocks {
            limiter: crate::limits::MockRateLimiter::new(),
            ..Mocks::default()
        };
        let user = ada();
        let user_id = user.id;
        m.limiter
            .expect_peek()
            .returning(|_, _| Ok(RateDecision::Allowed { count: 4 }));
        m.limiter.expect_hit().returning(|key, limit| {
            Ok(RateDecision::Allowed {
                count: if key.starts_with("login:fail:") {
                    limit.max
                } else {
                    1
                },
            })
        });
        m.users
            .expect_find_credentials_by_email()
            .returning(credentials_of(user));
        m.hasher.expect_verify().returning(|_, _| Ok(false));
        m.memberships
            .expect_list_for_user()
            .returning(move |_| Ok(vec![membership(user_id, Role::Member)]));
        m.audit
            .expect_record()
            .withf(|_, e| e.action == "auth.login_failed")
            .times(1)
            .returning(|_, _| Ok(()));
        m.audit
            .expect_record()
            .withf(|_, e| e.action == "auth.login_locked")
            .times(1)
            .returning(|_, _| Ok(()));
        let login = Login {
            email: "ada@example.com".into(),
            password: "wrong password".into(),
            organization_id: None,
        };
        let later = m.deferred.clone();
        assert!(matches!(
            m.service().login(login, RequestMeta::default()).await,
            Err(DomainError::Unauthorized)
        ));
        assert_eq!(later.run().await, 1);
    }
}
