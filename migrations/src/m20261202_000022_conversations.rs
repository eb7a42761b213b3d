//! Conversations, their messages and events, and reply runs.
//!
//! A conversation is private to the member who started it. On PostgreSQL a second RESTRICTIVE
//! policy confines `conversations` to `app.current_user` (its `created_by`), on top of the
//! organization's: another member, admins and owners included, reads nothing of it even
//! through a query that forgets the owner. Messages and events are visible only where their
//! conversation is (the policy asks `conversations`, itself under both policies). A purge
//! (`app.purge = 'on'`) may see soft-deleted conversations of every member of the
//! organization it entered, and nothing live.
//!
//! A reply run is a run of the conversation's agent configuration, not of an agent:
//! `agent_runs.agent_id` becomes optional and `conversation_id` names the conversation. SQLite
//! cannot drop a NOT NULL in place, so there the run tables are rebuilt (renamed away, created
//! anew, copied, the old ones dropped children first so nothing cascades).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, string_len, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::TenantTable;
use crate::m20261202_000019_runs as runs;
use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

const OWNER: &str = "created_by = NULLIF(current_setting('app.current_user', true), '')::uuid";

fn of_visible_conversation(table: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM conversations c WHERE c.organization_id = {table}.organization_id \
         AND c.id = {table}.conversation_id)"
    )
}

