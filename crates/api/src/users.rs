//! `/users`: a member's profile as the organization sees it, and your own.

use actix_web::{HttpResponse, web};
use bulkhead_domain::UserId;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::UserBody;
use crate::extract::{Auth, Json};
use crate::members::{MemberBody, UserPath};
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    // `me` first, so that it is not taken for a user id.
    cfg.service(web::resource("/users/me").route(web::patch().to(update_me)))
        .service(web::resource("/users/{user_id}").route(web::get().to(get_user)));
}

/// Changes to your own profile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[schema(
        example = "Ada King",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
}

/// A member of your organization (members:read); anyone else is 404.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}", extensions(("x-permission" = json!("members:read"))), tag = "members", params(UserPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The member", body = MemberBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get_user(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<UserPath>,
) -> Result<HttpResponse, ApiError> {
    let member = state
        .members
        .get(&scope, UserId::from_uuid(path.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(MemberBody::from(member)))
}

/// Change your own display name (users only).
#[utoipa::path(
    patch, path = "/api/v1/users/me", extensions(("x-permission" = json!("user"))), tag = "members", request_body = UpdateMeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your profile", body = UserBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn update_me(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    Json(body): Json<UpdateMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state.users.rename_me(&scope, &body.name).await?;
    Ok(HttpResponse::Ok().json(UserBody::from(user)))
}
