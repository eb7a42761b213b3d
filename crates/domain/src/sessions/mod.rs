//! Sign-in sessions: one per device, each with a chain of single-use refresh tokens.

pub mod model;
pub mod port;

pub use model::{NewSession, REFRESH_TOKEN_PREFIX, Rotation, Session, SessionPolicy, TokenPair};
#[cfg(any(test, feature = "mock"))]
pub use port::MockSessionRepository;
pub use port::SessionRepository;
