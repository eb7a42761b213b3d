//! Documents in SQL (migration 23): the `documents` table on the kit, with the plan's storage
//! limit checked and counted in each upload's unit of work and the document queued for its
//! text; the search over the chunks (PostgreSQL `tsvector`, SQLite FTS5); the worker that
//! extracts text and indexes it; and the purge's sweep of bytes no document names.

use std::time::Duration;

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::documents::{
    BlobKey, BlobStore, CHUNK_CHARS, Chunker, DocumentFields, DocumentFilter, DocumentIndex,
    DocumentStatus, DocumentType, Documents, SearchHit, SearchQuery,
};
use bulkhead_domain::resource::Record;
use bulkhead_domain::{
    DocumentId, DomainError, DomainResult, OrganizationId, ProjectId, Quota, SystemTask,
    TenantScope,
};
use chrono::Utc;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, Statement, Value};
use serde_json::json;
use uuid::Uuid;

use crate::blobs::ObjectBlobStore;
use crate::error::{corrupt, to_domain};
use crate::projects::ProjectTable;
use crate::resources::{Cells, SqlResources, TenantTable, newly_refers, require_reference};
use crate::store::Store;
use crate::tx::{OrgTx, set_local, set_tenant};

/// The `documents` table.
pub struct DocumentTable;

/// The kit's repository of documents.
pub type SqlDocumentRepository = SqlResources<DocumentTable>;

const DOCUMENTS: &str = "documents";
const QUEUE: &str = "document_queue";
const CHUNKS: &str = "document_chunks";
/// How many times a document's extraction is tried before it is `failed`.
const MAX_ATTEMPTS: i32 = 3;
/// Chunks written per statement.
const CHUNKS_PER_INSERT: usize = 200;
/// How long a worker holds a document it extracts before another may take it over.
const LEASE: Duration = Duration::from_secs(300);

fn col(table: &'static str, column: &'static str) -> Expr {
    Expr::col((table, column))
}

