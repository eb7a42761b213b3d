//! `/organizations/current`: the caller's organization.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::OrganizationBody;
use crate::extract::{Auth, Json};
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/organizations/current")
            .route(web::get().to(current))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/organizations/current/restore").route(web::post().to(restore)));
}

/// Changes to the organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(
        example = "Analytical Engines Ltd",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
}

/// The organization of your token (organization:read).
#[utoipa::path(
    get, path = "/api/v1/organizations/current", extensions(("x-permission" = json!("organization:read"))), tag = "organizations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = OrganizationBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn current(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let organization = state.organizations.current(&scope).await?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(organization)))
}

/// Rename the organization (organization:update: admins and owners).
#[utoipa::path(
    patch, path = "/api/v1/organizations/current", extensions(("x-permission" = json!("organization:update"))), tag = "organizations",
    request_body = UpdateOrganizationRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Renamed", body = OrganizationBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn update(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    Json(body): Json<UpdateOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    let organization = state.organizations.rename(&scope, &body.name).await?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(organization)))
}

/// The organization's exact name, typed again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteOrganizationRequest {
    #[schema(example = "Analytical Engines")]
    pub confirm: String,
}

/// Delete the organization (organization:delete: owners), confirming with its exact name. It is
/// suspended at once: every token and API key of it stops working, except an owner's token to
/// restore it; after the grace period `bulkhead purge` removes it and all its data.
#[utoipa::path(
    delete, path = "/api/v1/organizations/current", extensions(("x-permission" = json!("organization:delete"))), tag = "organizations",
    request_body = DeleteOrganizationRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted (suspended until purged)"),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    Json(body): Json<DeleteOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    state.organizations.delete(&scope, &body.confirm).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted organization within the grace period (organization:delete), with a token
/// of a session in it (refresh one if the access token expired). After the grace period: 409.
#[utoipa::path(
    post, path = "/api/v1/organizations/current/restore", extensions(("x-permission" = json!("organization:delete"))), tag = "organizations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Restored", body = OrganizationBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn restore(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let organization = state.organizations.restore(&scope).await?;
    Ok(HttpResponse::Ok().json(OrganizationBody::from(organization)))
}
