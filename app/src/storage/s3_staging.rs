//! S3 multipart uploads that can be found again after a crash.
//!
//! S3 keeps the parts of an unfinished multipart upload (billed, and invisible to object
//! listings) until someone aborts it, and only the process that started it knows its id. A
//! server killed mid-upload would leave them forever. So each upload writes a small marker
//! object, `.staging/{n}.json`, naming its path and upload id; a timer rewrites it every minute
//! for as long as the upload lives in its server (however slowly its parts arrive), and it is
//! deleted when the upload completes, aborts or is dropped. The sweep aborts the uploads whose
//! marker has gone quiet for its idle time (ten minutes, ten missed refreshes): those are the
//! ones whose server died. Any server of a cluster may sweep: aborting an upload twice is
//! harmless.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use object_store::{
    MultipartId, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, PutResult, UploadPart,
    aws::AmazonS3,
    multipart::{MultipartStore, PartId},
    path::Path,
};
use serde::{Deserialize, Serialize};

/// Under the storage prefix: where the markers live.
pub const MARKERS: &str = ".staging";

/// How often a running upload rewrites its marker. The sweep's idle time must be well above it.
const REFRESH: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    path: String,
    upload_id: String,
}

/// A multipart upload to S3 with a marker naming it while it runs (see the module docs).
#[derive(Debug)]
pub struct TrackedUpload {
    s3: Arc<AmazonS3>,
    path: Path,
    upload_id: MultipartId,
    marker: Path,
    /// Rewrites the marker every [`REFRESH`]; stopped when the upload ends or is dropped.
    refresher: tokio::task::AbortHandle,
    /// Part `i`'s id once it is up (parts go up concurrently, in any order).
    parts: Arc<Mutex<Vec<Option<PartId>>>>,
    next_part: usize,
}

impl Drop for TrackedUpload {
    fn drop(&mut self) {
        // Dropped without completing (a failed request): the marker goes quiet, and the sweep
        // aborts the upload once it has been quiet long enough.
        self.refresher.abort();
    }
}

impl TrackedUpload {
    /// Starts the upload of `path`, with its marker at `marker`.
    pub async fn start(s3: Arc<AmazonS3>, path: Path, marker: Path) -> object_store::Result<TrackedUpload> {
        let upload_id = s3.create_multipart(&path).await?;
        let marker_body = serde_json::to_vec(&Marker { path: path.to_string(), upload_id: upload_id.clone() }).unwrap_or_default();
        if let Err(e) = s3.put(&marker, marker_body.clone().into()).await {
            let _ = s3.abort_multipart(&path, &upload_id).await;
            return Err(e);
        }
        let refresher = tokio::spawn(keep_fresh(s3.clone(), marker.clone(), marker_body)).abort_handle();
        Ok(TrackedUpload { s3, path, upload_id, marker, refresher, parts: Arc::new(Mutex::new(Vec::new())), next_part: 0 })
    }

    /// Removes the marker of an upload that has ended one way or the other.
    async fn forget(&self) {
        self.refresher.abort();
        if let Err(e) = self.s3.delete(&self.marker).await {
            tracing::warn!(error = %e, marker = %self.marker, "could not delete an upload's marker; the sweep will");
        }
    }
}

#[async_trait::async_trait]
impl MultipartUpload for TrackedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let index = self.next_part;
        self.next_part += 1;
        let (s3, path, upload_id, parts) = (self.s3.clone(), self.path.clone(), self.upload_id.clone(), self.parts.clone());
        Box::pin(async move {
            let part = s3.put_part(&path, &upload_id, index, data).await?;
            {
                let mut parts = parts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if parts.len() <= index {
                    parts.resize(index + 1, None);
                }
                parts[index] = Some(part);
            }
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let parts = self.parts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().cloned().collect::<Option<Vec<_>>>();
        let Some(parts) = parts else {
            return Err(object_store::Error::Generic { store: "S3", source: "a part of the upload never finished".into() });
        };
        let result = self.s3.complete_multipart(&self.path, &self.upload_id, parts).await?;
        self.forget().await;
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.s3.abort_multipart(&self.path, &self.upload_id).await?;
        self.forget().await;
        Ok(())
    }
}

/// Rewrites `marker` every [`REFRESH`] until aborted, so its age says the upload's server lives.
async fn keep_fresh(s3: Arc<AmazonS3>, marker: Path, body: Vec<u8>) {
    let mut every = tokio::time::interval(REFRESH);
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(e) = s3.put(&marker, body.clone().into()).await {
            tracing::warn!(error = %e, marker = %marker, "could not refresh an upload's marker; trying again in a minute");
        }
    }
}

/// Aborts every upload under `markers` whose marker has been quiet for `idle`; returns how many.
pub async fn sweep(s3: &AmazonS3, markers: &Path, idle: Duration) -> usize {
    let now = crate::db::now_ms();
    let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
    let mut stale = Vec::new();
    let mut listing = s3.list(Some(markers));
    while let Some(meta) = listing.next().await {
        match meta {
            Ok(meta) if now - meta.last_modified.timestamp_millis() >= idle_ms => stale.push(meta.location),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not list unfinished uploads");
                return 0;
            }
        }
    }
    let mut aborted = 0;
    for marker in stale {
        // Read it again: refreshed since the listing, its upload is alive after all.
        let Ok(read) = s3.get(&marker).await else { continue };
        if crate::db::now_ms() - read.meta.last_modified.timestamp_millis() < idle_ms {
            continue;
        }
        let Ok(bytes) = read.bytes().await else { continue };
        // Not one of ours after all (or unreadable): leave it.
        let Ok(named) = serde_json::from_slice::<Marker>(&bytes) else { continue };
        let Ok(path) = Path::parse(&named.path) else { continue };
        match s3.abort_multipart(&path, &named.upload_id).await {
            Ok(()) => {
                tracing::info!(path = %named.path, "aborted the upload of a server that stopped mid-way");
                aborted += 1;
            }
            // Gone already (another server's sweep, or it completed after all): only the marker is left.
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(error = %e, path = %named.path, "could not abort an unfinished upload; trying again next sweep");
                continue;
            }
        }
        let _ = s3.delete(&marker).await;
    }
    aborted
}
