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

/// The database answers.
#[utoipa::path(
    get, path = "/health/ready", extensions(("x-permission" = json!("none"))), tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.health.ready().await?;
    Ok(HttpResponse::Ok().json(HealthBody { status: "ready" }))
}
