//! Bulkhead's schema as sea-orm migrations, for PostgreSQL and SQLite.
//!
//! On PostgreSQL the migrations also create the application role (`bulkhead_app`: login,
//! not superuser, no BYPASSRLS, owns nothing), grant it the least it needs, and put every tenant
//! table under forced row-level security. Run them as the tables' owner, never as the app role.

use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_lifecycle;
mod m20261123_000003_enter_tenant;
mod m20261123_000004_list_indexes;
mod m20261123_000005_sessions;
mod m20261123_000006_api_keys;
mod m20261123_000007_accounts;
mod m20261123_000008_rate_limits;
mod m20261123_000009_members;
mod m20261123_000010_project_members;
mod m20261123_000011_organization_deletion;
mod m20261123_000012_roles_and_platform;
mod m20261123_000013_grant_notifications;
mod m20261124_000014_project_counts;
mod m20261201_000015_key_authority;
mod m20261201_000016_idempotency_principals;
mod m20261201_000017_session_policies;
mod m20261202_000018_agents;
mod m20261202_000019_runs;
mod m20261202_000020_work;
mod m20261202_000021_billing;
mod m20261202_000022_conversations;
mod m20261202_000023_documents;
mod m20261203_000024_search_index;
mod rls;
mod tenant_table;

pub use rls::APP_ROLE;
pub use tenant_table::TenantTable;

/// Tables holding tenant data; each is under forced row-level security on PostgreSQL.
pub const TENANT_TABLES: &[&str] = &[
    "organizations",
    "memberships",
    "projects",
    "audit_events",
    "audit_heads",
    "idempotency_keys",
    "api_keys",
    "invitations",
    "project_members",
    "roles",
    "project_counts",
    "sessions",
    "agent_configs",
    "agent_config_versions",
    "agents",
    "agent_runs",
    "run_events",
    "run_queue",
    "work_sessions",
    "work_artifacts",
    "work_checkpoints",
    "work_session_events",
    "billing_subscriptions",
    "billing_checkout_sessions",
    "billing_invoices",
    "usage_counters",
    "billing_events",
    "conversations",
    "conversation_messages",
    "conversation_events",
    "documents",
    "document_queue",
    "document_chunks",
];

/// Global tables, keyed without the tenant, each with the reason: on Citus they are reference
/// tables (copied to every node) or stay on the coordinator, never distributed. The schema
/// lint (tests/schema.rs) refuses a table that is neither tenant-keyed nor listed here.
pub const REFERENCE_TABLES: &[(&str, &str)] = &[
    ("seaql_migrations", "the migrator's bookkeeping"),
    ("users", "a person belongs to any number of organizations"),
    (
        "account_tokens",
        "a user's email verification and reset tokens, found by digest",
    ),
    (
        "refresh_tokens",
        "found by digest before any tenant is known",
    ),
    (
        "rate_limits",
        "counted per client address or account, across organizations",
    ),
    (
        "outbox_emails",
        "mail to people, sent by one process for every organization",
    ),
    (
        "billing_event_ids",
        "every Stripe event id received, to recognize replays, including events about no \
         organization of this server",
    ),
    (
        "sessions",
        "a sign-in session moves between its user's organizations (switch-organization keeps \
         it), so its key cannot hold one; it has organization_id and row-level security for the \
         organization it is in now",
    ),
];

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_lifecycle::Migration),
            Box::new(m20261123_000003_enter_tenant::Migration),
            Box::new(m20261123_000004_list_indexes::Migration),
            Box::new(m20261123_000005_sessions::Migration),
            Box::new(m20261123_000006_api_keys::Migration),
            Box::new(m20261123_000007_accounts::Migration),
            Box::new(m20261123_000008_rate_limits::Migration),
            Box::new(m20261123_000009_members::Migration),
            Box::new(m20261123_000010_project_members::Migration),
            Box::new(m20261123_000011_organization_deletion::Migration),
            Box::new(m20261123_000012_roles_and_platform::Migration),
            Box::new(m20261123_000013_grant_notifications::Migration),
            Box::new(m20261124_000014_project_counts::Migration),
            Box::new(m20261201_000015_key_authority::Migration),
            Box::new(m20261201_000016_idempotency_principals::Migration),
            Box::new(m20261201_000017_session_policies::Migration),
            Box::new(m20261202_000018_agents::Migration),
            Box::new(m20261202_000019_runs::Migration),
            Box::new(m20261202_000020_work::Migration),
            Box::new(m20261202_000021_billing::Migration),
            Box::new(m20261202_000022_conversations::Migration),
            Box::new(m20261202_000023_documents::Migration),
            Box::new(m20261203_000024_search_index::Migration),
        ]
    }
}
