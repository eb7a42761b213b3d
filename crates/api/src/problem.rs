//! Every error the API sends, as RFC 9457 problem+json. This is the one place where errors
//! become status codes.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use bulkhead_domain::{DomainError, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    /// The field, as the client named it (`name`, `limit`, ...).
    #[schema(example = "name")]
    pub field: String,
    /// A stable machine-readable code.
    #[schema(example = "length")]
    pub code: String,
    /// A human-readable explanation.
    #[schema(example = "name must be between 1 and 200 characters")]
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:bulkhead:problem:validation")]
    pub kind: String,
    /// A short summary of the kind of problem.
    #[schema(example = "Unprocessable Content")]
    pub title: String,
    /// The HTTP status.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// The request's `x-request-id`, for support and logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The invalid fields, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// For `quota-exceeded`: the limited quota (`projects`, `runs_per_month`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "projects")]
    pub quota: Option<String>,
    /// For `quota-exceeded`: the plan's limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// For `quota-exceeded`: what is used now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    /// For `quota-exceeded` and `subscription-inactive`: the organization's plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Everything a handler or extractor can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A failure of a domain service.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The body is not well-formed JSON (400).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is not JSON (415).
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body is larger than the limit (413).
    #[error("payload too large")]
    PayloadTooLarge,
    /// No such route or object (404).
    #[error("not found")]
    NotFound,
    /// A status produced by the framework rather than the application.
    #[error("{0}")]
    Status(StatusCode),
    /// This instance is shutting down (503); another one answers.
    #[error("shutting down")]
    ShuttingDown,
}

impl ApiError {
    /// A 422 about one field.
    pub(crate) fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Domain(DomainError::invalid(field, code, message))
    }

    fn parts(&self) -> (StatusCode, &'static str, String, &[FieldError]) {
        match self {
            Self::Domain(err) => match err {
                DomainError::Validation(errors) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "the request has invalid fields".into(),
                    errors.as_slice(),
                ),
                DomainError::NotFound => not_found(),
                DomainError::Forbidden(permission) => (
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("this action needs the {permission} permission"),
                    &[],
                ),
                DomainError::RateLimited { retry_after_secs } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    format!("too many requests; retry in {retry_after_secs} s"),
                    &[],
                ),
                DomainError::EmailUnverified => (
                    StatusCode::FORBIDDEN,
                    "email-unverified",
                    "verify your email first (POST /api/v1/auth/resend-verification sends a new link)"
                        .into(),
                    &[],
                ),
                DomainError::NotAllowed(message) => {
                    (StatusCode::FORBIDDEN, "not-allowed", message.clone(), &[])
                }
                DomainError::UserOnly => (
                    StatusCode::FORBIDDEN,
                    "user-only",
                    "only a signed-in user may do this, not an API key".into(),
                    &[],
                ),
                DomainError::Unauthorized => (
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the credentials are missing, invalid or expired".into(),
                    &[],
                ),
                DomainError::Conflict(message) => {
                    (StatusCode::CONFLICT, "conflict", message.clone(), &[])
                }
                DomainError::PreconditionFailed => (
                    StatusCode::PRECONDITION_FAILED,
                    "precondition-failed",
                    "the resource changed since the version named in If-Match; read it again and retry".into(),
                    &[],
                ),
                DomainError::QuotaExceeded(exceeded) => (
                    StatusCode::PAYMENT_REQUIRED,
                    "quota-exceeded",
                    format!("{exceeded}; upgrade the plan to create more"),
                    &[],
                ),
                DomainError::SubscriptionInactive => (
                    StatusCode::PAYMENT_REQUIRED,
                    "subscription-inactive",
                    "the subscription is past due beyond its grace period: the organization is \
                     read-only until it is paid (billing endpoints still work)"
                        .into(),
                    &[],
                ),
                DomainError::InvalidSignature(why) => (
                    StatusCode::BAD_REQUEST,
                    "invalid-signature",
                    format!("the webhook signature does not verify: {why}"),
                    &[],
                ),
                DomainError::TooLarge(why) => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    why.clone(),
                    &[],
                ),
                DomainError::UnsupportedType(why) => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    why.clone(),
                    &[],
                ),
                DomainError::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service is temporarily unavailable; retry shortly".into(),
                    &[],
                ),
                DomainError::Internal(_) => internal(),
            },
            Self::MalformedJson(message) => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                message.clone(),
                &[],
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON, sent with Content-Type: application/json".into(),
                &[],
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the request body is larger than the server accepts".into(),
                &[],
            ),
            Self::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "this instance is shutting down; retry, and another instance answers".into(),
                &[],
            ),
            Self::NotFound => not_found(),
            Self::Status(status) if *status == StatusCode::NOT_FOUND => not_found(),
            Self::Status(status) if status.is_server_error() => internal(),
            Self::Status(status) => (
                *status,
                "http",
                status.canonical_reason().unwrap_or("error").to_lowercase(),
                &[],
            ),
        }
    }
}

/// One body for "never existed" and "belongs to another tenant", by construction.
fn not_found() -> (StatusCode, &'static str, String, &'static [FieldError]) {
    (
        StatusCode::NOT_FOUND,
        "not-found",
        "no such resource".into(),
        &[],
    )
}

