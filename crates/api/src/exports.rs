//! `GET /organizations/current/export`: everything the organization owns, as NDJSON.

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;

use crate::AppState;
use crate::extract::Auth;
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/organizations/current/export").route(web::get().to(export)));
}

/// Everything the organization owns, for a move to another deployment (`bulkhead import`) or
/// a copy of your own (organization:export: owners; never an API key). NDJSON: a `header`
/// line (format, schema, organization, time), one `{"table", "row"}` line per stored row, table
/// after table from one snapshot, and a `manifest` line (rows per table, SHA-256 of every byte
/// before it); a file without its manifest was cut short. Members' user records come without
/// credentials; sign-ins and idempotency keys stay behind. Recorded in the audit trail as
/// `organization.exported`. PostgreSQL only (409 on SQLite).
#[utoipa::path(
    get, path = "/api/v1/organizations/current/export", extensions(("x-permission" = json!("organization:export"))), tag = "organizations", security(("bearer" = [])),
    responses(
        (status = 200, description = "The header, one row per line, the manifest", content_type = "application/x-ndjson", body = String),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn export(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    // Refusals come before the first byte, as problems.
    let export = state.exports.export(&scope).await?;
    let organization = export.header().organization_id;
    let body = stream::try_unfold(export, |mut export| async move {
        let chunk = export.next_chunk().await?;
        Ok::<_, ApiError>(chunk.map(|chunk| (Bytes::from(chunk), export)))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            "content-disposition",
            format!(
                "attachment; filename=\"bulkhead-export-{}.ndjson\"",
                organization
            ),
        ))
        .streaming(body))
}