#[async_trait]
impl TenantTable for DocumentTable {
    type Resource = Documents;
    const TABLE: &'static str = DOCUMENTS;
    const COLUMNS: &'static [&'static str] = &[
        "title",
        "filename",
        "content_type",
        "size_bytes",
        "sha256",
        "project_id",
        "status",
        "error",
        "chunk_count",
    ];
    const SEARCH: Option<&'static str> = Some("title");
    const CONFLICT: &'static str = "the document conflicts with another";

    fn read(cells: &mut Cells<'_>) -> DomainResult<DocumentFields> {
        let title: String = cells.take()?;
        let filename: String = cells.take()?;
        let content_type: String = cells.take()?;
        let size_bytes: i64 = cells.take()?;
        let sha256: String = cells.take()?;
        let project_id: Option<Uuid> = cells.take()?;
        let status: String = cells.take()?;
        Ok(DocumentFields {
            title,
            filename,
            content_type: DocumentType::parse("content_type", &content_type)
                .map_err(corrupt("document type"))?,
            size_bytes,
            sha256,
            project_id: project_id.map(ProjectId::from_uuid),
            status: DocumentStatus::parse("status", &status).map_err(corrupt("document status"))?,
            error: cells.take()?,
            chunk_count: cells.take()?,
        })
    }

    fn values(fields: &DocumentFields) -> Vec<Value> {
        vec![
            fields.title.clone().into(),
            fields.filename.clone().into(),
            fields.content_type.mime().into(),
            fields.size_bytes.into(),
            fields.sha256.clone().into(),
            fields.project_id.map(|p| p.as_uuid()).into(),
            fields.status.as_str().into(),
            fields.error.clone().into(),
            fields.chunk_count.into(),
        ]
    }

    fn filter(filter: &DocumentFilter, mut condition: Condition) -> Condition {
        if let Some(project) = filter.project_id {
            condition = condition.add(col(DOCUMENTS, "project_id").eq(project.as_uuid()));
        }
        if let Some(kind) = filter.content_type {
            condition = condition.add(col(DOCUMENTS, "content_type").eq(kind.mime()));
        }
        condition
    }

    async fn guard(
        tx: &DatabaseTransaction,
        store: &Store,
        scope: &TenantScope,
        previous: Option<&Record<Documents>>,
        next: &Record<Documents>,
    ) -> DomainResult<()> {
        if let Some(project) = next.project_id
            && newly_refers(previous, next, |f| f.project_id)
        {
            require_reference::<ProjectTable>(
                tx,
                scope,
                project.as_uuid(),
                "project_id",
                "project",
            )
            .await?;
        }
        if previous.is_none() {
            crate::quotas::admit(
                tx,
                store,
                scope.organization_id(),
                Quota::StorageBytes,
                next.size_bytes,
            )
            .await?;
        }
        Ok(())
    }

    async fn written(
        tx: &DatabaseTransaction,
        _: &Store,
        scope: &TenantScope,
        previous: Option<&Record<Documents>>,
        next: &Record<Documents>,
    ) -> DomainResult<()> {
        if previous.is_some() {
            return Ok(());
        }
        // Its bytes count until the purge removes them; its text waits for the worker.
        crate::quotas::count(
            tx,
            scope.organization_id(),
            Quota::StorageBytes,
            next.size_bytes,
        )
        .await?;
        let queue = Query::insert()
            .into_table(QUEUE)
            .columns(["organization_id", "document_id", "available_at", "attempts"])
            .values([
                Expr::val(scope.organization_id().as_uuid()),
                Expr::val(next.id.as_uuid()),
                Expr::val(bulkhead_domain::now()),
                Expr::val(0i32),
            ])
            .map_err(|e| DomainError::Internal(format!("document queue insert: {e}")))?
            .to_owned();
        tx.execute_raw(tx.get_database_backend().build(&queue))
            .await
            .map_err(to_domain)
            .map(|_| ())
    }

    async fn purging(
        tx: &DatabaseTransaction,
        scope: &TenantScope,
        ids: &[Uuid],
    ) -> DomainResult<()> {
        let size = Query::select()
            .expr(Expr::cust("CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT)"))
            .from(DOCUMENTS)
            .and_where(col(DOCUMENTS, "organization_id").eq(scope.organization_id().as_uuid()))
            .and_where(col(DOCUMENTS, "id").is_in(ids.iter().copied()))
            .to_owned();
        let freed = crate::resources::scalar(tx, &size).await?;
        crate::quotas::count(tx, scope.organization_id(), Quota::StorageBytes, -freed).await
    }
}

/// The SQL search over the chunks of live documents.
#[derive(Clone)]
pub struct SqlDocumentIndex {
    store: Store,
}

impl SqlDocumentIndex {
    /// Builds the index.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl DocumentIndex for SqlDocumentIndex {
    async fn search(
        &self,
        scope: &TenantScope,
        query: &SearchQuery,
    ) -> DomainResult<Vec<SearchHit>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let hits = search_in(&tx, scope, query).await?;
        tx.finish_read().await?;
        Ok(hits)
    }
}

/// Words of `text` as a query that needs any of them (a retrieval for a knowledge base reads a
/// whole message), or all of them (a person's search); only letters and digits reach it, so no
/// operator of either store's query language comes from a client.
fn query_words(text: &str, any: bool, postgres: bool) -> String {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(64)
        .collect();
    match (postgres, any) {
        (true, true) => words.join(" | "),
        (true, false) => words.join(" & "),
        (false, any) => words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(if any { " OR " } else { " " }),
    }
}

