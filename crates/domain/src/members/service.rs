//! Member use cases, with every permission decision made here, so that services embedding
//! the domain get the same rules as the HTTP API.

use std::sync::Arc;

use super::model::{Member, MemberQuery};
use super::port::MemberRepository;
use crate::api_keys::Revocation;
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::{DomainError, DomainResult};
use crate::ids::UserId;
use crate::page::Page;
use crate::roles::RoleService;
use crate::scope::{Permission, PermissionSet, RoleRef, TenantScope};

/// The members of the scope's organization.
#[derive(Clone)]
pub struct MemberService {
    members: Arc<dyn MemberRepository>,
    roles: RoleService,
    audit: Arc<dyn AuditRepository>,
}

fn member_entry(action: &str, user: UserId, details: serde_json::Value) -> AuditEntry {
    AuditEntry::event(action, "member", Some(user.to_string()), details)
}

impl MemberService {
    /// Wires the service; refusals are recorded through `audit`.
    pub fn new(
        members: Arc<dyn MemberRepository>,
        roles: RoleService,
        audit: Arc<dyn AuditRepository>,
    ) -> Self {
        Self {
            members,
            roles,
            audit,
        }
    }

    /// A page of members (members:read).
    pub async fn list(
        &self,
        scope: &TenantScope,
        query: MemberQuery,
    ) -> DomainResult<Page<Member>> {
        scope
            .authorize(&*self.audit, Permission::MembersRead)
            .await?;
        self.members.list(scope, query).await
    }

    /// One member (members:read); anyone else is [`DomainError::NotFound`].
    pub async fn get(&self, scope: &TenantScope, user: UserId) -> DomainResult<Member> {
        scope
            .authorize(&*self.audit, Permission::MembersRead)
            .await?;
        self.members.get(scope, user).await
    }

    /// Changes a member's role (members:manage). Nobody changes their own role; only owners
    /// grant ownership or change an owner's role; the last owner stays an owner (409). The
    /// caller must hold every permission of both the member's current role and the new one,
    /// so nobody grants, or takes away, more than they hold.
    pub async fn change_role(
        &self,
        scope: &TenantScope,
        user: UserId,
        role: RoleRef,
    ) -> DomainResult<Member> {
        scope
            .authorize(&*self.audit, Permission::MembersManage)
            .await?;
        let actor = scope.require_user()?;
        if actor == user {
            return Err(DomainError::invalid(
                "role",
                "own_role",
                "you cannot change your own role",
            ));
        }
        let target = self.members.get(scope, user).await?;
        self.require_owner_for(scope, &[target.role, role]).await?;
        let granted = self.roles.resolve(scope, "role", role).await?.permissions;
        scope.authorize_all(&*self.audit, granted).await?;
        let held = self.require_outranks(scope, target.role).await?;
        // A downgrade ends the member's sessions here, so tokens issued under the old role stop
        // at once (SECURITY-CASES 17); a promotion keeps them, with the new permissions.
        let downgrade = !held.is_subset(granted);
        let details = serde_json::json!({
            "before": { "role": target.role.to_string() },
            "after": { "role": role.to_string() },
            "sessions_ended": downgrade,
        });
        let entry = member_entry("member.role_changed", user, details);
        self.members
            .change_role(scope, user, target.role, role, downgrade, entry)
            .await?;
        Ok(Member { role, ..target })
    }

    /// Removes a member (members:manage); removing an owner takes an owner, and the last owner
    /// cannot be removed (409). Use [`MemberService::leave`] for oneself.
    pub async fn remove(&self, scope: &TenantScope, user: UserId) -> DomainResult<()> {
        scope
            .authorize(&*self.audit, Permission::MembersManage)
            .await?;
        if scope.require_user()? == user {
            return self.leave(scope).await;
        }
        let target = self.members.get(scope, user).await?;
        self.require_owner_for(scope, &[target.role]).await?;
        self.require_outranks(scope, target.role).await?;
        let details = serde_json::json!({ "role": target.role.to_string() });
        self.members
            .remove(
                scope,
                user,
                target.role,
                member_entry("member.removed", user, details),
                |id| Revocation::CreatorRemoved.entry(id),
            )
            .await
    }

    /// Leaves the organization; the last owner cannot (409).
    pub async fn leave(&self, scope: &TenantScope) -> DomainResult<()> {
        let user = scope.require_user()?;
        let role = scope.role().ok_or(DomainError::Unauthorized)?;
        let entry = member_entry("member.left", user, serde_json::Value::Null);
        self.members
            .remove(scope, user, role, entry, |id| {
                Revocation::CreatorLeft.entry(id)
            })
            .await
    }

    /// Touching an owner, or granting ownership, takes an owner.
    async fn require_owner_for(&self, scope: &TenantScope, roles: &[RoleRef]) -> DomainResult<()> {
        if roles.contains(&RoleRef::OWNER) && !scope.is_owner() {
            return Err(scope.refuse(&*self.audit, Permission::MembersManage).await);
        }
        Ok(())
    }

