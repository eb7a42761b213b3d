//! Documents, the queue of their text extraction, the chunks of their text, indexed for
//! full-text search: on PostgreSQL a generated `tsvector` column under a GIN index, on SQLite
//! an FTS5 table kept by triggers; and agent configurations' knowledge bases. A worker must find queued documents before it knows their
//! organization, so a transaction that sets `app.queue = 'documents'` may read (never write)
//! every organization's queue rows, as for runs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, string_len, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::TenantTable;
use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CLAIMING: &str = "current_setting('app.queue', true) = 'documents'";

fn document_key(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(Alias::new(table))
        .from_col("organization_id")
        .from_col("document_id")
        .to_tbl("documents")
        .to_col("organization_id")
        .to_col("id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

const POSTGRES_SEARCH: &str = "
ALTER TABLE document_chunks ADD COLUMN tsv tsvector
  GENERATED ALWAYS AS (to_tsvector('english', content)) STORED;
CREATE INDEX document_chunks_tsv_idx ON document_chunks USING GIN (tsv);
";

const SQLITE_SEARCH: &str = "
CREATE VIRTUAL TABLE document_chunks_fts USING fts5(
  content, content='document_chunks', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER document_chunks_fts_insert AFTER INSERT ON document_chunks BEGIN
  INSERT INTO document_chunks_fts(rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER document_chunks_fts_delete AFTER DELETE ON document_chunks BEGIN
  INSERT INTO document_chunks_fts(document_chunks_fts, rowid, content)
    VALUES ('delete', old.rowid, old.content);
END;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        TenantTable::new("documents")
            .column(string_len(Alias::new("title"), 200))
            .column(string_len(Alias::new("filename"), 255))
            .column(string_len(Alias::new("content_type"), 64))
            .column(big_integer(Alias::new("size_bytes")))
            .column(string_len(Alias::new("sha256"), 64))
            .column(uuid_null(Alias::new("project_id")))
            .column(string_len(Alias::new("status"), 16))
            .column(text_null(Alias::new("error")))
            .column(big_integer(Alias::new("chunk_count")))
            .references("project_id", "projects", ForeignKeyAction::Cascade)
            .sorted_by("title")
            .sorted_by("size_bytes")
            .create(manager)
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("document_queue")
                    .col(uuid(Alias::new("organization_id")))
                    .col(uuid(Alias::new("document_id")))
                    .col(timestamp_with_time_zone(Alias::new("available_at")))
                    .col(integer(Alias::new("attempts")).default(0))
                    .col(timestamp_with_time_zone_null(Alias::new(
                        "lease_expires_at",
                    )))
                    .primary_key(Index::create().col("organization_id").col("document_id"))
                    .foreign_key(&mut document_key("document_queue"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("document_chunks")
                    .col(uuid(Alias::new("organization_id")))
                    .col(uuid(Alias::new("document_id")))
                    .col(big_integer(Alias::new("seq")))
                    .col(text(Alias::new("content")))
                    .primary_key(
                        Index::create()
                            .col("organization_id")
                            .col("document_id")
                            .col("seq"),
                    )
                    .foreign_key(&mut document_key("document_chunks"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX document_queue_ready_idx ON document_queue (available_at)",
        )
        .await?;
        // A configuration's knowledge base: the ids of the documents its replies draw on, as a
        // JSON array (checked live when named; a document deleted later just stops answering).
        db.execute_unprepared(
            "ALTER TABLE agent_configs ADD COLUMN knowledge text NOT NULL DEFAULT '[]'",
        )
        .await?;
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared(SQLITE_SEARCH).await?;
            return Ok(());
        }
        db.execute_unprepared(POSTGRES_SEARCH).await?;
        rls::grant(manager, "document_queue", "SELECT, INSERT, UPDATE, DELETE").await?;
        rls::isolate(manager, "document_queue", "organization_id", Some(CLAIMING)).await?;
        rls::grant(manager, "document_chunks", "SELECT, INSERT, DELETE").await?;
        rls::isolate(manager, "document_chunks", "organization_id", None).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE agent_configs DROP COLUMN knowledge")
            .await?;
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP TABLE IF EXISTS document_chunks_fts")
                .await?;
        }
        for table in ["document_chunks", "document_queue", "documents"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
