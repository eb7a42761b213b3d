//! On PostgreSQL, entering a tenant and re-checking the caller's membership in one statement.
//!
//! Every tenant transaction starts with `SELECT bulkhead_enter_tenant($org, $user)`: it sets
//! the transaction-local tenant settings and then, in that order, reads the user's current role
//! in the organization, which the server compares with the role of the request's scope. So a
//! removed or demoted member loses access at the next statement, at no extra round trip. It
//! runs with the caller's rights (SECURITY INVOKER), so row-level security applies to the read.

use sea_orm_migration::prelude::*;

use crate::rls::APP_ROLE;

/// The function as this migration defines it (also restored when a later one is rolled back).
pub(crate) fn create_function() -> String {
    format!(
        "CREATE FUNCTION bulkhead_enter_tenant(p_org uuid, p_user uuid)
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
                   SELECT m.role INTO member_role FROM memberships m
                     WHERE m.organization_id = p_org AND m.user_id = p_user;
                   RETURN member_role;
                 END
                 $$;
                 REVOKE ALL ON FUNCTION bulkhead_enter_tenant(uuid, uuid) FROM PUBLIC;
                 GRANT EXECUTE ON FUNCTION bulkhead_enter_tenant(uuid, uuid) TO {APP_ROLE};"
    )
}

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
            .execute_unprepared(&create_function())
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION IF EXISTS bulkhead_enter_tenant(uuid, uuid)")
            .await
            .map(|_| ())
    }
}
