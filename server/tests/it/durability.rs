//! Crash safety: `kill -9` the real `clink` server in the middle of a burst of wallet
//! purchases, or of tab purchases, restart it, and check that `clink ledger verify` passes and
//! that every purchase a client saw succeed is in the database.

use crate::common;

use std::{collections::HashSet, process::Stdio, sync::Arc, time::Duration};

use crate::common::{Backend, browser_like_client, hidden_input, unescape};
use reqwest::{Client, StatusCode};
use tokio::{process::Child, sync::Mutex, task::JoinHandle};

struct Server {
    child: Child,
    base_url: String,
}

async fn start(db_url: &str, data_dir: &std::path::Path, port: u16) -> Server {
    start_with(db_url, data_dir, port, &[]).await
}

/// `start` with more settings in the environment.
async fn start_with(db_url: &str, data_dir: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Server {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clink"))
        .arg("serve")
        .envs(env.iter().copied())
        .env("CLINK_DATABASE_URL", db_url)
        .env("CLINK_DATA_DIR", data_dir)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_SITE_ROOT", concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start clink");
    let base_url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base_url}/healthz")).await.is_ok_and(|r| r.status().is_success()) {
            return Server { child, base_url };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clink did not start");
}

async fn cli(db_url: &str, data_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    common::run_cli(db_url, data_dir, args, stdin).await
}

/// A creator (made through the CLI) with a 0.05 work (through the creator API): its code.
async fn penny_work(db_url: &str, data_dir: &std::path::Path, base_url: &str) -> String {
    let out = cli(
        db_url,
        data_dir,
        &["user", "create", "--email", "maker@example.com", "--handle", "maker", "--password-stdin"],
        Some("a long password\n"),
    )
    .await;
    assert!(out.status.success());
    let token = String::from_utf8(cli(db_url, data_dir, &["token", "create", "--email", "maker@example.com"], None).await.stdout).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("title", "Penny sticker")
        .text("price", "0.05")
        .part("files", reqwest::multipart::Part::bytes(b"sticker".to_vec()).file_name("sticker.svg"));
    let work: serde_json::Value = Client::new()
        .post(format!("{base_url}/api/v1/works"))
        .bearer_auth(token.trim())
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    work["work"]["code"].as_str().unwrap().to_string()
}

/// A data directory, a fresh database of `backend` and a free port; `None` without PostgreSQL.
async fn fresh_database(backend: Backend) -> Option<(tempfile::TempDir, String, u16)> {
    if backend == Backend::Postgres && !common::pg::available().await {
        return None;
    }
    let data_dir = tempfile::tempdir().unwrap();
    let db_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", data_dir.path().join("clink.db").display()),
        Backend::Postgres => common::pg::fresh_schema_url().await,
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    Some((data_dir, db_url, port))
}

/// One worker per buyer, each buying the work `code` through the API as fast as it can with
/// `extra` in the body, until an answer isn't `201 Created` (or the server is gone); the order
/// ids acknowledged so far.
fn burst(buyers: Vec<Client>, base_url: &str, code: &str, extra: serde_json::Value) -> (Arc<Mutex<Vec<String>>>, Vec<JoinHandle<()>>) {
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers = buyers
        .into_iter()
        .enumerate()
        .map(|(w, buyer)| {
            let (url, code, extra, acknowledged) =
                (format!("{base_url}/api/wallet/purchases"), code.to_string(), extra.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let mut body = serde_json::json!({"code": code, "idempotency_key": format!("burst-{w:03}-{i:06}-key")});
                    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                        body.extend(extra.clone());
                    }
                    let Ok(res) = buyer.post(&url).json(&body).send().await else { return };
                    if res.status() != StatusCode::CREATED {
                        return;
                    }
                    let Ok(body) = res.json::<serde_json::Value>().await else { return };
                    acknowledged.lock().await.push(body["order_id"].as_str().unwrap().to_string());
                }
            })
        })
        .collect();
    (acknowledged, workers)
}

/// After the restart: `clink ledger verify` passes, and every acknowledged purchase is among the
/// stored orders of `provider`, which it returns.
async fn nothing_acknowledged_is_lost(
    db: &app::db::Db,
    db_url: &str,
    data_dir: &std::path::Path,
    acknowledged: &[String],
    provider: &str,
) -> HashSet<String> {
    let verify = cli(db_url, data_dir, &["ledger", "verify"], None).await;
    assert!(verify.status.success(), "ledger verify after kill -9:\n{}", String::from_utf8_lossy(&verify.stdout));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("every invariant holds"));
    let stored: Vec<String> =
        app::on_db!(db, pool => sqlx::query_scalar::<_, String>("select order_id from buyer_order where provider = $1")
        .bind(provider).fetch_all(pool).await)
        .unwrap();
    let stored: HashSet<String> = stored.into_iter().collect();
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(missing.is_empty(), "{} acknowledged {provider} purchases lost: {missing:?}", missing.len());
    stored
}

