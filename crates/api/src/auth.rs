//! `/auth`: sign-up, login and the current user.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::auth::{Login, Register};
use bulkhead_domain::organizations::Organization;
use bulkhead_domain::sessions::TokenPair;
use bulkhead_domain::users::User;
use bulkhead_domain::{DomainError, OrganizationId, Role, RoleRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::extract::{Auth, Json, request_meta};
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").route(web::post().to(register)))
        .service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/me").route(web::get().to(me)));
}

/// A role: a system role's name (`owner`, `admin`, `member`, `viewer`) or the id of one of
/// the organization's custom roles (see `GET /roles`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(
    value_type = String,
    example = "admin",
    pattern = "^(owner|admin|member|viewer|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)]
pub struct RoleBody(String);

impl RoleBody {
    /// The role named, or a 422 on `role` for anything else.
    pub(crate) fn to_ref(&self) -> Result<RoleRef, DomainError> {
        RoleRef::parse(&self.0).ok_or_else(|| {
            DomainError::invalid(
                "role",
                "unknown_role",
                "role must be owner, admin, member, viewer or a custom role's id",
            )
        })
    }
}

impl From<RoleRef> for RoleBody {
    fn from(role: RoleRef) -> Self {
        Self(role.to_string())
    }
}

impl From<Role> for RoleBody {
    fn from(role: Role) -> Self {
        RoleRef::from(role).into()
    }
}

/// Sign-up: creates an organization with you as its owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Your email; it becomes your login.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// 8 to 64 characters, at most 71 bytes in UTF-8, not your email.
    #[schema(
        example = "correct horse battery staple",
        min_length = 8,
        max_length = 64
    )]
    pub password: String,
    /// Your display name.
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// The organization to create.
    #[schema(
        example = "Analytical Engines",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub organization_name: String,
}

/// Login with email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
    /// The organization to sign in to; by default the one you last used.
    #[serde(default)]
    pub organization_id: Option<Uuid>,
}

/// A user account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Whether the user confirmed the email (`POST /auth/verify-email`).
    pub email_verified: bool,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            created_at: user.created_at,
            email_verified: user.email_verified_at.is_some(),
        }
    }
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationBody {
    pub id: Uuid,
    #[schema(example = "Analytical Engines")]
    pub name: String,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationBody {
    fn from(org: Organization) -> Self {
        Self {
            id: org.id.as_uuid(),
            name: org.name.as_str().to_owned(),
            created_at: org.created_at,
        }
    }
}

/// An access token for the `Authorization: Bearer` header, and the single-use refresh token
/// that obtains the next one (`POST /auth/refresh`).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Shown once; each refresh spends it and returns a new one.
    #[schema(example = "bhr_3f1c...")]
    pub refresh_token: String,
    /// The session these tokens belong to.
    pub session_id: Uuid,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access.token,
            token_type: "Bearer",
            expires_in: pair.access.expires_in,
            refresh_token: pair.refresh_token.expose().to_owned(),
            session_id: pair.session_id.as_uuid(),
        }
    }
}

/// The new account, organization and role, with the tokens of a first session.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: UserBody,
    pub organization: OrganizationBody,
    pub role: RoleBody,
    #[serde(flatten)]
    pub tokens: TokenResponse,
}

/// The acting user, the token's organization and the user's current role there.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserBody,
    pub organization: OrganizationBody,
    pub role: RoleBody,
    /// What your role grants here, right now.
    #[schema(value_type = Vec<String>, example = json!(["organization:read", "projects:read"]))]
    pub permissions: Vec<&'static str>,
}

/// Create an account and an organization you own.
#[utoipa::path(
    post, path = "/api/v1/auth/register", extensions(("x-permission" = json!("none"))), tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in", body = RegisterResponse),
        (status = 400, response = responses::MalformedJson),
        (status = 409, response = responses::Conflict),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let registered = state
        .auth
        .register(
            Register {
                email: body.email,
                password: body.password,
                name: body.name,
                organization_name: body.organization_name,
            },
            request_meta(&req),
        )
        .await?;
    Ok(HttpResponse::Created().json(RegisterResponse {
        user: registered.user.into(),
        organization: registered.organization.into(),
        role: registered.role.into(),
        tokens: registered.tokens.into(),
    }))
}

/// Exchange email and password for a new session's tokens. Wrong password, unknown email, or
/// an organization you do not belong to: same answer (401). With
/// `BULKHEAD_REQUIRE_VERIFIED_EMAIL`, a right password for an unverified email is 403.
#[utoipa::path(
    post, path = "/api/v1/auth/login", extensions(("x-permission" = json!("none"))), tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = state
        .auth
        .login(
            Login {
                email: body.email,
                password: body.password,
                organization_id: body.organization_id.map(OrganizationId::from_uuid),
            },
            request_meta(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// The current user, organization and role.
#[utoipa::path(
    get, path = "/api/v1/auth/me", extensions(("x-permission" = json!("user"))), tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, response = responses::Unauthorized),
    )
)]
pub(crate) async fn me(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let current = state.auth.current_user(&scope).await?;
    Ok(HttpResponse::Ok().json(MeResponse {
        user: current.user.into(),
        organization: current.organization.into(),
        role: current.role.into(),
        permissions: current.permissions.iter().map(|p| p.as_str()).collect(),
    }))
}
