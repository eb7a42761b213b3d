//! `/documents`: the organization's files, uploaded as multipart streams, downloaded as they
//! were stored, and searched through their extracted text.

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::header::{self, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::documents::{
    Document, DocumentFilter, DocumentType, SearchHit, UpdateDocument,
};
use bulkhead_domain::resource::ListParams;
use bulkhead_domain::{DocumentId, DomainError, ProjectId};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Auth, Json, if_match, int_param};
use crate::pagination::{ListBody, PageBody};
use crate::problem::{ApiError, responses};
use crate::resource::{ListRequest, list_params, not_null, present, respond, route};

/// The routes of documents.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(route("/api/v1/documents"))
            .route(web::get().to(list))
            .route(web::post().to(upload)),
    )
    .service(web::resource(route("/api/v1/documents/search")).route(web::get().to(search)))
    .service(
        web::resource(route("/api/v1/documents/{document_id}"))
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource(route("/api/v1/documents/{document_id}/content"))
            .route(web::get().to(content)),
    )
    .service(
        web::resource(route("/api/v1/documents/{document_id}/restore"))
            .route(web::post().to(restore)),
    );
}

/// Accepted document types.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum DocumentTypeName {
    #[serde(rename = "text/plain")]
    Text,
    #[serde(rename = "text/markdown")]
    Markdown,
    #[serde(rename = "text/csv")]
    Csv,
    #[serde(rename = "application/json")]
    Json,
    #[serde(rename = "text/html")]
    Html,
    #[serde(rename = "application/pdf")]
    Pdf,
}

/// Where a document's text is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatusName {
    Uploaded,
    Processing,
    Ready,
    Failed,
}

/// A document.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentBody {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub title: String,
    /// The file's name, sanitized: no path, no control or special characters.
    pub filename: String,
    #[schema(value_type = DocumentTypeName)]
    pub content_type: &'static str,
    pub size_bytes: i64,
    /// SHA-256 of the bytes, in hex.
    pub sha256: String,
    pub project_id: Option<Uuid>,
    /// `uploaded → processing → ready | failed`: its text's extraction and indexing.
    #[schema(value_type = DocumentStatusName)]
    pub status: &'static str,
    /// Why its text could not be extracted.
    pub error: Option<String>,
    /// Indexed chunks of its text.
    pub chunk_count: i64,
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change of its title; also the `ETag`.
    pub version: i64,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Document> for DocumentBody {
    fn from(d: Document) -> Self {
        Self {
            id: d.id.as_uuid(),
            organization_id: d.organization_id.as_uuid(),
            title: d.title.clone(),
            filename: d.filename.clone(),
            content_type: d.content_type.mime(),
            size_bytes: d.size_bytes,
            sha256: d.sha256.clone(),
            project_id: d.project_id.map(|p| p.as_uuid()),
            status: d.status.as_str(),
            error: d.error.clone(),
            chunk_count: d.chunk_count,
            created_by: d.created_by.as_uuid(),
            created_at: d.created_at,
            updated_at: d.updated_at,
            version: d.version,
            deleted_at: d.deleted_at,
        }
    }
}

/// An upload: `multipart/form-data` with the file and, optionally, a title and a project.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadDocumentForm {
    /// The file: text, Markdown, CSV, JSON, HTML or PDF, checked against its bytes; at most
    /// `BULKHEAD_MAX_UPLOAD_BYTES` (25 MiB unless configured).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// 1 to 200 characters; the file name if absent.
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    /// A live project of the organization.
    pub project_id: Option<Uuid>,
}

/// The longest text field of an upload's form.
const MAX_FIELD_BYTES: usize = 1024;

fn multipart_refused(err: MultipartError) -> ApiError {
    match err {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible
        | MultipartError::BoundaryMissing => ApiError::Domain(DomainError::UnsupportedType(
            "send the upload as multipart/form-data".into(),
        )),
        other => ApiError::MalformedJson(format!("the multipart body is malformed: {other}")),
    }
}

