//! Faults the server must get through without a restart: a full disk, a read-only data
//! directory. Health says what is wrong, users hear "try again later" (never a bare 500), and
//! everything works again once the cause is gone, with the ledger intact.

use crate::common::{self, Backend, TestApp, buyer_with_balance, wallet_buy};
use reqwest::StatusCode;

/// A tmpfs of `megabytes` mounted at a fresh directory, unmounted on drop. `None` where this
/// process may not mount (not root): the caller skips, loudly; under `CI=true` that fails.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must be able to mount a tmpfs for the disk-full test");
            eprintln!("!!! SKIPPED: cannot mount a tmpfs here (needs root); the disk-full test did not run");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the disk at `dir` with one file until it refuses; returns the file.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).and_then(|_| f.sync_data()).is_ok() {}
    // Whatever fits byte by byte too, so nothing at all is left.
    while f.write_all(&[0u8; 512]).and_then(|_| f.sync_data()).is_ok() {}
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_survived_and_recovered_from() {
    let Some(disk) = SmallDisk::mount(48) else { return };
    let data = disk.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let data_str = data.display().to_string();
    let db_url = format!("sqlite://{}", data.join("clink.db").display());
    let app = TestApp::spawn_with(Backend::Sqlite, &[("CLINK_DATA_DIR", data_str.as_str()), ("CLINK_DATABASE_URL", db_url.as_str())]).await;
    app.creator("ann").await;
    let (_, code) = app.publish_work("Tiny", "0.20", b"tiny").await;
    let buyer = buyer_with_balance(&app, "bea", "5").await;
    let (status, _) = wallet_buy(&app, &buyer, &code, "before-the-disk-fills-1", serde_json::json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    let filler = fill(disk.path());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // the health probe's cache
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["files"], "full", "health says the disk is full: {body}");

    // Purchases, uploads and sign-ups fail with a clear answer, never a bare 500. (SQLite keeps
    // writing for a while into WAL space it already has: buy until it can't.)
    let mut refused = false;
    for i in 0..400 {
        let (status, body) = wallet_buy(&app, &buyer, &code, &format!("while-the-disk-is-full-{i}"), serde_json::json!({})).await;
        if status != StatusCode::CREATED {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("disk is full"), "{body}");
            refused = true;
            break;
        }
    }
    assert!(refused, "a full disk refused a purchase");
    let upload = app
        .upload(common::work_form("Big", "3").file("files", "big.bin", "application/octet-stream", &vec![7u8; 256 * 1024]).build())
        .await;
    assert_eq!(upload.status().as_u16(), 507, "an upload that doesn't fit: Insufficient Storage");
    let signup = app
        .new_client()
        .post(app.url("/api/signup"))
        .header("origin", &app.base_url)
        .header("accept", "application/json")
        .form(&[("email", "late@example.com"), ("password", common::PASSWORD), ("display_name", "L"), ("handle", "late")])
        .send()
        .await
        .unwrap();
    // (A sign-up writes a row or two: SQLite may still have room for it in its log.)
    assert!(matches!(signup.status().as_u16(), 200 | 503), "sign-up on a full disk: {}", signup.status());

    // Space again: everything works, no restart.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let mut bought = false;
    for i in 0..20 {
        let (status, _) = wallet_buy(&app, &buyer, &code, &format!("after-the-disk-is-freed-{i}"), serde_json::json!({})).await;
        if status == StatusCode::CREATED {
            bought = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(bought, "the wallet writer recovered by itself");
    let (status, _) = wallet_buy(&app, &buyer, &code, "after-the-disk-is-freed-again", serde_json::json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    app.ledger_is_clean().await;
    let verify = app.run_cli(&["ledger", "verify"], None).await;
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

/// On PostgreSQL the database lives elsewhere, so a full data disk takes away only what needs
/// it: health says the files are full, an upload gets 507 and leaves nothing half-made, wallet
/// purchases go on, and uploads work again once there is room, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_file_disk_beside_postgres_stops_only_uploads() {
    let Some(disk) = SmallDisk::mount(24) else { return };
    let data = disk.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let data_str = data.display().to_string();
    let app = TestApp::spawn_with(Backend::Postgres, &[("CLINK_DATA_DIR", data_str.as_str())]).await;
    app.creator("ann").await;
    let (_, code) = app.publish_work("Tiny", "0.20", b"tiny").await;
    let buyer = buyer_with_balance(&app, "bea", "5").await;

    let filler = fill(disk.path());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // the health probe's cache
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["files"], "full", "{body}");

    let works_before = app.count("select count(*) from work").await;
    let upload = app
        .upload(common::work_form("Big", "3").file("files", "big.bin", "application/octet-stream", &vec![7u8; 256 * 1024]).build())
        .await;
    assert_eq!(upload.status().as_u16(), 507, "an upload that doesn't fit: Insufficient Storage");
    let answer: serde_json::Value = upload.json().await.unwrap();
    assert!(answer["error"]["message"].as_str().unwrap().contains("no room for this upload"), "{answer}");
    assert_eq!(app.count("select count(*) from work").await, works_before, "nothing half-made");
    for i in 0..5 {
        let (status, body) = wallet_buy(&app, &buyer, &code, &format!("while-the-file-disk-is-full-{i}"), serde_json::json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "the database has room: {body}");
    }

    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let upload = app.upload(common::work_form("After", "2").file("files", "after.txt", "text/plain", b"after").build()).await;
    assert_eq!(upload.status(), StatusCode::CREATED, "no restart needed");
    app.ledger_is_clean().await;
}

/// Staging files of uploads that never finished are swept while the server runs, as often as
/// `clink serve` does it hourly (here every 100 ms): an abandoned one goes, an upload still in
/// progress and finished files stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_staging_files_are_swept_periodically() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = app.data_dir.path().join("files").join("works").join("w1");
    std::fs::create_dir_all(&dir).unwrap();
    let sweeper =
        tokio::spawn(app.state.storage.clone().sweep_staging_every(std::time::Duration::from_millis(100), server::startup::STAGING_IDLE));
    // After the sweep at start: what a later crash leaves.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let abandoned = dir.join("big.bin#3");
    let in_progress = dir.join("live.bin#4");
    let finished = dir.join("done.bin");
    for path in [&abandoned, &in_progress, &finished] {
        std::fs::write(path, b"partial").unwrap();
    }
    let ago = |path: &std::path::Path| {
        let status = std::process::Command::new("touch").arg("-d").arg("20 minutes ago").arg(path).status().unwrap();
        assert!(status.success());
    };
    ago(&abandoned);
    ago(&finished);
    common::eventually("a periodic sweep", || async { (!abandoned.exists()).then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(in_progress.exists(), "an upload still being written stays");
    assert!(finished.exists(), "a stored file is never a staging file");
    sweeper.abort();
}

/// The data directory turns read-only under a running server (a remount after a disk error,
/// say): health says so, uploads are refused with a clear 503 and keep nothing, pages that only
/// read still work, and it all comes back once the directory is writable again. The database
/// lives elsewhere here: a filesystem with files open for writing can't be remounted read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_data_directory_is_reported_and_recovered_from() {
    let Some(disk) = SmallDisk::mount(32) else { return };
    let data = disk.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let data_str = data.display().to_string();
    let db_dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", db_dir.path().join("clink.db").display());
    let app = TestApp::spawn_with(Backend::Sqlite, &[("CLINK_DATA_DIR", data_str.as_str()), ("CLINK_DATABASE_URL", db_url.as_str())]).await;
    app.creator("ann").await;
    let (_, code) = app.publish_work("Written Before", "1", b"before").await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    let remount = |mode: &str| {
        let out = std::process::Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(disk.path()).output().unwrap();
        assert!(out.status.success(), "remount {mode}: {}", String::from_utf8_lossy(&out.stderr));
    };
    remount("ro");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // the health probe's cache
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["files"], "read-only", "health says what is wrong: {body}");

    let works_before = app.count("select count(*) from work").await;
    let upload = app.upload(common::work_form("Written During", "2").file("files", "during.txt", "text/plain", b"during").build()).await;
    assert_eq!(upload.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer: serde_json::Value = upload.json().await.unwrap();
    assert!(answer["error"]["message"].as_str().unwrap().contains("read-only"), "{answer}");
    assert_eq!(app.count("select count(*) from work").await, works_before, "nothing half-made");
    assert_eq!(app.get(&format!("/l/{code}")).await.status(), StatusCode::OK, "reading still works");

    remount("rw");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let upload = app.upload(common::work_form("Written After", "2").file("files", "after.txt", "text/plain", b"after").build()).await;
    assert_eq!(upload.status(), StatusCode::CREATED, "no restart needed");
}
