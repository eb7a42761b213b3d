//! The lifecycle every resource shares: the audit chain, soft delete and versions of projects,
//! and idempotency keys.

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
enum Projects {
    Table,
    Version,
    DeletedAt,
    DeletedBy,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    OrganizationId,
    Id,
    Seq,
    ActorType,
    ActorId,
    ImpersonatorId,
    Action,
    ResourceType,
    ResourceId,
    Changes,
    RequestId,
    ClientIp,
    UserAgent,
    CreatedAt,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    OrganizationId,
    LastSeq,
    LastHash,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    OrganizationId,
    Key,
    Fingerprint,
    Status,
    ResponseBody,
    ResponseHeaders,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for column in [
            big_integer(Projects::Version).default(1).to_owned(),
            timestamp_with_time_zone_null(Projects::DeletedAt),
            uuid_null(Projects::DeletedBy),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Projects::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // A deleted project's name is free again; restoring it clashes if it was taken meanwhile.
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX projects_organization_id_lower_name_key")
            .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX projects_organization_id_lower_name_key \
             ON projects (organization_id, lower(name)) WHERE deleted_at IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX projects_organization_id_deleted_at_idx ON projects (organization_id, deleted_at) \
             WHERE deleted_at IS NOT NULL",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid(AuditEvents::OrganizationId))
                    .col(uuid(AuditEvents::Id))
                    .col(big_integer(AuditEvents::Seq))
                    .col(string_len(AuditEvents::ActorType, 16))
                    .col(string_len_null(AuditEvents::ActorId, 64))
                    .col(uuid_null(AuditEvents::ImpersonatorId))
                    .col(string_len(AuditEvents::Action, 100))
                    .col(string_len(AuditEvents::ResourceType, 50))
                    .col(string_len_null(AuditEvents::ResourceId, 200))
                    .col(text(AuditEvents::Changes))
                    .col(string_len_null(AuditEvents::RequestId, 128))
                    .col(string_len_null(AuditEvents::ClientIp, 64))
                    .col(string_len_null(AuditEvents::UserAgent, 512))
                    .col(timestamp_with_time_zone(AuditEvents::CreatedAt))
                    .col(string_len(AuditEvents::PrevHash, 64))
                    .col(string_len(AuditEvents::Hash, 64))
                    .primary_key(
                        Index::create()
                            .col(AuditEvents::OrganizationId)
                            .col(AuditEvents::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditEvents::Table, AuditEvents::OrganizationId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_organization_id_seq_key")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::OrganizationId)
                    .col(AuditEvents::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_organization_id_created_at_idx")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::OrganizationId)
                    .col(AuditEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;

        // One row per organization: the chain's head. Appends lock it, which serializes the
        // chain of one organization without serializing different organizations.
        manager
            .create_table(
                Table::create()
                    .table(AuditHeads::Table)
                    .col(uuid(AuditHeads::OrganizationId).primary_key())
                    .col(big_integer(AuditHeads::LastSeq))
                    .col(string_len(AuditHeads::LastHash, 64))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditHeads::Table, AuditHeads::OrganizationId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::OrganizationId))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    .col(string_len(IdempotencyKeys::Fingerprint, 64))
                    .col(integer_null(IdempotencyKeys::Status))
                    .col(text_null(IdempotencyKeys::ResponseBody))
                    .col(text_null(IdempotencyKeys::ResponseHeaders))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::OrganizationId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdempotencyKeys::Table, IdempotencyKeys::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // The trail is append-only for the server: no UPDATE, no DELETE.
            rls::grant(manager, "audit_events", "SELECT, INSERT").await?;
            rls::grant(manager, "audit_heads", "SELECT, INSERT, UPDATE").await?;
            rls::grant(
                manager,
                "idempotency_keys",
                "SELECT, INSERT, UPDATE, DELETE",
            )
            .await?;
            for table in ["audit_events", "audit_heads", "idempotency_keys"] {
                rls::isolate(manager, table, "organization_id", None).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["idempotency_keys", "audit_heads", "audit_events"] {
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
