//! Command-line interface.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use bulkhead_domain::accounts::AccountSettings;
use bulkhead_domain::billing::{BillingSettings, PlanCatalogue, WebhookSecret};
use bulkhead_domain::limits::{Limit, RateLimits};
use bulkhead_domain::sessions::SessionPolicy;
use bulkhead_infra::SmtpSettings;
use bulkhead_infra::sealing::SecretKey;
use bulkhead_infra::stripe::StripeSettings;

use crate::config::Config;

/// The default store: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://bulkhead.db?mode=rwc";

/// Bulkhead: a multi-tenant SaaS backend.
#[derive(Debug, Parser)]
#[command(name = "bulkhead", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve(Box<ServeArgs>),
    /// Apply pending migrations (as the tables' owner on PostgreSQL).
    Migrate(MigrateArgs),
    /// Remove for good what was soft-deleted longer ago than the retention period.
    Purge(PurgeArgs),
    /// Make a platform superuser: promote the account with this email, or create it.
    CreateSuperuser(CreateSuperuserArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Run only run workers (no HTTP), for deployments that separate them; `serve` runs
    /// workers in-process too.
    Worker(Box<ServeArgs>),
    /// Seal every secret at rest again under BULKHEAD_SECRETS_KEY, opening what earlier keys
    /// (BULKHEAD_SECRETS_PREVIOUS_KEYS) sealed; afterwards the earlier keys can be dropped.
    RotateSecrets(RotateSecretsArgs),
    /// Print the statements that distribute the migrated schema on Citus by organization_id
    /// (reference tables, then co-located distributed tables, in dependency order).
    CitusPlan(MigrateArgs),
    /// Write everything one organization owns as NDJSON with a manifest (PostgreSQL; as the
    /// owner, recorded in the organization's audit trail).
    Export(ExportArgs),
    /// Load an export into this database, ids kept, checked against its manifest and audit
    /// chain (PostgreSQL; the organization must not exist here).
    Import(ImportArgs),
    /// Put Stripe's events that were left failed after their last attempt back in the queue
    /// (after fixing what made them fail); a running server applies them.
    RetryBillingEvents(MigrateArgs),
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The organization to export.
    #[arg(long)]
    pub organization: uuid::Uuid,
    /// Where to write it (default: standard output).
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub database: MigrateArgs,
}

/// Flags of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export file.
    pub file: std::path::PathBuf,
    /// Load it as this organization instead of its own id (the audit chain is sealed again
    /// under the new id, and the import records the old one).
    #[arg(long)]
    pub organization_id: Option<uuid::Uuid>,
    #[command(flatten)]
    pub database: MigrateArgs,
}

/// Flags of `rotate-secrets`.
#[derive(Debug, Args)]
pub struct RotateSecretsArgs {
    /// The key to seal with, as `<id>:<64 hex digits>`.
    #[arg(long, env = "BULKHEAD_SECRETS_KEY", hide_env_values = true, value_parser = SecretKey::parse)]
    pub secrets_key: SecretKey,
    /// The keys that sealed what is stored now, comma-separated.
    #[arg(
        long,
        env = "BULKHEAD_SECRETS_PREVIOUS_KEYS",
        hide_env_values = true,
        value_delimiter = ',',
        value_parser = SecretKey::parse
    )]
    pub secrets_previous_keys: Vec<SecretKey>,
    /// The JWT secret, whose derived key sealed email bodies when no secrets key was set.
    #[arg(long, env = "BULKHEAD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// A connection that sees every tenant (the owner's); falls back to DATABASE_URL.
    #[arg(long, env = "BULKHEAD_ADMIN_DATABASE_URL")]
    pub admin_database_url: Option<String>,
    /// Used when no admin URL is given.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// Flags of `create-superuser`. The password (for a new account) comes from
