//! Agent configurations, their numbered versions, and agents: the first resources created
//! with [`TenantTable`], so they are isolated like every tenant table.
//!
//! Versions are immutable: the application role may read and add them, never change or
//! delete them (they go only with their configuration, by cascade).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, double, integer, string_len, string_len_null, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::TenantTable;
use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        TenantTable::new("agent_configs")
            .column(string_len(Alias::new("name"), 200))
            .column(string_len(Alias::new("agent_type"), 32))
            .column(uuid_null(Alias::new("project_id")))
            .column(string_len(Alias::new("provider"), 32))
            .column(string_len(Alias::new("model"), 200))
            .column(double(Alias::new("temperature")))
            .column(integer(Alias::new("max_tokens")))
            .column(text(Alias::new("system_prompt")))
            .column(text(Alias::new("tools")))
            .column(string_len_null(Alias::new("base_url"), 2048))
            .column(big_integer(Alias::new("behaviour_version")))
            .column(boolean(Alias::new("active")))
            .column(text_null(Alias::new("credential")))
            .column(timestamp_with_time_zone_null(Alias::new(
                "credential_changed_at",
            )))
            // A configuration goes with its project when the project is purged.
            .references("project_id", "projects", ForeignKeyAction::Cascade)
            .unique_live("lower_name", "lower(name)")
            .sorted_by("name")
            .create(manager)
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("agent_config_versions")
                    .col(uuid(Alias::new("organization_id")))
                    .col(uuid(Alias::new("config_id")))
                    .col(big_integer(Alias::new("number")))
                    .col(text(Alias::new("settings")))
                    .col(uuid(Alias::new("created_by")))
                    .col(timestamp_with_time_zone(Alias::new("created_at")))
                    .primary_key(
                        Index::create()
                            .col("organization_id")
                            .col("config_id")
                            .col("number"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl("agent_config_versions")
                            .from_col("organization_id")
                            .from_col("config_id")
                            .to_tbl("agent_configs")
                            .to_col("organization_id")
                            .to_col("id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            rls::grant(manager, "agent_config_versions", "SELECT, INSERT").await?;
            rls::isolate(manager, "agent_config_versions", "organization_id", None).await?;
        }

        TenantTable::new("agents")
            .column(string_len(Alias::new("agent_key"), 100))
            .column(string_len_null(Alias::new("name"), 200))
            .column(uuid(Alias::new("config_id")))
            .column(text(Alias::new("configuration")))
            .column(string_len(Alias::new("status"), 16))
            // Deleting a configuration is refused while live agents use it, so a purge only
            // takes agents that were deleted too.
            .references("config_id", "agent_configs", ForeignKeyAction::Cascade)
            .unique_live("lower_agent_key", "lower(agent_key)")
            .sorted_by("agent_key")
            .create(manager)
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["agents", "agent_config_versions", "agent_configs"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
