//! Emails waiting in the outbox.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::users::Email;

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The recipient.
    pub to: Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// An email in the outbox, not yet delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEmail {
    /// The outbox row.
    pub id: Uuid,
    /// The email.
    pub email: OutgoingEmail,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Delivery attempts so far.
    pub attempts: i32,
}
