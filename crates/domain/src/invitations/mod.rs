//! Invitations: an admin invites an email address with a role; the single-use token sent there
//! makes the membership (and the account, if the address has none yet).

pub mod model;
pub mod port;
pub mod service;

pub use model::{AcceptInvitation, Accepted, INVITATION_PREFIX, Invitation, Joining};
pub use port::InvitationRepository;
#[cfg(any(test, feature = "mock"))]
pub use port::MockInvitationRepository;
pub use service::{InvitationPorts, InvitationService};
