//! File storage: a local directory by default, S3-compatible object storage when configured,
//! both through `object_store`. Uploads stream in parts (never a whole file in memory) and are
//! hashed on the way; downloads stream byte ranges.

use std::{ops::Range, path::PathBuf, sync::Arc};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart, aws::AmazonS3Builder, local::LocalFileSystem, path::Path,
};
use sha2::{Digest, Sha256};

mod s3_staging;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found")]
    NotFound,
    #[error("storage misconfigured: {0}")]
    Config(String),
    #[error(transparent)]
    Backend(#[from] object_store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where files go, as configured at startup.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    Local(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<secrecy::SecretString>,
    },
}

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    part_size: usize,
    description: String,
    /// The directory of a local store (where unfinished uploads' staging files live).
    local_dir: Option<std::path::PathBuf>,
    /// The same store as `store` when it is S3: its multipart uploads are tracked (see
    /// `s3_staging`) so that the sweep can abort those of a server that died.
    s3: Option<Arc<object_store::aws::AmazonS3>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// Parts written concurrently per upload: with the part size this bounds an upload's memory.
const PARTS_IN_FLIGHT: usize = 2;

impl Storage {
    pub fn open(config: &StorageConfig) -> Result<Storage, StorageError> {
        match config {
            StorageConfig::Local(dir) => {
                std::fs::create_dir_all(dir)?;
                let store = LocalFileSystem::new_with_prefix(dir)?;
                Ok(Storage {
                    store: Arc::new(store),
                    prefix: String::new(),
                    part_size: 1024 * 1024,
                    description: format!("local directory {}", dir.display()),
                    local_dir: Some(dir.clone()),
                    s3: None,
                })
            }
            StorageConfig::S3 { bucket, prefix, endpoint, region, access_key_id, secret_access_key } => {
                // Standard AWS_* variables apply unless Clink's own settings override them.
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(region) = region {
                    builder = builder.with_region(region);
                }
                if let Some(key) = access_key_id {
                    builder = builder.with_access_key_id(key);
                }
                if let Some(secret) = secret_access_key {
                    builder = builder.with_secret_access_key(secrecy::ExposeSecret::expose_secret(secret));
                }
                let store = Arc::new(builder.build().map_err(|e| StorageError::Config(e.to_string()))?);
                Ok(Storage {
                    store: store.clone(),
                    s3: Some(store),
                    prefix: prefix.trim_matches('/').to_string(),
                    // S3 requires parts of at least 5 MiB (but the last).
                    part_size: 5 * 1024 * 1024,
                    description: format!("s3://{bucket}/{prefix}"),
                    local_dir: None,
                })
            }
        }
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() { Path::from(key) } else { Path::from(format!("{}/{key}", self.prefix)) }
    }

    /// Starts a streamed upload to `key`.
    pub async fn upload(&self, key: &str) -> Result<Upload, StorageError> {
        let multipart: Box<dyn object_store::MultipartUpload> = match &self.s3 {
            Some(s3) => {
                let marker = self.path(&format!("{}/{}.json", s3_staging::MARKERS, crate::db::new_id()));
                Box::new(s3_staging::TrackedUpload::start(s3.clone(), self.path(key), marker).await?)
            }
            None => self.store.put_multipart(&self.path(key)).await?,
        };
        Ok(Upload {
            key: key.to_string(),
            writer: WriteMultipart::new_with_chunk_size(multipart, self.part_size),
            hasher: Sha256::new(),
            size: 0,
            head: Vec::new(),
        })
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store.put(&self.path(key), bytes.into()).await?;
        Ok(())
    }

    /// Reads a whole (small) object, such as a cover image.
    pub async fn read(&self, key: &str) -> Result<Bytes, StorageError> {
        let result = self.store.get(&self.path(key)).await.map_err(not_found)?;
        Ok(result.bytes().await?)
    }

    /// Streams `range` of an object (or all of it). Returns the stream and the object's size.
    pub async fn read_range(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<(impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, u64), StorageError> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let result = self.store.get_opts(&self.path(key), options).await.map_err(not_found)?;
        let size = result.meta.size;
        let stream = result.into_stream().map(|chunk| chunk.map_err(std::io::Error::other));
        Ok((stream, size))
    }

