//! Indexes that serve a page of live projects in list order straight from the index, and let
//! the page's total be counted from the index alone.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX projects_live_by_created_at_idx ON projects (organization_id, created_at, id) \
             WHERE deleted_at IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX projects_live_by_name_idx ON projects (organization_id, name, id) WHERE deleted_at IS NULL",
        )
        .await?;
        // Superseded by the first index above.
        db.execute_unprepared("DROP INDEX projects_organization_id_created_at_idx")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX projects_organization_id_created_at_idx ON projects (organization_id, created_at)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX projects_live_by_name_idx")
            .await?;
        db.execute_unprepared("DROP INDEX projects_live_by_created_at_idx")
            .await?;
        Ok(())
    }
}
