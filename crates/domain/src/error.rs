//! The domain's one error type.

use crate::permissions::Permission;
use crate::quota::QuotaExceeded;

/// Result alias used by every service and port.
pub type DomainResult<T> = Result<T, DomainError>;

/// One invalid input field, reported back to the caller.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The name of the field, as the client sent it (`name`, `limit`, ...).
    pub field: String,
    /// A stable machine-readable code (`length`, `required`, `format`, ...).
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// Everything a service or port can fail with.
///
/// Adapters translate their own failures into these variants; the HTTP layer maps each variant
/// to exactly one status code.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input is invalid; nothing was changed.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// The object does not exist in the caller's organization. Objects of other organizations
    /// are reported exactly like objects that never existed.
    #[error("not found")]
    NotFound,
    /// The caller is authenticated for the organization but lacks a permission.
    #[error("missing permission {0}")]
    Forbidden(Permission),
    /// Too many requests of this kind from this client, account or principal; nothing was
    /// done. Retry after the given number of seconds.
    #[error("rate limited for {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the limit's window ends.
        retry_after_secs: u64,
    },
    /// The password was right, but the account's email is not verified and the server
    /// requires it.
    #[error("email not verified")]
    EmailUnverified,
    /// A rule of the organization keeps this caller from doing this, whatever their
    /// permissions (independent review, say); the message names the rule.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// Only a signed-in user may do this; the caller is an API key.
    #[error("only a signed-in user may do this")]
    UserOnly,
    /// Credentials or token are missing, wrong, expired or no longer backed by a membership.
    #[error("unauthorized")]
    Unauthorized,
    /// The change clashes with existing state (a duplicate name, an email already registered).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The client's version precondition (`If-Match`) does not hold: the object changed since
    /// the client read it; nothing was changed.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The create would pass a limit of the organization's plan; nothing was created.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(QuotaExceeded),
    /// The organization's subscription has lapsed past its grace period: it is read-only
    /// until it is paid (billing itself still works).
    #[error("subscription inactive")]
    SubscriptionInactive,
    /// A signed request (an inbound webhook) whose signature does not verify; nothing was
    /// read from it.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// An upload is larger than the deployment accepts; nothing was kept. The message names
    /// the limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// An upload's type is not one the server accepts, or its bytes are not what its declared
    /// type says; nothing was kept. The message says which.
    #[error("unsupported type: {0}")]
    UnsupportedType(String),
    /// The store cannot be reached right now; retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// An unexpected failure. The message is for logs, never for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// A validation error about a single field.
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }
}

/// Collects field errors from several parsers so a client learns about all of them at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// Starts an empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value of a successful parse, or records its field errors.
    pub fn check<T>(&mut self, parsed: DomainResult<T>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(DomainError::Validation(mut errors)) => {
                self.errors.append(&mut errors);
                None
            }
            Err(other) => {
                self.errors
                    .push(FieldError::new("", "invalid", other.to_string()));
                None
            }
        }
    }

    /// Fails with every recorded error, if there is any.
    pub fn finish(self) -> DomainResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self.errors))
        }
    }

    /// Fails with every recorded error, if there is any, else answers the checked values
    /// (the results of [`Validator::check`], as a tuple), every one of them present.
    pub fn values<C: Checked>(self, checked: C) -> DomainResult<C::Values> {
        self.finish()?;
        // A check that failed recorded an error, so every value is present here.
        checked
            .present()
            .ok_or_else(|| DomainError::Internal("a failed check recorded no error".into()))
    }
}

/// A tuple of [`Validator::check`] results: `(Option<A>, Option<B>, ...)`.
pub trait Checked {
    /// The tuple of the values, `(A, B, ...)`.
    type Values;
    /// The values, if every one is present.
    fn present(self) -> Option<Self::Values>;
}

macro_rules! checked_tuples {
    ($(($($value:ident),+);)+) => {
        $(
            impl<$($value),+> Checked for ($(Option<$value>,)+) {
                type Values = ($($value,)+);

                #[allow(non_snake_case)]
                fn present(self) -> Option<Self::Values> {
                    let ($($value,)+) = self;
                    Some(($($value?,)+))
                }
            }
        )+
    };
}

checked_tuples! {
    (A, B);
    (A, B, C);
    (A, B, C, D);
    (A, B, C, D, E);
    (A, B, C, D, E, F);
    (A, B, C, D, E, F, G);
    (A, B, C, D, E, F, G, H);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_out_only_when_every_check_passed() {
        let mut v = Validator::new();
        let a = v.check(Ok::<_, DomainError>(1));
        let b = v.check(Ok::<_, DomainError>("b"));
        assert_eq!(v.values((a, b)).expect("valid"), (1, "b"));

        let mut v = Validator::new();
        let a = v.check(Ok::<_, DomainError>(1));
        let b: Option<i32> = v.check(Err(DomainError::invalid("b", "format", "bad")));
        match v.values((a, b)) {
            Err(DomainError::Validation(errors)) => assert_eq!(errors[0].field, "b"),
            other => panic!("expected the field error, got {other:?}"),
        }
        // A value missing without an error is a bug reported as one, never a panic.
        let missing: (Option<i32>, Option<i32>) = (Some(1), None);
        assert!(matches!(
            Validator::new().values(missing),
            Err(DomainError::Internal(_))
        ));
    }
}
