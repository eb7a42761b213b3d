//! Project members: tenant data whose foreign keys include the organization, so a project
//! member is always a member of the project's organization, and leaves the project when they
//! leave the organization.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProjectMembers {
    Table,
    OrganizationId,
    ProjectId,
    UserId,
    Role,
    AddedBy,
    AddedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    OrganizationId,
    Id,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    OrganizationId,
    UserId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProjectMembers::Table)
                    .col(uuid(ProjectMembers::OrganizationId))
                    .col(uuid(ProjectMembers::ProjectId))
                    .col(uuid(ProjectMembers::UserId))
                    .col(string_len(ProjectMembers::Role, 32))
                    .col(uuid(ProjectMembers::AddedBy))
                    .col(timestamp_with_time_zone(ProjectMembers::AddedAt))
                    .primary_key(
                        Index::create()
                            .col(ProjectMembers::OrganizationId)
                            .col(ProjectMembers::ProjectId)
                            .col(ProjectMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(ProjectMembers::Table)
                            .from_col(ProjectMembers::OrganizationId)
                            .from_col(ProjectMembers::ProjectId)
                            .to_tbl(Projects::Table)
                            .to_col(Projects::OrganizationId)
                            .to_col(Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(ProjectMembers::Table)
                            .from_col(ProjectMembers::OrganizationId)
                            .from_col(ProjectMembers::UserId)
                            .to_tbl(Memberships::Table)
                            .to_col(Memberships::OrganizationId)
                            .to_col(Memberships::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(ProjectMembers::Role).is_in(["maintainer", "contributor"]))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            rls::grant(manager, "project_members", "SELECT, INSERT, UPDATE, DELETE").await?;
            rls::isolate(manager, "project_members", "organization_id", None).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ProjectMembers::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
