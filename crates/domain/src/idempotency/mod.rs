//! Idempotent creation: a retried POST with the same `Idempotency-Key` and body gets the first
//! response instead of creating twice.

pub mod model;
pub mod port;
pub mod service;

pub use model::{IdempotencyKey, Reservation, StoredResponse};
pub use port::IdempotencyRepository;
#[cfg(any(test, feature = "mock"))]
pub use port::MockIdempotencyRepository;
pub use service::IdempotencyService;
