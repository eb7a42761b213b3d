//! Authentication: registration, login, and turning a token into a [`crate::TenantScope`].

mod authenticate;
mod login;
#[cfg(test)]
mod mocks;
pub mod model;
pub mod port;
mod register;
pub mod service;
mod sessions;

pub use model::{
    AccessToken, CurrentUser, OrganizationMembership, PlatformToken, Registered, TokenSubject,
};
pub use port::{Deferred, DeferredWork, PasswordHasher, TokenCodec};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockPasswordHasher, MockTokenCodec};
pub use service::{AuthPorts, AuthService, Login, Register};