/// The best chunks of live documents for `query`, in the caller's unit of work.
pub(crate) async fn search_in(
    tx: &DatabaseTransaction,
    scope: &TenantScope,
    query: &SearchQuery,
) -> DomainResult<Vec<SearchHit>> {
    let backend = tx.get_database_backend();
    let org = scope.organization_id().as_uuid();
    let mut values: Vec<Value> = vec![org.into()];
    let mut extra = String::new();
    if let Some(project) = query.project_id {
        values.push(project.as_uuid().into());
        extra.push_str(&format!(" AND d.project_id = ${}", values.len()));
    }
    if let Some(documents) = &query.documents {
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let mut marks = Vec::new();
        for id in documents {
            values.push(id.as_uuid().into());
            marks.push(format!("${}", values.len()));
        }
        extra.push_str(&format!(" AND d.id IN ({})", marks.join(", ")));
    }
    let sql = if backend == DatabaseBackend::Postgres {
        let words = query_words(&query.text, query.any_word, true);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        values.push(words.into());
        let q = values.len();
        values.push((query.limit as i64).into());
        let limit = values.len();
        // The query is parsed once, in FROM: in WHERE, under the generic plans the server's
        // sessions use, it was parsed again for every chunk of the organization (a ninth of
        // the throughput in the bench's scenario 7).
        format!(
            "SELECT d.id, d.title, d.filename, d.content_type, d.project_id, c.seq, c.content, \
                        ts_rank(c.tsv, q.query)::float8 AS rank \
                   FROM to_tsquery('english', ${q}) AS q(query) \
                   JOIN document_chunks c ON c.tsv @@ q.query \
                   JOIN documents d ON d.organization_id = c.organization_id AND d.id = c.document_id \
                  WHERE c.organization_id = $1 AND d.deleted_at IS NULL{extra} \
                  ORDER BY rank DESC, d.id, c.seq LIMIT ${limit}"
        )
    } else {
        let words = query_words(&query.text, query.any_word, false);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        values.push(words.into());
        let q = values.len();
        values.push((query.limit as i64).into());
        let limit = values.len();
        // bm25 is lower for better matches; its negation ranks like PostgreSQL's.
        format!(
                "SELECT d.id, d.title, d.filename, d.content_type, d.project_id, c.seq, c.content, \
                        -bm25(document_chunks_fts) AS rank \
                   FROM document_chunks_fts \
                   JOIN document_chunks c ON c.rowid = document_chunks_fts.rowid \
                   JOIN documents d ON d.organization_id = c.organization_id AND d.id = c.document_id \
                  WHERE document_chunks_fts MATCH ${q} AND c.organization_id = $1 \
                    AND d.deleted_at IS NULL{extra} \
                  ORDER BY rank DESC, d.id, c.seq LIMIT ${limit}"
            )
            // SQLite numbers its parameters `?N`.
            .replace('$', "?")
    };
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .map_err(to_domain)?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get_by_index(3).map_err(to_domain)?;
            Ok(SearchHit {
                document_id: DocumentId::from_uuid(row.try_get_by_index(0).map_err(to_domain)?),
                title: row.try_get_by_index(1).map_err(to_domain)?,
                filename: row.try_get_by_index(2).map_err(to_domain)?,
                content_type: DocumentType::parse("content_type", &kind)
                    .map_err(corrupt("document type"))?,
                project_id: row
                    .try_get_by_index::<Option<Uuid>>(4)
                    .map_err(to_domain)?
                    .map(ProjectId::from_uuid),
                chunk: row.try_get_by_index(5).map_err(to_domain)?,
                content: row.try_get_by_index(6).map_err(to_domain)?,
                rank: row.try_get_by_index(7).map_err(to_domain)?,
            })
        })
        .collect()
}

const NOT_UTF8: &str = "the text is not UTF-8";

/// How much of a parsed document's text is cut into chunks at a time.
const TEXT_PIECE: usize = 64 * 1024;

/// Takes the longest prefix of `bytes` that is whole UTF-8 characters, leaving behind a
/// character cut off at the end (the rest of it is in the next piece); `None` if the bytes
/// are not UTF-8.
fn take_utf8(bytes: &mut Vec<u8>) -> Option<String> {
    let valid = match std::str::from_utf8(bytes) {
        Ok(text) => text.len(),
        Err(err) if err.error_len().is_none() => err.valid_up_to(),
        Err(_) => return None,
    };
    let rest = bytes.split_off(valid);
    String::from_utf8(std::mem::replace(bytes, rest)).ok()
}

