//! Memberships: which users belong to which organization, with which role.

pub mod model;
pub mod port;

pub use model::Membership;
pub use port::MembershipRepository;
#[cfg(any(test, feature = "mock"))]
pub use port::MockMembershipRepository;