    pub async fn size(&self, key: &str) -> Result<u64, StorageError> {
        Ok(self.store.head(&self.path(key)).await.map_err(not_found)?.size)
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Best-effort deletion of objects that must not outlive a failed operation.
    pub async fn discard(&self, keys: &[String]) {
        for key in keys {
            if let Err(e) = self.delete(key).await {
                tracing::warn!(error = %e, key, "could not delete an orphaned object");
            }
        }
    }

    /// Removes the staging files of uploads that will never finish: a server killed mid-upload
    /// (`kill -9`, a crash) leaves its upload's partial file (`{key}#{n}`) behind, and nothing
    /// else would ever remove it. Files untouched for `idle` are orphans: an upload in progress
    /// writes to its file all the time. Returns how many were removed. On S3 the same goes for
    /// unfinished multipart uploads, found by their markers (see `s3_staging`), which a running
    /// upload refreshes every minute.
    pub async fn sweep_staging(&self, idle: std::time::Duration) -> usize {
        if let Some(s3) = &self.s3 {
            return s3_staging::sweep(s3, &self.path(s3_staging::MARKERS), idle).await;
        }
        let Some(dir) = self.local_dir.clone() else { return 0 };
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let mut dirs = vec![dir];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for entry in entries.flatten() {
                    let path = entry.path();
                    let Ok(meta) = entry.metadata() else { continue };
                    if meta.is_dir() {
                        dirs.push(path);
                        continue;
                    }
                    let name = entry.file_name().to_string_lossy().to_string();
                    let staging = name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                    let idle_long = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age >= idle);
                    if staging && idle_long && std::fs::remove_file(&path).is_ok() {
                        tracing::info!(file = %path.display(), "removed the staging file of an upload that never finished");
                        removed += 1;
                    }
                }
            }
            removed
        })
        .await
        .unwrap_or(0)
    }

    /// [`Storage::sweep_staging`] at once (what a crash left) and then every `every`, for as long
    /// as the task lives.
    pub async fn sweep_staging_every(self, every: std::time::Duration, idle: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let removed = self.sweep_staging(idle).await;
            if removed > 0 {
                tracing::warn!(removed, "removed staging files of uploads that never finished");
            }
        }
    }

    /// Lists every key under `prefix` (for tests and housekeeping).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let base = self.path(prefix);
        let mut out = Vec::new();
        let mut listing = self.store.list(Some(&base));
        while let Some(meta) = listing.next().await {
            let location = meta?.location.to_string();
            let key = match self.prefix.is_empty() {
                true => location,
                false => location.trim_start_matches(&format!("{}/", self.prefix)).to_string(),
            };
            out.push(key);
        }
        Ok(out)
    }
}

fn not_found(e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        other => StorageError::Backend(other),
    }
}

/// An upload in progress. Dropping it without `finish` leaves nothing visible behind: local
/// staging files are removed, and an unfinished S3 multipart upload never becomes an object.
pub struct Upload {
    key: String,
    writer: WriteMultipart,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
}

/// Bytes kept from the start of a file to detect its type.
const SNIFF_BYTES: usize = 8192;

impl Upload {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.hasher.update(&chunk);
        self.size += chunk.len() as u64;
        if self.head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.writer.put(chunk);
        // Back-pressure: wait while too many parts are in flight, so memory stays bounded.
        self.writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        Ok(())
    }

    pub async fn finish(self) -> Result<StoredObject, StorageError> {
        self.writer.finish().await?;
        Ok(StoredObject {
            key: self.key,
            size_bytes: self.size,
            sha256: hex::encode(self.hasher.finalize()),
            sniffed_type: infer::get(&self.head).map(|t| t.mime_type()),
        })
    }

    pub async fn abort(self) {
        if let Err(e) = self.writer.abort().await {
            tracing::warn!(error = %e, key = %self.key, "aborting an upload failed");
        }
    }
}

/// A file that reached storage intact.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub key: String,
    pub size_bytes: u64,
    pub sha256: String,
    /// The type detected from the file's first bytes, if recognisable.
    pub sniffed_type: Option<&'static str>,
}
