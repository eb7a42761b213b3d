// A TenantScope cannot be written as a struct literal: its fields are private.
use bulkhead_domain::{
    Actor, Credential, OrganizationId, Permission, RequestMeta, Role, SessionId, TenantScope,
    UserId,
};

fn main() {
    let _forged = TenantScope {
        organization_id: OrganizationId::new(),
        actor: Actor::User(UserId::new()),
        role: Some(Role::Owner),
        credential: Some(Credential::Session(SessionId::new())),
        key_scopes: vec![Permission::ProjectsDelete],
        request: RequestMeta::default(),
    };
}
