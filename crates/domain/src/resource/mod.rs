//! The resource kit: the one shape of every tenant resource.
//!
//! A resource is described once, by implementing [`Resource`] on a unit struct: its id type,
//! its own fields, how a create and a partial update are validated, its three permissions and
//! its sort fields. Everything else is shared: [`Record`] adds the lifecycle every tenant row
//! has (organization, creator, times, version, soft deletion), [`TenantRepository`] is its one
//! storage port (every method takes the [`crate::TenantScope`]), and [`Resources`] holds the
//! use cases every resource repeats: the audited permission check, validation, the version
//! check, soft delete, restore and purge, each write with its audit entry. An aggregate's own
//! service keeps only its own rules on top. `docs/architecture.md` walks through adding one.

pub mod model;
pub mod port;
pub mod service;

pub use model::{Action, ListParams, ListQuery, Record, Resource, RowState, Sort, set_if_given};
#[cfg(any(test, feature = "mock"))]
pub use port::MockTenantRepository;
pub use port::{Change, ChangeOf, TenantRepository};
pub use service::{Purgeable, Resources};
