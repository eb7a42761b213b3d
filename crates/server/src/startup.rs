//! Building the application: store, checks, adapters, services, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use bulkhead_api::AppState;
use bulkhead_domain::accounts::{AccountPorts, AccountService};
use bulkhead_domain::agent_configs::Provider;
use bulkhead_domain::agent_configs::{AgentConfigPorts, AgentConfigService};
use bulkhead_domain::agents::AgentService;
use bulkhead_domain::api_keys::ApiKeyService;
use bulkhead_domain::audit::{AuditRepository, AuditService};
use bulkhead_domain::auth::{AuthPorts, AuthService};
use bulkhead_domain::billing::{BillingPorts, BillingService, PaymentProvider, Processing};
use bulkhead_domain::idempotency::IdempotencyService;
use bulkhead_domain::invitations::{InvitationPorts, InvitationService};
use bulkhead_domain::members::MemberService;
use bulkhead_domain::organizations::OrganizationService;
use bulkhead_domain::outbox::{Mailer, OutboxService};
use bulkhead_domain::platform::{PlatformPorts, PlatformService};
use bulkhead_domain::projects::ProjectService;
use bulkhead_domain::roles::RoleService;
use bulkhead_domain::runs::{Executor, RunService};
use bulkhead_domain::users::UserService;
use bulkhead_domain::work::WorkService;
use bulkhead_domain::{SystemTask, TenantScope};
use bulkhead_infra::billing::SqlBillingRepository;
use bulkhead_infra::executors::{EchoExecutor, OpenAiCompatibleExecutor};
use bulkhead_infra::provider_urls::ProviderUrlPolicy;
use bulkhead_infra::stripe::StripeClient;
use bulkhead_infra::{
    SqlArtifactRepository, SqlCheckpointRepository, SqlRunQueue, SqlRunRepository,
    SqlWorkRepository, SqlWorkSessionRepository,
};
use std::collections::HashMap;

use crate::worker::Worker;
use bulkhead_infra::sealing::{Keyring, SecretKey};
use bulkhead_infra::{
    BatchedRateLimiter, BcryptHasher, InfraError, JwtCodec, JwtKey, JwtSettings, LogMailer,
    SmtpMailer, SpawnedWork, SqlAccountRepository, SqlApiKeyRepository, SqlAuditRepository,
    SqlIdempotencyRepository, SqlInvitationRepository, SqlMemberRepository,
    SqlMembershipRepository, SqlOrganizationRepository, SqlOutboxRepository, SqlPlatformRepository,
    SqlProjectMemberRepository, SqlProjectRepository, SqlRateLimiter, SqlRoleRepository,
    SqlSessionRepository, SqlUserRepository, Store, StoreOptions,
};
use bulkhead_infra::{
    SqlAgentConfigRepository, SqlAgentConfigVersionRepository, SqlAgentRepository,
};
use bulkhead_migrations::{Migrator, TENANT_TABLES};
use rand::RngCore;
use sea_orm_migration::MigratorTrait;

use crate::config::{Config, redact_url};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store, hasher or token settings are unusable.
    #[error(transparent)]
    Infra(#[from] InfraError),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sea_orm_migration::DbErr),
    /// The address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The configured address.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration is incomplete.
    #[error("{0}")]
    Config(String),
}

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    host: String,
    server: Server,
    /// Where `/metrics` is served, and the switch that stops it, if it is.
    metrics: Option<(std::net::SocketAddr, actix_web::dev::ServerHandle)>,
    /// The outbox delivery, rate-limit flushing, grant-change and run-event listening loops;
    /// they stop with the application.
    background: Vec<Background>,
    /// The in-process run worker, if any.
    worker: Option<RunningWorker>,
    /// Starts draining: readiness 503, event streams closing.
    drain: bulkhead_api::draining::DrainSwitch,
    /// How long to serve while draining before the listener closes.
    drain_delay: std::time::Duration,
}

