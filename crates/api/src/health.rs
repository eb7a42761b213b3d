//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::problem::{ApiError, Problem};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(live)))
        .service(web::resource("/health/ready").route(web::get().to(ready)));
}

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/health", extensions(("x-permission" = json!("none"))), tag = "health", responses((status = 200, description = "Alive", body = HealthBody)))]
pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthBody { status: "ok" })
}

/// The queues' backlogs, across organizations.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuesBody {
    /// Emails stored in the outbox and not sent yet.
    pub outbox_pending: i64,
    /// Runs waiting for a worker.
    pub runs_queued: i64,
    /// Runs a worker holds.
    pub runs_leased: i64,
    /// Stripe's events stored and not applied yet.
    pub billing_events_pending: i64,
    /// Stripe's events left failed after their last attempt.
    pub billing_events_failed: i64,
}

/// One dependency that answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyBody {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// How long it took to answer.
    pub latency_ms: u64,
}

/// What the readiness check found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessBody {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The database.
    pub database: DependencyBody,
    pub queues: QueuesBody,
}

/// Each dependency answers (the database), and how much waits in each queue (the outbox, the
/// runs). 503 when one does not answer, and from the moment the instance is told to shut down
/// (`shutting-down`): a load balancer stops sending requests here.
#[utoipa::path(
    get, path = "/health/ready", extensions(("x-permission" = json!("none"))), tag = "health",
    responses(
        (status = 200, description = "Ready", body = ReadinessBody),
        (status = 503, description = "A dependency does not answer, or the instance is shutting down", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.draining.is_draining() {
        return Err(ApiError::ShuttingDown);
    }
    let found = state.health.ready().await?;
    Ok(HttpResponse::Ok().json(ReadinessBody {
        status: "ready",
        database: DependencyBody {
            status: "ok",
            latency_ms: found.database_ms,
        },
        queues: QueuesBody {
            outbox_pending: found.queues.outbox_pending,
            runs_queued: found.queues.runs_queued,
            runs_leased: found.queues.runs_leased,
            billing_events_pending: found.queues.billing_events_pending,
            billing_events_failed: found.queues.billing_events_failed,
        },
    }))
}
