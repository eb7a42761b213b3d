//! The `bulkhead` binary as a library: configuration, start-up checks and wiring of the infra
//! adapters into the domain services into the HTTP API. Tests build the same [`Application`].

pub mod citus;
pub mod cli;
pub mod config;
mod metrics;
mod startup;
pub mod telemetry;
pub mod worker;

pub use config::Config;
pub use startup::{
    Application, StartupError, create_superuser, export_organization, import_organization,
    latest_migration, migrate, purge, purge_organizations, retry_billing_events, rotate_secrets,
    run_worker, sweep_blobs,
};
