//! `Idempotency-Key` on creating POSTs: a retry with the same key and body gets the first
//! response (marked `idempotent-replayed: true`) instead of creating twice; the same key with
//! another body is 422; a retry while the first is still running is 409. Keys belong to the
//! organization and the principal (user or API key) that sent them, and are kept 24 hours. The
//! operation's permission is checked before a key is looked at. Failed requests change nothing
//! and free their key.

use std::future::Future;

use actix_web::body::{MessageBody, to_bytes};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, ETAG, HeaderName, LOCATION};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use bulkhead_domain::idempotency::{IdempotencyKey, Reservation, StoredResponse};
use bulkhead_domain::{DomainError, Permission, TenantScope};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::problem::ApiError;

const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The SHA-256 of the request body, left by the JSON extractor when a key is present.
#[derive(Clone)]
pub(crate) struct BodyDigest(pub String);

/// Whether the request carries an `Idempotency-Key` (the JSON extractor then digests the body).
pub(crate) fn requested(req: &HttpRequest) -> bool {
    req.headers().contains_key(HEADER)
}

pub(crate) fn digest(bytes: &[u8]) -> BodyDigest {
    BodyDigest(hex::encode(Sha256::digest(bytes)))
}

/// Runs `handler`, an operation that needs `permission`, at most once per key: see the module
/// documentation.
pub(crate) async fn once<F, Fut>(
    state: &AppState,
    scope: &TenantScope,
    permission: Permission,
    req: &HttpRequest,
    handler: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let Some(raw) = req.headers().get(HEADER) else {
        return handler().await;
    };
    let key = IdempotencyKey::parse(raw.to_str().unwrap_or(""))?;
    let body = req
        .extensions()
        .get::<BodyDigest>()
        .cloned()
        .map(|d| d.0)
        .unwrap_or_default();
    let fingerprint = hex::encode(Sha256::digest(format!(
        "{} {}\n{body}",
        req.method(),
        req.path()
    )));
    match state
        .idempotency
        .reserve(scope, permission, &key, &fingerprint)
        .await?
    {
        Reservation::Replay(stored) => Ok(replay(stored)),
        Reservation::InFlight => Err(DomainError::Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly".into(),
        )
        .into()),
        Reservation::Mismatch => Err(ApiError::invalid(
            "Idempotency-Key",
            "reused",
            "this Idempotency-Key was used for a different request",
        )),
        Reservation::Fresh => {
            let outcome = handler().await;
            match outcome {
                Ok(response) if response.status().is_success() => {
                    let (stored, response) = keep(response).await?;
                    state.idempotency.complete(scope, &key, &stored).await?;
                    Ok(response)
                }
                other => {
                    state.idempotency.release(scope, &key).await?;
                    other
                }
            }
        }
    }
}

/// Reads a response's body so it can be both kept and sent.
async fn keep(response: HttpResponse) -> Result<(StoredResponse, HttpResponse), ApiError> {
    let status = response.status();
    let headers: Vec<(String, String)> = [CONTENT_TYPE, LOCATION, ETAG]
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let bytes = to_bytes(response.into_body().boxed())
        .await
        .map_err(|_| DomainError::Internal("cannot read the response body".into()))?;
    let body = String::from_utf8(bytes.to_vec())
        .map_err(|_| DomainError::Internal("response body is not UTF-8".into()))?;
    let stored = StoredResponse {
        status: status.as_u16(),
        headers,
        body,
    };
    let response = rebuild(&stored);
    Ok((stored, response))
}

fn rebuild(stored: &StoredResponse) -> HttpResponse {
    let mut builder =
        HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    for (name, value) in &stored.headers {
        builder.insert_header((name.as_str(), value.as_str()));
    }
    builder.body(stored.body.clone())
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let mut response = rebuild(&stored);
    response.headers_mut().insert(
        REPLAYED,
        actix_web::http::header::HeaderValue::from_static("true"),
    );
    response
}
