//! The infra layer's error type, and its translation into domain errors.

use bulkhead_domain::DomainError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Failures of setting up or checking the store, tokens or hasher.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// The database refused or failed an operation.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// The configuration is unsafe or invalid; the message says what to change.
    #[error("{0}")]
    Config(String),
}

/// Maps a database error to the domain: lost connections are `Unavailable` (503, retry),
/// everything unexpected is `Internal` (500, details only in logs).
pub(crate) fn to_domain(err: DbErr) -> DomainError {
    let unavailable = match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e.as_ref(),
                sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::WorkerCrashed
            ) || is_lost_connection(&err)
        }
        _ => false,
    };
    if unavailable {
        DomainError::Unavailable(err.to_string())
    } else {
        DomainError::Internal(err.to_string())
    }
}

/// Whether `err` says the connection itself is gone: the socket failed, or PostgreSQL ended
/// the session (SQLSTATE class 08, connection exception, or 57P, a shutdown or an
/// administrator's `pg_terminate_backend`).
pub(crate) fn is_lost_connection(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    match e.as_ref() {
        sea_orm::sqlx::Error::Io(_) => true,
        sea_orm::sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Like [`to_domain`], but a unique-constraint violation becomes a `Conflict` with `message`.
/// The message is fixed by the caller, so it never echoes another tenant's clashing row.
pub(crate) fn conflict_or_domain(message: &'static str) -> impl Fn(DbErr) -> DomainError {
    move |err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => DomainError::Conflict(message.to_owned()),
        _ => to_domain(err),
    }
}

/// Like [`conflict_or_domain`], for writes whose foreign key may have lost its row meanwhile
/// (a custom role deleted between the check and the write) as well.
pub(crate) fn conflict_on_key(message: &'static str) -> impl Fn(DbErr) -> DomainError {
    move |err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_) | SqlErr::ForeignKeyConstraintViolation(_)) => {
            DomainError::Conflict(message.to_owned())
        }
        _ => to_domain(err),
    }
}

/// A stored value that no longer parses means the data is corrupt, not that the client erred.
pub(crate) fn corrupt<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> DomainError + '_ {
    move |err| DomainError::Internal(format!("stored {what} is invalid: {err}"))
}
