//! `/organizations/current`: the caller's organization.

use actix_web::{HttpResponse, web};
use bulkhead_domain::organizations::Organization;
use serde::{Deserialize, Serialize};
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

/// Changes to the organization; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(
        example = "Analytical Engines Ltd",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    /// Replaces the settings: a JSON object of at most 64 keys (1 to 64 letters, digits, `_`,
    /// `-` or `.`) and 16 KiB.
    #[schema(schema_with = settings_schema, example = json!({ "theme": "dark", "locale": "de" }))]
    #[serde(default, deserialize_with = "present")]
    pub settings: Option<serde_json::Value>,
}

/// A field that, when sent, is taken as sent: `"settings": null` is invalid (422), not absent.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde::Deserialize::deserialize(deserializer).map(Some)
}

/// What settings look like; the 16 KiB bound is checked by the server alone.
fn settings_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_.-]{1,64}$")),
        ))
        .max_properties(Some(64))
        .build()
}

/// The organization, with its settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentOrganizationBody {
    #[serde(flatten)]
    pub organization: OrganizationBody,
    /// The organization's settings, as last set.
    #[schema(value_type = Object, example = json!({ "theme": "dark" }))]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl From<Organization> for CurrentOrganizationBody {
    fn from(organization: Organization) -> Self {
        Self {
            settings: organization.settings.as_map().clone(),
            organization: organization.into(),
        }
    }
}

/// The organization of your token (organization:read).
#[utoipa::path(
    get, path = "/api/v1/organizations/current", extensions(("x-permission" = json!("organization:read"))), tag = "organizations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = CurrentOrganizationBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn current(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let organization = state.organizations.current(&scope).await?;
    Ok(HttpResponse::Ok().json(CurrentOrganizationBody::from(organization)))
}

/// Rename the organization or replace its settings (organization:update: admins and owners).
#[utoipa::path(
    patch, path = "/api/v1/organizations/current", extensions(("x-permission" = json!("organization:update"))), tag = "organizations",
    request_body = UpdateOrganizationRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed organization", body = CurrentOrganizationBody),
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
    let organization = state
        .organizations
        .update(&scope, body.name.as_deref(), body.settings)
        .await?;
    Ok(HttpResponse::Ok().json(CurrentOrganizationBody::from(organization)))
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
/// of a session in it (refresh one if the access token expired). After the grace period, or
/// when it is not deleted: 409.
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
