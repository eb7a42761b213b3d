//! Creating, listing and revoking API keys.

use std::sync::Arc;

use super::model::{self, ApiKey, ApiKeyName, CreateApiKey, IssuedApiKey, NewApiKey, Revocation};
use super::port::ApiKeyRepository;
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::{DomainError, DomainResult, FieldError, Validator};
use crate::ids::ApiKeyId;
use crate::page::{Page, PageRequest};
use crate::scope::{Permission, RequestMeta, TenantScope};

/// The API key use cases. Only signed-in users with `api_keys:manage` manage keys; a key
/// cannot make or revoke keys, so a leaked key cannot entrench itself.
///
/// A key acts for its organization on its creator's authority: a request with it may do what
/// both the key's scopes and the creator's current role allow. A demoted creator's keys
/// narrow at once; a creator who leaves or is removed has their keys revoked in the same
/// transaction (audited as `api_key.revoked` with the reason), and an owner mints new ones.
#[derive(Clone)]
pub struct ApiKeyService {
    keys: Arc<dyn ApiKeyRepository>,
    audit: Arc<dyn AuditRepository>,
}

impl ApiKeyService {
    /// Wires the service; refusals are recorded through `audit`.
    pub fn new(keys: Arc<dyn ApiKeyRepository>, audit: Arc<dyn AuditRepository>) -> Self {
        Self { keys, audit }
    }

    /// Creates a key with the given scopes and returns its secret, which is never shown again.
    /// Scopes must be permissions of the catalogue that the creator holds and that a key may
    /// hold (not [`crate::scope::PERSON_ONLY`]); `expires_at` must be in the future.
    pub async fn create(
        &self,
        scope: &TenantScope,
        input: CreateApiKey,
    ) -> DomainResult<IssuedApiKey> {
        let created_by = scope.require_user()?;
        scope
            .authorize(&*self.audit, Permission::ApiKeysManage)
            .await?;
        let mut v = Validator::new();
        let name = v.check(ApiKeyName::parse(&input.name));
        let scopes = v.check(parse_scopes(scope, &input.scopes));
        let now = crate::now();
        if input.expires_at.is_some_and(|t| t <= now) {
            v.check::<()>(Err(DomainError::invalid(
                "expires_at",
                "past",
                "expires_at must be in the future",
            )));
        }
        let (name, scopes) = v.values((name, scopes))?;
        let (prefix, secret) = model::generate();
        let key = ApiKey {
            id: ApiKeyId::new(),
            organization_id: scope.organization_id(),
            name,
            prefix,
            scopes,
            created_by,
            created_at: now,
            last_used_at: None,
            expires_at: input.expires_at,
        };
        let new = NewApiKey {
            key,
            digest: secret.digest(),
        };
        self.keys
            .create(
                scope,
                &new,
                AuditEntry::created("api_key.created", &new.key),
            )
            .await?;
        Ok(IssuedApiKey {
            key: new.key,
            secret,
        })
    }

    /// The organization's live keys, newest first.
    pub async fn list(&self, scope: &TenantScope, page: PageRequest) -> DomainResult<Page<ApiKey>> {
        scope.require_user()?;
        scope
            .authorize(&*self.audit, Permission::ApiKeysManage)
            .await?;
        self.keys.list(scope, page).await
    }

    /// Revokes a key; it stops working at once.
    pub async fn revoke(&self, scope: &TenantScope, id: ApiKeyId) -> DomainResult<()> {
        scope.require_user()?;
        scope
            .authorize(&*self.audit, Permission::ApiKeysManage)
            .await?;
        self.keys
            .revoke(scope, id, Revocation::Manual.entry(id))
            .await
    }

    /// Turns a presented key into the scope of its organization, holding the key's scopes that
    /// its creator still holds, or [`DomainError::Unauthorized`] for anything but a live key
    /// of a live organization whose creator is still a member.
    pub async fn authenticate(
        &self,
        presented: &str,
        request: RequestMeta,
    ) -> DomainResult<TenantScope> {
        let (prefix, secret) = model::parse(presented).ok_or(DomainError::Unauthorized)?;
        let key = self
            .keys
            .resolve(&prefix, &secret.digest())
            .await?
            .ok_or(DomainError::Unauthorized)?;
        let scopes = key.effective_scopes();
        Ok(
            TenantScope::for_api_key(key.organization_id, key.id, key.created_by, scopes)
                .with_request(request),
        )
    }
}

