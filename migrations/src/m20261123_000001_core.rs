//! Organizations, users, memberships and projects.
//!
//! Tenant tables carry `organization_id` in their primary key, their unique constraints and
//! their foreign keys to other tenant tables, which keeps every lookup on a tenant-leading
//! index and lets the schema be distributed by `organization_id` (Citus).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    OrganizationId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    OrganizationId,
    Id,
    Name,
    Description,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(uuid(Organizations::Id).primary_key())
                    .col(string_len(Organizations::Name, 200))
                    .col(timestamp_with_time_zone(Organizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        // Users are global (one account, several organizations), so they carry no tenant.
        // Emails are stored normalized to lower case, which makes this unique index
        // case-insensitive.
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::Id).primary_key())
                    .col(string_len(Users::Email, 254).unique_key())
                    .col(string_len(Users::Name, 200))
                    .col(string_len(Users::PasswordHash, 100))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(uuid(Memberships::OrganizationId))
                    .col(uuid(Memberships::UserId))
                    .col(string_len(Memberships::Role, 32))
                    .col(timestamp_with_time_zone(Memberships::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Memberships::OrganizationId)
                            .col(Memberships::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(
                        Expr::col(Memberships::Role).is_in(["owner", "admin", "member", "viewer"]),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("memberships_user_id_idx")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(uuid(Projects::OrganizationId))
                    .col(uuid(Projects::Id))
                    .col(string_len(Projects::Name, 200))
                    .col(text_null(Projects::Description))
                    .col(uuid(Projects::CreatedBy))
                    .col(timestamp_with_time_zone(Projects::CreatedAt))
                    .col(timestamp_with_time_zone(Projects::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Projects::OrganizationId)
                            .col(Projects::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Projects::Table, Projects::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Projects::Table, Projects::CreatedBy)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Names are unique per organization regardless of case. An expression index is
        // understood by both PostgreSQL and SQLite (whose lower() folds ASCII only).
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX projects_organization_id_lower_name_key ON projects (organization_id, lower(name))",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX projects_organization_id_created_at_idx ON projects (organization_id, created_at)")
            .await?;

        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            rls::ensure_app_role(manager).await?;
            rls::grant(manager, "organizations", "SELECT, INSERT").await?;
            rls::grant(manager, "users", "SELECT, INSERT").await?;
            rls::grant(manager, "memberships", "SELECT, INSERT").await?;
            rls::grant(manager, "projects", "SELECT, INSERT, UPDATE, DELETE").await?;
            rls::isolate(manager, "organizations", "id", None).await?;
            // A user may read their own memberships in every organization: that is how login
            // finds the organizations to choose from, before any tenant is set.
            rls::isolate(
                manager,
                "memberships",
                "organization_id",
                Some("user_id = NULLIF(current_setting('app.current_user', true), '')::uuid"),
            )
            .await?;
            rls::isolate(manager, "projects", "organization_id", None).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["projects", "memberships", "users", "organizations"] {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
