//! A real S3-compatible server for tests: moto (PyPI `moto[server]`), started once per test
//! binary and stopped when the test process exits.

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::sync::OnceCell;

fn moto_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CLINK_TEST_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/pyenv/bin/moto_server"));
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| PathBuf::from(dir).join("moto_server")).find(|p| p.exists())
}

static ENDPOINT: OnceCell<Option<String>> = OnceCell::const_new();

/// The endpoint of a running moto server, or `None` (reported as a skip; a failure under CI).
pub async fn endpoint() -> Option<String> {
    let endpoint = ENDPOINT
        .get_or_init(|| async {
            let binary = moto_binary()?;
            let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
            // A watchdog shell kills moto when this test process goes away.
            let script = format!(
                "\"{}\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
                binary.display(),
                std::process::id()
            );
            std::process::Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let url = format!("http://127.0.0.1:{port}");
            for _ in 0..100 {
                if reqwest::get(&url).await.is_ok() {
                    return Some(url);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None
        })
        .await
        .clone();
    if endpoint.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("moto_server (pip install 'moto[server]') is required under CI=true");
        }
        eprintln!("SKIPPED: S3 test (no moto_server; run scripts/test, or pip install 'moto[server]')");
    }
    endpoint
}

/// Creates a fresh bucket and returns its name.
pub async fn bucket(endpoint: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("clink-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let res = reqwest::Client::new().put(format!("{endpoint}/{name}")).send().await.expect("create bucket");
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    name
}

/// Keys of every object in a bucket, straight from the S3 API (not through the app).
pub async fn list(endpoint: &str, bucket: &str) -> Vec<String> {
    let xml = reqwest::get(format!("{endpoint}/{bucket}?list-type=2")).await.unwrap().text().await.unwrap();
    xml.split("<Key>").skip(1).filter_map(|s| s.split("</Key>").next()).map(str::to_string).collect()
}

/// Upload ids of the bucket's unfinished multipart uploads, straight from the S3 API.
pub async fn unfinished_uploads(endpoint: &str, bucket: &str) -> Vec<String> {
    let xml = reqwest::get(format!("{endpoint}/{bucket}?uploads")).await.unwrap().text().await.unwrap();
    xml.split("<UploadId>").skip(1).filter_map(|s| s.split("</UploadId>").next()).map(str::to_string).collect()
}