async fn text_field(field: &mut actix_multipart::Field, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(piece) = field.next().await {
        bytes.extend_from_slice(&piece.map_err(multipart_refused)?);
        if bytes.len() > MAX_FIELD_BYTES {
            return Err(ApiError::invalid(
                name,
                "size",
                format!("{name} must be at most {MAX_FIELD_BYTES} bytes"),
            ));
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid(name, "format", format!("{name} must be UTF-8 text")))
}

/// Upload a document (documents:write) as `multipart/form-data`: a `file` part, optionally
/// `title` and `project_id`. The bytes stream to storage as they arrive, never whole in
/// memory; past the size limit the upload is refused with 413, a type outside the accepted
/// ones or bytes that are not what the type says with 415, and nothing is kept. The answer is
/// 201 with the document `uploaded`; its text is extracted in the background (`status`).
#[utoipa::path(
    post, path = "/api/v1/documents", extensions(("x-permission" = json!("documents:write"))), tag = "documents", security(("bearer" = [])),
    request_body(content = UploadDocumentForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = DocumentBody, headers(("location" = String, description = "The document's URL"))),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn upload(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let mut stored = None;
    let mut title = None;
    let mut project = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(multipart_refused)?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" if stored.is_none() => {
                let filename = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or_default()
                    .to_owned();
                let declared = field.content_type().map(ToString::to_string);
                let mut upload = state
                    .documents
                    .begin_upload(&scope, &filename, declared.as_deref())
                    .await?;
                while let Some(piece) = field.next().await {
                    match piece {
                        Ok(bytes) => upload.write(bytes.to_vec()).await?,
                        Err(err) => {
                            upload.abort().await;
                            return Err(multipart_refused(err));
                        }
                    }
                }
                stored = Some(upload);
            }
            "title" if title.is_none() => title = Some(text_field(&mut field, "title").await?),
            "project_id" if project.is_none() => {
                let raw = text_field(&mut field, "project_id").await?;
                let id = raw.trim().parse::<Uuid>().map_err(|_| {
                    ApiError::invalid("project_id", "format", "project_id must be a UUID")
                })?;
                project = Some(ProjectId::from_uuid(id));
            }
            other => {
                if let Some(upload) = stored.take() {
                    upload.abort().await;
                }
                return Err(ApiError::invalid(
                    other,
                    "unknown_field",
                    format!("unknown or repeated form field {other:?}"),
                ));
            }
        }
    }
    let Some(upload) = stored else {
        return Err(ApiError::invalid(
            "file",
            "required",
            "a file part is required",
        ));
    };
    let document = state
        .documents
        .complete_upload(&scope, upload, title.as_deref(), project)
        .await?;
    let mut builder = HttpResponse::Created();
    builder.insert_header((LOCATION, format!("/api/v1/documents/{}", document.id)));
    Ok(respond::<_, DocumentBody>(builder, document))
}

/// List parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDocumentsQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Case-insensitive search in the title (no control characters).
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// `title`, `size_bytes` or `created_at` (the default, newest first), `-` for descending.
    #[param(pattern = "^-?(title|size_bytes|created_at)$")]
    pub sort: Option<String>,
    /// Only documents of this project.
    pub project_id: Option<Uuid>,
    /// Only documents of this type.
    #[param(value_type = Option<DocumentTypeName>)]
    pub content_type: Option<String>,
    /// Deleted documents too (needs documents:delete).
    #[param(value_type = Option<bool>, default = false)]
    pub include_deleted: Option<String>,
}

impl ListRequest for ListDocumentsQuery {
    type Filter = DocumentFilter;

