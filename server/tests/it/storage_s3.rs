//! The S3 storage backend against a real S3-compatible server (moto), on both databases.

use crate::common;

use crate::common::{Backend, TestApp, moto, png, work_form};
use reqwest::StatusCode;

async fn s3_app(backend: Backend) -> Option<(TestApp, String, String)> {
    let endpoint = moto::endpoint().await?;
    let bucket = moto::bucket(&endpoint).await;
    let url = format!("s3://{bucket}/clink/files");
    let app = TestApp::spawn_with(
        backend,
        &[
            ("CLINK_STORAGE_URL", &url),
            ("CLINK_S3_ENDPOINT", &endpoint),
            ("CLINK_S3_REGION", "us-east-1"),
            ("CLINK_S3_ACCESS_KEY_ID", "testing"),
            ("CLINK_S3_SECRET_ACCESS_KEY", "testing"),
            ("CLINK_UPLOAD_MAX_BYTES", "20MB"),
        ],
    )
    .await;
    Some((app, endpoint, bucket))
}

async fn s3_round_trip(backend: Backend) {
    let Some((app, endpoint, bucket)) = s3_app(backend).await else { return };
    app.creator("ann").await;
    // 7 MiB: more than one 5 MiB multipart part.
    let big: Vec<u8> = (0..7 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let body = work_form("On S3", "5")
        .file("cover", "c.png", "image/png", &png(500, 400))
        .file("files", "big.bin", "application/octet-stream", &big)
        .build();
    let res = app.upload(body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let created: serde_json::Value = res.json().await.unwrap();
    let (id, code) = (created["id"].as_str().unwrap(), created["code"].as_str().unwrap());

    let keys = moto::list(&endpoint, &bucket).await;
    assert_eq!(keys.len(), 3, "file, cover and thumbnail: {keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("clink/files/")), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with(&format!("clink/files/works/{id}/"))));

    let work: serde_json::Value = app.call("works/get", &[("work_id", id)]).await.json().await.unwrap();
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&big))
    };
    assert_eq!(work["files"][0]["sha256"], expected.as_str());

    let cover = app.get(&format!("/l/{code}/cover.jpg")).await;
    assert_eq!(cover.status(), StatusCode::OK);
    assert_eq!(image::load_from_memory(&cover.bytes().await.unwrap()).unwrap().width(), 1200);

    // Failed uploads leave nothing in the bucket.
    let too_big = vec![0u8; 21 * 1024 * 1024];
    let res = app.try_upload(work_form("Too big", "5").file("files", "x.bin", "application/octet-stream", &too_big).build()).await;
    if let Ok(res) = res {
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let res = app
        .upload(
            work_form("Bad cover", "5").file("cover", "c.png", "image/png", b"not an image").file("files", "x", "text/plain", b"x").build(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(moto::list(&endpoint, &bucket).await.len(), 3);
}

/// A server that dies mid-upload leaves an unfinished multipart upload at S3: its parts are
/// billed, and invisible to object listings. The sweep aborts it once its marker has gone quiet,
/// and leaves running uploads alone; finished and aborted uploads leave no marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_uploads_cut_off_by_a_crash_are_aborted_by_the_sweep() {
    let Some((app, endpoint, bucket)) = s3_app(Backend::Sqlite).await else { return };
    let storage = &app.state.storage;
    let markers = || async { moto::list(&endpoint, &bucket).await.into_iter().filter(|k| k.contains("/.staging/")).count() };
    // Cut off after its first part, as a crash leaves it (no abort, no completion).
    let mut cut = storage.upload("works/w1/cut.bin").await.unwrap();
    cut.write(vec![1u8; 6 * 1024 * 1024].into()).await.unwrap();
    std::mem::forget(cut);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(moto::unfinished_uploads(&endpoint, &bucket).await.len(), 1);
    assert_eq!(markers().await, 1);
    // Still within the idle time: it may be a live upload, so it stays.
    assert_eq!(storage.sweep_staging(server::startup::STAGING_IDLE).await, 0);
    assert_eq!(moto::unfinished_uploads(&endpoint, &bucket).await.len(), 1);
    // Quiet past the idle time (zero here): aborted, and its marker gone.
    assert_eq!(storage.sweep_staging(std::time::Duration::ZERO).await, 1);
    assert!(moto::unfinished_uploads(&endpoint, &bucket).await.is_empty());
    assert_eq!(markers().await, 0);

    // A finished upload and an aborted one leave only the finished object.
    let mut done = storage.upload("works/w1/done.bin").await.unwrap();
    done.write(b"all of it".to_vec().into()).await.unwrap();
    done.finish().await.unwrap();
    let mut gone = storage.upload("works/w1/gone.bin").await.unwrap();
    gone.write(vec![2u8; 6 * 1024 * 1024].into()).await.unwrap();
    gone.abort().await;
    assert_eq!(moto::list(&endpoint, &bucket).await, vec!["clink/files/works/w1/done.bin".to_string()]);
    assert!(moto::unfinished_uploads(&endpoint, &bucket).await.is_empty());
    assert_eq!(storage.read("works/w1/done.bin").await.unwrap().as_ref(), b"all of it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_storage_on_sqlite() {
    s3_round_trip(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_storage_on_postgres() {
    if common::pg::available().await {
        s3_round_trip(Backend::Postgres).await;
    }
}
