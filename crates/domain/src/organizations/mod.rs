//! Organizations: the tenants.

pub mod model;
pub mod port;
pub mod service;

pub use model::{
    Organization, OrganizationMembership, OrganizationName, OrganizationSettings, Registration,
};
#[cfg(any(test, feature = "mock"))]
pub use port::MockOrganizationRepository;
pub use port::OrganizationRepository;
pub use service::OrganizationService;
