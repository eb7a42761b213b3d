//! Work sessions on projects, the artifacts their runs produce, the checkpoints where they
//! wait for a person, and the sessions' events.
//!
//! Sessions, artifacts and checkpoints are tenant tables like any other; each names its
//! project (purging the project removes them) and artifacts and checkpoints name their session
//! through `(organization_id, session_id)`, so none can point across tenants. A session's run
//! is a reference for tracing, not a key: purging the agent removes its runs, not the work.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, string_len, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::TenantTable;
use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        TenantTable::new("work_sessions")
            .column(uuid(Alias::new("project_id")))
            .column(string_len(Alias::new("task_type"), 32))
            .column(text(Alias::new("task_intent")))
            .column(text(Alias::new("task_parameters")))
            .column(uuid_null(Alias::new("agent_id")))
            .column(boolean(Alias::new("checkpoint")))
            .column(string_len(Alias::new("status"), 16))
            .column(uuid_null(Alias::new("run_id")))
            .column(uuid_null(Alias::new("started_by")))
            .column(timestamp_with_time_zone_null(Alias::new("started_at")))
            .column(timestamp_with_time_zone_null(Alias::new("finished_at")))
            .column(text_null(Alias::new("failure_reason")))
            .references("project_id", "projects", ForeignKeyAction::Cascade)
            .create(manager)
            .await?;
        for (table, extra) in [
            ("work_artifacts", "artifact"),
            ("work_checkpoints", "checkpoint"),
        ] {
            let mut spec = TenantTable::new(table)
                .column(uuid(Alias::new("session_id")))
                .column(uuid(Alias::new("project_id")))
                .column(string_len(Alias::new("title"), 200));
            spec = if extra == "artifact" {
                spec.column(string_len(Alias::new("artifact_type"), 32))
                    .column(text(Alias::new("content")))
                    .column(string_len(Alias::new("review_status"), 16))
                    .column(uuid_null(Alias::new("reviewed_by")))
                    .column(timestamp_with_time_zone_null(Alias::new("reviewed_at")))
                    .column(text_null(Alias::new("review_feedback")))
            } else {
                spec.column(text(Alias::new("details")))
                    .column(string_len(Alias::new("status"), 16))
                    .column(uuid_null(Alias::new("resolved_by")))
                    .column(timestamp_with_time_zone_null(Alias::new("resolved_at")))
                    .column(text_null(Alias::new("feedback")))
            };
            spec.references("session_id", "work_sessions", ForeignKeyAction::Cascade)
                .references("project_id", "projects", ForeignKeyAction::Cascade)
                .create(manager)
                .await?;
        }
        // A project's sessions, a session's artifacts and checkpoints, and the session a run
        // belongs to.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX work_sessions_by_project_idx ON work_sessions \
                 (organization_id, project_id, status);
                 CREATE INDEX work_sessions_by_run_idx ON work_sessions \
                 (organization_id, run_id);
                 CREATE INDEX work_artifacts_by_session_idx ON work_artifacts \
                 (organization_id, session_id, created_at);
                 CREATE INDEX work_artifacts_by_project_idx ON work_artifacts \
                 (organization_id, project_id, review_status);
                 CREATE INDEX work_checkpoints_by_session_idx ON work_checkpoints \
                 (organization_id, session_id, status)",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("work_session_events")
                    .col(uuid(Alias::new("organization_id")))
                    .col(uuid(Alias::new("session_id")))
                    .col(big_integer(Alias::new("seq")))
                    .col(string_len(Alias::new("kind"), 32))
                    .col(text(Alias::new("data")))
                    .col(timestamp_with_time_zone(Alias::new("created_at")))
                    .primary_key(
                        Index::create()
                            .col("organization_id")
                            .col("session_id")
                            .col("seq"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl("work_session_events")
                            .from_col("organization_id")
                            .from_col("session_id")
                            .to_tbl("work_sessions")
                            .to_col("organization_id")
                            .to_col("id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // Events are append-only for the app role.
            rls::grant(manager, "work_session_events", "SELECT, INSERT").await?;
            rls::isolate(manager, "work_session_events", "organization_id", None).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "work_session_events",
            "work_checkpoints",
            "work_artifacts",
            "work_sessions",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
