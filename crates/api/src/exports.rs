//! `GET /organizations/current/export`: everything the organization owns, as NDJSON.

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use bulkhead_domain::exports::{Encoder, ExportCursor};
use futures_util::stream;

use crate::AppState;
use crate::extract::Auth;
use crate::problem::{ApiError, responses};

/// What is left of an export to send: a chunk written already, and the encoder with the
/// snapshot's cursor until the manifest went out.
type Left = (Option<Vec<u8>>, Option<(Encoder, Box<dyn ExportCursor>)>);

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
    let (header, cursor) = state.exports.export(&scope).await?;
    let mut encoder = Encoder::new();
    let first = encoder.header(&header);
    let body = stream::try_unfold(
        (Some(first), Some((encoder, cursor))),
        |(pending, rest): Left| async move {
            if let Some(chunk) = pending {
                return Ok::<_, ApiError>(Some((Bytes::from(chunk), (None, rest))));
            }
            let Some((mut encoder, mut cursor)) = rest else {
                return Ok(None);
            };
            match cursor.next_rows().await? {
                Some(rows) => {
                    let mut chunk = Vec::new();
                    for row in &rows {
                        chunk.extend(encoder.row(row));
                    }
                    Ok(Some((Bytes::from(chunk), (None, Some((encoder, cursor))))))
                }
                None => Ok(Some((Bytes::from(encoder.finish()), (None, None)))),
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            "content-disposition",
            format!(
                "attachment; filename=\"bulkhead-export-{}.ndjson\"",
                header.organization_id
            ),
        ))
        .streaming(body))
}
