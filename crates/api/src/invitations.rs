//! `/invitations`: inviting people by email, and accepting.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::InvitationId;
use bulkhead_domain::invitations::{AcceptInvitation, Accepted, Invitation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::RoleBody;
use crate::extract::{Auth, Json, request_meta};
use crate::pagination::{PageBody, PageQuery};
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/invitations/accept").route(web::post().to(accept)))
        .service(
            web::resource("/invitations")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(web::resource("/invitations/{invitation_id}").route(web::delete().to(revoke)));
}

/// Whom to invite, with which role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    #[schema(example = "grace@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// A role granting nothing you lack: only owners invite owners.
    pub role: RoleBody,
}

/// A pending invitation (never its token).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationBody {
    pub id: Uuid,
    #[schema(example = "grace@example.com")]
    pub email: String,
    pub role: RoleBody,
    pub invited_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

impl From<Invitation> for InvitationBody {
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id.as_uuid(),
            email: i.email.as_str().to_owned(),
            role: i.role.into(),
            invited_by: i.invited_by.as_uuid(),
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// The token from the invitation email; name and password only when the invited email has no
/// account yet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    #[schema(example = "bhi_3f1c...")]
    pub token: String,
    #[serde(default)]
    #[schema(example = "Grace Hopper", max_length = 200)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(example = "correct horse battery staple", max_length = 64)]
    pub password: Option<String>,
}

/// The membership an acceptance made.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedBody {
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub role: RoleBody,
    /// Whether an account was created; sign in with its email and the password you gave.
    pub account_created: bool,
}

impl From<Accepted> for AcceptedBody {
    fn from(a: Accepted) -> Self {
        Self {
            organization_id: a.organization_id.as_uuid(),
            user_id: a.user_id.as_uuid(),
            role: a.role.into(),
            account_created: a.account_created,
        }
    }
}

/// The invitation's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InvitationPath {
    pub invitation_id: Uuid,
}

/// Invite someone by email (members:invite; at most your own role). The email carries a
/// single-use link valid 7 days.
#[utoipa::path(
    post, path = "/api/v1/invitations", extensions(("x-permission" = json!("members:invite"))), tag = "members", request_body = CreateInvitationRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Invited", body = InvitationBody),
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
    Json(body): Json<CreateInvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let invitation = state
        .invitations
        .invite(&scope, &body.email, body.role.to_ref()?)
        .await?;
    Ok(HttpResponse::Created().json(InvitationBody::from(invitation)))
}

/// Pending invitations, newest first (members:invite).
#[utoipa::path(
    get, path = "/api/v1/invitations", extensions(("x-permission" = json!("members:invite"))), tag = "members", params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of invitations", body = PageBody<InvitationBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let invitations = state.invitations.list(&scope, page).await?;
    Ok(HttpResponse::Ok().json(PageBody::<InvitationBody>::from_page(invitations)))
}

/// Revoke a pending invitation (members:invite); its link stops working.
#[utoipa::path(
    delete, path = "/api/v1/invitations/{invitation_id}", extensions(("x-permission" = json!("members:invite"))), tag = "members", params(InvitationPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<InvitationPath>,
) -> Result<HttpResponse, ApiError> {
    state
        .invitations
        .revoke(&scope, InvitationId::from_uuid(path.invitation_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accept an invitation with the token from its email (no sign-in needed: the token came
/// through the invited address). An invitation that is unknown, used, revoked or expired is
/// 422 on `token`.
#[utoipa::path(
    post, path = "/api/v1/invitations/accept", extensions(("x-permission" = json!("invitation token"))), tag = "members",
    request_body = AcceptInvitationRequest,
    responses(
        (status = 200, description = "You are a member", body = AcceptedBody),
        (status = 400, response = responses::MalformedJson),
        (status = 402, response = responses::PaymentRequired),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn accept(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<AcceptInvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let accepted = state
        .invitations
        .accept(
            AcceptInvitation {
                token: body.token,
                name: body.name,
                password: body.password,
            },
            request_meta(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(AcceptedBody::from(accepted)))
}
