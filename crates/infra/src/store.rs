//! The connection pool and the start-up checks on the database role.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{
    ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, Statement, TransactionTrait,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{InfraError, is_lost_connection};
use crate::grants::GrantCache;
use crate::pool_waits::PoolWaits;
use crate::run_signals::SqlRunSignals;
use crate::sealing::Keyring;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Largest number of connections (PostgreSQL; SQLite always uses one writer connection).
    pub max_connections: u32,
    /// How long a request waits for a connection before failing with 503.
    pub acquire_timeout: Duration,
    /// Largest number of read-only units of work running at once (PostgreSQL), below
    /// `max_connections`; writes may use every connection. `None`: see
    /// [`StoreOptions::read_limit`].
    pub max_reads: Option<u32>,
    /// The keys that seal secrets at rest (email bodies carrying one-time tokens). The server
    /// sets them from configuration; the default is a random key of this process alone.
    pub keyring: Keyring,
    /// The plans whose limits every create is checked against, in its own unit of work.
    pub plans: Arc<bulkhead_domain::billing::PlanCatalogue>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            max_reads: None,
            keyring: Keyring::ephemeral(),
            plans: Arc::default(),
        }
    }
}

impl StoreOptions {
    /// How many read-only units of work may run at once against the database at `url`:
    /// `max_reads` when set; otherwise two per core of this machine when the database runs on
    /// it (loopback or a Unix socket), and no limit but the pool when it runs elsewhere.
    ///
    /// A read is CPU work for PostgreSQL from start to end, with no disk flush to wait for.
    /// When PostgreSQL shares this machine's cores, more reads at once than about two per core
    /// only make its backends and the server's threads take turns on them, which lengthens the
    /// tail; waiting for a turn here costs less. Writes spend much of their time waiting for
    /// their commit to reach the disk, so they keep every connection. A database elsewhere
    /// has cores and round-trip times this machine cannot see, so there is no guess for it.
    pub fn read_limit(&self, url: &str) -> Option<u32> {
        self.max_reads.or_else(|| {
            runs_on_this_machine(url).then(|| {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                u32::try_from(cores.saturating_mul(2)).unwrap_or(u32::MAX)
            })
        })
    }
}

