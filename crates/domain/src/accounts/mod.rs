//! Password changes and resets, and email verification: single-use tokens sent by email.

pub mod model;
pub mod port;
pub mod service;

pub use model::{AccountSettings, AccountToken, TokenPurpose};
pub use port::AccountRepository;
#[cfg(any(test, feature = "mock"))]
pub use port::MockAccountRepository;
pub use service::{AccountPorts, AccountService};
