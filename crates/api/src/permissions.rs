//! `/permissions`: the catalogue every decision is made from.

use actix_web::{HttpResponse, web};
use bulkhead_domain::Permission;
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::Auth;
use crate::pagination::ListBody;
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/permissions").route(web::get().to(list)));
}

/// One permission of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionBody {
    /// `resource:action`.
    #[schema(example = "projects:write")]
    pub name: &'static str,
    #[schema(example = "Create and edit projects.")]
    pub description: &'static str,
    /// Whether an API key may hold it (a scope); the rest only a person may hold.
    pub api_keys: bool,
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
            api_keys: p.for_keys(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListBody { data }))
}
