//! `/auth` account endpoints: change and reset the password, verify the email.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::{Auth, Json, request_meta};
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/change-password").route(web::post().to(change_password)))
        .service(web::resource("/auth/forgot-password").route(web::post().to(forgot_password)))
        .service(web::resource("/auth/reset-password").route(web::post().to(reset_password)))
        .service(web::resource("/auth/verify-email").route(web::post().to(verify_email)))
        .service(
            web::resource("/auth/resend-verification").route(web::post().to(resend_verification)),
        );
}

/// The current and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8 to 64 characters, at most 71 bytes in UTF-8, not your email.
    #[schema(min_length = 8, max_length = 64)]
    pub new_password: String,
}

/// An account's email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
}

/// A reset token from the email, and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[schema(example = "bhp_3f1c...")]
    pub token: String,
    /// 8 to 64 characters, at most 71 bytes in UTF-8, not your email.
    #[schema(min_length = 8, max_length = 64)]
    pub new_password: String,
}

/// A verification token from the email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    #[schema(example = "bhv_3f1c...")]
    pub token: String,
}

/// Change your password (users only). Your other sessions end; this one stays.
#[utoipa::path(
    post, path = "/api/v1/auth/change-password", extensions(("x-permission" = json!("user"))), tag = "auth", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; every other session has ended"),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn change_password(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .change_password(&scope, &body.current_password, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ask for a password reset link by email (valid 30 minutes). The answer is the same whether
/// or not an account has this email.
#[utoipa::path(
    post, path = "/api/v1/auth/forgot-password", extensions(("x-permission" = json!("none"))), tag = "auth", request_body = EmailRequest,
    responses(
        (status = 202, description = "If an account has this email, a link is on its way"),
        (status = 400, response = responses::MalformedJson),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn forgot_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .forgot_password(&body.email, request_meta(&req))
        .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Set a new password with the token from a reset email. Every session of the account ends;
/// the token works once.
#[utoipa::path(
    post, path = "/api/v1/auth/reset-password", extensions(("x-permission" = json!("reset token"))), tag = "auth", request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; sign in again"),
        (status = 400, response = responses::MalformedJson),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .reset_password(&body.token, &body.new_password, request_meta(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Confirm your email with the token from the verification email.
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email", extensions(("x-permission" = json!("verification token"))), tag = "auth", request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "Email verified"),
        (status = 400, response = responses::MalformedJson),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<VerifyEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .verify_email(&body.token, request_meta(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Send a new verification email, if an account with this email is not verified yet. The
/// answer is the same either way.
#[utoipa::path(
    post, path = "/api/v1/auth/resend-verification", extensions(("x-permission" = json!("none"))), tag = "auth", request_body = EmailRequest,
    responses(
        (status = 202, description = "If an unverified account has this email, a link is on its way"),
        (status = 400, response = responses::MalformedJson),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn resend_verification(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .resend_verification(&body.email, request_meta(&req))
        .await?;
    Ok(HttpResponse::Accepted().finish())
}
