//! `/permissions` and the system roles: the catalogue every decision is made from.

use actix_web::{HttpResponse, web};
use bulkhead_domain::Permission;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::RoleBody;
use crate::extract::Auth;
use crate::pagination::ListBody;
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/permissions").route(web::get().to(list)))
        .service(web::resource("/roles").route(web::get().to(roles)));
}

/// One permission of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionBody {
    /// `resource:action`.
    #[schema(example = "projects:write")]
    pub name: &'static str,
    #[schema(example = "Create and edit projects.")]
    pub description: &'static str,
}

/// A role and the permissions it grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleDefinitionBody {
    pub name: RoleBody,
    /// System roles cannot be edited or deleted.
    pub system: bool,
    #[schema(value_type = Vec<String>, example = json!(["organization:read", "projects:read"]))]
    pub permissions: Vec<&'static str>,
}

/// Every permission an operation can require (any signed-in caller).
#[utoipa::path(
    get, path = "/api/v1/permissions", extensions(("x-permission" = json!("authenticated"))), tag = "organizations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The catalogue", body = ListBody<PermissionBody>),
        (status = 401, response = responses::Unauthorized),
    )
)]
pub(crate) async fn list(Auth(_scope): Auth) -> Result<HttpResponse, ApiError> {
    let data = Permission::ALL
        .iter()
        .map(|p| PermissionBody {
            name: p.as_str(),
            description: p.description(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListBody { data }))
}

/// The roles and what they grant (roles:read).
#[utoipa::path(
    get, path = "/api/v1/roles", extensions(("x-permission" = json!("roles:read"))), tag = "organizations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The roles", body = ListBody<RoleDefinitionBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn roles(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let data = state
        .organizations
        .roles(&scope)?
        .iter()
        .map(|&role| RoleDefinitionBody {
            name: role.into(),
            system: true,
            permissions: role.permissions().iter().map(|p| p.as_str()).collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListBody { data }))
}