/// A run worker and the switch that tells it to stop.
struct RunningWorker {
    task: tokio::task::JoinHandle<()>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl RunningWorker {
    /// Starts a worker over `store` (a pool of its own, sized for its runs).
    async fn start(store: &Store, config: &Config) -> Result<Self, StartupError> {
        let settings = &config.runs;
        let pool = store.sibling(settings.concurrency.max(1) + 2, None).await?;
        let mut executors: HashMap<Provider, Arc<dyn Executor>> = HashMap::new();
        executors.insert(Provider::Echo, Arc::new(EchoExecutor));
        executors.insert(
            Provider::OpenAiCompatible,
            Arc::new(OpenAiCompatibleExecutor::new(provider_policy(config), 3)),
        );
        let worker = Worker::new(
            Arc::new(SqlRunQueue::new(pool)),
            executors,
            store.signals().clone(),
            settings.clone(),
        );
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        Ok(Self {
            task: tokio::spawn(worker.run(stop)),
            shutdown,
        })
    }

    /// Stops claiming at once; returns when running runs have finished or been handed back.
    async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// The name of the last migration this binary knows: the schema version exports carry.
pub fn latest_migration() -> String {
    Migrator::migrations()
        .last()
        .map(|migration| migration.name().to_owned())
        .unwrap_or_default()
}

/// Which provider URLs agents may call: checked when a configuration is saved and again by the
/// executor right before it connects.
fn provider_policy(config: &Config) -> ProviderUrlPolicy {
    ProviderUrlPolicy::new(
        config.provider_base_urls.clone(),
        config.provider_allow_internal,
    )
}

/// Resolves at the first SIGTERM or SIGINT.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A background task, aborted when dropped.
struct Background(tokio::task::JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Adds the per-principal request counts to the shared counters twice a second.
fn spawn_flusher(budget: Arc<BatchedRateLimiter>) -> Background {
    Background(tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if let Err(err) = budget.flush().await {
                tracing::warn!(error = %err, "rate-limit counters not flushed; retrying");
            }
        }
    }))
}

/// Keeps the store's cache of members' grants in step with the database. The subscription is
/// made before the server answers anything, so the cache works from the first request
/// (PostgreSQL; on SQLite there is nothing to follow).
async fn spawn_grant_watcher(store: &Store) -> Background {
    let watch = store.watch_grants().await;
    Background(tokio::spawn(async move {
        if let Some(watch) = watch {
            watch.await;
        }
    }))
}

/// Starts delivering the outbox every `config.outbox_interval`, by SMTP when configured, else
/// to the log. Delivery is at least once: an email is marked sent after the mailer accepted it.
fn spawn_outbox(config: &Config, store: &Store) -> Result<Background, StartupError> {
    let mailer: Arc<dyn Mailer> = match &config.smtp {
        Some(smtp) => Arc::new(SmtpMailer::new(smtp)?),
        None => {
            tracing::warn!(
                "BULKHEAD_SMTP_URL is not set: emails (password resets, verifications, invitations) \
                 are written to the log, not sent"
            );
            Arc::new(LogMailer)
        }
    };
    let service = OutboxService::new(Arc::new(SqlOutboxRepository::new(store.clone())), mailer);
    let interval = config.outbox_interval;
    Ok(Background(tokio::spawn(async move {
        loop {
            if let Err(err) = service.deliver_pending(50).await {
                tracing::warn!(error = %err, "outbox delivery failed; retrying");
            }
            tokio::time::sleep(interval).await;
        }
    })))
}

/// Billing's service on `store`.
fn billing_service(
    store: &Store,
    payments: Option<Arc<dyn PaymentProvider>>,
    audit: Arc<dyn AuditRepository>,
    config: &Config,
) -> BillingService {
    BillingService::new(BillingPorts {
        billing: Arc::new(SqlBillingRepository::new(store.clone())),
        provider: payments,
        audit,
        settings: config.billing.clone(),
    })
}

/// Applies Stripe's stored events as they arrive (woken by the webhook handler) and at least
/// every second (events stored by another instance, retries that come due).
fn spawn_billing_processor(service: BillingService, wake: Arc<tokio::sync::Notify>) -> Background {
    Background(tokio::spawn(async move {
        loop {
            match service.process_next().await {
                Ok(Processing::Applied) => continue,
                Ok(Processing::Failed {
                    event_id,
                    attempt,
                    error,
                }) => {
                    tracing::warn!(event = %event_id, attempt, %error,
                        "applying a Stripe event failed; it is retried later");
                    continue;
                }
                Ok(Processing::Idle) => {}
                Err(err) => tracing::warn!(error = %err, "the Stripe event queue is unavailable"),
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), wake.notified()).await;
        }
    }))
}

