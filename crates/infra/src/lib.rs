//! Bulkhead's adapters: sea-orm repositories for PostgreSQL and SQLite, the row-level-security
//! transaction every tenant unit of work runs in, bcrypt password hashing and JWT access tokens.

pub mod accounts;
pub mod agent_configs;
pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod blobs;
mod chain;
pub mod conversations;
mod deferred;
pub mod documents;
mod entities;
mod error;
mod events;
pub mod executors;
pub mod exports;
mod grants;
pub mod health;
pub mod idempotency;
pub mod invitations;
pub mod limits;
pub mod members;
pub mod memberships;
pub mod metrics;
pub mod organizations;
pub mod outbox;
mod paging;
pub mod password;
pub mod platform;
mod pool_waits;
pub mod project_members;
pub mod projects;
pub mod provider_urls;
mod quotas;
pub mod resources;
pub mod roles;
pub mod rotation;
mod run_rows;
pub mod run_signals;
pub mod runs;
pub mod sealing;
pub mod sessions;
pub mod store;
pub mod stripe;
mod tenant;
pub mod tokens;
mod tx;
pub mod users;
pub mod work;

pub use accounts::SqlAccountRepository;
pub use agent_configs::{SqlAgentConfigRepository, SqlAgentConfigVersionRepository};
pub use agents::SqlAgentRepository;
pub use api_keys::SqlApiKeyRepository;
pub use audit::SqlAuditRepository;
pub use conversations::{SqlConversationRepository, SqlMessageRepository};
pub use deferred::SpawnedWork;
pub use error::InfraError;
pub use idempotency::SqlIdempotencyRepository;
pub use invitations::SqlInvitationRepository;
pub use limits::{BatchedRateLimiter, SqlRateLimiter};
pub use members::SqlMemberRepository;
pub use memberships::SqlMembershipRepository;
pub use organizations::SqlOrganizationRepository;
pub use outbox::{LogMailer, SmtpMailer, SmtpSettings, SqlOutboxRepository};
pub use password::BcryptHasher;
pub use platform::SqlPlatformRepository;
pub use project_members::SqlProjectMemberRepository;
pub use projects::SqlProjectRepository;
pub use resources::{RegisteredResource, SqlResources, TenantTable};
pub use roles::SqlRoleRepository;
pub use run_signals::SqlRunSignals;
pub use runs::{SqlRunQueue, SqlRunRepository};
pub use sessions::SqlSessionRepository;
pub use store::{Store, StoreOptions};
pub use tokens::{JwtCodec, JwtKey, JwtSettings};
pub use users::SqlUserRepository;
pub use work::{
    SqlArtifactRepository, SqlCheckpointRepository, SqlWorkRepository, SqlWorkSessionRepository,
};

/// Every tenant resource on the kit, for the jobs that run over all of them (the purge). A new
/// resource adds its table here.
pub fn registered_resources(store: &Store) -> Vec<std::sync::Arc<dyn RegisteredResource>> {
    // Rows before the rows they point at, so that each resource's purge counts (and audits)
    // its own deleted rows before a cascade from a purged parent could take them.
    vec![
        std::sync::Arc::new(SqlConversationRepository::new(store.clone())),
        std::sync::Arc::new(documents::SqlDocumentRepository::new(store.clone())),
        std::sync::Arc::new(SqlAgentRepository::new(store.clone())),
        std::sync::Arc::new(SqlAgentConfigRepository::new(store.clone())),
        std::sync::Arc::new(SqlProjectRepository::new(store.clone())),
    ]
}
