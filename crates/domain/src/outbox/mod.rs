//! Outgoing email: written to an outbox in the transaction that decides to send it, then
//! delivered by a [`Mailer`], so that no acknowledged email is lost and none is sent for a
//! change that rolled back.

pub mod model;
pub mod port;
pub mod service;

pub use model::{OutgoingEmail, QueuedEmail};
pub use port::{Mailer, OutboxRepository};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockMailer, MockOutboxRepository};
pub use service::OutboxService;
