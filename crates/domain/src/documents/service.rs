//! Document use cases: uploading (streamed, checked, hashed), the kit's reads and deletes,
//! downloading, and searching the indexed text.

use std::sync::Arc;

use super::model::{
    BlobKey, Document, DocumentFields, DocumentFilter, DocumentStatus, DocumentType, Documents,
    UpdateDocument, sanitize_filename, title,
};
use super::port::{BlobReader, BlobStore, DocumentIndex, SearchHit, SearchQuery};
use super::upload::Upload;
use crate::audit::AuditRepository;
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{DocumentId, ProjectId, ResourceId};
use crate::page::Page;
use crate::resource::{ListParams, Resource, Resources, TenantRepository};
use crate::scope::TenantScope;

/// The most chunks one search answers, and the default.
pub const MAX_HITS: u64 = 50;
/// How many chunks a search answers unless asked.
pub const DEFAULT_HITS: u64 = 10;

/// The ports a [`DocumentService`] works with.
pub struct DocumentPorts {
    /// The documents' rows.
    pub documents: Arc<dyn TenantRepository<Documents>>,
    /// Their bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// Their indexed text.
    pub index: Arc<dyn DocumentIndex>,
    /// Refusals are recorded here.
    pub audit: Arc<dyn AuditRepository>,
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
}

/// The document use cases.
#[derive(Clone)]
pub struct DocumentService {
    documents: Resources<Documents>,
    blobs: Arc<dyn BlobStore>,
    index: Arc<dyn DocumentIndex>,
    max_upload_bytes: u64,
}

impl DocumentService {
    /// Builds the service on its ports.
    pub fn new(ports: DocumentPorts) -> Self {
        Self {
            documents: Resources::new(ports.documents, ports.audit),
            blobs: ports.blobs,
            index: ports.index,
            max_upload_bytes: ports.max_upload_bytes,
        }
    }

    /// The kit's use cases of documents, for the jobs that run over every resource.
    pub fn resources(&self) -> &Resources<Documents> {
        &self.documents
    }

    /// The largest upload accepted, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    /// Starts an upload of a file the client calls `filename`, of the media type it declared
    /// (needs `documents:write`): the type must be accepted
    /// ([`DomainError::UnsupportedType`]); the name is sanitized; the bytes go to a key built
    /// from the organization and a new document id.
    pub async fn begin_upload(
        &self,
        scope: &TenantScope,
        filename: &str,
        media_type: Option<&str>,
    ) -> DomainResult<Upload> {
        self.documents
            .authorize(scope, <Documents as Resource>::WRITE)
            .await?;
        let filename = sanitize_filename(filename);
        let content_type = DocumentType::declared(media_type, &filename)?;
        let id = DocumentId::generate();
        let key = BlobKey::document(scope.organization_id(), id);
        let writer = self.blobs.writer(&key).await?;
        Ok(Upload::new(
            id,
            key,
            filename,
            content_type,
            writer,
            self.max_upload_bytes,
        ))
    }

    /// Completes an upload whose bytes have all been written: records the document
    /// (`uploaded`, for the worker to extract its text), titled `title` or else its file name,
    /// in `project_id` if given (a live project of the organization, else 422). A refusal
    /// (bad title, project, plan's storage limit) removes the stored bytes.
    pub async fn complete_upload(
        &self,
        scope: &TenantScope,
        upload: Upload,
        title_given: Option<&str>,
        project_id: Option<ProjectId>,
    ) -> DomainResult<Document> {
        let named = match title_given.map(title).transpose() {
            Ok(named) => named,
            Err(refused) => {
                upload.abort().await;
                return Err(refused);
            }
        };
        let stored = upload.finish().await?;
        let fields = DocumentFields {
            title: named.unwrap_or_else(|| stored.filename.chars().take(200).collect()),
            filename: stored.filename.clone(),
            content_type: stored.content_type,
            size_bytes: i64::try_from(stored.size).unwrap_or(i64::MAX),
            sha256: stored.sha256.clone(),
            project_id,
            status: DocumentStatus::Uploaded,
            error: None,
            chunk_count: 0,
        };
        match self.documents.insert_as(scope, stored.id, fields).await {
            Ok(document) => Ok(document),
            Err(refused) => {
                // Best effort: a blob left behind is swept by the purge.
                let _ = self.blobs.delete(&stored.key).await;
                Err(refused)
            }
        }
    }

    /// Lists documents (needs `documents:read`).
    pub async fn list(
        &self,
        scope: &TenantScope,
        params: ListParams,
        filter: DocumentFilter,
    ) -> DomainResult<Page<Document>> {
        self.documents.list(scope, params, filter).await
    }

