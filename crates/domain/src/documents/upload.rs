//! An upload in progress: bytes checked and hashed as they stream to the blob store, never
//! held whole.

use sha2::{Digest, Sha256};

use super::model::{BlobKey, DocumentType};
use super::port::{BlobWriter, Chunk};
use crate::error::{DomainError, DomainResult};
use crate::ids::DocumentId;

/// How many leading bytes the type check reads.
const HEAD: usize = 512;

/// A file on its way to the blob store. Every piece goes through [`Upload::write`], which
/// counts it against the limit, checks the type on the first bytes, hashes it and passes it
/// on; a refusal gives the blob up, so nothing of a refused upload stays.
pub struct Upload {
    pub(super) id: DocumentId,
    pub(super) key: BlobKey,
    pub(super) filename: String,
    pub(super) content_type: DocumentType,
    writer: Option<Box<dyn BlobWriter>>,
    hasher: Sha256,
    size: u64,
    max: u64,
    head: Vec<u8>,
    checked: bool,
}

/// What an upload stored, once complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The document's id (its key's last part).
    pub id: DocumentId,
    /// Where its bytes are.
    pub key: BlobKey,
    /// The sanitized file name.
    pub filename: String,
    /// Its type, checked against its bytes.
    pub content_type: DocumentType,
    /// Its size.
    pub size: u64,
    /// Its SHA-256, in hex.
    pub sha256: String,
}

impl Upload {
    pub(super) fn new(
        id: DocumentId,
        key: BlobKey,
        filename: String,
        content_type: DocumentType,
        writer: Box<dyn BlobWriter>,
        max: u64,
    ) -> Self {
        Self {
            id,
            key,
            filename,
            content_type,
            writer: Some(writer),
            hasher: Sha256::new(),
            size: 0,
            max,
            head: Vec::with_capacity(HEAD),
            checked: false,
        }
    }

    /// Gives the upload up (a client that went away, a refusal): nothing stays.
    pub async fn abort(mut self) {
        if let Some(writer) = self.writer.take() {
            writer.abort().await;
        }
    }

    async fn refuse<T>(&mut self, error: DomainError) -> DomainResult<T> {
        if let Some(writer) = self.writer.take() {
            writer.abort().await;
        }
        Err(error)
    }

    /// Takes the next piece: [`DomainError::TooLarge`] past the limit, or
    /// [`DomainError::UnsupportedType`] when the first bytes are not the declared type; either
    /// way the blob is given up.
    pub async fn write(&mut self, chunk: Chunk) -> DomainResult<()> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            let limit = self.max;
            return self
                .refuse(DomainError::TooLarge(format!(
                    "the file is larger than the {limit} bytes this server accepts"
                )))
                .await;
        }
        if !self.checked {
            let wanted = HEAD - self.head.len();
            self.head
                .extend_from_slice(&chunk[..wanted.min(chunk.len())]);
            if self.head.len() >= HEAD {
                self.checked = true;
                if let Err(refused) = self.content_type.check_bytes(&self.head, false) {
                    return self.refuse(refused).await;
                }
            }
        }
        self.hasher.update(&chunk);
        match self.writer.as_mut() {
            Some(writer) => writer.write(chunk).await,
            None => Err(DomainError::Internal(
                "an upload written after it ended".into(),
            )),
        }
    }

    /// Completes the blob once every piece is in: an empty file is a validation error on
    /// `file`, a small one is type-checked now.
    pub async fn finish(mut self) -> DomainResult<Stored> {
        if self.size == 0 {
            return self
                .refuse(DomainError::invalid("file", "empty", "the file is empty"))
                .await;
        }
        if !self.checked
            && let Err(refused) = self.content_type.check_bytes(&self.head, true)
        {
            return self.refuse(refused).await;
        }
        let writer = self
            .writer
            .take()
            .ok_or_else(|| DomainError::Internal("an upload finished twice".into()))?;
        writer.finish().await?;
        Ok(Stored {
            id: self.id,
            key: self.key,
            filename: self.filename,
            content_type: self.content_type,
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;

    use super::*;
    use crate::ids::OrganizationId;

    /// Records what reached the store, and whether it was finished or given up.
    #[derive(Default, Clone)]
    struct Seen(Arc<Mutex<(Vec<u8>, Option<bool>)>>);

    #[async_trait]
    impl BlobWriter for Seen {
        async fn write(&mut self, chunk: Chunk) -> DomainResult<()> {
            self.0.lock().expect("lock").0.extend(chunk);
            Ok(())
        }
        async fn finish(self: Box<Self>) -> DomainResult<()> {
            self.0.lock().expect("lock").1 = Some(true);
            Ok(())
        }
        async fn abort(self: Box<Self>) {
            self.0.lock().expect("lock").1 = Some(false);
        }
    }

    fn upload(seen: &Seen, kind: DocumentType, max: u64) -> Upload {
        let id = DocumentId::new();
        Upload::new(
            id,
            BlobKey::document(OrganizationId::new(), id),
            "f".into(),
            kind,
            Box::new(seen.clone()),
            max,
        )
    }

    #[tokio::test]
    async fn bytes_stream_through_hashed_and_checked() {
        let seen = Seen::default();
        let mut up = upload(&seen, DocumentType::Text, 10_000);
        for piece in ["hello ", "world"] {
            up.write(piece.as_bytes().to_vec()).await.expect("written");
        }
        let stored = up.finish().await.expect("finished");
        assert_eq!(stored.size, 11);
        assert_eq!(
            stored.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(
            *seen.0.lock().expect("lock"),
            (b"hello world".to_vec(), Some(true))
        );
    }

    #[tokio::test]
    async fn too_large_or_spoofed_uploads_leave_nothing() {
        let seen = Seen::default();
        let mut up = upload(&seen, DocumentType::Text, 8);
        up.write(b"12345".to_vec()).await.expect("within");
        assert!(matches!(
            up.write(b"67890".to_vec()).await,
            Err(DomainError::TooLarge(_))
        ));
        assert_eq!(seen.0.lock().expect("lock").1, Some(false));

        let seen = Seen::default();
        let mut up = upload(&seen, DocumentType::Pdf, 1 << 20);
        let mut fake = b"MZ this is no pdf".to_vec();
        fake.resize(600, b' ');
        assert!(matches!(
            up.write(fake).await,
            Err(DomainError::UnsupportedType(_))
        ));
        assert_eq!(seen.0.lock().expect("lock").1, Some(false));

        let seen = Seen::default();
        let up = upload(&seen, DocumentType::Json, 100);
        assert!(matches!(up.finish().await, Err(DomainError::Validation(_))));
        assert_eq!(seen.0.lock().expect("lock").1, Some(false));
    }
}
