//! Authentication: registration, login, and turning a token into a [`crate::TenantScope`].

pub mod model;
pub mod port;
pub mod service;
mod sessions;

pub use model::{
    AccessToken, CurrentUser, OrganizationMembership, PlatformToken, Registered, TokenSubject,
};
pub use port::{Deferred, DeferredWork, PasswordHasher, TokenCodec};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockPasswordHasher, MockTokenCodec};
pub use service::{AuthPorts, AuthService, Login, Register};
