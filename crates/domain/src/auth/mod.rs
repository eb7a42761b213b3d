//! Authentication: registration, login, and turning a token into a [`crate::TenantScope`].

mod authenticate;
mod login;
#[cfg(test)]
mod mocks;
pub mod model;
mod register;
pub mod service;
mod sessions;

pub use crate::credentials::{
    AccessToken, Deferred, DeferredWork, PasswordHasher, PlatformToken, TokenCodec, TokenSubject,
};
#[cfg(any(test, feature = "mock"))]
pub use crate::credentials::{MockPasswordHasher, MockTokenCodec};
pub use crate::organizations::OrganizationMembership;
pub use authenticate::Authenticator;
pub use model::{CurrentUser, Registered};
pub use service::{AuthPorts, AuthService, Login, Register};