    /// Reads one document (needs `documents:read`).
    pub async fn get(&self, scope: &TenantScope, id: DocumentId) -> DomainResult<Document> {
        self.documents.get(scope, id).await
    }

    /// Renames a document (needs `documents:write`).
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: DocumentId,
        patch: UpdateDocument,
        expected_version: Option<i64>,
    ) -> DomainResult<Document> {
        self.documents
            .update(scope, id, patch, expected_version)
            .await
    }

    /// Soft-deletes a document (needs `documents:delete`): it leaves lists and searches at once;
    /// its bytes go when the purge removes it.
    pub async fn delete(
        &self,
        scope: &TenantScope,
        id: DocumentId,
        expected_version: Option<i64>,
    ) -> DomainResult<Document> {
        self.documents.delete(scope, id, expected_version).await
    }

    /// Brings back a deleted document (needs `documents:delete`).
    pub async fn restore(&self, scope: &TenantScope, id: DocumentId) -> DomainResult<Document> {
        self.documents.restore(scope, id).await
    }

    /// A document and its bytes, to download (needs `documents:read`).
    pub async fn content(
        &self,
        scope: &TenantScope,
        id: DocumentId,
    ) -> DomainResult<(Document, Box<dyn BlobReader>)> {
        let document = self.documents.get(scope, id).await?;
        let key = BlobKey::document(scope.organization_id(), document.id);
        let reader = self.blobs.reader(&key).await?;
        Ok((document, reader))
    }

    /// The best chunks of the organization's live documents for `text` (needs
    /// `documents:read`): 1 to 200 characters, `limit` 1 to 50 (default 10), optionally
    /// within one project.
    pub async fn search(
        &self,
        scope: &TenantScope,
        text: &str,
        limit: Option<i64>,
        project_id: Option<ProjectId>,
    ) -> DomainResult<Vec<SearchHit>> {
        self.documents
            .authorize(scope, <Documents as Resource>::READ)
            .await?;
        let query = Self::query(text, limit, None, project_id)?;
        self.index.search(scope, &query).await
    }

    /// A validated search.
    pub fn query(
        text: &str,
        limit: Option<i64>,
        documents: Option<Vec<DocumentId>>,
        project_id: Option<ProjectId>,
    ) -> DomainResult<SearchQuery> {
        let mut v = Validator::new();
        let text = v.check(crate::text::bounded("q", text, 1, 200));
        let limit = v.check(match limit {
            None => Ok(DEFAULT_HITS),
            Some(n) if (1..=MAX_HITS as i64).contains(&n) => Ok(n as u64),
            Some(_) => Err(DomainError::invalid(
                "limit",
                "range",
                format!("limit must be between 1 and {MAX_HITS}"),
            )),
        });
        let (text, limit) = v.values((text, limit))?;
        Ok(SearchQuery {
            text,
            limit,
            documents,
            project_id,
            any_word: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::MockBlobStore;
    use crate::documents::MockDocumentIndex;
    use crate::ids::{OrganizationId, UserId};
    use crate::resource::MockTenantRepository;
    use crate::scope::{Permission, Role};

    fn service(blobs: MockBlobStore, repo: MockTenantRepository<Documents>) -> DocumentService {
        let mut audit = crate::audit::MockAuditRepository::new();
        audit.expect_record().returning(|_, _| Ok(()));
        DocumentService::new(DocumentPorts {
            documents: Arc::new(repo),
            blobs: Arc::new(blobs),
            index: Arc::new(MockDocumentIndex::new()),
            audit: Arc::new(audit),
            max_upload_bytes: 1024,
        })
    }

    #[tokio::test]
    async fn viewers_cannot_upload_and_unknown_types_open_no_blob() {
        let mut blobs = MockBlobStore::new();
        blobs.expect_writer().never();
        let service = service(blobs, MockTenantRepository::new());
        let viewer = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Viewer);
        assert!(matches!(
            service
                .begin_upload(&viewer, "a.txt", Some("text/plain"))
                .await,
            Err(DomainError::Forbidden(Permission::DocumentsWrite))
        ));
        let member = TenantScope::authenticated(OrganizationId::new(), UserId::new(), Role::Member);
        assert!(matches!(
            service
                .begin_upload(&member, "a.exe", Some("application/x-msdownload"))
                .await,
            Err(DomainError::UnsupportedType(_))
        ));
    }

    #[test]
    fn searches_are_bounded() {
        assert!(DocumentService::query("", None, None, None).is_err());
        assert!(DocumentService::query("x", Some(51), None, None).is_err());
        assert_eq!(
            DocumentService::query(" tax ", None, None, None)
                .map(|q| (q.text, q.limit))
                .ok(),
            Some(("tax".to_owned(), DEFAULT_HITS))
        );
    }
}
