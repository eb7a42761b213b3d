//! `/admin`: platform administration by superusers. Nothing here reads a tenant's data;
//! impersonation hands out a read-only, audited token for that.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::OrganizationId;
use bulkhead_domain::auth::AccessToken;
use bulkhead_domain::platform::{
    OrganizationStatus, PlatformOrganization, PlatformOrganizationQuery,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::OrganizationBody;
use crate::extract::{Json, PlatformAuth, int_param, request_meta};
use crate::invitations::InvitationBody;
use crate::pagination::PageBody;
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/auth/login").route(web::post().to(login)))
        .service(
            web::resource("/admin/organizations")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(web::resource("/admin/organizations/{organization_id}").route(web::get().to(get)))
        .service(
            web::resource("/admin/organizations/{organization_id}/suspend")
                .route(web::post().to(suspend)),
        )
        .service(
            web::resource("/admin/organizations/{organization_id}/reactivate")
                .route(web::post().to(reactivate)),
        )
        .service(
            web::resource("/admin/organizations/{organization_id}/impersonate")
                .route(web::post().to(impersonate)),
        );
}

/// A superuser's sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminLoginRequest {
    #[schema(example = "root@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

/// A platform token: at most 15 minutes, no refresh token.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformTokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: u64,
}

impl From<AccessToken> for PlatformTokenResponse {
    fn from(token: AccessToken) -> Self {
        Self {
            access_token: token.token,
            token_type: "Bearer",
            expires_in: token.expires_in,
        }
    }
}

/// An organization's record, as the platform sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformOrganizationBody {
    #[serde(flatten)]
    pub organization: OrganizationBody,
    /// `active`, `suspended` or `deleted`.
    #[schema(example = "active")]
    pub status: &'static str,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub suspended_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<PlatformOrganization> for PlatformOrganizationBody {
    fn from(org: PlatformOrganization) -> Self {
        Self {
            status: org.status().as_str(),
            suspended_at: org.suspended_at,
            deleted_at: org.deleted_at,
            organization: org.organization.into(),
        }
    }
}

/// Filters of the organization list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOrganizationsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Case-insensitive search in the name (no control characters).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// Only organizations with this status.
    #[param(inline)]
    pub status: Option<StatusParam>,
}

/// Where an organization stands.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusParam {
    Active,
    Suspended,
    Deleted,
}

impl From<StatusParam> for OrganizationStatus {
    fn from(status: StatusParam) -> Self {
        match status {
            StatusParam::Active => Self::Active,
            StatusParam::Suspended => Self::Suspended,
            StatusParam::Deleted => Self::Deleted,
        }
    }
}

/// A new organization and the email of its first owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    #[schema(
        example = "Analytical Engines",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// Invited as owner; the invitation email carries the token.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub owner_email: String,
}

/// The created organization and its owner's invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrganizationBody {
    pub organization: PlatformOrganizationBody,
    pub owner_invitation: InvitationBody,
}

/// Why a superuser acts; recorded in the organization's audit trail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    #[schema(
        example = "Support ticket 4711: the customer cannot see their projects",
        min_length = 3,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

/// A started impersonation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpersonationBody {
    /// Every audit record of this impersonation names it.
    pub impersonation_id: Uuid,
    pub organization_id: Uuid,
    /// Read-only access to the organization's data through the `/api/v1` endpoints.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: u64,
}

/// An organization in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrganizationPath {
    pub organization_id: Uuid,
}

/// Sign in as a platform superuser (accounts made by `bulkhead create-superuser`).
#[utoipa::path(
    post, path = "/api/v1/admin/auth/login", extensions(("x-permission" = json!("none"))), tag = "admin", request_body = AdminLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = PlatformTokenResponse),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<AdminLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = state
        .platform
        .login(&body.email, &body.password, request_meta(&req))
        .await?;
    Ok(HttpResponse::Ok().json(PlatformTokenResponse::from(token)))
}

