//! Deleting an organization: it is suspended at once (every token and key of it stops
//! working), can be restored by an owner within a grace period, and is then purged.
//!
//! `bulkhead_enter_tenant` gains `p_deleted`: normal requests enter only live organizations,
//! and the restore operation enters only deleted ones, still checking session and membership.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::rls::APP_ROLE;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    DeletedAt,
    DeletedBy,
}

/// The function as this migration defines it.
pub(crate) fn create_function() -> String {
    format!(
        "CREATE FUNCTION bulkhead_enter_tenant(p_org uuid, p_user uuid, p_session uuid, p_deleted boolean DEFAULT false)
           RETURNS text
           LANGUAGE plpgsql VOLATILE SECURITY INVOKER
         AS $$
         DECLARE
           member_role text;
         BEGIN
           PERFORM set_config('app.current_org', p_org::text, true),
                   set_config('app.current_user', coalesce(p_user::text, ''), true);
           IF p_user IS NULL THEN
             RETURN NULL;
           END IF;
           IF NOT EXISTS (
             SELECT 1 FROM organizations o
              WHERE o.id = p_org AND (o.deleted_at IS NOT NULL) = p_deleted
           ) THEN
             RETURN NULL;
           END IF;
           IF p_session IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM sessions s
              WHERE s.id = p_session AND s.user_id = p_user AND s.organization_id = p_org
                AND s.revoked_at IS NULL AND s.expires_at > now()
           ) THEN
             RETURN NULL;
           END IF;
           SELECT m.role INTO member_role FROM memberships m
             WHERE m.organization_id = p_org AND m.user_id = p_user;
           RETURN member_role;
         END
         $$;
         REVOKE ALL ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean) TO {APP_ROLE};"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(timestamp_with_time_zone_null(Organizations::DeletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(uuid_null(Organizations::DeletedBy))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "GRANT UPDATE (deleted_at, deleted_by) ON organizations TO {APP_ROLE};
                 DROP FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid);
                 {}",
                create_function()
            ))
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP FUNCTION IF EXISTS bulkhead_enter_tenant(uuid, uuid, uuid, boolean)",
                )
                .await?;
            manager
                .get_connection()
                .execute_unprepared(&crate::m20261123_000005_sessions::create_function())
                .await?;
        }
        for column in [Organizations::DeletedBy, Organizations::DeletedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Organizations::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
