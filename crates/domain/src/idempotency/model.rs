//! Idempotency keys and the responses kept for them.

use crate::error::{DomainError, DomainResult};

/// A client-chosen key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// Validates a key as sent in the `Idempotency-Key` header.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                "Idempotency-Key",
                "format",
                format!(
                    "Idempotency-Key must be 1 to {} visible ASCII characters",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A successful response, kept to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers worth replaying (`location`, `etag`, `content-type`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// What a key allows when a request arrives with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// First use: the request runs, and its response is then kept.
    Fresh,
    /// The same request already succeeded: replay its response.
    Replay(StoredResponse),
    /// The same key is being processed by another request right now.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}
