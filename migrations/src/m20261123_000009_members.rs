//! Members and invitations: the server may now change roles, remove members, rename the
//! organization and the user's own name, and store invitations.
//!
//! A user may read their own memberships in every organization (the login path), and the
//! isolation policy's USING clause says so; with DELETE now granted, a second restrictive
//! policy confines deletions to the current tenant, since DELETE checks only USING.
//!
//! Invitations are tenant data under row-level security. Accepting one happens before any
//! tenant is known, so, as for API keys, the policy also lets a transaction read the one
//! invitation whose token digest it names in `app.invitation_digest`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::rls::{self, APP_ROLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invitations {
    Table,
    OrganizationId,
    Id,
    Email,
    Role,
    TokenDigest,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(uuid(Invitations::OrganizationId))
                    .col(uuid(Invitations::Id))
                    .col(string_len(Invitations::Email, 254))
                    .col(string_len(Invitations::Role, 32))
                    .col(string_len(Invitations::TokenDigest, 64))
                    .col(uuid(Invitations::InvitedBy))
                    .col(timestamp_with_time_zone(Invitations::CreatedAt))
                    .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Invitations::AcceptedAt))
                    .col(uuid_null(Invitations::AcceptedBy))
                    .col(timestamp_with_time_zone_null(Invitations::RevokedAt))
                    .primary_key(
                        Index::create()
                            .col(Invitations::OrganizationId)
                            .col(Invitations::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::InvitedBy)
                            .to(Users::Table, Users::Id),
                    )
                    .check(
                        Expr::col(Invitations::Role).is_in(["owner", "admin", "member", "viewer"]),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invitations_organization_id_token_digest_key")
                    .table(Invitations::Table)
                    .col(Invitations::OrganizationId)
                    .col(Invitations::TokenDigest)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invitations_token_digest_idx")
                    .table(Invitations::Table)
                    .col(Invitations::TokenDigest)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            rls::grant(manager, "invitations", "SELECT, INSERT, UPDATE").await?;
            rls::isolate(
                manager,
                "invitations",
                "organization_id",
                Some("token_digest = NULLIF(current_setting('app.invitation_digest', true), '')"),
            )
            .await?;
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "GRANT UPDATE (role), DELETE ON memberships TO {APP_ROLE};
                     CREATE POLICY memberships_tenant_delete ON memberships AS RESTRICTIVE FOR DELETE
                       USING (organization_id = NULLIF(current_setting('app.current_org', true), '')::uuid);
                     GRANT UPDATE (name) ON organizations TO {APP_ROLE};
                     GRANT UPDATE (name) ON users TO {APP_ROLE};"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Invitations::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
