//! Run-time configuration, from flags or `BULKHEAD_*` environment variables.

use std::time::Duration;

use bulkhead_api::HttpSettings;
use bulkhead_domain::accounts::AccountSettings;
use bulkhead_domain::billing::BillingSettings;
use bulkhead_domain::limits::RateLimits;
use bulkhead_domain::sessions::SessionPolicy;
use bulkhead_infra::SmtpSettings;
use bulkhead_infra::StoreOptions;
use bulkhead_infra::sealing::SecretKey;
use bulkhead_infra::stripe::StripeSettings;

/// Everything `serve` needs.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on, `host:port` (port 0 picks a free one).
    pub bind: String,
    /// Where the data lives: `postgres://...` or `sqlite://...`.
    pub database_url: String,
    /// The JWT signing secret; at least 32 bytes.
    pub jwt_secret: Option<String>,
    /// The `kid` of the signing key.
    pub jwt_key_id: String,
    /// Earlier keys still accepted for verification, as (kid, secret).
    pub jwt_previous_keys: Vec<(String, String)>,
    /// With no secret configured, generate a throwaway one (development only).
    pub ephemeral_jwt_secret: bool,
    /// bcrypt cost.
    pub bcrypt_cost: u32,
    /// The share of one core, in percent, that hashing gets even while request handling
    /// keeps every core busy (0: only what request handling leaves).
    pub hashing_reserve_percent: u8,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of sessions (refresh tokens).
    pub sessions: SessionPolicy,
    /// Links in emails, and whether logins need a verified email.
    pub accounts: AccountSettings,
    /// SMTP delivery; `None` writes emails to the log instead.
    pub smtp: Option<SmtpSettings>,
    /// How often the outbox is delivered.
    pub outbox_interval: Duration,
    /// Rate limits.
    pub limits: RateLimits,
    /// How long a deleted organization can be restored before it is purged.
    pub organization_grace: chrono::Duration,
    /// Pool settings.
    pub store: StoreOptions,
    /// HTTP limits.
    pub http: HttpSettings,
    /// The key that seals secrets at rest; `None`: one derived from the JWT secret.
    pub secrets_key: Option<SecretKey>,
    /// Earlier keys, still opening what they sealed.
    pub secrets_previous_keys: Vec<SecretKey>,
    /// Provider URLs agent configurations may use.
    pub provider_base_urls: Vec<url::Url>,
    /// Whether provider URLs may resolve to internal addresses.
    pub provider_allow_internal: bool,
    /// The run worker `serve` runs in-process (`concurrency` 0: none).
    pub runs: crate::worker::WorkerSettings,
    /// Where `/metrics` is served (Prometheus text format), apart from the API; `None`: not
    /// at all.
    pub metrics_bind: Option<String>,
    /// At shutdown, how long the instance goes on serving while readiness answers 503, so that
    /// load balancers stop sending it requests before it stops listening.
    pub drain_delay: Duration,
    /// Plans, webhook secrets, the grace period of a lapsed payment.
    pub billing: BillingSettings,
    /// Stripe's API; `None`: checkout and portal answer 409.
    pub stripe: Option<StripeSettings>,
    /// Where documents' bytes go: a local directory, or `s3://bucket?endpoint=…`.
    pub storage_url: String,
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
}

impl Config {
    /// Defaults for a given database: the ones `serve` uses when nothing is set.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: database_url.into(),
            jwt_secret: None,
            jwt_key_id: "primary".into(),
            jwt_previous_keys: Vec::new(),
            ephemeral_jwt_secret: false,
            bcrypt_cost: 12,
            hashing_reserve_percent: bulkhead_infra::password::DEFAULT_RESERVE_PERCENT,
            access_token_ttl: Duration::from_secs(15 * 60),
            sessions: SessionPolicy::default(),
            accounts: AccountSettings::default(),
            smtp: None,
            outbox_interval: Duration::from_secs(1),
            limits: RateLimits::default(),
            organization_grace: chrono::Duration::days(30),
            store: StoreOptions::default(),
            http: HttpSettings::default(),
            secrets_key: None,
            secrets_previous_keys: Vec::new(),
            provider_base_urls: vec![
                url::Url::parse("https://api.openai.com/v1").expect("a valid default URL"),
            ],
            provider_allow_internal: false,
            runs: crate::worker::WorkerSettings::default(),
            metrics_bind: None,
            drain_delay: Duration::from_secs(2),
            billing: BillingSettings::default(),
            stripe: None,
            storage_url: "bulkhead-blobs".into(),
            max_upload_bytes: 25 * 1024 * 1024,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("hashing_reserve_percent", &self.hashing_reserve_percent)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("accounts", &self.accounts)
            .field("smtp", &self.smtp.as_ref().map(|s| redact_url(&s.url)))
            .field("limits", &self.limits)
            .field("store", &self.store)
            .field("http", &self.http)
            .field("stripe", &self.stripe)
            .finish()
    }
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(
            redact_url("sqlite://bulkhead.db?mode=rwc"),
            "sqlite://bulkhead.db?mode=rwc"
        );
    }
}
