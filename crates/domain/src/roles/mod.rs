//! Custom roles: named sets of permissions an organization defines beside the fixed system
//! roles. Nobody creates, edits, grants or deletes a role holding a permission they lack.

pub mod model;
pub mod port;
pub mod service;

pub use model::{CustomRole, RoleDefinition, RoleName};
#[cfg(any(test, feature = "mock"))]
pub use port::MockRoleRepository;
pub use port::RoleRepository;
pub use service::{RoleChanges, RoleService};
