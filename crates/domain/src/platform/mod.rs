//! Platform administration: superusers (set only by the `create-superuser` command) list,
//! create, suspend and reactivate organizations, and read a tenant's data only through an
//! audited, read-only, short-lived impersonation.

pub mod model;
pub mod port;
pub mod service;

pub use model::{
    Impersonation, NewOrganization, OrganizationStatus, PlatformOrganization,
    PlatformOrganizationQuery, PlatformScope,
};
#[cfg(any(test, feature = "mock"))]
pub use port::MockPlatformRepository;
pub use port::PlatformRepository;
pub use service::{PlatformPorts, PlatformService};
