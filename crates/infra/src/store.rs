//! The connection pool and the start-up checks on the database role.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement,
};

use crate::error::InfraError;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Largest number of connections (PostgreSQL; SQLite always uses one writer connection).
    pub max_connections: u32,
    /// How long a request waits for a connection before failing with 503.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// The database the adapters share: PostgreSQL (with row-level security) or SQLite.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Opens a pool. Connection attempts and pool waits are bounded by `acquire_timeout`, so a
    /// database that is down makes requests fail fast instead of hanging.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, InfraError> {
        let mut connect = ConnectOptions::new(url.to_owned());
        let sqlite = url.starts_with("sqlite:");
        connect
            // SQLite allows one writer; a single connection serializes writes instead of
            // failing them with SQLITE_BUSY, and keeps an in-memory database alive.
            .max_connections(if sqlite { 1 } else { options.max_connections })
            .min_connections(if sqlite { 1 } else { 0 })
            .acquire_timeout(options.acquire_timeout)
            .connect_timeout(options.acquire_timeout)
            .connect_lazy(!sqlite)
            .sqlx_logging(false);
        if sqlite {
            connect
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        }
        let db = Database::connect(connect).await?;
        Ok(Self { db })
    }

    /// The underlying connection, for migrations and tests.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Whether this is PostgreSQL, the only store with row-level security.
    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DatabaseBackend::Postgres
    }

    /// On PostgreSQL, refuses a role that would bypass row-level security (superuser,
    /// BYPASSRLS, or owner of a table) and tenant tables without forced RLS (migrations not
    /// run). Does nothing on SQLite.
    pub async fn verify_app_role(&self, tenant_tables: &[&str]) -> Result<(), InfraError> {
        if !self.is_postgres() {
            return Ok(());
        }
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT r.rolname::text AS role, r.rolsuper, r.rolbypassrls,
                   coalesce((SELECT string_agg(c.relname::text, ', ' ORDER BY c.relname)
                      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relowner = r.oid), '') AS owned,
                   coalesce((SELECT string_agg(t, ', ' ORDER BY t) FROM unnest($1::text[]) AS t
                      WHERE NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = 'public' AND c.relname = t AND c.relrowsecurity AND c.relforcerowsecurity)), '') AS unprotected
                 FROM pg_roles r WHERE r.rolname = current_user",
                [tenant_tables.iter().map(|t| t.to_string()).collect::<Vec<_>>().into()],
            ))
            .await?
            .ok_or_else(|| InfraError::Config("cannot read the current role from pg_roles".into()))?;
        let role: String = row.try_get("", "role")?;
        let superuser: bool = row.try_get("", "rolsuper")?;
        let bypass: bool = row.try_get("", "rolbypassrls")?;
        let owned: String = row.try_get("", "owned")?;
        let unprotected: String = row.try_get("", "unprotected")?;
        let refuse = |why: String| {
            Err(InfraError::Config(format!(
                "refusing to serve as database role {role:?}: {why}. Connect DATABASE_URL as the application \
                 role created by `bulkhead migrate` (bulkhead_app), and run migrations as the owner \
                 (BULKHEAD_ADMIN_DATABASE_URL)"
            )))
        };
        if superuser {
            return refuse("it is a superuser, which bypasses row-level security".into());
        }
        if bypass {
            return refuse("it has BYPASSRLS".into());
        }
        if !owned.is_empty() {
            return refuse(format!(
                "it owns tables ({owned}), and owners can disable row-level security"
            ));
        }
        if !unprotected.is_empty() {
            return Err(InfraError::Config(format!(
                "tables without forced row-level security: {unprotected}; run `bulkhead migrate` first"
            )));
        }
        Ok(())
    }
}