/// Extracts and indexes uploaded documents' text, looking for queued ones every half second
/// when idle (uploads on any instance, retries that come due).
fn spawn_document_processor(processor: bulkhead_infra::documents::DocumentProcessor) -> Background {
    Background(tokio::spawn(async move {
        loop {
            match processor.process_next().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "the document queue is unavailable"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }))
}

/// What every worker's services share: key material, the hasher's bound, the request budget.
struct Shared {
    tokens: Arc<JwtCodec>,
    /// Stripe, when configured.
    payments: Option<Arc<dyn PaymentProvider>>,
    /// Wakes the processor of Stripe's events.
    billing_wake: Arc<tokio::sync::Notify>,
    hasher: Arc<BcryptHasher>,
    budget: Arc<BatchedRateLimiter>,
    http_metrics: bulkhead_api::metrics::HttpMetrics,
    draining: bulkhead_api::draining::Draining,
    /// The last migration, which exports name.
    schema: String,
    /// Where documents' bytes go.
    blobs: bulkhead_infra::blobs::ObjectBlobStore,
}

/// The adapters and services of one HTTP worker, on its own pool.
fn wire(store: &Store, shared: &Shared, config: &Config) -> AppState {
    let audit: Arc<dyn AuditRepository> = Arc::new(SqlAuditRepository::new(store.clone()));
    let api_keys = Arc::new(SqlApiKeyRepository::new(store.clone()));
    let users = Arc::new(SqlUserRepository::new(store.clone()));
    let memberships = Arc::new(SqlMembershipRepository::new(store.clone()));
    let organizations = Arc::new(SqlOrganizationRepository::new(store.clone()));
    let limiter = Arc::new(SqlRateLimiter::new(store.clone()));
    let roles = RoleService::new(
        Arc::new(SqlRoleRepository::new(store.clone())),
        audit.clone(),
    );
    let platform = Arc::new(SqlPlatformRepository::new(store.clone()));
    let hasher = shared.hasher.clone();
    let tokens = shared.tokens.clone();
    let auth = AuthService::new(AuthPorts {
        organizations: organizations.clone(),
        users: users.clone(),
        memberships: memberships.clone(),
        hasher: hasher.clone(),
        tokens: tokens.clone(),
        audit: audit.clone(),
        sessions: Arc::new(SqlSessionRepository::new(store.clone())),
        policy: config.sessions,
        api_keys: api_keys.clone(),
        settings: config.accounts.clone(),
        limiter: limiter.clone(),
        budget: shared.budget.clone(),
        limits: config.limits,
        platform: platform.clone(),
        deferred: Arc::new(SpawnedWork),
    });
    AppState {
        authenticator: auth.authenticator(),
        auth,
        platform: PlatformService::new(PlatformPorts {
            platform,
            users: users.clone(),
            hasher: hasher.clone(),
            tokens,
            audit: audit.clone(),
            settings: config.accounts.clone(),
            limiter: limiter.clone(),
            limits: config.limits,
        }),
        accounts: AccountService::new(AccountPorts {
            accounts: Arc::new(SqlAccountRepository::new(store.clone())),
            users: users.clone(),
            memberships,
            hasher: hasher.clone(),
            audit: audit.clone(),
            settings: config.accounts.clone(),
            limiter: limiter.clone(),
            limits: config.limits,
            deferred: Arc::new(SpawnedWork),
        }),
        projects: ProjectService::new(
            Arc::new(SqlProjectRepository::new(store.clone())),
            Arc::new(SqlProjectMemberRepository::new(store.clone())),
            audit.clone(),
        ),
        agent_configs: AgentConfigService::new(AgentConfigPorts {
            repo: Arc::new(SqlAgentConfigRepository::new(store.clone())),
            versions: Arc::new(SqlAgentConfigVersionRepository::new(store.clone())),
            endpoints: Arc::new(provider_policy(config)),
            sealer: Arc::new(store.keyring().clone()),
            audit: audit.clone(),
        }),
        agents: AgentService::new(
            Arc::new(SqlAgentRepository::new(store.clone())),
            audit.clone(),
        ),
        runs: RunService::new(
            Arc::new(SqlRunRepository::new(store.clone())),
            Arc::new(SqlAgentRepository::new(store.clone())),
            Arc::new(SqlAgentConfigRepository::new(store.clone())),
            audit.clone(),
        ),
        conversations: bulkhead_domain::conversations::ConversationService::new(
            Arc::new(bulkhead_infra::SqlConversationRepository::new(
                store.clone(),
            )),
            Arc::new(bulkhead_infra::SqlMessageRepository::new(store.clone())),
            audit.clone(),
        ),
        work: WorkService::new(
            Arc::new(SqlWorkSessionRepository::new(store.clone())),
            Arc::new(SqlArtifactRepository::new(store.clone())),
            Arc::new(SqlCheckpointRepository::new(store.clone())),
            Arc::new(SqlWorkRepository::new(store.clone())),
            Arc::new(SqlProjectMemberRepository::new(store.clone())),
            audit.clone(),
        ),
        billing: billing_service(store, shared.payments.clone(), audit.clone(), config),
        documents: bulkhead_domain::documents::DocumentService::new(
            bulkhead_domain::documents::DocumentPorts {
                documents: Arc::new(bulkhead_infra::documents::SqlDocumentRepository::new(
                    store.clone(),
                )),
                blobs: Arc::new(shared.blobs.clone()),
                index: Arc::new(bulkhead_infra::documents::SqlDocumentIndex::new(
                    store.clone(),
                )),
                audit: audit.clone(),
                max_upload_bytes: config.max_upload_bytes,
            },
        ),
        billing_wake: shared.billing_wake.clone(),
        run_signals: Arc::new(store.signals().clone()),
        http_metrics: shared.http_metrics.clone(),
        api_keys: ApiKeyService::new(api_keys, audit.clone()),
        exports: bulkhead_domain::exports::ExportService::new(
            Arc::new(bulkhead_infra::exports::SqlTenantExporter::new(
                store.clone(),
            )),
            audit.clone(),
            shared.schema.clone(),
        ),
        organizations: OrganizationService::new(
            organizations.clone(),
            audit.clone(),
            config.organization_grace,
        ),
        members: MemberService::new(
            Arc::new(SqlMemberRepository::new(store.clone())),
            roles.clone(),
            audit.clone(),
        ),
        invitations: InvitationService::new(InvitationPorts {
            invitations: Arc::new(SqlInvitationRepository::new(store.clone())),
            organizations,
            users: users.clone(),
            hasher: hasher.clone(),
            settings: config.accounts.clone(),
            limiter: limiter.clone(),
            limits: config.limits,
            roles: roles.clone(),
            audit: audit.clone(),
        }),
        roles,
        users: UserService::new(users.clone()),
        idempotency: IdempotencyService::new(
            Arc::new(SqlIdempotencyRepository::new(store.clone())),
            audit.clone(),
        ),
        health: Arc::new(store.clone()),
        draining: shared.draining.clone(),
        audit: AuditService::new(audit),
    }
}

impl Application {
    /// Connects, checks and wires everything, and binds the listener.
    pub async fn build(mut config: Config) -> Result<Self, StartupError> {
        let secret = match (&config.jwt_secret, config.ephemeral_jwt_secret) {
            (Some(secret), _) => secret.clone().into_bytes(),
            (None, true) => {
                tracing::warn!(
                    "BULKHEAD_JWT_SECRET is not set: using a random secret for this process only; \
                     tokens stop working at restart. Set BULKHEAD_JWT_SECRET (32+ bytes) outside development."
                );
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                hex::encode(bytes).into_bytes()
            }
            (None, false) => {
                return Err(StartupError::Config(
                    "BULKHEAD_JWT_SECRET is not set; set it to at least 32 random bytes \
                     (or pass --ephemeral-jwt-secret in development)"
                        .into(),
                ));
            }
        };
        // Secrets at rest are sealed under the configured key, or else under one derived from
        // the JWT secret (which, if it leaked, would give away the tokens anyway).
        let current = config
            .secrets_key
            .clone()
            .unwrap_or_else(|| SecretKey::derived_from(&secret));
        config.store.keyring = Keyring::new(current, config.secrets_previous_keys.clone());
        // Every create checks the plans' limits in its own unit of work.
        config.store.plans = config.billing.plans.clone();
        if config.secrets_key.is_some() {
            tracing::info!(
                key = config.store.keyring.current_id(),
                "secrets at rest (queued email bodies, provider credentials) are sealed with AES-256-GCM"
            );
        } else {
            tracing::warn!(
                "BULKHEAD_SECRETS_KEY is not set: queued email bodies are sealed under a key derived \
                 from the JWT secret, and provider credentials cannot be stored (409) until a key is set"
            );
        }
        // The background tasks' store: the outbox, the rate-limit flushing, and the connection
        // the grant listener holds for good. The HTTP workers get theirs below.
        let background = StoreOptions {
            max_connections: 3,
            ..config.store.clone()
        };
        let store = Store::connect(&config.database_url, &background).await?;
        if store.is_postgres() {
            store.verify_app_role(TENANT_TABLES).await?;
            tracing::info!(
                database = %redact_url(&config.database_url),
                "store: PostgreSQL, row-level security enforced for the application role"
            );
            if !store.search_uses_index().await? {
                tracing::warn!(
                    "document search cannot use its index under row-level security (tsvector @@ tsquery \
                     is not LEAKPROOF): each search reads all of its organization's chunks. As a superuser: \
                     ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF (docs/scaling.md)"
                );
            }
        } else {
            Migrator::up(store.connection(), None).await?;
            tracing::warn!(
                database = %redact_url(&config.database_url),
                "store: SQLite (migrations applied); row-level security is OFF on SQLite, isolation relies on \
                 the application's scoped queries. Use PostgreSQL in production."
            );
        }

        let tokens = JwtCodec::new(JwtSettings {
            signing: JwtKey {
                id: config.jwt_key_id.clone(),
                secret,
            },
            previous: config
                .jwt_previous_keys
                .iter()
                .map(|(id, secret)| JwtKey {
                    id: id.clone(),
                    secret: secret.clone().into_bytes(),
                })
                .collect(),
            issuer: "bulkhead".into(),
            audience: "bulkhead-api".into(),
            ttl: config.access_token_ttl,
        })?;
        let (cost, reserve) = (config.bcrypt_cost, config.hashing_reserve_percent);
        let hasher = tokio::task::spawn_blocking(move || BcryptHasher::with_reserve(cost, reserve))
            .await
            .map_err(|e| StartupError::Config(format!("hasher set-up failed: {e}")))??;

        let outbox = spawn_outbox(&config, &store)?;
        let grants = spawn_grant_watcher(&store).await;
        // Counted in memory by every worker, flushed by one background task.
        let budget = Arc::new(BatchedRateLimiter::new(store.clone()));
        let flusher = spawn_flusher(budget.clone());
        let payments: Option<Arc<dyn PaymentProvider>> = match &config.stripe {
            Some(stripe) => Some(Arc::new(
                StripeClient::new(stripe.clone())
                    .map_err(|e| StartupError::Config(format!("stripe client: {e}")))?,
            )),
            None => {
                tracing::warn!(
                    "BULKHEAD_STRIPE_SECRET_KEY is not set: checkout and the customer portal answer 409"
                );
                None
            }
        };
        if config.billing.webhook_secrets.is_empty() {
            tracing::warn!(
                "BULKHEAD_STRIPE_WEBHOOK_SECRETS is not set: the Stripe webhook refuses every event"
            );
        }
        let billing_wake = Arc::new(tokio::sync::Notify::new());
        let processor = spawn_billing_processor(
            billing_service(
                &store,
                payments.clone(),
                Arc::new(SqlAuditRepository::new(store.clone())),
                &config,
            ),
            billing_wake.clone(),
        );
        let blobs = bulkhead_infra::blobs::ObjectBlobStore::from_url(&config.storage_url)
            .map_err(|e| StartupError::Config(e.to_string()))?;
        tracing::info!("documents are stored in the {}", blobs.describe());
        let documents =
            spawn_document_processor(bulkhead_infra::documents::DocumentProcessor::new(
                store.clone(),
                blobs.clone(),
                config.max_upload_bytes,
            ));
        let mut background = vec![outbox, flusher, grants, processor, documents];
        if let Some(follow) = store.follow_signals() {
            background.push(Background(tokio::spawn(follow)));
        }
        let worker = if config.runs.concurrency > 0 {
            Some(RunningWorker::start(&store, &config).await?)
        } else {
            None
        };
        let registry = prometheus::Registry::new();
        let (drain, draining) = bulkhead_api::draining::Draining::new();
        let shared = Shared {
            blobs,
            payments,
            billing_wake,
            draining,
            schema: latest_migration(),
            tokens: Arc::new(tokens),
            hasher: Arc::new(hasher),
            budget,
            http_metrics: bulkhead_api::metrics::HttpMetrics::register(&registry)
                .map_err(|e| StartupError::Config(format!("metrics: {e}")))?,
        };
        // One pool per HTTP worker, so that each worker's runtime serves its own connections;
        // the configured size and turns for reads are split between them. The store above
        // keeps the background tasks' few connections.
        let workers = config.http.workers.max(1) as u32;
        let per_worker = config.store.max_connections.div_ceil(workers).max(1);
        let reads = config.store.read_limit(&config.database_url);
        let reads_per_worker = reads.map(|reads| reads.div_ceil(workers).max(1));
        if store.is_postgres() {
            tracing::info!(
                connections = per_worker * workers,
                reads_at_once = reads_per_worker.map(|reads| reads * workers),
                "store: {workers} pools, one per HTTP worker"
            );
        }
        let mut states = Vec::with_capacity(workers as usize);
        let mut pools = vec![store.clone()];
        for _ in 0..workers {
            let pool = store.sibling(per_worker, reads_per_worker).await?;
            states.push(wire(&pool, &shared, &config));
            pools.push(pool);
        }
        let metrics = match &config.metrics_bind {
            Some(bind) => {
                let listener = TcpListener::bind(bind).map_err(|source| StartupError::Bind {
                    address: bind.clone(),
                    source,
                })?;
                let address = listener.local_addr().map_err(|source| StartupError::Bind {
                    address: bind.clone(),
                    source,
                })?;
                let metrics = crate::metrics::Metrics::new(registry, pools)
                    .map_err(|e| StartupError::Config(format!("metrics: {e}")))?;
                let server =
                    crate::metrics::serve(listener, Arc::new(metrics)).map_err(|source| {
                        StartupError::Bind {
                            address: bind.clone(),
                            source,
                        }
                    })?;
                tracing::info!("metrics at http://{address}/metrics");
                let handle = server.handle();
                background.push(Background(tokio::spawn(async move {
                    let _ = server.await;
                })));
                Some((address, handle))
            }
            None => None,
        };

        let listener = TcpListener::bind(&config.bind).map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let mut http = config.http.clone();
        http.hsts = config.accounts.public_url.starts_with("https://");
        let server =
            bulkhead_api::server(listener, states, http).map_err(|source| StartupError::Bind {
                address: config.bind.clone(),
                source,
            })?;
        Ok(Self {
            port: address.port(),
            host: address.ip().to_string(),
            server,
            metrics,
            background,
            worker,
            drain,
            drain_delay: config.drain_delay,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics
            .as_ref()
            .map(|(address, _)| format!("http://{address}/metrics"))
    }

    /// The base URL clients use.
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM), then drains: readiness
    /// answers 503 and event streams close with a retry hint at once, and the run worker stops
    /// claiming; requests go on being served for the drain delay (while load balancers notice),
    /// then the listener closes and requests in flight get the grace period to finish, as do
    /// running runs, which are handed back to the queue if they do not.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            server,
            metrics,
            background,
            worker,
            drain,
            drain_delay,
            ..
        } = self;
        let handle = server.handle();
        let stop_claiming = worker.as_ref().map(|worker| worker.shutdown.clone());
        let stopping = tokio::spawn(async move {
            termination().await;
            tracing::info!(
                delay_secs = drain_delay.as_secs_f64(),
                "shutting down: readiness answers 503; serving until the delay ends, then finishing requests in flight"
            );
            drain.drain();
            if let Some(stop) = stop_claiming {
                let _ = stop.send(true);
            }
            tokio::time::sleep(drain_delay).await;
            handle.stop(true).await;
        });
        let served = server.await;
        if let Some((_, metrics)) = &metrics {
            metrics.stop(true).await;
        }
        if let Some(worker) = worker {
            worker.stop().await;
        }
        stopping.abort();
        drop(background);
        tracing::info!("stopped");
        served
    }
}

