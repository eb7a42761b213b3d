//! The ports of documents: the blob store their bytes stream to, and their index.

use async_trait::async_trait;

use super::model::{BlobKey, DocumentType};
use crate::error::DomainResult;
use crate::ids::{DocumentId, ProjectId};
use crate::scope::TenantScope;

/// One piece of a blob, as it streams.
pub type Chunk = Vec<u8>;

/// Where documents' bytes live: a local directory or an S3-compatible service. Keys come from
/// [`BlobKey`] only.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Starts writing the blob at `key`; nothing is visible there until
    /// [`BlobWriter::finish`].
    async fn writer(&self, key: &BlobKey) -> DomainResult<Box<dyn BlobWriter>>;

    /// Reads the blob at `key` as a stream of pieces, [`crate::DomainError::NotFound`] if
    /// there is none.
    async fn reader(&self, key: &BlobKey) -> DomainResult<Box<dyn BlobReader>>;

    /// Removes the blob at `key`; a missing blob is no error.
    async fn delete(&self, key: &BlobKey) -> DomainResult<()>;

    /// The keys under `prefix` (for the purge's sweep of bytes no document names).
    async fn list(&self, prefix: &str) -> DomainResult<Vec<BlobKey>>;
}

/// A blob being written, piece by piece, holding at most a part's worth in memory.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends `chunk`.
    async fn write(&mut self, chunk: Chunk) -> DomainResult<()>;

    /// Completes the blob: from here on it can be read.
    async fn finish(self: Box<Self>) -> DomainResult<()>;

    /// Gives the blob up: nothing stays.
    async fn abort(self: Box<Self>);
}

/// A blob being read.
#[async_trait]
pub trait BlobReader: Send {
    /// The next piece, or `None` at the end.
    async fn next(&mut self) -> DomainResult<Option<Chunk>>;
}

/// One chunk of a document's text that a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The document.
    pub document_id: DocumentId,
    /// Its title.
    pub title: String,
    /// Its file name.
    pub filename: String,
    /// Its type.
    pub content_type: DocumentType,
    /// Its project.
    pub project_id: Option<ProjectId>,
    /// The chunk's place in the document, from 1.
    pub chunk: i64,
    /// The chunk's text.
    pub content: String,
    /// How well it matches; higher is better.
    pub rank: f64,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The words to look for (1 to 200 characters).
    pub text: String,
    /// How many chunks at most (1 to 50).
    pub limit: u64,
    /// Only chunks of these documents (a knowledge base), if given.
    pub documents: Option<Vec<DocumentId>>,
    /// Only chunks of this project's documents.
    pub project_id: Option<ProjectId>,
    /// Whether a chunk needs any of the words (a retrieval for a reply, which reads a whole
    /// message) rather than all of them (a person's search).
    pub any_word: bool,
}

/// Searches the organization's indexed text: only live documents' chunks, ranked.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait DocumentIndex: Send + Sync {
    /// The best chunks for `query`, best first.
    async fn search(
        &self,
        scope: &TenantScope,
        query: &SearchQuery,
    ) -> DomainResult<Vec<SearchHit>>;
}