fn parse_scopes(scope: &TenantScope, raw: &[String]) -> DomainResult<Vec<Permission>> {
    let mut errors = Vec::new();
    let mut scopes = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        let field = format!("scopes[{i}]");
        match Permission::parse(name) {
            None => errors.push(FieldError::new(
                field,
                "unknown",
                format!("{name:?} is not a permission"),
            )),
            Some(p) if !p.for_keys() => errors.push(FieldError::new(
                field,
                "not_grantable",
                format!("API keys cannot hold {p}, which only a person may"),
            )),
            Some(p) if !scope.has(p) => errors.push(FieldError::new(
                field,
                "not_held",
                format!("you cannot grant {p}, which you do not hold"),
            )),
            Some(p) if !scopes.contains(&p) => scopes.push(p),
            Some(_) => {}
        }
    }
    if raw.is_empty() {
        errors.push(FieldError::new(
            "scopes",
            "required",
            "a key needs at least one scope",
        ));
    }
    if errors.is_empty() {
        Ok(scopes)
    } else {
        Err(DomainError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_keys::MockApiKeyRepository;
    use crate::ids::{OrganizationId, UserId};
    use crate::scope::Role;

    fn owner() -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Owner)
    }

    fn input(scopes: &[&str]) -> CreateApiKey {
        CreateApiKey {
            name: "CI deploys".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn create_stores_only_the_digest_and_returns_the_secret_once() {
        let mut keys = MockApiKeyRepository::new();
        keys.expect_create()
            .withf(|_, new, entry| {
                new.key.scopes == [Permission::ProjectsRead]
                    && new.digest.as_str().len() == 64
                    && entry.action == "api_key.created"
                    && !entry.changes.to_string().contains(new.digest.as_str())
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let issued = ApiKeyService::new(Arc::new(keys), crate::audit::accepting())
            .create(&owner(), input(&["projects:read", "projects:read"]))
            .await
            .expect("created");
        assert_eq!(issued.key.scopes, [Permission::ProjectsRead]);
        assert!(
            issued
                .secret
                .expose()
                .starts_with(&format!("bhk_{}_", issued.key.prefix))
        );
    }

    #[tokio::test]
    async fn scopes_must_exist_be_held_and_not_manage_keys() {
        let mut keys = MockApiKeyRepository::new();
        keys.expect_create().never();
        let service = ApiKeyService::new(Arc::new(keys), crate::audit::accepting());
        let Err(DomainError::Validation(errors)) = service
            .create(&owner(), input(&["projects:*", "api_keys:manage"]))
            .await
        else {
            panic!("expected validation errors")
        };
        let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["unknown", "not_grantable"]);
        assert!(matches!(
            service.create(&owner(), input(&[])).await,
            Err(DomainError::Validation(_))
        ));
    }

    #[tokio::test]
    async fn members_and_keys_cannot_manage_keys() {
        let mut keys = MockApiKeyRepository::new();
        keys.expect_create().never();
        keys.expect_list().never();
        let service = ApiKeyService::new(Arc::new(keys), crate::audit::accepting());
        let member = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Member);
        assert!(matches!(
            service.create(&member, input(&["projects:read"])).await,
            Err(DomainError::Forbidden(Permission::ApiKeysManage))
        ));
        let key = TenantScope::for_api_key(
            OrganizationId::new(),
            ApiKeyId::new(),
            UserId::new(),
            vec![Permission::ProjectsRead],
        );
        assert!(matches!(
            service.list(&key, PageRequest::default()).await,
            Err(DomainError::UserOnly)
        ));
    }

    #[tokio::test]
    async fn authenticate_resolves_live_keys_only() {
        let (prefix, secret) = model::generate();
        let org = OrganizationId::new();
        let digest = secret.digest();
        let mut keys = MockApiKeyRepository::new();
        let expected_prefix = prefix.clone();
        keys.expect_resolve()
            .withf(move |p, d| *p == expected_prefix && *d == digest)
            .returning(move |_, _| {
                Ok(Some(super::super::ResolvedKey {
                    id: ApiKeyId::new(),
                    organization_id: org,
                    created_by: UserId::new(),
                    scopes: vec![Permission::ProjectsRead, Permission::ProjectsDelete],
                    // A member: the key's projects:delete is not theirs to lend.
                    creator_grant: Role::Member.into(),
                }))
            });
        let service = ApiKeyService::new(Arc::new(keys), crate::audit::accepting());
        let scope = service
            .authenticate(secret.expose(), RequestMeta::default())
            .await
            .expect("authenticated");
        assert_eq!(scope.organization_id(), org);
        assert!(scope.has(Permission::ProjectsRead));
        assert!(!scope.has(Permission::ProjectsWrite));
        assert!(
            !scope.has(Permission::ProjectsDelete),
            "a key holds only what its creator still holds"
        );
        assert!(matches!(
            service
                .authenticate("bhk_nope", RequestMeta::default())
                .await,
            Err(DomainError::Unauthorized)
        ));
    }
}