/// Runs only a run worker until SIGTERM or SIGINT (`bulkhead worker`).
pub async fn run_worker(config: Config) -> Result<(), StartupError> {
    if config.runs.concurrency == 0 {
        return Err(StartupError::Config(
            "BULKHEAD_RUN_CONCURRENCY is 0: this worker would run nothing".into(),
        ));
    }
    let store = Store::connect(&config.database_url, &config.store).await?;
    if store.is_postgres() {
        store.verify_app_role(TENANT_TABLES).await?;
    } else {
        Migrator::up(store.connection(), None).await?;
    }
    let _follow = store
        .follow_signals()
        .map(|follow| Background(tokio::spawn(follow)));
    let worker = RunningWorker::start(&store, &config).await?;
    termination().await;
    worker.stop().await;
    Ok(())
}

/// Applies pending migrations on `url`. On PostgreSQL this must be the tables' owner; it also
/// creates the application role and the row-level-security policies.
pub async fn migrate(url: &str) -> Result<(), StartupError> {
    let store = Store::connect(url, &StoreOptions::default()).await?;
    Migrator::up(store.connection(), None).await?;
    Ok(())
}

/// Puts Stripe's events left failed back in the queue (`bulkhead retry-billing-events`);
/// answers how many. `url` must see every tenant, as for [`purge`].
pub async fn retry_billing_events(url: &str) -> Result<u64, StartupError> {
    let store = Store::connect(url, &StoreOptions::default()).await?;
    SqlBillingRepository::new(store)
        .retry_failed_events()
        .await
        .map_err(|e| StartupError::Config(format!("cannot queue the failed events again: {e}")))
}