    fn parse(self) -> Result<(ListParams, DocumentFilter), ApiError> {
        let params = list_params(
            self.limit.as_deref(),
            self.offset.as_deref(),
            self.q,
            self.sort,
            self.include_deleted.as_deref(),
        )?;
        let filter = DocumentFilter {
            project_id: self.project_id.map(ProjectId::from_uuid),
            content_type: self
                .content_type
                .as_deref()
                .map(|t| DocumentType::parse("content_type", t))
                .transpose()?,
        };
        Ok((params, filter))
    }
}

/// List the organization's documents (documents:read).
#[utoipa::path(
    get, path = "/api/v1/documents", extensions(("x-permission" = json!("documents:read"))), tag = "documents", params(ListDocumentsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of documents", body = PageBody<DocumentBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    query: web::Query<ListDocumentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (params, filter) = ListRequest::parse(query.into_inner())?;
    let page = state.documents.list(&scope, params, filter).await?;
    Ok(HttpResponse::Ok().json(PageBody::<DocumentBody>::from_page(page)))
}

/// The document's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DocumentPath {
    pub document_id: Uuid,
}

/// Read a document (documents:read). Another organization's is 404, like a missing one.
#[utoipa::path(
    get, path = "/api/v1/documents/{document_id}", extensions(("x-permission" = json!("documents:read"))), tag = "documents", params(DocumentPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The document", body = DocumentBody, headers(("etag" = String, description = "Its version"))),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn get(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<DocumentPath>,
) -> Result<HttpResponse, ApiError> {
    let document = state
        .documents
        .get(&scope, DocumentId::from_uuid(path.document_id))
        .await?;
    Ok(respond::<_, DocumentBody>(HttpResponse::Ok(), document))
}

/// A partial update: the title.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDocumentRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub title: Option<Option<String>>,
}

/// Rename a document (documents:write). Send `If-Match: "<version>"` to change it only if
/// nobody did since you read it.
#[utoipa::path(
    patch, path = "/api/v1/documents/{document_id}", extensions(("x-permission" = json!("documents:write"))), tag = "documents", params(DocumentPath), request_body = UpdateDocumentRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The renamed document", body = DocumentBody, headers(("etag" = String, description = "The new version"))),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 412, response = responses::PreconditionFailed),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn update(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<DocumentPath>,
    Json(body): Json<UpdateDocumentRequest>,
) -> Result<HttpResponse, ApiError> {
    let patch = UpdateDocument {
        title: not_null("title", body.title)?,
    };
    let document = state
        .documents
        .update(
            &scope,
            DocumentId::from_uuid(path.document_id),
            patch,
            if_match(&req)?,
        )
        .await?;
    Ok(respond::<_, DocumentBody>(HttpResponse::Ok(), document))
}