/// `BULKHEAD_SUPERUSER_PASSWORD`, else from the first line of standard input, never from a
/// flag, which other users of the machine could read.
#[derive(Debug, Args)]
pub struct CreateSuperuserArgs {
    /// The account's email.
    #[arg(long)]
    pub email: String,
    /// The display name, for a new account.
    #[arg(long, default_value = "Platform administrator")]
    pub name: String,
    /// bcrypt cost for a new account's password.
    #[arg(long, env = "BULKHEAD_BCRYPT_COST", default_value_t = 12)]
    pub bcrypt_cost: u32,
    /// The owner's connection (the app role may not set the flag); falls back to DATABASE_URL.
    #[arg(long, env = "BULKHEAD_ADMIN_DATABASE_URL")]
    pub admin_database_url: Option<String>,
    /// Used when no admin URL is given.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// Flags of `purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Days a soft-deleted row is kept before it is purged.
    #[arg(long, env = "BULKHEAD_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// Days a deleted organization is kept (and can be restored) before it is purged.
    #[arg(long, env = "BULKHEAD_ORGANIZATION_GRACE_DAYS", default_value_t = 30)]
    pub organization_grace_days: u32,
    /// Where documents' bytes are (as for `serve`): bytes no document names any more are
    /// removed.
    #[arg(long, env = "BULKHEAD_STORAGE_URL", default_value = "bulkhead-blobs")]
    pub storage_url: String,
    /// A connection that sees every tenant (the owner's); falls back to DATABASE_URL.
    #[arg(long, env = "BULKHEAD_ADMIN_DATABASE_URL")]
    pub admin_database_url: Option<String>,
    /// Used when no admin URL is given.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BULKHEAD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Database URL: postgres://... (connect as bulkhead_app) or sqlite://...
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// JWT signing secret, at least 32 bytes.
    #[arg(long, env = "BULKHEAD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// The key id (`kid`) of the signing secret.
    #[arg(long, env = "BULKHEAD_JWT_KEY_ID", default_value = "primary")]
    pub jwt_key_id: String,
    /// Earlier signing keys still accepted, as `kid:secret` pairs separated by commas, so the
    /// secret can be rotated without signing everyone out.
    #[arg(long, env = "BULKHEAD_JWT_PREVIOUS_KEYS", hide_env_values = true, value_delimiter = ',', value_parser = parse_key)]
    pub jwt_previous_keys: Vec<(String, String)>,
    /// Without a secret, generate a throwaway one (tokens die with the process). Development only.
    #[arg(long)]
    pub ephemeral_jwt_secret: bool,
    /// bcrypt cost (4 to 31).
    #[arg(long, env = "BULKHEAD_BCRYPT_COST", default_value_t = 12)]
    pub bcrypt_cost: u32,
    /// Percent of one core that password hashing gets even while request handling keeps
    /// every core busy, so that logins still complete (0 to 100; 0: hashing gets only what
    /// request handling leaves).
    #[arg(
        long,
        env = "BULKHEAD_HASHING_RESERVE_PERCENT",
        default_value_t = bulkhead_infra::password::DEFAULT_RESERVE_PERCENT,
        value_parser = clap::value_parser!(u8).range(0..=100)
    )]
    pub hashing_reserve_percent: u8,
    /// Access token lifetime in seconds.
    #[arg(long, env = "BULKHEAD_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// A session not refreshed for this many seconds ends (default 7 days).
    #[arg(long, env = "BULKHEAD_SESSION_IDLE_TIMEOUT_SECS", default_value_t = 7 * 24 * 3600)]
    pub session_idle_timeout_secs: u32,
    /// A session ends this many seconds after sign-in, however active (default 30 days).
    #[arg(long, env = "BULKHEAD_SESSION_LIFETIME_SECS", default_value_t = 30 * 24 * 3600)]
    pub session_lifetime_secs: u32,
    /// Where the client application lives; links in emails point there.
    #[arg(
        long,
        env = "BULKHEAD_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
    /// Refuse logins of users whose email is not verified.
    #[arg(long, env = "BULKHEAD_REQUIRE_VERIFIED_EMAIL", default_value_t = false)]
    pub require_verified_email: bool,
    /// SMTP server as a lettre URL (`smtps://user:pass@host`, `smtp://host:587?tls=required`);
    /// without it, emails are written to the log.
    #[arg(long, env = "BULKHEAD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The `From` address of emails.
    #[arg(
        long,
        env = "BULKHEAD_MAIL_FROM",
        default_value = "Bulkhead <no-reply@localhost>"
    )]
    pub mail_from: String,
    /// Login, sign-up and refresh attempts per client address and minute (0: no limit).
    #[arg(long, env = "BULKHEAD_AUTH_ATTEMPTS_PER_MINUTE", default_value_t = 30)]
    pub auth_attempts_per_minute: u32,
    /// Failed logins per account before it is locked for 15 minutes (0: never locked).
    #[arg(long, env = "BULKHEAD_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 5)]
    pub login_failures_per_account: u32,
    /// Password-reset and verification requests per client address and 15 minutes.
    #[arg(
        long,
        env = "BULKHEAD_EMAIL_REQUESTS_PER_ADDRESS",
        default_value_t = 10
    )]
    pub email_requests_per_address: u32,
    /// Reset and verification emails per recipient and hour.
    #[arg(long, env = "BULKHEAD_EMAILS_PER_ACCOUNT", default_value_t = 3)]
    pub emails_per_account: u32,
    /// Requests per authenticated user or API key and minute (0: no limit).
    #[arg(long, env = "BULKHEAD_REQUESTS_PER_MINUTE", default_value_t = 1200)]
    pub requests_per_minute: u32,
    /// Days a deleted organization can be restored before `purge` removes it.
    #[arg(long, env = "BULKHEAD_ORGANIZATION_GRACE_DAYS", default_value_t = 30)]
    pub organization_grace_days: u32,
    /// Proxies (addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` is believed.
    #[arg(long, env = "BULKHEAD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Largest database pool (PostgreSQL).
    #[arg(long, env = "BULKHEAD_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Read-only requests running at once against PostgreSQL, split between the HTTP workers
    /// (default: two per core when PostgreSQL runs on this machine, else no limit but the pool).
    #[arg(long, env = "BULKHEAD_DB_MAX_READS", value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_reads: Option<u32>,
    /// Seconds a request waits for a database connection before answering 503.
    #[arg(long, env = "BULKHEAD_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 3)]
    pub db_acquire_timeout_secs: u64,
    /// Largest request body in bytes.
    #[arg(long, env = "BULKHEAD_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// HTTP worker threads.
    #[arg(long, env = "BULKHEAD_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Browser origins allowed to call the API cross-origin, comma-separated and matched
    /// exactly (`https://app.example.com`); none by default, which keeps CORS closed.
    #[arg(
        long,
        env = "BULKHEAD_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = bulkhead_api::parse_origin
    )]
    pub cors_origins: Vec<String>,
    /// The key that seals secrets at rest (queued email bodies), as `<id>:<64 hex digits>`;
    /// without it, a key derived from the JWT secret.
    #[arg(long, env = "BULKHEAD_SECRETS_KEY", hide_env_values = true, value_parser = SecretKey::parse)]
    pub secrets_key: Option<SecretKey>,
    /// Earlier secrets keys, comma-separated, still opening what they sealed (for rotation).
    #[arg(
        long,
        env = "BULKHEAD_SECRETS_PREVIOUS_KEYS",
        hide_env_values = true,
        value_delimiter = ',',
        value_parser = SecretKey::parse
    )]
    pub secrets_previous_keys: Vec<SecretKey>,
    /// Provider URLs agent configurations may use, comma-separated; a configuration's
    /// `base_url` must fall under one (same scheme, host and port, path below).
    #[arg(
        long,
        env = "BULKHEAD_PROVIDER_BASE_URLS",
        value_delimiter = ',',
        default_value = "https://api.openai.com/v1"
    )]
    pub provider_base_urls: Vec<url::Url>,
    /// Let provider URLs resolve to loopback, private and link-local addresses (a provider on
    /// the deployment's own network). Off by default: a tenant's URL must not reach it.
    #[arg(
        long,
        env = "BULKHEAD_PROVIDER_ALLOW_INTERNAL",
        default_value_t = false
    )]
    pub provider_allow_internal: bool,
    /// Runs executed at once by this process's worker (0: none).
    #[arg(long, env = "BULKHEAD_RUN_CONCURRENCY", default_value_t = 4)]
    pub run_concurrency: u32,
    /// Starts of one run (retries after a lost worker included) before it fails.
    #[arg(long, env = "BULKHEAD_RUN_MAX_ATTEMPTS", default_value_t = 3)]
    pub run_max_attempts: i32,
    /// How long one execution of a run may take.
    #[arg(long, env = "BULKHEAD_RUN_TIMEOUT_SECS", default_value_t = 300)]
    pub run_timeout_secs: u64,
    /// How long a worker's claim on a run lasts unless renewed (renewed at a third of it); a
    /// dead worker's runs are retried after it.
    #[arg(long, env = "BULKHEAD_RUN_LEASE_SECS", default_value_t = 30)]
    pub run_lease_secs: u64,
    /// Runs one organization may have executing at once, across workers.
    #[arg(long, env = "BULKHEAD_RUN_PER_ORGANIZATION", default_value_t = 2)]
    pub run_per_organization: u32,
    /// At shutdown, how long requests in flight and running runs get to finish; runs still
    /// running then are handed back to the queue.
    #[arg(long, env = "BULKHEAD_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
    /// At shutdown, how long to go on serving while `/health/ready` answers 503, before the
    /// listener closes: at least the load balancer's readiness interval.
    #[arg(long, env = "BULKHEAD_SHUTDOWN_DELAY_SECS", default_value_t = 2)]
    pub shutdown_delay_secs: u64,
    /// Serve `/metrics` (Prometheus text format) on this address, apart from the API, so it
    /// is never public by accident; off unless set.
    #[arg(long, env = "BULKHEAD_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    /// A JSON file of plans, `[{"name", "title", "stripe_price_id", "limits": {...}}]`: each
    /// replaces the shipped plan of its name whole (an absent limit is unlimited) or adds a
    /// plan. The shipped ones are free, pro and enterprise (`GET /api/v1/billing/plans`).
    #[arg(long, env = "BULKHEAD_BILLING_PLANS", value_parser = parse_plans)]
    pub billing_plans: Option<PlanCatalogue>,
    /// Days a subscription may stay past due before its organization turns read-only.
    #[arg(long, env = "BULKHEAD_BILLING_GRACE_DAYS", default_value_t = 7)]
    pub billing_grace_days: u32,
    /// Where documents' bytes go: a local directory (created if missing), or an
    /// S3-compatible bucket as `s3://bucket?endpoint=https://…&region=…` (credentials from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`).
    #[arg(long, env = "BULKHEAD_STORAGE_URL", default_value = "bulkhead-blobs")]
    pub storage_url: String,
    /// The largest document upload accepted, in bytes (larger ones are 413).
    #[arg(long, env = "BULKHEAD_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// Stripe's secret API key; without it checkout and the customer portal answer 409.
    #[arg(long, env = "BULKHEAD_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe's API base URL (a local fake in tests).
    #[arg(
        long,
        env = "BULKHEAD_STRIPE_API_BASE",
        default_value = "https://api.stripe.com/"
    )]
    pub stripe_api_base: url::Url,
    /// Stripe's webhook signing secrets (`whsec_…`), comma-separated: several while one is
    /// rotated. Without any, the webhook refuses every event (400).
    #[arg(
        long,
        env = "BULKHEAD_STRIPE_WEBHOOK_SECRETS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub stripe_webhook_secrets: Vec<String>,
}