fn internal() -> (StatusCode, &'static str, String, &'static [FieldError]) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an unexpected error occurred; quote the request id when reporting it".into(),
        &[],
    )
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, kind, detail, errors) = self.parts();
        let request_id = request_id::current();
        if status.is_server_error() && !matches!(self, Self::ShuttingDown) {
            tracing::error!(request_id = request_id.as_deref().unwrap_or("-"), error = %self, "request failed");
        }
        let problem = Problem {
            kind: format!("urn:bulkhead:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            request_id,
            errors: errors
                .iter()
                .map(|e| ProblemField {
                    field: e.field.clone(),
                    code: e.code.to_owned(),
                    message: e.message.clone(),
                })
                .collect(),
            quota: None,
            limit: None,
            used: None,
            plan: None,
        };
        let problem = match self {
            Self::Domain(DomainError::QuotaExceeded(exceeded)) => Problem {
                quota: Some(exceeded.quota.as_str().to_owned()),
                limit: Some(exceeded.limit),
                used: Some(exceeded.used),
                plan: Some(exceeded.plan.clone()),
                ..problem
            },
            _ => problem,
        };
        let mut response = HttpResponse::build(status);
        response.content_type(PROBLEM_JSON);
        match status {
            StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"bulkhead\""));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                if let Self::Domain(DomainError::RateLimited { retry_after_secs }) = self {
                    response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
                }
            }
            _ => {}
        }
        response.json(problem)
    }
}

/// Rewrites error responses that did not come from [`ApiError`] (actix's own 405, 413, ...)
/// into problem+json, keeping their status and headers such as `Allow`.
pub(crate) fn fallback<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let mut replacement = ApiError::Status(status).error_response();
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    replacement
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    let (req, _) = res.into_parts();
    let res: ServiceResponse<EitherBody<B>> =
        ServiceResponse::new(req, replacement).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

/// Reusable OpenAPI responses, one per problem status, so each operation names them instead of
/// repeating their description and media type.
pub(crate) mod responses {
    use utoipa::ToResponse;

    use super::Problem;

    macro_rules! problem_response {
        ($($(#[$doc:meta])* $name:ident;)+) => {
            $(
                $(#[$doc])*
                #[derive(ToResponse)]
                #[allow(dead_code)]
                pub(crate) enum $name {
                    Problem(#[content("application/problem+json")] Problem),
                }
            )+
        };
    }

    problem_response! {
        /// The body is not well-formed JSON.
        MalformedJson;
        /// The bearer token is missing, malformed, expired, or no longer backed by a membership
        /// with the token's role.
        Unauthorized;
        /// The caller lacks the permission the operation names; nothing changed.
        Forbidden;
        /// No such object in the caller's organization (objects of other organizations answer
        /// exactly the same).
        NotFound;
        /// The change clashes with existing state; nothing changed.
        Conflict;
        /// `If-Match` names a version that is no longer current; nothing changed.
        PreconditionFailed;
        /// The body is larger than the server accepts.
        PayloadTooLarge;
        /// The body is not JSON (`Content-Type: application/json`).
        UnsupportedMediaType;
        /// Invalid, missing or unknown fields or parameters, each named in `errors`.
        Invalid;
        /// The create would pass a limit of the organization's plan (`quota-exceeded`, with
        /// `quota`, `limit`, `used` and `plan`), or the organization is read-only because its
        /// subscription lapsed (`subscription-inactive`); nothing changed.
        PaymentRequired;
        /// Too many requests from this address, for this account or by this principal; nothing
        /// was done. `Retry-After` says how many seconds to wait.
        TooManyRequests;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_domain::Permission;

    /// Every problem type the server can send, one per kind of error.
    fn every_error() -> Vec<ApiError> {
        let domain = [
            DomainError::invalid("name", "format", "bad"),
            DomainError::NotFound,
            DomainError::Forbidden(Permission::ProjectsRead),
            DomainError::RateLimited {
                retry_after_secs: 1,
            },
            DomainError::EmailUnverified,
            DomainError::UserOnly,
            DomainError::Unauthorized,
            DomainError::Conflict("taken".into()),
            DomainError::PreconditionFailed,
            DomainError::QuotaExceeded(bulkhead_domain::QuotaExceeded {
                quota: bulkhead_domain::Quota::Projects,
                limit: 3,
                used: 3,
                plan: "free".into(),
            }),
            DomainError::SubscriptionInactive,
            DomainError::InvalidSignature("stale".into()),
            DomainError::Unavailable("down".into()),
            DomainError::Internal("bug".into()),
        ];
        domain
            .into_iter()
            .map(ApiError::Domain)
            .chain([
                ApiError::MalformedJson("eof".into()),
                ApiError::UnsupportedMediaType,
                ApiError::PayloadTooLarge,
                ApiError::NotFound,
                ApiError::Status(StatusCode::METHOD_NOT_ALLOWED),
                ApiError::Status(StatusCode::BAD_GATEWAY),
            ])
            .collect()
    }

    #[test]
    fn problem_types_are_spelled_one_way() {
        for error in every_error() {
            let (_, kind, _, _) = error.parts();
            let kebab = !kind.is_empty()
                && !kind.starts_with('-')
                && !kind.ends_with('-')
                && !kind.contains("--")
                && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
            assert!(kebab, "{kind:?} of {error:?} is not lower-case kebab-case");
        }
    }
}
