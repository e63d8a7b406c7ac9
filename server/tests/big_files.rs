//! A 1 GiB file streams through with flat memory, up (creator upload) and down (buyer
//! download): the server never holds the file. (Its own test binary, so the memory it
//! measures is this test's alone.)

#[path = "it/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Backend, Multipart, TestApp, work_form};
use futures::StreamExt;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

const SIZE: u64 = 1024 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

async fn upload_one_gibibyte(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.creator("big").await;

    let mut head = work_form("One gigabyte", "0").build();
    head.truncate(head.len() - format!("--{}--\r\n", common::BOUNDARY).len());
    head.extend_from_slice(
        format!("--{}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n", common::BOUNDARY)
            .as_bytes(),
    );
    let tail = format!("\r\n--{}--\r\n", common::BOUNDARY).into_bytes();

    let (digest_tx, digest_rx) = tokio::sync::oneshot::channel::<String>();
    let mut hasher = Some((Sha256::new(), digest_tx));
    let chunks = (SIZE as usize).div_ceil(CHUNK);
    let file = futures::stream::iter(0..chunks).map(move |i| {
        let len = CHUNK.min(SIZE as usize - i * CHUNK);
        let chunk: Vec<u8> = (0..len).map(|j| ((i * 31 + j) % 251) as u8).collect();
        if let Some((h, _)) = hasher.as_mut() {
            h.update(&chunk);
        }
        if i + 1 == chunks
            && let Some((h, tx)) = hasher.take()
        {
            let _ = tx.send(hex::encode(h.finalize()));
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let body = futures::stream::once(async move { Ok(head) }).chain(file).chain(futures::stream::once(async move { Ok(tail) }));

    // Sample the process's resident memory while the upload runs.
    let baseline = rss_bytes();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(rss_bytes());
            tokio::select! {
                _ = &mut stop_rx => return peak,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    });

    let res = app
        .client
        .post(app.url("/dashboard/works"))
        .header("accept", "application/json")
        .header("content-type", Multipart::content_type())
        .timeout(Duration::from_secs(600))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    let _ = stop_tx.send(());
    let peak = sampler.await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    let growth = peak.saturating_sub(baseline);
    eprintln!("1 GiB upload on {backend:?}: resident memory grew by {} MiB", growth / (1024 * 1024));
    assert!(growth < 128 * 1024 * 1024, "memory grew by {growth} bytes for a 1 GiB upload");

    let expected = digest_rx.await.unwrap();
    let work: serde_json::Value = app.call("works/get", &[("work_id", &id)]).await.json().await.unwrap();
    assert_eq!(work["files"][0]["sha256"], expected.as_str());
    assert_eq!(work["files"][0]["size"], "1.0 GB");

    // Now a buyer downloads it (a free work: no card needed), hashing as it streams.
    let code: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("select code from work where work_id = $1")
        .bind(&id).fetch_one(pool).await)
    .unwrap();
    let buyer = app.new_client();
    let html = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    let key = common::hidden_input(&html, "checkout_key").unwrap();
    let res = buyer
        .post(app.url(&format!("/checkout/{code}")))
        .form(&[("checkout_key", key.as_str()), ("email", "big@example.com")])
        .send()
        .await
        .unwrap();
    let back = res.headers()["location"].to_str().unwrap().to_string();
    let res = buyer.get(app.url(&back)).send().await.unwrap();
    let download = res.headers()["location"].to_str().unwrap().to_string();
    let page = buyer.get(app.url(&download)).send().await.unwrap().text().await.unwrap();
    let href = page.split("href=\"").find(|s| s.starts_with(&format!("{download}/files/"))).unwrap().split('"').next().unwrap().to_string();

    let baseline = rss_bytes();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(rss_bytes());
            tokio::select! {
                _ = &mut stop_rx => return peak,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    });
    let res = buyer.get(app.url(&href)).timeout(Duration::from_secs(600)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-length"], SIZE.to_string());
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut body = res.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let _ = stop_tx.send(());
    let peak = sampler.await.unwrap();
    assert_eq!(received, SIZE);
    assert_eq!(hex::encode(hasher.finalize()), expected, "the exact bytes come back");
    let growth = peak.saturating_sub(baseline);
    eprintln!("1 GiB download on {backend:?}: resident memory grew by {} MiB", growth / (1024 * 1024));
    assert!(growth < 128 * 1024 * 1024, "memory grew by {growth} bytes for a 1 GiB download");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gibibyte_up_and_down_with_flat_memory() {
    upload_one_gibibyte(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gibibyte_up_and_down_with_flat_memory_on_postgres() {
    if common::pg::available().await {
        upload_one_gibibyte(Backend::Postgres).await;
    }
}