impl ServeArgs {
    /// The configuration these flags describe.
    pub fn into_config(self) -> Config {
        let mut config = Config::new(self.database_url);
        config.bind = self.bind;
        config.metrics_bind = self.metrics_bind;
        config.drain_delay = Duration::from_secs(self.shutdown_delay_secs);
        config.http.shutdown_grace = Duration::from_secs(self.shutdown_grace_secs);
        config.jwt_secret = self.jwt_secret;
        config.jwt_key_id = self.jwt_key_id;
        config.jwt_previous_keys = self.jwt_previous_keys;
        config.ephemeral_jwt_secret = self.ephemeral_jwt_secret;
        config.bcrypt_cost = self.bcrypt_cost;
        config.hashing_reserve_percent = self.hashing_reserve_percent;
        config.access_token_ttl = Duration::from_secs(self.access_token_ttl_secs);
        config.sessions = SessionPolicy {
            idle_timeout: chrono::Duration::seconds(self.session_idle_timeout_secs.into()),
            lifetime: chrono::Duration::seconds(self.session_lifetime_secs.into()),
        };
        config.accounts = AccountSettings {
            public_url: self.public_url,
            require_verified_email: self.require_verified_email,
        };
        config.smtp = self.smtp_url.map(|url| SmtpSettings {
            url,
            from: self.mail_from,
        });
        let defaults = RateLimits::default();
        config.limits = RateLimits {
            auth_per_address: Limit::per_minute(self.auth_attempts_per_minute),
            login_failures_per_account: Limit {
                max: self.login_failures_per_account,
                ..defaults.login_failures_per_account
            },
            email_per_address: Limit {
                max: self.email_requests_per_address,
                ..defaults.email_per_address
            },
            email_per_account: Limit {
                max: self.emails_per_account,
                ..defaults.email_per_account
            },
            requests_per_principal: Limit::per_minute(self.requests_per_minute),
        };
        config.http.trusted_proxies = self.trusted_proxies;
        config.organization_grace = chrono::Duration::days(i64::from(self.organization_grace_days));
        config.store.max_connections = self.db_max_connections;
        config.store.max_reads = self.db_max_reads;
        config.store.acquire_timeout = Duration::from_secs(self.db_acquire_timeout_secs);
        config.http.body_limit = self.body_limit_bytes;
        config.http.workers = self.workers;
        config.http.cors_origins = self.cors_origins;
        config.secrets_key = self.secrets_key;
        config.secrets_previous_keys = self.secrets_previous_keys;
        config.provider_base_urls = self.provider_base_urls;
        config.provider_allow_internal = self.provider_allow_internal;
        config.storage_url = self.storage_url;
        config.max_upload_bytes = self.max_upload_bytes;
        config.billing = BillingSettings {
            plans: Arc::new(self.billing_plans.unwrap_or_default()),
            webhook_secrets: self
                .stripe_webhook_secrets
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| WebhookSecret::new(s.trim()))
                .collect(),
            grace: chrono::Duration::days(i64::from(self.billing_grace_days)),
            public_url: config.accounts.public_url.clone(),
            ..BillingSettings::default()
        };
        config.stripe = self.stripe_secret_key.map(|secret_key| StripeSettings {
            secret_key,
            api_base: with_trailing_slash(self.stripe_api_base),
        });
        config.runs = crate::worker::WorkerSettings {
            concurrency: self.run_concurrency,
            per_organization: self.run_per_organization.max(1),
            max_attempts: self.run_max_attempts.max(1),
            timeout: Duration::from_secs(self.run_timeout_secs.max(1)),
            lease: Duration::from_secs(self.run_lease_secs.max(3)),
            grace: Duration::from_secs(self.shutdown_grace_secs),
            ..crate::worker::WorkerSettings::default()
        };
        config
    }
}

