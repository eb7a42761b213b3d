//! The connection pool and the start-up checks on the database role.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, Statement, TransactionTrait,
};

use crate::error::{InfraError, is_lost_connection};
use crate::grants::GrantCache;

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
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Where it connects, for [`Store::sibling`].
    url: Arc<str>,
    options: StoreOptions,
    grants: Arc<GrantCache>,
    /// How often a unit of work's first statement is tried on another pooled connection.
    max_attempts: u32,
}

impl std::fmt::Debug for Store {
    // Not the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.db.get_database_backend())
            .field("options", &self.options)
            .field("grants", &self.grants)
            .finish()
    }
}

impl Store {
    /// Opens a pool. Connection attempts and pool waits are bounded by `acquire_timeout`, so a
    /// database that is down makes requests fail fast instead of hanging.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, InfraError> {
        Self::open(url, options, Arc::new(GrantCache::new())).await
    }

    async fn open(
        url: &str,
        options: &StoreOptions,
        grants: Arc<GrantCache>,
    ) -> Result<Self, InfraError> {
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
            // sqlx pings every connection on its way back to the pool; pinging it again on the
            // way out cost a round trip per request. Under load connections idle for
            // microseconds; one idle for a second is checked first, and a dead one that still
            // slips through is replaced by `on_live_connection`.
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            // Every statement is prepared once per connection and then bound; left to choose,
            // PostgreSQL plans most executions again (row-level security makes planning as
            // costly as running a page query). A generic plan is planned once: the tenant's
            // policies still read the tenant at run time, and every query is keyed by
            // organization on an index that leads with it.
            .map_sqlx_postgres_opts(|pg| pg.options([("plan_cache_mode", "force_generic_plan")]))
            .sqlx_logging(false);
        if sqlite {
            connect
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        }
        let db = Database::connect(connect).await?;
        Ok(Self {
            db,
            url: url.into(),
            options: options.clone(),
            grants,
            max_attempts: options.max_connections + 2,
        })
    }

    /// Another pool of `max_connections` on the same PostgreSQL database, sharing this store's
    /// cache of grants: one per HTTP worker thread. Its connections are opened lazily, by the
    /// first requests that need them, so they belong to that worker's runtime, which then
    /// reads their replies itself instead of waking another thread for each. On SQLite, where
    /// the one connection is the database (in memory, it is), the same store.
    pub async fn sibling(&self, max_connections: u32) -> Result<Self, InfraError> {
        if !self.is_postgres() {
            return Ok(self.clone());
        }
        let options = StoreOptions {
            max_connections,
            ..self.options.clone()
        };
        Self::open(&self.url, &options, self.grants.clone()).await
    }

    /// Runs `first`, a unit of work's first statement, again while it fails because the
    /// pooled connection it drew is gone: the server restarted, failed over or ended the
    /// session while the connection sat idle. Nothing ran on that connection, so trying the
    /// next is safe, and it spares the round trip of a ping before every use. After as many
    /// attempts as the pool has connections, the error stands (503).
    pub(crate) async fn on_live_connection<T, F, Fut>(&self, mut first: F) -> Result<T, DbErr>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        let mut attempts = 1;
        loop {
            match first().await {
                Err(err) if attempts < self.max_attempts && is_lost_connection(&err) => {
                    tracing::debug!(error = %err, "a pooled connection was closed by the server; trying another");
                    attempts += 1;
                }
                result => return result,
            }
        }
    }

    /// Begins a transaction on a live connection (see [`Store::on_live_connection`]).
    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.on_live_connection(|| self.db.begin()).await
    }

    /// The cache of members' grants (PostgreSQL only; see [`crate::grants`]).
    pub(crate) fn grants(&self) -> &GrantCache {
        &self.grants
    }

    /// Keeps the cache of members' grants in step with the database: subscribes to
    /// PostgreSQL's notifications of changed roles and memberships, and answers the task that
    /// follows them, to run for as long as the server does. Without it nothing is cached and
    /// every request reads its grant. `None` on SQLite, which caches nothing.
    pub async fn watch_grants(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        let pool = self.postgres_pool()?.clone();
        let grants = self.grants.clone();
        let listener = grants.subscribe(&pool).await;
        Some(async move { grants.follow(&pool, listener).await })
    }

    fn postgres_pool(&self) -> Option<&sea_orm::sqlx::PgPool> {
        self.is_postgres()
            .then(|| self.db.get_postgres_connection_pool())
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
