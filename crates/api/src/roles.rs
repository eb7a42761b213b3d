//! `/roles`: the system roles and the organization's custom roles.

use actix_web::{HttpResponse, web};
use bulkhead_domain::roles::{RoleChanges, RoleDefinition};
use bulkhead_domain::{PermissionSet, RoleRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::extract::{Auth, Json};
use crate::pagination::ListBody;
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/roles")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/roles/{role_id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

fn names(permissions: PermissionSet) -> Vec<&'static str> {
    permissions.iter().map(|p| p.as_str()).collect()
}

/// A role and the permissions it grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleDefinitionBody {
    /// How memberships and invitations name the role: a system role's name, or a custom
    /// role's id.
    #[schema(example = "admin")]
    pub id: String,
    #[schema(example = "admin")]
    pub name: String,
    /// System roles cannot be edited or deleted.
    pub system: bool,
    #[schema(value_type = Vec<String>, example = json!(["organization:read", "projects:read"]))]
    pub permissions: Vec<&'static str>,
    /// Custom roles only.
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub created_at: Option<DateTime<Utc>>,
    /// Custom roles only.
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<RoleDefinition> for RoleDefinitionBody {
    fn from(role: RoleDefinition) -> Self {
        Self {
            id: role.role.to_string(),
            name: role.name,
            system: role.custom.is_none(),
            permissions: names(role.permissions),
            created_at: role.custom.as_ref().map(|c| c.created_at),
            updated_at: role.custom.as_ref().map(|c| c.updated_at),
        }
    }
}

/// A new custom role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// Unique in the organization (ignoring case); not a system role's name.
    #[schema(
        example = "Auditor",
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// Names from `GET /permissions`, each one you hold yourself.
    #[schema(example = json!(["audit:read", "projects:read"]))]
    pub permissions: Vec<String>,
}

/// Changes to a custom role; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    #[schema(
        example = "Auditor",
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    /// The complete new set, each one you hold yourself.
    #[schema(example = json!(["audit:read"]))]
    pub permissions: Option<Vec<String>>,
}

/// A role in the path: a system role's name or a custom role's id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RolePath {
    #[param(example = "admin", max_length = 36)]
    pub role_id: String,
}

impl RolePath {
    /// Anything that names no role is a role that does not exist here.
    fn role(&self) -> Result<RoleRef, ApiError> {
        RoleRef::parse(&self.role_id).ok_or(ApiError::NotFound)
    }
}

/// The roles and what they grant (roles:read): the system roles, then the custom ones by name.
#[utoipa::path(
    get, path = "/api/v1/roles", extensions(("x-permission" = json!("roles:read"))), tag = "organizations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The roles", body = ListBody<RoleDefinitionBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let data = state
        .roles
        .list(&scope)
        .await?
        .into_iter()
        .map(RoleDefinitionBody::from)
        .collect();
    Ok(HttpResponse::Ok().json(ListBody { data }))
}

/// One role (roles:read).
#[utoipa::path(
    get, path = "/api/v1/roles/{role_id}", extensions(("x-permission" = json!("roles:read"))), tag = "organizations", params(RolePath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The role", body = RoleDefinitionBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<RolePath>,
) -> Result<HttpResponse, ApiError> {
    let role = state.roles.get(&scope, path.role()?).await?;
    Ok(HttpResponse::Ok().json(RoleDefinitionBody::from(role)))
}

/// Create a custom role (roles:manage) with permissions you hold (403 otherwise).
#[utoipa::path(
    post, path = "/api/v1/roles", extensions(("x-permission" = json!("roles:manage"))), tag = "organizations",
    request_body = CreateRoleRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = RoleDefinitionBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn create(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    Json(body): Json<CreateRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let role = state
        .roles
        .create(&scope, &body.name, &body.permissions)
        .await?;
    let body = RoleDefinitionBody::from(RoleDefinition::from(role));
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/roles/{}", body.id),
        ))
        .json(body))
}

/// Rename a custom role or replace its permissions (roles:manage). You must hold every
/// permission it grants before and after; its holders get the change on their next request.
/// System roles: 409.
#[utoipa::path(
    patch, path = "/api/v1/roles/{role_id}", extensions(("x-permission" = json!("roles:manage"))), tag = "organizations", params(RolePath),
    request_body = UpdateRoleRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed role", body = RoleDefinitionBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn update(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<RolePath>,
    Json(body): Json<UpdateRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let changes = RoleChanges {
        name: body.name,
        permissions: body.permissions,
    };
    let role = state.roles.update(&scope, path.role()?, changes).await?;
    Ok(HttpResponse::Ok().json(RoleDefinitionBody::from(RoleDefinition::from(role))))
}

/// Delete a custom role (roles:manage). A role a member holds or an invitation offers, and
/// every system role: 409.
#[utoipa::path(
    delete, path = "/api/v1/roles/{role_id}", extensions(("x-permission" = json!("roles:manage"))), tag = "organizations", params(RolePath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<RolePath>,
) -> Result<HttpResponse, ApiError> {
    state.roles.delete(&scope, path.role()?).await?;
    Ok(HttpResponse::NoContent().finish())
}