    /// Changing or removing a member takes every permission their role grants: nobody acts
    /// on someone who holds more than they do. A custom role deleted meanwhile counts as none.
    /// Answers what the role grants.
    async fn require_outranks(
        &self,
        scope: &TenantScope,
        role: RoleRef,
    ) -> DomainResult<PermissionSet> {
        match self.roles.resolve(scope, "role", role).await {
            Ok(held) => scope
                .authorize_all(&*self.audit, held.permissions)
                .await
                .map(|()| held.permissions),
            Err(DomainError::Validation(_)) => Ok(PermissionSet::EMPTY),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrganizationId;
    use crate::ids::RoleId;
    use crate::members::MockMemberRepository;
    use crate::roles::{CustomRole, MockRoleRepository, RoleName};
    use crate::scope::Role;
    use crate::users::{Email, User, UserName};

    fn no_custom_roles() -> RoleService {
        RoleService::new(
            Arc::new(MockRoleRepository::new()),
            crate::audit::accepting(),
        )
    }

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn member(role: impl Into<RoleRef>) -> Member {
        Member {
            user: User {
                id: UserId::new(),
                email: Email::parse("m@example.com").expect("valid"),
                name: UserName::parse("M").expect("valid"),
                created_at: crate::now(),
                email_verified_at: None,
            },
            role: role.into(),
            joined_at: crate::now(),
        }
    }

    #[tokio::test]
    async fn admins_cannot_touch_owners_or_grant_ownership() {
        let mut members = MockMemberRepository::new();
        let owner = member(Role::Owner);
        let plain = member(Role::Member);
        let (owner_id, plain_id) = (owner.user.id, plain.user.id);
        members.expect_get().returning(move |_, id| {
            Ok(if id == owner_id {
                owner.clone()
            } else {
                plain.clone()
            })
        });
        members.expect_change_role().never();
        members.expect_remove().never();
        let service = MemberService::new(
            Arc::new(members),
            no_custom_roles(),
            crate::audit::accepting(),
        );
        let admin = scope(Role::Admin);
        for result in [
            service
                .change_role(&admin, owner_id, Role::Member.into())
                .await
                .map(|_| ()),
            service
                .change_role(&admin, plain_id, Role::Owner.into())
                .await
                .map(|_| ()),
            service.remove(&admin, owner_id).await,
        ] {
            assert!(
                matches!(result, Err(DomainError::Forbidden(_))),
                "{result:?}"
            );
        }
    }

    #[tokio::test]
    async fn members_cannot_manage_and_nobody_changes_their_own_role() {
        let mut members = MockMemberRepository::new();
        members.expect_change_role().never();
        let service = MemberService::new(
            Arc::new(members),
            no_custom_roles(),
            crate::audit::accepting(),
        );
        let plain = scope(Role::Member);
        assert!(matches!(
            service
                .change_role(&plain, UserId::new(), Role::Viewer.into())
                .await,
            Err(DomainError::Forbidden(Permission::MembersManage))
        ));
        let owner = scope(Role::Owner);
        let own = owner.user_id().expect("a user");
        assert!(matches!(
            service.change_role(&owner, own, Role::Admin.into()).await,
            Err(DomainError::Validation(_))
        ));
    }

    #[tokio::test]
    async fn nobody_grants_or_takes_away_a_custom_role_holding_more_than_they_do() {
        let admin = scope(Role::Admin);
        let billing = CustomRole {
            id: RoleId::new(),
            organization_id: admin.organization_id(),
            name: RoleName::from_stored("Billing".into()),
            permissions: [Permission::BillingManage].into_iter().collect(),
            created_at: crate::now(),
            updated_at: crate::now(),
        };
        let billing_id = billing.id;
        let mut roles = MockRoleRepository::new();
        roles
            .expect_get()
            .returning(move |_, _| Ok(billing.clone()));
        let holder = member(RoleRef::Custom(billing_id));
        let plain = member(Role::Member);
        let (holder_id, plain_id) = (holder.user.id, plain.user.id);
        let mut members = MockMemberRepository::new();
        members.expect_get().returning(move |_, id| {
            Ok(if id == holder_id {
                holder.clone()
            } else {
                plain.clone()
            })
        });
        members.expect_change_role().never();
        members.expect_remove().never();
        let service = MemberService::new(
            Arc::new(members),
            RoleService::new(Arc::new(roles), crate::audit::accepting()),
            crate::audit::accepting(),
        );
        for result in [
            service
                .change_role(&admin, plain_id, RoleRef::Custom(billing_id))
                .await
                .map(|_| ()),
            service
                .change_role(&admin, holder_id, Role::Viewer.into())
                .await
                .map(|_| ()),
            service.remove(&admin, holder_id).await,
        ] {
            assert!(
                matches!(
                    result,
                    Err(DomainError::Forbidden(Permission::BillingManage))
                ),
                "{result:?}"
            );
        }
    }
}