/// Every organization, by name (superuser).
#[utoipa::path(
    get, path = "/api/v1/admin/organizations", extensions(("x-permission" = json!("superuser"))), tag = "admin", params(ListOrganizationsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of organizations", body = PageBody<PlatformOrganizationBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    PlatformAuth(scope): PlatformAuth,
    query: web::Query<ListOrganizationsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let query = PlatformOrganizationQuery::parse(
        query.q.as_deref(),
        query.status.map(Into::into),
        int_param("limit", query.limit.as_deref())?,
        int_param("offset", query.offset.as_deref())?,
    )?;
    let page = state.platform.list(&scope, query).await?;
    Ok(HttpResponse::Ok().json(PageBody::<PlatformOrganizationBody>::from_page(page)))
}

/// One organization's record (superuser).
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{organization_id}", extensions(("x-permission" = json!("superuser"))), tag = "admin", params(OrganizationPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = PlatformOrganizationBody),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get(
    state: web::Data<AppState>,
    PlatformAuth(scope): PlatformAuth,
    path: web::Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let org = state
        .platform
        .get(&scope, OrganizationId::from_uuid(path.organization_id))
        .await?;
    Ok(HttpResponse::Ok().json(PlatformOrganizationBody::from(org)))
}

/// Create an organization and invite its first owner by email (superuser).
#[utoipa::path(
    post, path = "/api/v1/admin/organizations", extensions(("x-permission" = json!("superuser"))), tag = "admin",
    request_body = CreateOrganizationRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the owner's invitation is on its way", body = CreatedOrganizationBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn create(
    state: web::Data<AppState>,
    PlatformAuth(scope): PlatformAuth,
    Json(body): Json<CreateOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    let (organization, invitation) = state
        .platform
        .create(&scope, &body.name, &body.owner_email)
        .await?;
    let location = format!(
        "/api/v1/admin/organizations/{}",
        organization.organization.id
    );
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, location))
        .json(CreatedOrganizationBody {
            organization: organization.into(),
            owner_invitation: invitation.into(),
        }))
}

/// Suspend an organization (superuser): every token and API key of it stops at the next
/// request, and nobody signs in to it, until it is reactivated. 409 if suspended already.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{organization_id}/suspend", extensions(("x-permission" = json!("superuser"))), tag = "admin", params(OrganizationPath),
    request_body = ReasonRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Suspended", body = PlatformOrganizationBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn suspend(
    state: web::Data<AppState>,
    PlatformAuth(scope): PlatformAuth,
    path: web::Path<OrganizationPath>,
    Json(body): Json<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let org = state
        .platform
        .suspend(
            &scope,
            OrganizationId::from_uuid(path.organization_id),
            &body.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(PlatformOrganizationBody::from(org)))
}

/// Reactivate a suspended organization (superuser). 409 if it is not suspended.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{organization_id}/reactivate", extensions(("x-permission" = json!("superuser"))), tag = "admin", params(OrganizationPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active again", body = PlatformOrganizationBody),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn reactivate(
    state: web::Data<AppState>,
    PlatformAuth(scope): PlatformAuth,
    path: web::Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let org = state
        .platform
        .reactivate(&scope, OrganizationId::from_uuid(path.organization_id))
        .await?;
    Ok(HttpResponse::Ok().json(PlatformOrganizationBody::from(org)))
}

/// Impersonate an organization (superuser): a read-only token of at most 15 minutes for its
/// `/api/v1` endpoints. The start, with the reason, and every request made with the token are
/// recorded in the organization's audit trail with you as the impersonator. A deleted
/// organization: 409.
#[utoipa::path(
    post, path = "/api/v1/admin/organizations/{organization_id}/impersonate", extensions(("x-permission" = json!("superuser"))), tag = "admin", params(OrganizationPath),
    request_body = ReasonRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Impersonating", body = ImpersonationBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn impersonate(
    state: web::Data<AppState>,
    PlatformAuth(scope): PlatformAuth,
    path: web::Path<OrganizationPath>,
    Json(body): Json<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let impersonation = state
        .platform
        .impersonate(
            &scope,
            OrganizationId::from_uuid(path.organization_id),
            &body.reason,
        )
        .await?;
    Ok(HttpResponse::Created().json(ImpersonationBody {
        impersonation_id: impersonation.id.as_uuid(),
        organization_id: impersonation.organization_id.as_uuid(),
        access_token: impersonation.token.token,
        token_type: "Bearer",
        expires_in: impersonation.token.expires_in,
    }))
}