/// Whether the PostgreSQL server at `url` is reached over loopback or a Unix socket.
fn runs_on_this_machine(url: &str) -> bool {
    use std::str::FromStr;
    // Only a PostgreSQL URL: sqlx would warn about every parameter of another store's URL
    // (SQLite's `mode=rwc`) that it does not know, on every start.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return false;
    }
    let Ok(options) = sea_orm::sqlx::postgres::PgConnectOptions::from_str(url) else {
        return false;
    };
    let host = options
        .get_host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    options.get_socket().is_some()
        || host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The database the adapters share: PostgreSQL (with row-level security) or SQLite.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Where it connects, for [`Store::sibling`].
    url: Arc<str>,
    options: StoreOptions,
    grants: Arc<GrantCache>,
    /// Wake-ups of event readers and idle workers, shared by every pool of this process.
    signals: SqlRunSignals,
    /// How often a unit of work's first statement is tried on another pooled connection.
    max_attempts: u32,
    /// Turns for read-only units of work, when they are fewer than the connections.
    reads: Option<Arc<Semaphore>>,
    /// How long units of work wait for a connection or a turn, across the process's pools.
    waits: PoolWaits,
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
        let reads = options.read_limit(url);
        Self::open(
            url,
            options,
            reads,
            Arc::new(GrantCache::new()),
            SqlRunSignals::new(),
            PoolWaits::default(),
        )
        .await
    }

    async fn open(
        url: &str,
        options: &StoreOptions,
        max_reads: Option<u32>,
        grants: Arc<GrantCache>,
        signals: SqlRunSignals,
        waits: PoolWaits,
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
            signals,
            waits,
            max_attempts: options.max_connections + 2,
            reads: max_reads
                .filter(|&reads| !sqlite && reads < options.max_connections)
                .map(|reads| Arc::new(Semaphore::new(reads.max(1) as usize))),
        })
    }

    /// Another pool of `max_connections` on the same PostgreSQL database, running at most
    /// `max_reads` read-only units of work at once (`None`: as many as it has connections),
    /// and sharing this store's cache of grants: one per HTTP worker thread. Its connections
    /// are opened lazily, by the first requests that need them, so they belong to that
    /// worker's runtime, which then reads their replies itself instead of waking another
    /// thread for each; its turns for reads are that worker's too. On SQLite, where the one
    /// connection is the database (in memory, it is), the same store.
    pub async fn sibling(
        &self,
        max_connections: u32,
        max_reads: Option<u32>,
    ) -> Result<Self, InfraError> {
        if !self.is_postgres() {
            return Ok(self.clone());
        }
        // `max_reads` is resolved already; the options keep what was configured.
        let options = StoreOptions {
            max_connections,
            ..self.options.clone()
        };
        Self::open(
            &self.url,
            &options,
            max_reads,
            self.grants.clone(),
            self.signals.clone(),
            self.waits.clone(),
        )
        .await
    }

    /// The process's wake-ups of event readers and idle workers.
    pub fn signals(&self) -> &SqlRunSignals {
        &self.signals
    }

    /// Forwards PostgreSQL's notifications of new events to this process's readers and idle
    /// workers for as long as it runs; `None` on SQLite, which serves one process and wakes its
    /// own.
    pub fn follow_signals(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        Some(self.signals.follow(self.postgres_pool()?.clone()))
    }

    /// Waits for a read-only unit of work's turn (see [`StoreOptions::read_limit`]), first in,
    /// first out, for at most the pool's acquire timeout, as a connection is waited for. The
    /// turn lasts as long as the permit. `None` when reads are not limited.
    pub(crate) async fn read_turn(&self) -> Result<Option<OwnedSemaphorePermit>, DbErr> {
        let Some(reads) = &self.reads else {
            return Ok(None);
        };
        let turn = self
            .waited_for(
                "read_turn",
                tokio::time::timeout(self.options.acquire_timeout, reads.clone().acquire_owned()),
            )
            .await;
        match turn {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed; a closed one is as good as a closed pool.
            Ok(Err(_)) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)),
            Err(_) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
        }
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
        self.waited_for("connection", self.on_live_connection(|| self.db.begin()))
            .await
    }

    /// Awaits `waiting`, recording how long it took as a wait for `what`.
    async fn waited_for<T>(&self, what: &'static str, waiting: impl Future<Output = T>) -> T {
        let since = Instant::now();
        let done = waiting.await;
        self.waits.observe(what, since);
        done
    }

    /// Begins a read-only transaction that sees one snapshot from its first statement to its
    /// end (repeatable read): for reads that span many statements, such as an export.
    pub(crate) async fn begin_snapshot(&self) -> Result<DatabaseTransaction, DbErr> {
        let snapshot = self.on_live_connection(|| {
            self.db.begin_with_config(
                Some(sea_orm::IsolationLevel::RepeatableRead),
                Some(sea_orm::AccessMode::ReadOnly),
            )
        });
        self.waited_for("connection", snapshot).await
    }

    /// The process's histogram of waits for connections and turns.
    pub(crate) fn waits(&self) -> &PoolWaits {
        &self.waits
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

    pub(crate) fn postgres_pool(&self) -> Option<&sea_orm::sqlx::PgPool> {
        self.is_postgres()
            .then(|| self.db.get_postgres_connection_pool())
    }

    /// The pool's open connections, idle ones among them, and the most it may open.
    pub(crate) fn pool_figures(&self) -> (u32, usize, u32) {
        if let Some(pool) = self.postgres_pool() {
            return (pool.size(), pool.num_idle(), self.options.max_connections);
        }
        let pool = self.db.get_sqlite_connection_pool();
        (pool.size(), pool.num_idle(), 1)
    }

    /// The underlying connection, for migrations and tests.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The keys that seal secrets at rest.
    pub fn keyring(&self) -> &Keyring {
        &self.options.keyring
    }

    /// The plans limits come from.
    pub fn plans(&self) -> &bulkhead_domain::billing::PlanCatalogue {
        &self.options.plans
    }

    /// Whether this is PostgreSQL, the only store with row-level security.
    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DatabaseBackend::Postgres
    }

    /// Whether document search can use its index under row-level security: on PostgreSQL
    /// only when `tsvector @@ tsquery` is LEAKPROOF, which migrations run by a superuser make
    /// it (see migration `m20261203_000024_search_index`). Otherwise every search reads all of
    /// its organization's chunks: correct, and slow past a few thousand. Always on SQLite.
    pub async fn search_uses_index(&self) -> Result<bool, InfraError> {
        if !self.is_postgres() {
            return Ok(true);
        }
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT proleakproof FROM pg_proc \
                 WHERE oid = 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure",
            ))
            .await?;
        Ok(match row {
            Some(row) => row.try_get("", "proleakproof")?,
            None => false,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_on_loopback_or_a_socket_runs_on_this_machine() {
        for url in [
            "postgres://bulkhead_app@127.0.0.1:5432/bulkhead",
            "postgres://bulkhead_app@localhost/bulkhead",
            "postgres://bulkhead_app@[::1]:5432/bulkhead",
            "postgres://bulkhead_app@%2Fvar%2Frun%2Fpostgresql/bulkhead",
            "postgres:///bulkhead?host=/var/run/postgresql",
        ] {
            assert!(runs_on_this_machine(url), "{url}");
        }
        for url in [
            "postgres://bulkhead_app@db.internal:5432/bulkhead",
            "postgres://bulkhead_app@10.0.0.7/bulkhead",
            "not a url",
        ] {
            assert!(!runs_on_this_machine(url), "{url}");
        }
    }

    #[test]
    fn reads_are_limited_to_two_per_core_only_for_a_database_on_this_machine() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let automatic = StoreOptions::default();
        assert_eq!(
            automatic.read_limit("postgres://app@127.0.0.1/db"),
            Some(2 * cores)
        );
        assert_eq!(automatic.read_limit("postgres://app@db.internal/db"), None);
        let set = StoreOptions {
            max_reads: Some(3),
            ..StoreOptions::default()
        };
        assert_eq!(set.read_limit("postgres://app@db.internal/db"), Some(3));
    }

    #[tokio::test]
    async fn a_read_waits_for_a_turn_and_gives_up_after_the_acquire_timeout() {
        let options = StoreOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_millis(50),
            max_reads: Some(1),
            ..StoreOptions::default()
        };
        // Lazy: nothing connects, so no server is needed to hand out turns.
        let store = Store::connect("postgres://app@127.0.0.1:1/none", &options)
            .await
            .expect("a lazy pool opens without a server");
        let first = store.read_turn().await.expect("a free turn");
        assert!(first.is_some());
        let waited = store.read_turn().await;
        assert!(
            matches!(
                waited,
                Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))
            ),
            "{waited:?}"
        );
        drop(first);
        assert!(store.read_turn().await.expect("the turn is back").is_some());

        // As many reads as connections: the pool alone bounds them.
        let unlimited = Store::connect(
            "postgres://app@127.0.0.1:1/none",
            &StoreOptions {
                max_reads: Some(4),
                ..options
            },
        )
        .await
        .expect("a lazy pool");
        assert!(unlimited.read_turn().await.expect("no limit").is_none());
    }
}