/// Waits until `n` purchases are acknowledged (for at most 2.5 s).
async fn until_acknowledged(acknowledged: &Mutex<Vec<String>>, n: usize) {
    for _ in 0..500 {
        if acknowledged.lock().await.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `kill -9`, then waits for the workers to notice.
async fn kill_9(server: &mut Server, workers: Vec<JoinHandle<()>>) {
    server.child.start_kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.child.wait().await.unwrap();
    for w in workers {
        let _ = w.await;
    }
}

async fn crash_in_the_middle_of_a_burst(backend: Backend) {
    let Some((data_dir, db_url, port)) = fresh_database(backend).await else { return };
    let mut server = start(&db_url, data_dir.path(), port).await;

    // A creator with a 0.05 work, and a buyer with 20.00.
    let code = penny_work(&db_url, data_dir.path(), &server.base_url).await;
    let buyer = browser_like_client(&server.base_url);
    let res = common::sign_up_on(&buyer, &server.base_url, data_dir.path(), "fast@example.com", "fast", "Fast").await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = buyer.post(format!("{}/wallet/topup", server.base_url)).form(&[("amount", "20"), ("currency", "EUR")]).send().await.unwrap();
    let pay = res.headers()["location"].to_str().unwrap().to_string();
    let page = buyer.get(format!("{}{pay}", server.base_url)).send().await.unwrap().text().await.unwrap();
    let action = unescape(page.split("action=\"").find(|s| s.starts_with("/pay/test/")).unwrap().split('"').next().unwrap());
    let (id, k) = (hidden_input(&page, "order_id").unwrap(), unescape(&hidden_input(&page, "k").unwrap()));
    let res = buyer
        .post(format!("{}{action}", server.base_url))
        .form(&[
            ("order_id", id.as_str()),
            ("k", k.as_str()),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12/34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    let back = res.headers()["location"].to_str().unwrap().to_string();
    buyer.get(format!("{}{back}", server.base_url)).send().await.unwrap();

    // The burst: 32 clients buying as fast as they can, each remembering what was acknowledged.
    let (acknowledged, workers) = burst(vec![buyer; 32], &server.base_url, &code, serde_json::json!({}));
    // Until about a quarter of the wallet's 400 purchases are acknowledged: well inside it.
    until_acknowledged(&acknowledged, 100).await;
    kill_9(&mut server, workers).await;
    let acknowledged = acknowledged.lock().await.clone();
    assert!((20..400).contains(&acknowledged.len()), "killed mid-burst ({} purchases acknowledged)", acknowledged.len());

    // Restart on the same database: the ledger holds, and nothing acknowledged is missing.
    let server = start(&db_url, data_dir.path(), port).await;
    let db = app::db::Db::connect(&db_url).await.unwrap();
    let stored = nothing_acknowledged_is_lost(&db, &db_url, data_dir.path(), &acknowledged, "wallet").await;
    let balance = app::ledger::store::balance(&db, &format!("buyer_wallet:{}:EUR",
        app::on_db!(&db, pool => sqlx::query_scalar::<_, String>("select account_id from account where handle = 'fast'").fetch_one(pool).await).unwrap())).await.unwrap();
    assert_eq!(balance, 2000 - 5 * stored.len() as i64, "the balance matches the purchases that committed");
    eprintln!("{backend:?}: {} acknowledged, {} committed before the kill", acknowledged.len(), stored.len());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_nothing_acknowledged_sqlite() {
    crash_in_the_middle_of_a_burst(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_nothing_acknowledged_postgres() {
    crash_in_the_middle_of_a_burst(Backend::Postgres).await
}

/// The same crash in a burst of tab purchases: 32 new buyers, each opening a tab with only an
/// email on the link page, then buying on it through the API as fast as they can until their
/// first tab's limit (1.00, twenty 0.05 purchases) stops them.
async fn crash_in_the_middle_of_a_tab_burst(backend: Backend) {
    let Some((data_dir, db_url, port)) = fresh_database(backend).await else { return };
    // Every buyer comes from this one address: the new-tab limits per address, scaled up.
    let env = [("CLINK_RATE_LIMIT_SCALE", "100")];
    let mut server = start_with(&db_url, data_dir.path(), port, &env).await;
    let code = penny_work(&db_url, data_dir.path(), &server.base_url).await;

    let mut buyers = Vec::new();
    for n in 0..32 {
        let buyer = browser_like_client(&server.base_url);
        let page = buyer.get(format!("{}/l/{code}", server.base_url)).send().await.unwrap().text().await.unwrap();
        let form_at = page.find(&format!("action=\"/tab/buy/{code}\"")).expect("the link page offers the tab");
        let key = unescape(&hidden_input(&page[form_at..], "key").unwrap());
        let email = format!("buyer{n}@example.com");
        let res = buyer
            .post(format!("{}/tab/buy/{code}", server.base_url))
            .form(&[("key", key.as_str()), ("email", email.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["location"], format!("/l/{code}?bought=1").as_str(), "buyer {n}'s first purchase");
        buyers.push(buyer);
    }

    let (acknowledged, workers) = burst(buyers, &server.base_url, &code, serde_json::json!({"pay_later": true}));
    // Until about a fifth of the burst's 608 purchases are acknowledged: well inside it.
    until_acknowledged(&acknowledged, 120).await;
    kill_9(&mut server, workers).await;
    let acknowledged = acknowledged.lock().await.clone();
    assert!((20..600).contains(&acknowledged.len()), "killed mid-burst ({} purchases acknowledged)", acknowledged.len());

    let server = start_with(&db_url, data_dir.path(), port, &env).await;
    let db = app::db::Db::connect(&db_url).await.unwrap();
    let stored = nothing_acknowledged_is_lost(&db, &db_url, data_dir.path(), &acknowledged, "tab").await;
    // What the tabs owe is what committed, first purchases included, and none passed its limit.
    let owed: Vec<i64> = app::on_db!(&db, pool => sqlx::query_scalar::<_, i64>(
        "select -balance_minor from ledger_account where kind = 'buyer_tab'").fetch_all(pool).await)
    .unwrap();
    assert_eq!(owed.len(), 32);
    assert_eq!(owed.iter().sum::<i64>(), 5 * stored.len() as i64, "the tabs owe the purchases that committed");
    assert!(owed.iter().all(|&o| (5..=100).contains(&o)), "{owed:?}");
    eprintln!("{backend:?}: {} acknowledged, {} tab purchases committed before the kill", acknowledged.len(), stored.len());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_tab_burst_loses_nothing_acknowledged_sqlite() {
    crash_in_the_middle_of_a_tab_burst(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_tab_burst_loses_nothing_acknowledged_postgres() {
    crash_in_the_middle_of_a_tab_burst(Backend::Postgres).await
}

/// A server killed in the middle of an upload leaves the upload's partial staging file; the
/// next start removes it (once it has sat untouched long enough to be no live upload's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_by_kill_9_leaves_no_staging_file_behind() {
    let data_dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", data_dir.path().join("clink.db").display());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = start(&db_url, data_dir.path(), port).await;
    let out = cli(
        &db_url,
        data_dir.path(),
        &["user", "create", "--email", "maker@example.com", "--handle", "maker", "--password-stdin"],
        Some("a long password\n"),
    )
    .await;
    assert!(out.status.success());
    let token =
        String::from_utf8(cli(&db_url, data_dir.path(), &["token", "create", "--email", "maker@example.com"], None).await.stdout).unwrap();
    // A 64 MiB upload sent slowly: the server stages what arrives.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let boundary = "killninetestboundary";
    let url = format!("{}/api/v1/works", server.base_url);
    let token = token.trim().to_string();
    let upload = tokio::spawn(async move {
        let _ = Client::new()
            .post(url)
            .bearer_auth(token)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await;
    });
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nCut\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"price\"\r\n\r\n3\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    tx.send(Ok(head.into_bytes())).await.unwrap();
    let files = data_dir.path().join("files");
    let staging = || -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut dirs = vec![files.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    dirs.push(e.path());
                } else if e.file_name().to_string_lossy().contains('#') {
                    found.push(e.path());
                }
            }
        }
        found
    };
    for _ in 0..40 {
        tx.send(Ok(vec![7u8; 256 * 1024])).await.unwrap();
        if !staging().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = staging();
    assert_eq!(left.len(), 1, "an upload in progress has its staging file");
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    drop(tx);
    let _ = upload.await;
    assert!(left[0].exists(), "kill -9 leaves it behind");
    // Age it past the idle limit (ten minutes), as time would.
    let status = std::process::Command::new("touch").arg("-d").arg("20 minutes ago").arg(&left[0]).status().unwrap();
    assert!(status.success());
    let _server = start(&db_url, data_dir.path(), port).await;
    common::eventually("the sweep at start", || async { (!left[0].exists()).then_some(()) }).await;
    let verify = cli(&db_url, data_dir.path(), &["ledger", "verify"], None).await;
    assert!(verify.status.success());
}

/// A stream of the chunks a channel carries.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
