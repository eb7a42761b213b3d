//! The blob store of documents, through `object_store`: a local directory, or any
//! S3-compatible service by URL. Writes go as multipart uploads (parts of 5 MiB at most in
//! memory), reads as streams; nothing is ever held whole.

use std::sync::Arc;

use async_trait::async_trait;
use bulkhead_domain::documents::{BlobKey, BlobReader, BlobStore, BlobWriter, Chunk};
use bulkhead_domain::{DomainError, DomainResult};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

/// How many parts an upload may have in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where blobs go, as configured.
#[derive(Clone)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    described: String,
}

fn unavailable(err: object_store::Error) -> DomainError {
    match err {
        object_store::Error::NotFound { .. } => DomainError::NotFound,
        other => DomainError::Unavailable(format!("blob store: {other}")),
    }
}

impl ObjectBlobStore {
    /// A store for `url`: `s3://bucket` (options as query parameters: `endpoint`, `region`,
    /// `allow_http`; credentials from the usual `AWS_*` environment variables, or as the URL's
    /// user and password), or a local directory (`file:///path` or a plain path), created if
    /// missing.
    pub fn from_url(url: &str) -> DomainResult<Self> {
        let refuse = |why: String| DomainError::Internal(format!("BULKHEAD_STORAGE_URL: {why}"));
        if url.starts_with("s3://") {
            let parsed = url::Url::parse(url).map_err(|e| refuse(e.to_string()))?;
            let bucket = parsed.host_str().unwrap_or_default().to_owned();
            let mut builder =
                object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&bucket);
            if !parsed.username().is_empty() {
                let decode = |raw: &str| {
                    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                builder = builder
                    .with_access_key_id(decode(parsed.username()))
                    .with_secret_access_key(decode(parsed.password().unwrap_or_default()));
            }
            for (key, value) in parsed.query_pairs() {
                builder = match key.as_ref() {
                    "endpoint" => builder.with_endpoint(value.as_ref()),
                    "region" => builder.with_region(value.as_ref()),
                    "allow_http" => builder.with_allow_http(value == "true"),
                    other => return Err(refuse(format!("unknown option {other}"))),
                };
            }
            let store = builder.build().map_err(|e| refuse(e.to_string()))?;
            return Ok(Self {
                store: Arc::new(store),
                described: format!("S3 bucket {bucket}"),
            });
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        std::fs::create_dir_all(dir).map_err(|e| refuse(format!("{dir}: {e}")))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| refuse(e.to_string()))?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            described: format!("local directory {dir}"),
        })
    }

    /// What it is, for the start-up log.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// The keys under `prefix` last written before `before`, for the purge's sweep.
    pub async fn list_before(
        &self,
        prefix: &str,
        before: DateTime<Utc>,
    ) -> DomainResult<Vec<BlobKey>> {
        let prefix = Path::from(prefix);
        let mut listed = self.store.list(Some(&prefix));
        let mut keys = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(unavailable)?;
            if meta.last_modified < before {
                keys.push(BlobKey::stored(meta.location.as_ref()));
            }
        }
        Ok(keys)
    }
}

struct Writer(WriteMultipart);

#[async_trait]
impl BlobWriter for Writer {
    async fn write(&mut self, chunk: Chunk) -> DomainResult<()> {
        self.0
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(unavailable)?;
        self.0.put(chunk.into());
        Ok(())
    }

    async fn finish(self: Box<Self>) -> DomainResult<()> {
        self.0.finish().await.map(|_| ()).map_err(unavailable)
    }

    async fn abort(self: Box<Self>) {
        if let Err(err) = self.0.abort().await {
            tracing::warn!(error = %err, "giving up an upload left parts behind");
        }
    }
}

struct Reader(BoxStream<'static, object_store::Result<bytes::Bytes>>);

#[async_trait]
impl BlobReader for Reader {
    async fn next(&mut self) -> DomainResult<Option<Chunk>> {
        match self.0.next().await {
            None => Ok(None),
            Some(piece) => piece.map(|b| Some(b.to_vec())).map_err(unavailable),
        }
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn writer(&self, key: &BlobKey) -> DomainResult<Box<dyn BlobWriter>> {
        let upload = self
            .store
            .put_multipart(&Path::from(key.as_str()))
            .await
            .map_err(unavailable)?;
        Ok(Box::new(Writer(WriteMultipart::new(upload))))
    }

    async fn reader(&self, key: &BlobKey) -> DomainResult<Box<dyn BlobReader>> {
        let found = self
            .store
            .get(&Path::from(key.as_str()))
            .await
            .map_err(unavailable)?;
        Ok(Box::new(Reader(found.into_stream())))
    }

    async fn delete(&self, key: &BlobKey) -> DomainResult<()> {
        match self.store.delete(&Path::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn list(&self, prefix: &str) -> DomainResult<Vec<BlobKey>> {
        self.list_before(prefix, Utc::now() + chrono::Duration::days(1))
            .await
    }
}
