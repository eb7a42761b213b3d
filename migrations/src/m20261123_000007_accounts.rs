//! Account tokens (password reset, email verification), the email outbox, and verified emails.
//!
//! Like `users` and `sessions`, these belong to accounts, not tenants, and are not under
//! row-level security; tokens are stored only as SHA-256 digests. The server may update only
//! the two user columns a password reset or a verification changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::rls::{self, APP_ROLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    EmailVerifiedAt,
}

#[derive(DeriveIden)]
enum AccountTokens {
    Table,
    Digest,
    UserId,
    Purpose,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum OutboxEmails {
    Table,
    Id,
    ToAddress,
    Subject,
    Body,
    CreatedAt,
    SentAt,
    Attempts,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::EmailVerifiedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccountTokens::Table)
                    .col(string_len(AccountTokens::Digest, 64).primary_key())
                    .col(uuid(AccountTokens::UserId))
                    .col(string_len(AccountTokens::Purpose, 32))
                    .col(timestamp_with_time_zone(AccountTokens::CreatedAt))
                    .col(timestamp_with_time_zone(AccountTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AccountTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountTokens::Table, AccountTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(
                        Expr::col(AccountTokens::Purpose)
                            .is_in(["password_reset", "email_verification"]),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("account_tokens_user_id_idx")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxEmails::Table)
                    .col(uuid(OutboxEmails::Id).primary_key())
                    .col(string_len(OutboxEmails::ToAddress, 254))
                    .col(string_len(OutboxEmails::Subject, 200))
                    .col(text(OutboxEmails::Body))
                    .col(timestamp_with_time_zone(OutboxEmails::CreatedAt))
                    .col(timestamp_with_time_zone_null(OutboxEmails::SentAt))
                    .col(integer(OutboxEmails::Attempts).default(0))
                    .col(text_null(OutboxEmails::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_emails_sent_at_created_at_idx")
                    .table(OutboxEmails::Table)
                    .col(OutboxEmails::SentAt)
                    .col(OutboxEmails::CreatedAt)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            rls::grant(manager, "account_tokens", "SELECT, INSERT, UPDATE").await?;
            rls::grant(manager, "outbox_emails", "SELECT, INSERT, UPDATE").await?;
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "GRANT UPDATE (password_hash, email_verified_at) ON users TO {APP_ROLE}"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["outbox_emails", "account_tokens"] {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::EmailVerifiedAt)
                    .to_owned(),
            )
            .await
    }
}
