//! Runs of agents, their events, and the queue workers claim them from.
//!
//! `agent_runs` is a tenant table like any other. `run_events` hang off a run. `run_queue`
//! holds one row per run a worker has yet to finish: only ids, a lease and attempts. A worker
//! must find queued runs before it knows their organization, so a transaction that sets
//! `app.queue = 'claim'` may read (never write) every organization's queue rows; it then
//! enters the run's organization to claim it, so every write stays confined to one tenant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, string_len, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::TenantTable;
use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The setting that lets a worker's transaction read every organization's queue rows.
const CLAIMING: &str = "current_setting('app.queue', true) = 'claim'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        runs(false).create(manager).await?;
        let db = manager.get_connection();
        db.execute_unprepared(RUN_INDEXES).await?;
        manager.create_table(events()).await?;
        manager.create_table(queue()).await?;
        db.execute_unprepared(QUEUE_INDEXES).await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // Events are append-only for the app role.
            rls::grant(manager, "run_events", "SELECT, INSERT").await?;
            rls::isolate(manager, "run_events", "organization_id", None).await?;
            rls::grant(manager, "run_queue", "SELECT, INSERT, UPDATE, DELETE").await?;
            rls::isolate(manager, "run_queue", "organization_id", Some(CLAIMING)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["run_queue", "run_events", "agent_runs"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// An agent's runs newest first, and by time for metrics.
pub(crate) const RUN_INDEXES: &str = "CREATE INDEX agent_runs_by_agent_idx ON agent_runs \
     (organization_id, agent_id, id);
     CREATE INDEX agent_runs_by_agent_time_idx ON agent_runs \
     (organization_id, agent_id, created_at)";

/// The queue's ready runs and its leases.
pub(crate) const QUEUE_INDEXES: &str =
    "CREATE INDEX run_queue_ready_idx ON run_queue (available_at) \
     WHERE lease_owner IS NULL;
     CREATE INDEX run_queue_leased_idx ON run_queue (lease_expires_at) \
     WHERE lease_owner IS NOT NULL";

/// `agent_runs` as this migration creates it, or with `replies` as migration 22 rebuilds it on
/// SQLite: the agent optional, and the conversation a reply answers in.
pub(crate) fn runs(replies: bool) -> TenantTable {
    let agent = if replies {
        uuid_null(Alias::new("agent_id"))
    } else {
        uuid(Alias::new("agent_id"))
    };
    let mut table = TenantTable::new("agent_runs")
        .column(agent)
        // The configuration as it was: a reference for tracing, not a key, so purging a
        // configuration leaves the history of runs made with it.
        .column(uuid(Alias::new("config_id")))
        .column(big_integer(Alias::new("config_version")))
        .column(string_len(Alias::new("status"), 16))
        .column(text(Alias::new("input")))
        .column(text_null(Alias::new("output")))
        .column(text_null(Alias::new("error")))
        .column(integer(Alias::new("attempt")))
        .column(uuid_null(Alias::new("api_key_id")))
        .column(timestamp_with_time_zone_null(Alias::new("started_at")))
        .column(timestamp_with_time_zone_null(Alias::new("finished_at")))
        .column(big_integer_null(Alias::new("duration_ms")))
        .column(big_integer(Alias::new("tokens_in")))
        .column(big_integer(Alias::new("tokens_out")));
    if replies {
        table = table.column(uuid_null(Alias::new("conversation_id")));
    }
    table = table.references("agent_id", "agents", ForeignKeyAction::Cascade);
    if replies {
        table = table.references(
            "conversation_id",
            "conversations",
            ForeignKeyAction::Cascade,
        );
    }
    table
}

/// `run_events`.
pub(crate) fn events() -> TableCreateStatement {
    Table::create()
        .table("run_events")
        .col(uuid(Alias::new("organization_id")))
        .col(uuid(Alias::new("run_id")))
        .col(big_integer(Alias::new("seq")))
        .col(string_len(Alias::new("kind"), 16))
        .col(text(Alias::new("data")))
        .col(timestamp_with_time_zone(Alias::new("created_at")))
        .primary_key(
            Index::create()
                .col("organization_id")
                .col("run_id")
                .col("seq"),
        )
        .foreign_key(
            ForeignKey::create()
                .from_tbl("run_events")
                .from_col("organization_id")
                .from_col("run_id")
                .to_tbl("agent_runs")
                .to_col("organization_id")
                .to_col("id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

/// `run_queue`.
pub(crate) fn queue() -> TableCreateStatement {
    Table::create()
        .table("run_queue")
        .col(uuid(Alias::new("organization_id")))
        .col(uuid(Alias::new("run_id")))
        .col(timestamp_with_time_zone(Alias::new("available_at")))
        .col(integer(Alias::new("attempts")).default(0))
        .col(uuid_null(Alias::new("lease_owner")))
        .col(timestamp_with_time_zone_null(Alias::new(
            "lease_expires_at",
        )))
        .col(boolean(Alias::new("cancel_requested")).default(false))
        .primary_key(Index::create().col("organization_id").col("run_id"))
        .foreign_key(
            ForeignKey::create()
                .from_tbl("run_queue")
                .from_col("organization_id")
                .from_col("run_id")
                .to_tbl("agent_runs")
                .to_col("organization_id")
                .to_col("id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}