/// Cuts a document's text into chunks as it arrives and inserts them, numbered from 1, many
/// rows per statement (a long document makes thousands).
struct ChunkWriter {
    org: OrganizationId,
    id: DocumentId,
    chunker: Chunker,
    batch: Vec<String>,
    written: i64,
}

impl ChunkWriter {
    fn new(org: OrganizationId, id: DocumentId) -> Self {
        Self {
            org,
            id,
            chunker: Chunker::new(CHUNK_CHARS),
            batch: Vec::with_capacity(CHUNKS_PER_INSERT),
            written: 0,
        }
    }

    async fn push(&mut self, tx: &DatabaseTransaction, text: &str) -> DomainResult<()> {
        for chunk in self.chunker.push(text) {
            self.batch.push(chunk);
            if self.batch.len() == CHUNKS_PER_INSERT {
                self.flush(tx).await?;
            }
        }
        Ok(())
    }

    /// Writes the last chunks; answers how many there are in all.
    async fn finish(mut self, tx: &DatabaseTransaction) -> DomainResult<i64> {
        self.batch.extend(self.chunker.finish());
        self.flush(tx).await?;
        Ok(self.written)
    }

    async fn flush(&mut self, tx: &DatabaseTransaction) -> DomainResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut insert = Query::insert();
        insert
            .into_table(CHUNKS)
            .columns(["organization_id", "document_id", "seq", "content"]);
        for chunk in self.batch.drain(..) {
            self.written += 1;
            insert
                .values([
                    Expr::val(self.org.as_uuid()),
                    Expr::val(self.id.as_uuid()),
                    Expr::val(self.written),
                    Expr::val(chunk),
                ])
                .map_err(|e| DomainError::Internal(format!("chunk insert: {e}")))?;
        }
        tx.execute_raw(tx.get_database_backend().build(&insert))
            .await
            .map_err(to_domain)
            .map(|_| ())
    }
}

/// Extracts text from a document's bytes, by its type.
pub fn extract_text(kind: DocumentType, bytes: &[u8]) -> Result<String, String> {
    match kind {
        DocumentType::Pdf => {
            pdf_extract::extract_text_from_mem(bytes).map_err(|e| format!("unreadable PDF: {e}"))
        }
        DocumentType::Html => {
            html2text::from_read(bytes, 100).map_err(|e| format!("unreadable HTML: {e}"))
        }
        DocumentType::Text | DocumentType::Markdown | DocumentType::Csv | DocumentType::Json => {
            String::from_utf8(bytes.to_vec()).map_err(|_| NOT_UTF8.to_owned())
        }
    }
}

/// The worker that extracts documents' text: claims a queued document (of any organization,
/// under the queue's read-only widening), then works inside its organization under the
/// `documents` system task.
#[derive(Clone)]
pub struct DocumentProcessor {
    store: Store,
    blobs: ObjectBlobStore,
    max_bytes: u64,
}

impl DocumentProcessor {
    /// A processor reading blobs from `blobs`, none larger than `max_bytes`.
    pub fn new(store: Store, blobs: ObjectBlobStore, max_bytes: u64) -> Self {
        Self {
            store,
            blobs,
            max_bytes,
        }
    }

