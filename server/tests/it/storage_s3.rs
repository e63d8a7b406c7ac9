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
