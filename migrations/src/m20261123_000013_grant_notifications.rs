//! Notifications of changed grants, for the server's per-process cache of what members hold.
//!
//! A changed or deleted membership, and a custom role whose permissions change, notify the
//! `bulkhead_grants` channel with the organization's id, at commit. Every server process
//! listens and forgets its cached grants in that organization, so a change made by another
//! process, or directly in the database, applies there too. The cache is only a shortcut: the
//! first statement of each unit of work reads the grant again and refuses a request that
//! counted on a permission since taken away. PostgreSQL only; SQLite caches nothing.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE FUNCTION bulkhead_notify_grants() RETURNS trigger
                   LANGUAGE plpgsql AS $$
                 BEGIN
                   PERFORM pg_notify('bulkhead_grants', OLD.organization_id::text);
                   RETURN NULL;
                 END $$;
                 CREATE TRIGGER memberships_notify_grants
                   AFTER UPDATE OF role, role_id OR DELETE ON memberships
                   FOR EACH ROW EXECUTE FUNCTION bulkhead_notify_grants();
                 CREATE TRIGGER roles_notify_grants
                   AFTER UPDATE OF permissions ON roles
                   FOR EACH ROW EXECUTE FUNCTION bulkhead_notify_grants();",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TRIGGER IF EXISTS roles_notify_grants ON roles;
                 DROP TRIGGER IF EXISTS memberships_notify_grants ON memberships;
                 DROP FUNCTION IF EXISTS bulkhead_notify_grants();",
            )
            .await?;
        Ok(())
    }
}