/// Removes for good what was soft-deleted more than `retention` ago, resource by resource
/// (every one registered with the kit) and organization by organization, each under a system
/// scope that the audit trail names as the actor. Returns how many rows went. On PostgreSQL
/// `url` must be able to see every tenant to find them (the owner, as for migrations); the
/// deletions themselves run through the tenant transaction.
pub async fn purge(url: &str, retention: chrono::Duration) -> Result<u64, StartupError> {
    let store = Store::connect(url, &StoreOptions::default()).await?;
    let audit: Arc<dyn AuditRepository> = Arc::new(SqlAuditRepository::new(store.clone()));
    let cutoff = bulkhead_domain::now() - retention;
    let mut removed = 0;
    for resource in bulkhead_infra::registered_resources(&store) {
        let name = resource.name();
        let organizations = resource
            .organizations_with_deleted_before(cutoff)
            .await
            .map_err(|e| StartupError::Config(format!("cannot list {name} rows to purge: {e}")))?;
        let purgeable = resource.purgeable(audit.clone());
        for organization in organizations {
            let scope = TenantScope::system(organization, SystemTask::Purge);
            removed += purgeable.purge(&scope, retention).await.map_err(|e| {
                StartupError::Config(format!(
                    "{name} purge of organization {organization} failed: {e}"
                ))
            })?;
        }
    }
    Ok(removed)
}

