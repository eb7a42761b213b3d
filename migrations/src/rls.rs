//! PostgreSQL-only statements: the application role, its grants and the tenant policies.

use sea_orm_migration::prelude::*;

/// The role the server connects as on PostgreSQL.
pub const APP_ROLE: &str = "bulkhead_app";

/// Creates the application role unless it exists. Roles are cluster-wide, so several databases
/// (and parallel test runs) may race here; losing the race is fine.
pub(crate) async fn ensure_app_role(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                 CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
               END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;
             GRANT USAGE ON SCHEMA public TO {APP_ROLE};"
        ))
        .await
        .map(|_| ())
}

/// Grants `privileges` on `table` to the application role.
pub(crate) async fn grant(
    manager: &SchemaManager<'_>,
    table: &str,
    privileges: &str,
) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&format!("GRANT {privileges} ON {table} TO {APP_ROLE}"))
        .await
        .map(|_| ())
}

/// Puts `table` under forced row-level security, confined to the organization named by the
/// transaction-local setting `app.current_org`. With no setting, the table reads as empty and
/// refuses writes.
///
/// The isolation policy is RESTRICTIVE so that no permissive policy added later can widen it;
/// PostgreSQL needs at least one permissive policy to grant access at all, hence the second one.
/// `extra_read` widens reads only (for example a user's own memberships on the login path).
pub(crate) async fn isolate(
    manager: &SchemaManager<'_>,
    table: &str,
    org_column: &str,
    extra_read: Option<&str>,
) -> Result<(), DbErr> {
    let tenant =
        format!("{org_column} = NULLIF(current_setting('app.current_org', true), '')::uuid");
    let using = match extra_read {
        Some(extra) => format!("({tenant}) OR ({extra})"),
        None => tenant.clone(),
    };
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
             CREATE POLICY {table}_tenant_isolation ON {table} AS RESTRICTIVE FOR ALL
               USING ({using}) WITH CHECK ({tenant});
             CREATE POLICY {table}_app_access ON {table} AS PERMISSIVE FOR ALL TO {APP_ROLE}
               USING (true) WITH CHECK (true);"
        ))
        .await
        .map(|_| ())
}

/// Runs `sql` on PostgreSQL; nothing on SQLite, which has no roles, grants or policies.
pub(crate) async fn on_postgres(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}
