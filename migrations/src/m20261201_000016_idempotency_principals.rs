//! An idempotency key belongs to the principal that sent it (`user:<id>`, `key:<id>`), not only
//! to the organization: another principal's key is simply a different key, so replaying it
//! neither returns someone else's response nor tells whether it was used.
//!
//! Keys kept from before this migration get an empty principal, which no request has: they
//! expire unused within a day.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    OrganizationId,
    Principal,
    Key,
    Fingerprint,
    Status,
    ResponseBody,
    ResponseHeaders,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

const COLUMNS: &str =
    "organization_id, key, fingerprint, status, response_body, response_headers, created_at";

/// The table with or without `principal`, under `name` (SQLite rebuilds tables to change a
/// primary key).
fn table(name: &str, principal: bool) -> TableCreateStatement {
    let mut key = Index::create();
    key.col(IdempotencyKeys::OrganizationId);
    let mut create = Table::create();
    create
        .table(Alias::new(name))
        .col(uuid(IdempotencyKeys::OrganizationId));
    if principal {
        create.col(string_len(IdempotencyKeys::Principal, 80));
        key.col(IdempotencyKeys::Principal);
    }
    key.col(IdempotencyKeys::Key);
    create
        .col(string_len(IdempotencyKeys::Key, 255))
        .col(string_len(IdempotencyKeys::Fingerprint, 64))
        .col(integer_null(IdempotencyKeys::Status))
        .col(text_null(IdempotencyKeys::ResponseBody))
        .col(text_null(IdempotencyKeys::ResponseHeaders))
        .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
        .primary_key(&mut key)
        .foreign_key(
            ForeignKey::create()
                .from(Alias::new(name), IdempotencyKeys::OrganizationId)
                .to(Organizations::Table, Organizations::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

/// SQLite: builds `next` as `table(next, principal)`, copies the rows over (an empty principal
/// when adding the column), and puts it in the old table's place.
async fn rebuild_sqlite(manager: &SchemaManager<'_>, principal: bool) -> Result<(), DbErr> {
    manager
        .create_table(table("idempotency_keys_next", principal))
        .await?;
    let (into, from) = if principal {
        (format!("principal, {COLUMNS}"), format!("'', {COLUMNS}"))
    } else {
        (COLUMNS.to_owned(), COLUMNS.to_owned())
    };
    let db = manager.get_connection();
    for statement in [
        format!("INSERT INTO idempotency_keys_next ({into}) SELECT {from} FROM idempotency_keys"),
        "DROP TABLE idempotency_keys".to_owned(),
        "ALTER TABLE idempotency_keys_next RENAME TO idempotency_keys".to_owned(),
    ] {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return rebuild_sqlite(manager, true).await;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE idempotency_keys ADD COLUMN principal varchar(80) NOT NULL DEFAULT '';
                 ALTER TABLE idempotency_keys ALTER COLUMN principal DROP DEFAULT;
                 ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey,
                   ADD PRIMARY KEY (organization_id, principal, key);",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Two principals may hold the same key: keep one row of each.
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM idempotency_keys WHERE principal <> (
                   SELECT min(k.principal) FROM idempotency_keys k
                    WHERE k.organization_id = idempotency_keys.organization_id
                      AND k.key = idempotency_keys.key)",
            )
            .await?;
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return rebuild_sqlite(manager, false).await;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey,
                   ADD PRIMARY KEY (organization_id, key);
                 ALTER TABLE idempotency_keys DROP COLUMN principal;",
            )
            .await
            .map(|_| ())
    }
}
