//! Bulkhead's HTTP API: actix-web handlers over the domain services, problem+json errors,
//! and the OpenAPI document.
//!
//! This crate cannot write a query: it depends on the domain crate only, never on sea-orm or
//! sqlx, so every data access goes through a service and a [`bulkhead_domain::TenantScope`].

mod accounts;
mod admin;
mod agent_configs;
mod agents;
mod api_keys;
mod artifacts;
mod audit;
mod auth;
mod billing;
mod checkpoints;
mod conversations;
mod documents;
pub mod draining;
mod event_stream;
mod exports;
mod extract;
mod headers;
mod health;
mod idempotency;
mod invitations;
mod members;
pub mod metrics;
pub mod openapi;
mod organizations;
mod pagination;
mod permissions;
mod problem;
mod project_members;
mod projects;
mod request_id;
mod resource;
mod roles;
mod runs;
mod sessions;
mod timestamps;
mod users;
mod work_sessions;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use bulkhead_domain::accounts::AccountService;
use bulkhead_domain::agent_configs::AgentConfigService;
use bulkhead_domain::agents::AgentService;
use bulkhead_domain::api_keys::ApiKeyService;
use bulkhead_domain::audit::AuditService;
use bulkhead_domain::auth::{AuthService, Authenticator};
use bulkhead_domain::billing::BillingService;
use bulkhead_domain::health::HealthProbe;
use bulkhead_domain::idempotency::IdempotencyService;
use bulkhead_domain::invitations::InvitationService;
use bulkhead_domain::members::MemberService;
use bulkhead_domain::organizations::OrganizationService;
use bulkhead_domain::platform::PlatformService;
use bulkhead_domain::projects::ProjectService;
use bulkhead_domain::roles::RoleService;
use bulkhead_domain::runs::{RunService, RunSignals};
use bulkhead_domain::users::UserService;
use bulkhead_domain::work::WorkService;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use headers::parse_origin;
pub use problem::{ApiError, Problem};