/// Seals again under `current` every secret at rest sealed under one of `previous` (or under
/// the key derived from `jwt_secret`, which seals email bodies when no key is configured).
/// `url` must see every tenant, as for [`purge`]. Answers how many secrets were sealed again.
pub async fn rotate_secrets(
    url: &str,
    current: SecretKey,
    mut previous: Vec<SecretKey>,
    jwt_secret: Option<&str>,
) -> Result<bulkhead_infra::rotation::Rotation, StartupError> {
    if let Some(secret) = jwt_secret {
        previous.push(SecretKey::derived_from(secret.as_bytes()));
    }
    let options = StoreOptions {
        keyring: Keyring::new(current, previous),
        ..StoreOptions::default()
    };
    let store = Store::connect(url, &options).await?;
    bulkhead_infra::rotation::rotate_secrets(&store)
        .await
        .map_err(|e| StartupError::Config(format!("rotation failed: {e}")))
}

/// Removes the stored files of documents that are gone (purged, or in a purged organization)
/// from the blob store at `storage_url`, leaving anything written less than `settled` ago (an
/// upload in flight has its bytes before its row: `bulkhead purge` leaves an hour). `url` must
/// see every tenant, as for [`purge`]. Answers how many files went.
pub async fn sweep_blobs(
    url: &str,
    storage_url: &str,
    settled: chrono::Duration,
) -> Result<u64, StartupError> {
    let store = Store::connect(url, &StoreOptions::default()).await?;
    let blobs = bulkhead_infra::blobs::ObjectBlobStore::from_url(storage_url)
        .map_err(|e| StartupError::Config(e.to_string()))?;
    bulkhead_infra::documents::DocumentProcessor::new(store, blobs, 0)
        .sweep(bulkhead_domain::now() - settled)
        .await
        .map_err(|e| StartupError::Config(format!("the sweep of stored files failed: {e}")))
}

