// Scopes of API keys, sessions and impersonations are made only by authentication, inside the
// domain crate.
use bulkhead_domain::{
    ApiKeyId, Grant, ImpersonationId, OrganizationId, Permission, Role, SessionId, TenantScope,
    UserId,
};

fn main() {
    let _key = TenantScope::for_api_key(
        OrganizationId::new(),
        ApiKeyId::new(),
        UserId::new(),
        vec![Permission::ProjectsDelete],
    );
    let _session = TenantScope::for_session(
        OrganizationId::new(),
        UserId::new(),
        Grant::system(Role::Owner),
        SessionId::new(),
    );
    let _impersonation =
        TenantScope::for_impersonation(OrganizationId::new(), ImpersonationId::new(), UserId::new());
}