    /// Claims the next document due and leases it; `None` if none is.
    async fn claim(&self) -> DomainResult<Option<(OrganizationId, DocumentId, i32)>> {
        let tx = self.store.begin().await.map_err(to_domain)?;
        set_local(&tx, "app.queue", "documents").await?;
        let now = bulkhead_domain::now();
        let due = Query::select()
            .columns([
                (QUEUE, "organization_id"),
                (QUEUE, "document_id"),
                (QUEUE, "attempts"),
            ])
            .from(QUEUE)
            .and_where(col(QUEUE, "available_at").lte(now))
            .cond_where(
                Condition::any()
                    .add(col(QUEUE, "lease_expires_at").is_null())
                    .add(col(QUEUE, "lease_expires_at").lt(now)),
            )
            .limit(1)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let backend = tx.get_database_backend();
        let Some(row) = tx
            .query_one_raw(backend.build(&due))
            .await
            .map_err(to_domain)?
        else {
            return Ok(None);
        };
        let org = OrganizationId::from_uuid(row.try_get_by_index(0).map_err(to_domain)?);
        let id = DocumentId::from_uuid(row.try_get_by_index(1).map_err(to_domain)?);
        let attempts: i32 = row.try_get_by_index::<i32>(2).map_err(to_domain)? + 1;
        // The write happens inside the document's organization.
        set_tenant(&tx, Some(org), None).await?;
        let lease = Query::update()
            .table(QUEUE)
            .value(
                "lease_expires_at",
                now + chrono::Duration::from_std(LEASE).unwrap_or_default(),
            )
            .value("attempts", attempts)
            .and_where(col(QUEUE, "organization_id").eq(org.as_uuid()))
            .and_where(col(QUEUE, "document_id").eq(id.as_uuid()))
            .to_owned();
        tx.execute_raw(backend.build(&lease))
            .await
            .map_err(to_domain)?;
        tx.commit().await.map_err(to_domain)?;
        Ok(Some((org, id, attempts)))
    }

    /// Moves a document to `status` (with `error`, `chunk_count`), in `tx`.
    async fn set_status(
        tx: &DatabaseTransaction,
        scope: &TenantScope,
        id: DocumentId,
        status: DocumentStatus,
        error: Option<String>,
        chunks: i64,
    ) -> DomainResult<()> {
        let update = Query::update()
            .table(DOCUMENTS)
            .value("status", status.as_str())
            .value("error", error)
            .value("chunk_count", chunks)
            .value("updated_at", bulkhead_domain::now())
            .and_where(col(DOCUMENTS, "organization_id").eq(scope.organization_id().as_uuid()))
            .and_where(col(DOCUMENTS, "id").eq(id.as_uuid()))
            .to_owned();
        tx.execute_raw(tx.get_database_backend().build(&update))
            .await
            .map_err(to_domain)
            .map(|_| ())
    }