/// Removes for good the organizations deleted longer ago than `grace`, with all their data.
/// `url` must be the owner's, as for [`purge`]. Returns how many organizations went.
pub async fn purge_organizations(url: &str, grace: chrono::Duration) -> Result<u64, StartupError> {
    let store = Store::connect(url, &StoreOptions::default()).await?;
    SqlOrganizationRepository::new(store)
        .purge_deleted_before(bulkhead_domain::now() - grace)
        .await
        .map_err(|e| StartupError::Config(format!("organization purge failed: {e}")))
}

/// Makes the account with `email` a platform superuser, creating it with `name` and
/// `password` when there is none. `url` must be the owner's. Answers the user's id and whether
/// the account was created.
pub async fn create_superuser(
    url: &str,
    email: &str,
    name: &str,
    password: &str,
    bcrypt_cost: u32,
) -> Result<(bulkhead_domain::UserId, bool), StartupError> {
    use bulkhead_domain::auth::PasswordHasher;
    use bulkhead_domain::users::{Email, Password, User, UserName};

    let invalid = |e: bulkhead_domain::DomainError| StartupError::Config(format!("{e}"));
    let email = Email::parse(email).map_err(invalid)?;
    let name = UserName::parse(name).map_err(invalid)?;
    let password = Password::parse_new("password", password, &email).map_err(invalid)?;
    let hasher = tokio::task::spawn_blocking(move || BcryptHasher::new(bcrypt_cost))
        .await
        .map_err(|e| StartupError::Config(format!("hasher set-up failed: {e}")))??;
    let hash = hasher.hash(&password).await.map_err(invalid)?;
    let user = User {
        id: bulkhead_domain::UserId::new(),
        email,
        name,
        created_at: bulkhead_domain::now(),
        email_verified_at: Some(bulkhead_domain::now()),
    };
    let store = Store::connect(url, &StoreOptions::default()).await?;
    SqlPlatformRepository::new(store)
        .make_superuser(&user, &hash)
        .await
        .map_err(|e| StartupError::Config(format!("cannot create the superuser: {e}")))
}

