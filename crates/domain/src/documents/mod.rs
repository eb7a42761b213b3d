//! Documents: the organization's uploaded files, streamed to a blob store (never held whole),
//! checked against their declared type, their text extracted in the background, split into
//! chunks and indexed for full-text search.

mod chunks;
mod model;
mod port;
mod service;
mod upload;

pub use chunks::{CHUNK_CHARS, Chunker, chunk_text};
pub use model::{
    BlobKey, Document, DocumentChanges, DocumentFields, DocumentFilter, DocumentStatus,
    DocumentType, Documents, UpdateDocument, sanitize_filename,
};
pub use port::{BlobReader, BlobStore, BlobWriter, Chunk, DocumentIndex, SearchHit, SearchQuery};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockBlobStore, MockDocumentIndex};
pub use service::{DEFAULT_HITS, DocumentPorts, DocumentService, MAX_HITS};
pub use upload::{Stored, Upload};
