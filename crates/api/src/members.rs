//! `/members`: the organization's members and their roles.

use actix_web::{HttpResponse, web};
use bulkhead_domain::UserId;
use bulkhead_domain::members::{Member, MemberQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{RoleBody, UserBody};
use crate::extract::{Auth, Json, int_param};
use crate::pagination::PageBody;
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    // `me` first, so that it is not taken for a user id.
    cfg.service(web::resource("/members/me").route(web::delete().to(leave)))
        .service(web::resource("/members").route(web::get().to(list)))
        .service(
            web::resource("/members/{user_id}")
                .route(web::patch().to(change_role))
                .route(web::delete().to(remove)),
        );
}

/// A member of the organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    pub user: UserBody,
    pub role: RoleBody,
    /// `active`, or `unverified` while the member has not confirmed their email address.
    /// People invited but not yet joined are listed by `GET /invitations`.
    #[schema(example = "active")]
    pub status: &'static str,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub joined_at: DateTime<Utc>,
}

impl From<Member> for MemberBody {
    fn from(m: Member) -> Self {
        Self {
            status: if m.user.email_verified_at.is_some() {
                "active"
            } else {
                "unverified"
            },
            user: m.user.into(),
            role: m.role.into(),
            joined_at: m.joined_at,
        }
    }
}

/// Filters of the member list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMembersQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Case-insensitive search in name and email (no control characters).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// Only members with this role: a system role's name or a custom role's id.
    #[param(
        value_type = Option<String>,
        pattern = "^(owner|admin|member|viewer|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub role: Option<RoleBody>,
}

/// The new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    pub role: RoleBody,
}

/// A member's user id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    pub user_id: Uuid,
}

/// The organization's members, by name (members:read).
#[utoipa::path(
    get, path = "/api/v1/members", extensions(("x-permission" = json!("members:read"))), tag = "members", params(ListMembersQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of members", body = PageBody<MemberBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    query: web::Query<ListMembersQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let query = MemberQuery::parse(
        query.q.as_deref(),
        query.role.as_ref().map(RoleBody::to_ref).transpose()?,
        int_param("limit", query.limit.as_deref())?,
        int_param("offset", query.offset.as_deref())?,
    )?;
    let page = state.members.list(&scope, query).await?;
    Ok(HttpResponse::Ok().json(PageBody::<MemberBody>::from_page(page)))
}

/// Change a member's role (members:manage). Only owners grant ownership or change an owner;
/// nobody changes their own role; the last owner stays one (409).
#[utoipa::path(
    patch, path = "/api/v1/members/{user_id}", extensions(("x-permission" = json!("members:manage"))), tag = "members", params(UserPath),
    request_body = ChangeRoleRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The member with the new role", body = MemberBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn change_role(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<UserPath>,
    Json(body): Json<ChangeRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let member = state
        .members
        .change_role(&scope, UserId::from_uuid(path.user_id), body.role.to_ref()?)
        .await?;
    Ok(HttpResponse::Ok().json(MemberBody::from(member)))
}

/// Remove a member (members:manage; removing an owner takes an owner; the last owner cannot
/// be removed: 409). Their tokens stop working at once.
#[utoipa::path(
    delete, path = "/api/v1/members/{user_id}", extensions(("x-permission" = json!("members:manage"))), tag = "members", params(UserPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<UserPath>,
) -> Result<HttpResponse, ApiError> {
    state
        .members
        .remove(&scope, UserId::from_uuid(path.user_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Leave the organization (any member; the last owner cannot: 409).
#[utoipa::path(
    delete, path = "/api/v1/members/me", extensions(("x-permission" = json!("user"))), tag = "members", security(("bearer" = [])),
    responses(
        (status = 204, description = "You left"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn leave(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    state.members.leave(&scope).await?;
    Ok(HttpResponse::NoContent().finish())
}