    /// Extracts, chunks and indexes the next queued document: answers whether there was one.
    pub async fn process_next(&self) -> DomainResult<bool> {
        let Some((org, id, attempts)) = self.claim().await? else {
            return Ok(false);
        };
        let scope = TenantScope::system(org, SystemTask::Documents);
        let kind = {
            let tx = OrgTx::begin_exempt(&self.store, &scope).await?;
            let select = Query::select()
                .column((DOCUMENTS, "content_type"))
                .from(DOCUMENTS)
                .and_where(col(DOCUMENTS, "organization_id").eq(org.as_uuid()))
                .and_where(col(DOCUMENTS, "id").eq(id.as_uuid()))
                .to_owned();
            let Some(row) = tx
                .query_one_raw(tx.get_database_backend().build(&select))
                .await
                .map_err(to_domain)?
            else {
                // Purged meanwhile; the queue row went with it.
                return Ok(true);
            };
            let kind: String = row.try_get_by_index(0).map_err(to_domain)?;
            Self::set_status(&tx, &scope, id, DocumentStatus::Processing, None, 0).await?;
            tx.commit().await?;
            DocumentType::parse("content_type", &kind).map_err(corrupt("document type"))?
        };
        // The chunks are written as the text is cut, in the unit of work that ends the
        // document's processing: a failure midway leaves none of them.
        let tx = OrgTx::begin_exempt(&self.store, &scope).await?;
        let clear = Query::delete()
            .from_table(CHUNKS)
            .and_where(col(CHUNKS, "organization_id").eq(org.as_uuid()))
            .and_where(col(CHUNKS, "document_id").eq(id.as_uuid()))
            .to_owned();
        tx.execute_raw(tx.get_database_backend().build(&clear))
            .await
            .map_err(to_domain)?;
        let outcome = self.index(&tx, org, id, kind).await?;
        let tx = match outcome {
            Ok(_) => tx,
            Err(_) => {
                tx.rollback().await?;
                OrgTx::begin_exempt(&self.store, &scope).await?
            }
        };
        let backend = tx.get_database_backend();
        let entry = match outcome {
            Ok(count) => {
                Self::set_status(&tx, &scope, id, DocumentStatus::Ready, None, count).await?;
                AuditEntry::event(
                    "document.indexed",
                    "document",
                    Some(id.to_string()),
                    json!({ "chunks": count }),
                )
            }
            Err(error) if attempts < MAX_ATTEMPTS && error.retry => {
                // The store was unreachable: try again later.
                let back = Query::update()
                    .table(QUEUE)
                    .value("lease_expires_at", Option::<chrono::DateTime<Utc>>::None)
                    .value(
                        "available_at",
                        bulkhead_domain::now()
                            + chrono::Duration::seconds(2i64.pow(attempts as u32)),
                    )
                    .and_where(col(QUEUE, "organization_id").eq(org.as_uuid()))
                    .and_where(col(QUEUE, "document_id").eq(id.as_uuid()))
                    .to_owned();
                tx.execute_raw(backend.build(&back))
                    .await
                    .map_err(to_domain)?;
                Self::set_status(&tx, &scope, id, DocumentStatus::Uploaded, None, 0).await?;
                tx.commit().await?;
                return Ok(true);
            }
            Err(error) => {
                Self::set_status(
                    &tx,
                    &scope,
                    id,
                    DocumentStatus::Failed,
                    Some(error.reason.clone()),
                    0,
                )
                .await?;
                AuditEntry::event(
                    "document.extraction_failed",
                    "document",
                    Some(id.to_string()),
                    json!({ "error": error.reason }),
                )
            }
        };
        let done = Query::delete()
            .from_table(QUEUE)
            .and_where(col(QUEUE, "organization_id").eq(org.as_uuid()))
            .and_where(col(QUEUE, "document_id").eq(id.as_uuid()))
            .to_owned();
        tx.execute_raw(backend.build(&done))
            .await
            .map_err(to_domain)?;
        tx.audit(&scope, entry).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Extracts document `id`'s text and writes its chunks in `tx`, a batch at a time, with
    /// the memory of a few chunks whatever the file's size: text types are decoded and cut
    /// as their bytes arrive. PDF and HTML, whose parsers need the whole file, are read whole
    /// (bounded by the upload limit) and parsed off the async threads. Answers the number of
    /// chunks, or why the document cannot be indexed.
    async fn index(
        &self,
        tx: &DatabaseTransaction,
        org: OrganizationId,
        id: DocumentId,
        kind: DocumentType,
    ) -> DomainResult<Result<i64, Failure>> {
        let mut reader = match self.blobs.reader(&BlobKey::document(org, id)).await {
            Ok(reader) => reader,
            Err(err) => return Ok(Err(Failure::store(err))),
        };
        let mut writer = ChunkWriter::new(org, id);
        let mut bytes = Vec::new();
        let mut read = 0u64;
        loop {
            let piece = match reader.next().await {
                Ok(Some(piece)) => piece,
                Ok(None) => break,
                Err(err) => return Ok(Err(Failure::store(err))),
            };
            read += piece.len() as u64;
            if read > self.max_bytes {
                return Ok(Err(Failure::fatal(
                    "the stored file is larger than the upload limit",
                )));
            }
            bytes.extend_from_slice(&piece);
            if kind.is_plain_text() {
                let Some(text) = take_utf8(&mut bytes) else {
                    return Ok(Err(Failure::fatal(NOT_UTF8)));
                };
                writer.push(tx, &text).await?;
            }
        }
        if kind.is_plain_text() {
            if !bytes.is_empty() {
                // A character cut off by the end of the file.
                return Ok(Err(Failure::fatal(NOT_UTF8)));
            }
        } else {
            let parsed = tokio::task::spawn_blocking(move || {
                // A malformed PDF can make the extractor panic; that fails the document, not
                // the worker.
                std::panic::catch_unwind(|| extract_text(kind, &bytes))
                    .unwrap_or_else(|_| Err("the file could not be parsed".to_owned()))
            })
            .await
            .map_err(|e| DomainError::Internal(format!("extraction stopped: {e}")))?;
            let text = match parsed {
                Ok(text) => text,
                Err(reason) => return Ok(Err(Failure::fatal(&reason))),
            };
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut end = rest.len().min(TEXT_PIECE);
                while !rest.is_char_boundary(end) {
                    end += 1;
                }
                writer.push(tx, &rest[..end]).await?;
                rest = &rest[end..];
            }
        }
        writer.finish(tx).await.map(Ok)
    }

