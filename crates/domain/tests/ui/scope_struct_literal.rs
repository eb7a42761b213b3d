// A TenantScope cannot be written as a struct literal: its fields are private.
use bulkhead_domain::{
    Actor, Credential, Grant, OrganizationId, Permission, RequestMeta, Role, SessionId,
    TenantScope, UserId,
};

fn main() {
    let _forged = TenantScope {
        organization_id: OrganizationId::new(),
        actor: Actor::User(UserId::new()),
        grant: Some(Grant::system(Role::Owner)),
        credential: Some(Credential::Session(SessionId::new())),
        key_scopes: vec![Permission::ProjectsDelete],
        request: RequestMeta::default(),
    };
}
