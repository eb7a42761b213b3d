//! The members of an organization: listing them, changing their roles, removing them, and
//! leaving, with the rule that an organization always keeps an owner.

pub mod model;
pub mod port;
pub mod service;

pub use model::{Member, MemberQuery};
pub use port::MemberRepository;
#[cfg(any(test, feature = "mock"))]
pub use port::MockMemberRepository;
pub use service::MemberService;
