// Scopes of API keys and of sessions are made only by authentication, inside the domain crate.
use bulkhead_domain::{ApiKeyId, OrganizationId, Permission, Role, SessionId, TenantScope, UserId};

fn main() {
    let _key = TenantScope::for_api_key(
        OrganizationId::new(),
        ApiKeyId::new(),
        UserId::new(),
        vec![Permission::ProjectsDelete],
    );
    let _session =
        TenantScope::for_session(OrganizationId::new(), UserId::new(), Role::Owner, SessionId::new());
}