    /// Removes the bytes under organizations' document keys that no document names any more
    /// (purged, or an upload refused after its bytes were stored), written before `before`
    /// (so an upload in flight is never touched). Runs on a connection that sees every tenant
    /// (the owner's, as `bulkhead purge` does). Answers how many went.
    pub async fn sweep(&self, before: chrono::DateTime<Utc>) -> DomainResult<u64> {
        let keys = self.blobs.list_before("organizations/", before).await?;
        let db = self.store.connection();
        let mut removed = 0;
        for key in keys {
            let Some((org, id)) = key.document_of() else {
                continue;
            };
            let select = Query::select()
                .column((DOCUMENTS, "id"))
                .from(DOCUMENTS)
                .and_where(col(DOCUMENTS, "organization_id").eq(org.as_uuid()))
                .and_where(col(DOCUMENTS, "id").eq(id.as_uuid()))
                .to_owned();
            let named = db
                .query_one_raw(db.get_database_backend().build(&select))
                .await
                .map_err(to_domain)?
                .is_some();
            if !named {
                self.blobs.delete(&key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Why an extraction did not succeed, and whether trying again may help.
struct Failure {
    reason: String,
    retry: bool,
}

impl Failure {
    fn store(err: DomainError) -> Self {
        Self {
            retry: !matches!(err, DomainError::NotFound),
            reason: match err {
                DomainError::NotFound => "the stored file is missing".to_owned(),
                other => other.to_string(),
            },
        }
    }

    fn fatal(reason: &str) -> Self {
        Self {
            reason: reason.to_owned(),
            retry: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_between_pieces_waits_for_its_rest() {
        let text = "añb".as_bytes();
        let mut bytes = text[..2].to_vec();
        assert_eq!(take_utf8(&mut bytes).as_deref(), Some("a"));
        assert_eq!(bytes, [0xc3]);
        bytes.extend_from_slice(&text[2..]);
        assert_eq!(take_utf8(&mut bytes).as_deref(), Some("ñb"));
        assert!(bytes.is_empty());
        assert_eq!(take_utf8(&mut vec![b'a', 0xff, b'b']), None);
    }

    #[test]
    fn query_operators_never_reach_the_stores() {
        assert_eq!(
            query_words("tax OR \"x\" NEAR(a b)*", false, false),
            "\"tax\" \"OR\" \"x\" \"NEAR\" \"a\" \"b\""
        );
        assert_eq!(query_words("tax & !x | y:*", false, true), "tax & x & y");
        assert_eq!(query_words("tax, x", true, true), "tax | x");
        assert_eq!(query_words("tax x", true, false), "\"tax\" OR \"x\"");
        assert_eq!(query_words("--- ***", false, true), "");
    }

    #[test]
    fn text_types_extract_as_themselves_and_html_loses_its_tags() {
        assert_eq!(
            extract_text(DocumentType::Csv, b"a,b\n1,2").as_deref(),
            Ok("a,b\n1,2")
        );
        let html = extract_text(
            DocumentType::Html,
            b"<html><body><h1>Title</h1><p>Body <b>text</b></p><script>x()</script></body></html>",
        )
        .expect("html");
        assert!(
            html.contains("Title") && html.contains("Body") && !html.contains("<b>"),
            "{html}"
        );
        assert!(extract_text(DocumentType::Pdf, b"%PDF-1.4 broken").is_err());
    }
}
