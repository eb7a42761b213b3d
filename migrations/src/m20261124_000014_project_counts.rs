//! How many live projects each organization holds, kept by triggers, so a page of the list can
//! answer its `total` by reading one row instead of counting the organization's projects on
//! every request (at 1,000 projects the count was most of what PostgreSQL did for a page).
//!
//! The count changes in the same transaction as the projects, so a statement that reads both
//! sees them agree. Writers of one organization's projects queue on its row until they commit,
//! as they already do on the organization's audit head. Filtered lists (a search, or deleted
//! projects included) still count their rows.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ProjectCounts {
    Table,
    OrganizationId,
    Live,
}

/// Inserts and deletes are counted once per statement from the transition tables, so a bulk
/// import or purge touches each organization's row once. Updates are counted per row, and only
/// when a project is deleted or restored: a trigger with a column list cannot have transition
/// tables, and the `WHEN` clause keeps every other update from calling the function at all.
const POSTGRES_UP: &str = "
CREATE FUNCTION bulkhead_count_inserted_projects() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO project_counts (organization_id, live)
    SELECT organization_id, count(*) FROM inserted WHERE deleted_at IS NULL GROUP BY organization_id
  ON CONFLICT (organization_id) DO UPDATE SET live = project_counts.live + EXCLUDED.live;
  RETURN NULL;
END $$;

-- Only an update: when the organization itself goes, its row is already gone.
CREATE FUNCTION bulkhead_count_deleted_projects() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  UPDATE project_counts c SET live = c.live - d.gone
    FROM (SELECT organization_id, count(*) AS gone FROM deleted WHERE deleted_at IS NULL
          GROUP BY organization_id) d
   WHERE c.organization_id = d.organization_id;
  RETURN NULL;
END $$;

CREATE FUNCTION bulkhead_count_toggled_project() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO project_counts (organization_id, live)
    VALUES (NEW.organization_id, CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END)
  ON CONFLICT (organization_id) DO UPDATE SET live = project_counts.live + EXCLUDED.live;
  RETURN NULL;
END $$;

CREATE FUNCTION bulkhead_count_truncated_projects() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM project_counts;
  RETURN NULL;
END $$;

CREATE TRIGGER projects_count_inserted AFTER INSERT ON projects
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION bulkhead_count_inserted_projects();
CREATE TRIGGER projects_count_deleted AFTER DELETE ON projects
  REFERENCING OLD TABLE AS deleted
  FOR EACH STATEMENT EXECUTE FUNCTION bulkhead_count_deleted_projects();
CREATE TRIGGER projects_count_toggled AFTER UPDATE OF deleted_at ON projects
  FOR EACH ROW WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
  EXECUTE FUNCTION bulkhead_count_toggled_project();
CREATE TRIGGER projects_count_truncated AFTER TRUNCATE ON projects
  FOR EACH STATEMENT EXECUTE FUNCTION bulkhead_count_truncated_projects();
";

const POSTGRES_DOWN: &str = "
DROP TRIGGER IF EXISTS projects_count_truncated ON projects;
DROP TRIGGER IF EXISTS projects_count_toggled ON projects;
DROP TRIGGER IF EXISTS projects_count_deleted ON projects;
DROP TRIGGER IF EXISTS projects_count_inserted ON projects;
DROP FUNCTION IF EXISTS bulkhead_count_truncated_projects();
DROP FUNCTION IF EXISTS bulkhead_count_toggled_project();
DROP FUNCTION IF EXISTS bulkhead_count_deleted_projects();
DROP FUNCTION IF EXISTS bulkhead_count_inserted_projects();
";

/// SQLite has row triggers only; its writes are one at a time anyway.
const SQLITE_UP: &str = "
CREATE TRIGGER projects_count_inserted AFTER INSERT ON projects WHEN NEW.deleted_at IS NULL
BEGIN
  INSERT INTO project_counts (organization_id, live) VALUES (NEW.organization_id, 1)
    ON CONFLICT (organization_id) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER projects_count_deleted AFTER DELETE ON projects WHEN OLD.deleted_at IS NULL
BEGIN
  UPDATE project_counts SET live = live - 1 WHERE organization_id = OLD.organization_id;
END;
CREATE TRIGGER projects_count_toggled AFTER UPDATE OF deleted_at ON projects
  WHEN (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
  INSERT INTO project_counts (organization_id, live)
    VALUES (NEW.organization_id, CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END)
    ON CONFLICT (organization_id) DO UPDATE SET live = live + excluded.live;
END;
";

const SQLITE_DOWN: &str = "
DROP TRIGGER IF EXISTS projects_count_toggled;
DROP TRIGGER IF EXISTS projects_count_deleted;
DROP TRIGGER IF EXISTS projects_count_inserted;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProjectCounts::Table)
                    .col(uuid(ProjectCounts::OrganizationId).primary_key())
                    .col(big_integer(ProjectCounts::Live).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProjectCounts::Table, ProjectCounts::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        if postgres {
            // Written only by the triggers, which run as the writer of the projects.
            rls::grant(manager, "project_counts", "SELECT, INSERT, UPDATE").await?;
            rls::isolate(manager, "project_counts", "organization_id", None).await?;
        }
        db.execute_unprepared(if postgres { POSTGRES_UP } else { SQLITE_UP })
            .await?;
        // Projects that exist already; the triggers count from here on.
        db.execute_unprepared(
            "INSERT INTO project_counts (organization_id, live)
               SELECT organization_id, count(*) FROM projects WHERE deleted_at IS NULL
               GROUP BY organization_id",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        manager
            .get_connection()
            .execute_unprepared(if postgres { POSTGRES_DOWN } else { SQLITE_DOWN })
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(ProjectCounts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