/// Reads an operator's plans file over the shipped plans.
fn parse_plans(path: &str) -> Result<PlanCatalogue, String> {
    let json = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    PlanCatalogue::from_json(&json).map_err(|e| match e {
        bulkhead_domain::DomainError::Validation(errors) => errors
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    })
}

/// `url` with a trailing slash, so paths join below it rather than replacing its last part.
pub fn with_trailing_slash(mut url: url::Url) -> url::Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// Parses `kid:secret`.
fn parse_key(raw: &str) -> Result<(String, String), String> {
    raw.split_once(':')
        .map(|(id, secret)| (id.trim().to_owned(), secret.to_owned()))
        .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
        .ok_or_else(|| "expected kid:secret".to_owned())
}

/// Flags of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The owner's connection; falls back to DATABASE_URL.
    #[arg(long, env = "BULKHEAD_ADMIN_DATABASE_URL")]
    pub admin_database_url: Option<String>,
    /// Used when no admin URL is given.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    #[test]
    fn previous_keys_parse_as_kid_secret_pairs() {
        let cli = Cli::try_parse_from([
            "bulkhead",
            "serve",
            "--jwt-previous-keys",
            "old:0123456789abcdef0123456789abcdef,older:fedcba9876543210fedcba9876543210",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        let ids: Vec<_> = args
            .jwt_previous_keys
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(ids, ["old", "older"]);
        assert!(
            Cli::try_parse_from(["bulkhead", "serve", "--jwt-previous-keys", "no-secret"]).is_err()
        );
    }
}
