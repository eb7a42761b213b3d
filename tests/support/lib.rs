//! The black-box test harness: `spawn_app` starts the real application on a random port over a
//! fresh database (a SQLite file, or a new PostgreSQL database migrated by the owner and served
//! through the `bulkhead_app` role), and drops that database afterwards.
//!
//! PostgreSQL is found through `BULKHEAD_TEST_DATABASE_URL` (a superuser URL, any database),
//! else `postgres://postgres@127.0.0.1:5432/postgres`. If it cannot be reached, the test fails:
//! PostgreSQL tests never skip.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::time::Duration;

use std::sync::Arc;

use bulkhead_domain::billing::{Plan, PlanCatalogue, PlanLimits, WebhookSecret};
use bulkhead_domain::limits::Limit;
use bulkhead_infra::sealing::{Keyring, SecretKey};
use bulkhead_server::{Application, Config};
use reqwest::{Client, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

/// The password of every account [`TestApp::register`] creates.
pub const PASSWORD: &str = "correct horse battery";

/// The statuses of several replies, sorted, to compare races by their outcomes.
pub fn sorted_statuses(replies: &[Reply]) -> Vec<u16> {
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    statuses
}

/// SHA-256 of `text`, in hex: how the server stores secrets.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The signing secret of test servers (32+ bytes).
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// The key test servers seal secrets at rest with (`BULKHEAD_SECRETS_KEY`).
pub const SECRETS_KEY: &str =
    "test-key:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// What opens whatever a test server sealed: its configured key, and the key derived from its
/// JWT secret, which servers configured without one use.
pub fn test_keyring() -> Keyring {
    Keyring::new(
        SecretKey::parse(SECRETS_KEY).unwrap(),
        vec![SecretKey::derived_from(JWT_SECRET.as_bytes())],
    )
}

mod app;
pub mod contract;
mod database;
pub mod fake_http;
pub mod moto;
mod owned_postgres;
mod owner;
mod reply;
mod timing;
mod wait;

pub use app::{
    Tenant, TestApp, WEBHOOK_SECRET, spawn_app, spawn_app_at, spawn_app_with, test_config,
    unlimited_plans,
};
pub use database::{TestDatabase, admin_url};
pub use fake_http::Received;
pub use owned_postgres::OwnedPostgres;
pub use reply::Reply;
pub use timing::{assert_alike_in_time, median_timings};
pub use wait::{eventually, settles, within};

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Store)` of the calling file against both stores, as tests in
/// modules `sqlite` and `postgres`: for tests that start their servers themselves.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident;)+) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Store::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Store::Postgres).await;
                }
            )+
        }
    };
}

/// Runs each named `async fn(TestApp)` of the calling file against both stores, as tests in
/// modules `sqlite` and `postgres`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident;)+) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::spawn_app($crate::Store::Sqlite).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::spawn_app($crate::Store::Postgres).await).await;
                }
            )+
        }
    };
}
