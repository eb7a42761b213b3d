//! API keys: tenant data under row-level security, stored as a public prefix and the SHA-256
//! digest of the whole secret.
//!
//! Authentication finds a key by its prefix before any tenant is known, so the isolation policy
//! also lets a transaction read the row whose prefix it names in `app.api_key_prefix` (and only
//! for reading: writes stay confined to the current tenant). Knowing a prefix is worthless
//! without the secret whose digest must match.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::rls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    OrganizationId,
    Id,
    Name,
    Prefix,
    SecretDigest,
    Scopes,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    RevokedBy,
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
                    .table(ApiKeys::Table)
                    .col(uuid(ApiKeys::OrganizationId))
                    .col(uuid(ApiKeys::Id))
                    .col(string_len(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Prefix, 16))
                    .col(string_len(ApiKeys::SecretDigest, 64))
                    .col(string_len(ApiKeys::Scopes, 500))
                    .col(uuid(ApiKeys::CreatedBy))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(uuid_null(ApiKeys::RevokedBy))
                    .primary_key(
                        Index::create()
                            .col(ApiKeys::OrganizationId)
                            .col(ApiKeys::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::CreatedBy)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Unique per organization, like every tenant constraint; the prefix is 64 random bits,
        // so the lookup index below finds one row in practice, and the digest decides anyway.
        manager
            .create_index(
                Index::create()
                    .name("api_keys_organization_id_prefix_key")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::OrganizationId)
                    .col(ApiKeys::Prefix)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("api_keys_prefix_idx")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::Prefix)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            rls::grant(manager, "api_keys", "SELECT, INSERT, UPDATE").await?;
            rls::isolate(
                manager,
                "api_keys",
                "organization_id",
                Some("prefix = NULLIF(current_setting('app.api_key_prefix', true), '')"),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).if_exists().to_owned())
            .await
    }
}
