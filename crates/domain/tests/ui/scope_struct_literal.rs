// A TenantScope cannot be written as a struct literal: its fields are private.
use bulkhead_domain::{OrganizationId, Role, TenantScope, UserId};

fn main() {
    let _forged = TenantScope {
        organization_id: OrganizationId::new(),
        user_id: UserId::new(),
        role: Role::Owner,
    };
}
