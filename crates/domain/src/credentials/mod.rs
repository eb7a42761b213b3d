//! Credentials: the ports that hash passwords, sign and verify tokens, and run work nobody may
//! wait for, and the values they carry. Authentication, accounts, sessions, invitations and
//! the platform use them; they use none of those.

pub mod model;
pub mod port;

pub use model::{AccessToken, PlatformToken, TokenSubject};
#[cfg(test)]
pub(crate) use port::Later;
pub use port::{Deferred, DeferredWork, PasswordHasher, TokenCodec};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockPasswordHasher, MockTokenCodec};