fn conversation_key(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(Alias::new(table))
        .from_col("organization_id")
        .from_col("conversation_id")
        .to_tbl("conversations")
        .to_col("organization_id")
        .to_col("id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn messages() -> TableCreateStatement {
    Table::create()
        .table("conversation_messages")
        .col(uuid(Alias::new("organization_id")))
        .col(uuid(Alias::new("id")))
        .col(uuid(Alias::new("conversation_id")))
        .col(big_integer(Alias::new("seq")))
        .col(string_len(Alias::new("role"), 16))
        .col(text(Alias::new("content")))
        .col(text(Alias::new("metadata")))
        .col(uuid_null(Alias::new("run_id")))
        .col(boolean(Alias::new("awaiting_reply")).default(false))
        .col(timestamp_with_time_zone(Alias::new("created_at")))
        .col(timestamp_with_time_zone_null(Alias::new("deleted_at")))
        .primary_key(Index::create().col("organization_id").col("id"))
        .foreign_key(&mut conversation_key("conversation_messages"))
        .to_owned()
}

fn events() -> TableCreateStatement {
    Table::create()
        .table("conversation_events")
        .col(uuid(Alias::new("organization_id")))
        .col(uuid(Alias::new("conversation_id")))
        .col(big_integer(Alias::new("seq")))
        .col(string_len(Alias::new("kind"), 16))
        .col(text(Alias::new("data")))
        .col(timestamp_with_time_zone(Alias::new("created_at")))
        .primary_key(
            Index::create()
                .col("organization_id")
                .col("conversation_id")
                .col("seq"),
        )
        .foreign_key(&mut conversation_key("conversation_events"))
        .to_owned()
}

/// SQLite: `agent_runs` with an optional agent and a conversation, its queue and events
/// rebuilt around it with every row kept.
async fn rebuild_runs_sqlite(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    // Index names stay with a renamed table; drop them so the new tables can take them.
    let indexes = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('agent_runs', 'run_events', 'run_queue')",
        ))
        .await?;
    for row in indexes {
        let name: String = row.try_get_by_index(0)?;
        db.execute_unprepared(&format!("DROP INDEX \"{name}\""))
            .await?;
    }
    for table in ["run_queue", "run_events", "agent_runs"] {
        db.execute_unprepared(&format!("ALTER TABLE {table} RENAME TO {table}_old"))
            .await?;
    }
    runs::runs(true).create(manager).await?;
    db.execute_unprepared(runs::RUN_INDEXES).await?;
    manager.create_table(runs::events()).await?;
    manager.create_table(runs::queue()).await?;
    db.execute_unprepared(runs::QUEUE_INDEXES).await?;
    for table in ["agent_runs", "run_events", "run_queue"] {
        let columns = db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                format!("SELECT name FROM pragma_table_info('{table}_old')"),
            ))
            .await?
            .iter()
            .map(|row| row.try_get_by_index::<String>(0))
            .collect::<Result<Vec<_>, _>>()?
            .join(", ");
        db.execute_unprepared(&format!(
            "INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_old"
        ))
        .await?;
    }
    for table in ["run_queue", "run_events", "agent_runs"] {
        db.execute_unprepared(&format!("DROP TABLE {table}_old"))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        TenantTable::new("conversations")
            .column(string_len(Alias::new("title"), 200))
            .column(uuid_null(Alias::new("agent_config_id")))
            .column(uuid_null(Alias::new("project_id")))
            .column(text(Alias::new("context")))
            .column(big_integer(Alias::new("message_count")))
            .column(timestamp_with_time_zone_null(Alias::new("last_message_at")))
            .column(boolean(Alias::new("archived")))
            .column(uuid_null(Alias::new("reply_run_id")))
            .references(
                "agent_config_id",
                "agent_configs",
                ForeignKeyAction::Cascade,
            )
            .references("project_id", "projects", ForeignKeyAction::Cascade)
            .sorted_by("title")
            .sorted_by("last_message_at")
            .create(manager)
            .await?;
        manager.create_table(messages()).await?;
        manager.create_table(events()).await?;
        let db = manager.get_connection();
        // A member's own conversations, listed: the owner leads after the organization.
        db.execute_unprepared(
            "CREATE INDEX conversations_by_owner_idx ON conversations \
             (organization_id, created_by, created_at) WHERE deleted_at IS NULL;
             CREATE UNIQUE INDEX conversation_messages_seq_key ON conversation_messages \
             (organization_id, conversation_id, seq)",
        )
        .await?;

        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return rebuild_runs_sqlite(manager).await;
        }
        let purge = "(deleted_at IS NOT NULL AND current_setting('app.purge', true) = 'on')";
        rls::on_postgres(
            manager,
            &format!(
                "CREATE POLICY conversations_owner_privacy ON conversations AS RESTRICTIVE FOR ALL
                   USING ({OWNER} OR {purge}) WITH CHECK ({OWNER});"
            ),
        )
        .await?;
        for (table, privileges) in [
            ("conversation_messages", "SELECT, INSERT, UPDATE"),
            ("conversation_events", "SELECT, INSERT"),
        ] {
            rls::grant(manager, table, privileges).await?;
            rls::isolate(manager, table, "organization_id", None).await?;
            let visible = of_visible_conversation(table);
            rls::on_postgres(
                manager,
                &format!(
                    "CREATE POLICY {table}_owner_privacy ON {table} AS RESTRICTIVE FOR ALL
                       USING ({visible}) WITH CHECK ({visible});"
                ),
            )
            .await?;
        }
        db.execute_unprepared(
            "ALTER TABLE agent_runs ALTER COLUMN agent_id DROP NOT NULL;
             ALTER TABLE agent_runs ADD COLUMN conversation_id uuid;
             ALTER TABLE agent_runs ADD CONSTRAINT agent_runs_conversation_id_fkey
               FOREIGN KEY (organization_id, conversation_id)
               REFERENCES conversations (organization_id, id) ON DELETE CASCADE;
             CREATE INDEX agent_runs_conversation_id_idx ON agent_runs
               (organization_id, conversation_id);",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DELETE FROM agent_runs WHERE agent_id IS NULL")
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared(
                "ALTER TABLE agent_runs DROP COLUMN conversation_id;
                 ALTER TABLE agent_runs ALTER COLUMN agent_id SET NOT NULL;",
            )
            .await?;
        }
        for table in [
            "conversation_events",
            "conversation_messages",
            "conversations",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
