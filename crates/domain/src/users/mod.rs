//! User accounts. Users are global: one account may belong to several organizations through
//! memberships.

pub mod model;
pub mod port;
pub mod service;

pub use model::{Email, Password, PasswordHash, User, UserCredentials, UserName};
#[cfg(any(test, feature = "mock"))]
pub use port::MockUserRepository;
pub use port::UserRepository;
pub use service::UserService;