/// Delete a document (documents:delete): it leaves lists and searches at once and can be
/// restored until purged; the purge removes its bytes too.
#[utoipa::path(
    delete, path = "/api/v1/documents/{document_id}", extensions(("x-permission" = json!("documents:delete"))), tag = "documents", params(DocumentPath), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 412, response = responses::PreconditionFailed),
    )
)]
pub(crate) async fn delete(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    req: HttpRequest,
    path: web::Path<DocumentPath>,
) -> Result<HttpResponse, ApiError> {
    state
        .documents
        .delete(
            &scope,
            DocumentId::from_uuid(path.document_id),
            if_match(&req)?,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Bring back a deleted document (documents:delete).
#[utoipa::path(
    post, path = "/api/v1/documents/{document_id}/restore", extensions(("x-permission" = json!("documents:delete"))), tag = "documents", params(DocumentPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The document", body = DocumentBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn restore(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<DocumentPath>,
) -> Result<HttpResponse, ApiError> {
    let document = state
        .documents
        .restore(&scope, DocumentId::from_uuid(path.document_id))
        .await?;
    Ok(respond::<_, DocumentBody>(HttpResponse::Ok(), document))
}

/// Download a document's bytes as they were uploaded (documents:read): `Content-Disposition:
/// attachment` with its sanitized name, `X-Content-Type-Options: nosniff`, its exact length,
/// streamed.
#[utoipa::path(
    get, path = "/api/v1/documents/{document_id}/content", extensions(("x-permission" = json!("documents:read"))), tag = "documents", params(DocumentPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The file", content(
            (String = "application/octet-stream"),
        ), headers(
            ("content-disposition" = String, description = "attachment; filename=…"),
            ("x-content-type-options" = String, description = "nosniff"),
        )),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn content(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    path: web::Path<DocumentPath>,
) -> Result<HttpResponse, ApiError> {
    let (document, reader) = state
        .documents
        .content(&scope, DocumentId::from_uuid(path.document_id))
        .await?;
    let body = futures_util::stream::unfold(reader, |mut reader| async move {
        match reader.next().await {
            Ok(Some(piece)) => Some((Ok(bytes::Bytes::from(piece)), reader)),
            Ok(None) => None,
            Err(err) => Some((
                Err(actix_web::error::ErrorInternalServerError(err.to_string())),
                reader,
            )),
        }
    });
    let disposition = header::ContentDisposition {
        disposition: header::DispositionType::Attachment,
        parameters: vec![header::DispositionParam::Filename(
            document.filename.clone(),
        )],
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, document.content_type.mime()))
        .insert_header(disposition)
        .insert_header(("x-content-type-options", "nosniff"))
        .no_chunking(u64::try_from(document.size_bytes).unwrap_or_default())
        .streaming(body))
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQueryParams {
    /// Words to find (1 to 200 characters, no control characters).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub q: String,
    /// Most chunks, 1 to 50 (default 10).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 50)]
    pub limit: Option<String>,
    /// Only this project's documents.
    pub project_id: Option<Uuid>,
}

/// A chunk of a document's text that matched, with its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitBody {
    pub document_id: Uuid,
    pub title: String,
    pub filename: String,
    #[schema(value_type = DocumentTypeName)]
    pub content_type: &'static str,
    pub project_id: Option<Uuid>,
    /// The chunk's place in the document, from 1.
    pub chunk: i64,
    pub content: String,
    /// Higher is better.
    pub rank: f64,
}

impl From<SearchHit> for SearchHitBody {
    fn from(h: SearchHit) -> Self {
        Self {
            document_id: h.document_id.as_uuid(),
            title: h.title,
            filename: h.filename,
            content_type: h.content_type.mime(),
            project_id: h.project_id.map(|p| p.as_uuid()),
            chunk: h.chunk,
            content: h.content,
            rank: h.rank,
        }
    }
}

/// Search the text of the organization's live documents (documents:read): ranked chunks with
/// their documents, best first (PostgreSQL full-text search, SQLite FTS5).
#[utoipa::path(
    get, path = "/api/v1/documents/search", extensions(("x-permission" = json!("documents:read"))), tag = "documents", params(SearchQueryParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "The best chunks", body = ListBody<SearchHitBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn search(
    state: web::Data<crate::AppState>,
    Auth(scope): Auth,
    query: web::Query<SearchQueryParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = int_param("limit", query.limit.as_deref())?;
    let hits = state
        .documents
        .search(
            &scope,
            &query.q,
            limit,
            query.project_id.map(ProjectId::from_uuid),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ListBody::<SearchHitBody>::from_items(hits)))
}

#[cfg(test)]
mod tests {
    use bulkhead_domain::documents::DocumentStatus;

    use super::*;

    #[test]
    fn every_status_and_type_has_its_name() {
        for status in DocumentStatus::ALL {
            let named: DocumentStatusName =
                serde_json::from_value(serde_json::json!(status.as_str())).expect("named");
            let _ = named;
        }
        for kind in DocumentType::ALL {
            let named: DocumentTypeName =
                serde_json::from_value(serde_json::json!(kind.mime())).expect("named");
            let _ = named;
        }
    }
}
