//! `/auth` session endpoints: refresh, logout, the user's sessions and organizations, and
//! switching organization.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::auth::OrganizationMembership;
use bulkhead_domain::sessions::Session;
use bulkhead_domain::{OrganizationId, SessionId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{OrganizationBody, RoleBody, TokenResponse};
use crate::extract::{Auth, Json, request_meta};
use crate::pagination::ListBody;
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)))
        .service(web::resource("/auth/logout-all").route(web::post().to(logout_all)))
        .service(web::resource("/auth/sessions").route(web::get().to(list)))
        .service(web::resource("/auth/sessions/{session_id}").route(web::delete().to(revoke)))
        .service(web::resource("/auth/organizations").route(web::get().to(organizations)))
        .service(
            web::resource("/auth/switch-organization").route(web::post().to(switch_organization)),
        );
}

/// A refresh token to spend.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[schema(example = "bhr_3f1c...")]
    pub refresh_token: String,
}

/// The organization to move the session to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchOrganizationRequest {
    pub organization_id: Uuid,
}

/// One signed-in device.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub id: Uuid,
    /// The organization its tokens are for.
    pub organization_id: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// The last sign-in or refresh.
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub last_used_at: DateTime<Utc>,
    /// The session ends then at the latest.
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub expires_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

impl SessionBody {
    fn new(session: Session, current: Option<SessionId>) -> Self {
        Self {
            current: current == Some(session.id),
            id: session.id.as_uuid(),
            organization_id: session.organization_id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            client_ip: session.client_ip,
            user_agent: session.user_agent,
        }
    }
}

/// An organization you belong to, and your role there.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipBody {
    pub organization: OrganizationBody,
    pub role: RoleBody,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub joined_at: DateTime<Utc>,
}

impl From<OrganizationMembership> for MembershipBody {
    fn from(m: OrganizationMembership) -> Self {
        Self {
            organization: m.organization.into(),
            role: m.role.into(),
            joined_at: m.joined_at,
        }
    }
}

/// The session's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SessionPath {
    pub session_id: Uuid,
}

/// Spend a refresh token for a new pair. A token used twice ends its whole session (the
/// newest tokens too); of two concurrent refreshes with one token, one succeeds.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", extensions(("x-permission" = json!("refresh token"))), tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens; the presented refresh token is spent", body = TokenResponse),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = state
        .auth
        .refresh(&body.refresh_token, request_meta(&req))
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", extensions(("x-permission" = json!("user"))), tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, response = responses::Unauthorized),
    )
)]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&scope).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of yours, in every organization, this one included.
#[utoipa::path(
    post, path = "/api/v1/auth/logout-all", extensions(("x-permission" = json!("user"))), tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session ended"),
        (status = 401, response = responses::Unauthorized),
    )
)]
pub(crate) async fn logout_all(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout_all(&scope).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Your live sessions, most recently used first.
#[utoipa::path(
    get, path = "/api/v1/auth/sessions", extensions(("x-permission" = json!("user"))), tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your sessions", body = ListBody<SessionBody>),
        (status = 401, response = responses::Unauthorized),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let current = scope.session_id();
    let sessions = state.auth.sessions(&scope).await?;
    Ok(HttpResponse::Ok().json(ListBody {
        data: sessions
            .into_iter()
            .map(|s| SessionBody::new(s, current))
            .collect(),
    }))
}

/// End one of your sessions. Anyone else's session answers 404.
#[utoipa::path(
    delete, path = "/api/v1/auth/sessions/{session_id}", extensions(("x-permission" = json!("user"))), tag = "auth", params(SessionPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<SessionPath>,
) -> Result<HttpResponse, ApiError> {
    state
        .auth
        .revoke_session(&scope, SessionId::from_uuid(path.session_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The organizations you belong to, with your role in each.
#[utoipa::path(
    get, path = "/api/v1/auth/organizations", extensions(("x-permission" = json!("user"))), tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your organizations", body = ListBody<MembershipBody>),
        (status = 401, response = responses::Unauthorized),
    )
)]
pub(crate) async fn organizations(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let memberships = state.auth.organizations(&scope).await?;
    Ok(HttpResponse::Ok().json(ListBody::<MembershipBody>::from_items(memberships)))
}

/// Move this session to another organization you belong to, with new tokens; the session's
/// previous tokens stop working. An organization you do not belong to answers 404.
#[utoipa::path(
    post, path = "/api/v1/auth/switch-organization", extensions(("x-permission" = json!("user"))), tag = "auth",
    request_body = SwitchOrganizationRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Tokens for the other organization", body = TokenResponse),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn switch_organization(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    Json(body): Json<SwitchOrganizationRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = state
        .auth
        .switch_organization(&scope, OrganizationId::from_uuid(body.organization_id))
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}
