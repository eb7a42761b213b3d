//! The `x-request-id` of every request: echoed when the client sent a sane one, generated
//! otherwise; put on the response, in every log line of the request and in error bodies.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id, when called while serving a request.
pub(crate) fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// What the outermost middleware learnt of a request, for the code that serves it: its span
/// (to record what is learnt later) and its route template, matched once.
#[derive(Clone)]
struct RequestSpan {
    span: tracing::Span,
    route: Option<String>,
}

/// The request's route template (`/api/v1/projects/{project_id}`), `None` when no route
/// matches: as the outermost middleware matched it, else matched now.
pub(crate) fn route(req: &ServiceRequest) -> Option<String> {
    match req.extensions().get::<RequestSpan>() {
        Some(known) => known.route.clone(),
        None => req.match_pattern(),
    }
}

/// Names who made the request in its log lines: the organization and the principal
/// (`user:…`, `key:…`), never a credential.
pub(crate) fn record_principal(req: &HttpRequest, organization: Option<String>, principal: &str) {
    if let Some(RequestSpan { span, .. }) = req.extensions().get::<RequestSpan>() {
        if let Some(organization) = organization {
            span.record("organization_id", organization.as_str());
        }
        span.record("principal", principal);
    }
}

fn from_client(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&HEADER)?.to_str().ok()?;
    // Only ids that are safe to log and echo.
    let sane = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    sane.then(|| value.to_owned())
}

pub(crate) async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = from_client(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    // The route template, known from the app's resource map before routing: spans are named
    // by it (trace exporters take the name when the span starts).
    let route = req.match_pattern();
    let name = format!(
        "{} {}",
        req.method(),
        route.as_deref().unwrap_or("unmatched")
    );
    // The path, not the query string: links carry one-time tokens there. The organization
    // and the principal are filled in once the request is authenticated.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
        route = route.as_deref(),
        organization_id = tracing::field::Empty,
        principal = tracing::field::Empty,
        // What trace exporters name the span and call it (tracing-opentelemetry's fields).
        otel.name = name,
        otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
    );
    req.extensions_mut().insert(RequestSpan {
        span: span.clone(),
        route,
    });
    let started = Instant::now();
    let mut res = REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, value);
    }
    span.record("http.response.status_code", res.status().as_u16());
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "served"
        );
    });
    Ok(res)
}
