// The only constructor is crate-private: outside the domain crate, a scope comes from
// Authenticator::authenticate.
use bulkhead_domain::{OrganizationId, Role, TenantScope, UserId};

fn main() {
    let _forged = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Owner);
}