/// Writes organization `organization`'s export to `out` (`bulkhead export`), read through `url`
/// as the system's export task (recorded in its audit trail). Answers the manifest's counts.
pub async fn export_organization(
    url: &str,
    organization: bulkhead_domain::OrganizationId,
    out: &mut (dyn std::io::Write + Send),
) -> Result<std::collections::BTreeMap<String, u64>, StartupError> {
    use bulkhead_domain::exports::ExportService;
    let failed =
        |e: bulkhead_domain::DomainError| StartupError::Config(format!("export failed: {e}"));
    let written = |e: std::io::Error| StartupError::Config(format!("cannot write the export: {e}"));
    let store = Store::connect(url, &StoreOptions::default()).await?;
    let audit: Arc<dyn AuditRepository> = Arc::new(SqlAuditRepository::new(store.clone()));
    let service = ExportService::new(
        Arc::new(bulkhead_infra::exports::SqlTenantExporter::new(store)),
        audit,
        latest_migration(),
    );
    let scope = TenantScope::system(organization, SystemTask::Export);
    let mut export = service.export(&scope).await.map_err(failed)?;
    while let Some(chunk) = export.next_chunk().await.map_err(failed)? {
        out.write_all(&chunk).map_err(written)?;
    }
    out.flush().map_err(written)?;
    Ok(export.counts().clone())
}

/// Loads the export at `path` through `url` (`bulkhead import`), as organization `into` (its
/// own id when `None`): the file is checked against its manifest and its schema against this
/// binary's migrations, loaded in one transaction, and the organization's audit chain is
/// verified afterwards.
pub async fn import_organization(
    url: &str,
    path: &std::path::Path,
    into: Option<bulkhead_domain::OrganizationId>,
) -> Result<bulkhead_infra::exports::Imported, StartupError> {
    let failed =
        |e: bulkhead_domain::DomainError| StartupError::Config(format!("import refused: {e}"));
    let file = std::fs::File::open(path)
        .map_err(|e| StartupError::Config(format!("cannot open {}: {e}", path.display())))?;
    let decoded =
        bulkhead_domain::exports::decode(std::io::BufReader::new(file)).map_err(failed)?;
    let schema = latest_migration();
    if decoded.header.schema != schema {
        return Err(StartupError::Config(format!(
            "the export is of schema {}, this database is at {schema}: migrate one to match",
            decoded.header.schema
        )));
    }
    // New users get a password nobody knows; they set one through a password reset.
    let unusable = tokio::task::spawn_blocking(|| {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        bcrypt::hash(hex::encode(secret), 10)
    })
    .await
    .map_err(|e| StartupError::Config(format!("hashing failed: {e}")))?
    .map_err(|e| StartupError::Config(format!("hashing failed: {e}")))?;
    let store = Store::connect(url, &StoreOptions::default()).await?;
    let imported = bulkhead_infra::exports::import(&store, decoded, into, &unusable)
        .await
        .map_err(failed)?;
    let audit: Arc<dyn AuditRepository> = Arc::new(SqlAuditRepository::new(store));
    let scope = TenantScope::system(imported.organization_id, SystemTask::Import);
    let report = AuditService::new(audit)
        .verify(&scope)
        .await
        .map_err(failed)?;
    if !report.intact {
        return Err(StartupError::Config(format!(
            "loaded, but the audit chain does not verify (first broken: {:?})",
            report.first_broken
        )));
    }
    Ok(imported)
}
