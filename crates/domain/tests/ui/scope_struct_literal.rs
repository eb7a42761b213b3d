// A TenantScope cannot be written as a struct literal: its fields are private.
use bulkhead_domain::{Actor, OrganizationId, RequestMeta, Role, TenantScope, UserId};

fn main() {
    let _forged = TenantScope {
        organization_id: OrganizationId::new(),
        actor: Actor::User(UserId::new()),
        role: Some(Role::Owner),
        request: RequestMeta::default(),
    };
}
