//! Organizations: the tenants.

pub mod model;
pub mod port;

pub use model::{Organization, OrganizationName, Registration};
#[cfg(any(test, feature = "mock"))]
pub use port::MockOrganizationRepository;
pub use port::OrganizationRepository;