/// The services the handlers call.
#[derive(Clone)]
pub struct AppState {
    /// The authentication of every request (the `Auth` extractor's).
    pub authenticator: Authenticator,
    /// Registration, login and sessions.
    pub auth: AuthService,
    /// Password change and reset, email verification.
    pub accounts: AccountService,
    /// Project use cases.
    pub projects: ProjectService,
    /// Agent configurations.
    pub agent_configs: AgentConfigService,
    /// Agents.
    pub agents: AgentService,
    /// Agents' runs.
    pub runs: RunService,
    /// Members' private conversations with agents.
    pub conversations: bulkhead_domain::conversations::ConversationService,
    /// The organization's documents.
    pub documents: bulkhead_domain::documents::DocumentService,
    /// Work sessions, their artifacts and checkpoints.
    pub work: WorkService,
    /// Wake-ups for streams of run and work session events.
    pub run_signals: Arc<dyn RunSignals>,
    /// The audit trail.
    pub audit: AuditService,
    /// The organization's API keys.
    pub api_keys: ApiKeyService,
    /// The caller's organization.
    pub organizations: OrganizationService,
    /// Its export.
    pub exports: bulkhead_domain::exports::ExportService,
    /// Its members.
    pub members: MemberService,
    /// Its roles.
    pub roles: RoleService,
    /// Platform administration.
    pub platform: PlatformService,
    /// Plans, subscriptions, usage and Stripe's webhook.
    pub billing: BillingService,
    /// Wakes the processor of Stripe's events when one is stored (shared by every worker's
    /// state and the processor).
    pub billing_wake: Arc<tokio::sync::Notify>,
    /// Its invitations.
    pub invitations: InvitationService,
    /// The caller's own profile.
    pub users: UserService,
    /// Idempotency keys of creating POSTs.
    pub idempotency: IdempotencyService,
    /// The HTTP series every request adds to (shared by every worker's state).
    pub http_metrics: metrics::HttpMetrics,
    /// Readiness of the store.
    pub health: Arc<dyn HealthProbe>,
    /// Whether the instance is shutting down (shared by every worker's state).
    pub draining: draining::Draining,
}

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Time a client has to send its request head.
    pub client_request_timeout: Duration,
    /// Number of worker threads.
    pub workers: usize,
    /// Proxies whose `X-Forwarded-For` is believed; from anyone else the peer address is the
    /// client's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Send `Strict-Transport-Security` (when the public URL is https).
    pub hsts: bool,
    /// Browser origins (`https://app.example.com`, matched exactly) allowed to call the API
    /// cross-origin; none by default, which keeps CORS closed.
    pub cors_origins: Vec<String>,
    /// At shutdown, how long requests in flight get to finish before their connections close.
    pub shutdown_grace: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            client_request_timeout: Duration::from_secs(5),
            workers: 2,
            trusted_proxies: Vec::new(),
            hsts: false,
            cors_origins: Vec::new(),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Registers every route, the extractor configuration and the fallbacks on an app.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    state: web::Data<AppState>,
    settings: &HttpSettings,
) {
    cfg.app_data(state)
        .app_data(web::PayloadConfig::new(settings.body_limit))
        .app_data(web::Data::new(extract::TrustedProxies(
            settings.trusted_proxies.clone(),
        )))
        .app_data(extract::path_config())
        .app_data(extract::query_config())
        .service(
            web::scope(resource::API_PREFIX)
                .configure(auth::routes)
                .configure(sessions::routes)
                .configure(accounts::routes)
                .configure(projects::routes)
                .configure(project_members::routes)
                .configure(agent_configs::routes)
                .configure(agent_configs::extra_routes)
                .configure(agents::routes)
                .configure(agents::extra_routes)
                .configure(runs::routes)
                .configure(conversations::routes)
                .configure(conversations::extra_routes)
                .configure(documents::routes)
                .configure(work_sessions::routes)
                .configure(artifacts::routes)
                .configure(checkpoints::routes)
                .configure(audit::routes)
                .configure(api_keys::routes)
                .configure(organizations::routes)
                .configure(exports::routes)
                .configure(permissions::routes)
                .configure(roles::routes)
                .configure(members::routes)
                .configure(users::routes)
                .configure(invitations::routes)
                .configure(billing::routes)
                .configure(admin::routes),
        )
        .configure(health::routes)
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("location", "/docs/"))
                    .finish()
            }),
        )
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi::ApiDoc::openapi()));
}

/// Builds the HTTP server on a bound listener, with one state per worker thread (handed out in
/// turn as workers start, so a restarted worker takes one again): each worker's database pool
/// is then served by that worker's own runtime. It starts serving when the returned future is
/// awaited.
pub fn server(
    listener: TcpListener,
    states: Vec<AppState>,
    settings: HttpSettings,
) -> std::io::Result<Server> {
    if states.is_empty() {
        return Err(std::io::Error::other("the HTTP server needs a state"));
    }
    let states: Arc<[web::Data<AppState>]> = states.into_iter().map(web::Data::new).collect();
    let next = Arc::new(AtomicUsize::new(0));
    let workers = settings.workers;
    let timeout = settings.client_request_timeout;
    let grace = settings.shutdown_grace;
    let server = HttpServer::new(move || {
        let state = states[next.fetch_add(1, Ordering::Relaxed) % states.len()].clone();
        App::new()
            .configure(|cfg| configure(cfg, state.clone(), &settings))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::NotFound)
            }))
            // Turns bodiless errors from actix itself (405, 413 from a length header, ...)
            // into problem+json.
            .wrap(ErrorHandlers::new().default_handler(problem::fallback))
            .wrap(headers::cors(&settings.cors_origins))
            // Outside everything but the request id, so that every response carries them.
            .wrap(headers::security(settings.hsts))
            // Outside everything that answers, so it sees every final status.
            .wrap(from_fn(metrics::observe))
            // Outermost, so that everything inside can read the request id.
            .wrap(from_fn(request_id::middleware))
    })
    .workers(workers)
    .client_request_timeout(timeout)
    // The application handles the signals: it drains first, then stops this server.
    .disable_signals()
    .shutdown_timeout(grace.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}
