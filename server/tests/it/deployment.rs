//! The deployment an operator runs to scale out, tested as one: three `clink` release servers
//! started at the same moment on an empty PostgreSQL database, Debian's nginx round-robin in
//! front, moto for S3 and aiosmtpd for mail, all real processes.
//!
//! Through the balancer, creators sign up and upload, buyers pay by card and by wallet, and a
//! download link works on every server. A price change on one server is what every server serves
//! and charges within a second. A `kill -9` in a purchase burst loses nothing acknowledged, and
//! `clink ledger verify` passes. Webhooks and mails go out once across the cluster. A rolling
//! restart under load (drain in nginx, SIGTERM, start, `/healthz`, back in) loses no request.
//!
//! It needs the release binary and nginx, so `scripts/test` runs it after the release build, on
//! its own: `cargo test -p server --test it deployment -- --ignored`.

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::common::{self, BROWSER_UA, PASSWORD, decoded_body, link_in, moto, pg, smtp};

/// The signing key every server shares (a deployment sets one `CLINK_SECRET_KEY`).
const SHARED_KEY: &str = "ZGVwbG95bWVudC10ZXN0LWtleS1zaGFyZWQtYnktYWxsLXRocmVlLXNlcnZlcnM";
const SERVERS: usize = 3;
/// Wallet purchases per worker (of 16) in the kill -9 burst: 16 × 80 × 0.30 = 384.00 at most.
const BURST_EACH: usize = 80;
const FILE: &[u8] = b"%PDF-1.7 one album, served from S3 by whichever server is asked";

fn release_binary() -> PathBuf {
    std::env::var_os("CLINK_TEST_RELEASE_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/clink")))
}

fn nginx_binary() -> PathBuf {
    std::env::var_os("CLINK_TEST_NGINX").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

/// `n` distinct free ports below Linux's ephemeral range (32768 and up): nginx opens a
/// connection per request from an ephemeral port, which could hold a restarting server's port.
fn free_ports(n: usize) -> Vec<u16> {
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    let held: Vec<_> =
        (start..32_000).chain(20_000..start).filter_map(|port| std::net::TcpListener::bind(("127.0.0.1", port)).ok()).take(n).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

struct Node {
    port: u16,
    data_dir: tempfile::TempDir,
    process: Option<Child>,
}

struct Cluster {
    /// The public origin: nginx.
    lb: String,
    lb_port: u16,
    nodes: Vec<Node>,
    env: Vec<(&'static str, String)>,
    /// nginx's prefix (config, pid, temp files) and the servers' logs.
    dir: tempfile::TempDir,
    nginx: Option<Child>,
    database_url: String,
}

impl Cluster {
    fn node_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].port)
    }

    fn log_of(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("server-{i}.log"))
    }

    /// Starts server `i` (without waiting for it to answer). Its log is appended to, so a
    /// restarted server's earlier life stays readable.
    fn start(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_of(i)).unwrap();
        let node = &self.nodes[i];
        let child = Command::new(release_binary())
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("CLINK_DATA_DIR", node.data_dir.path())
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", node.port))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start the release clink");
        self.nodes[i].process = Some(child);
    }

    async fn wait_healthy(&mut self, i: usize) {
        let url = format!("{}/healthz", self.node_url(i));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(90) {
            if reqwest::get(&url).await.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            let exited = self.nodes[i].process.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "server {i} exited ({exited:?}):\n{}", self.log_tail(i));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server {i} did not answer /healthz:\n{}", self.log_tail(i));
    }

    fn log_tail(&self, i: usize) -> String {
        let log = std::fs::read_to_string(self.log_of(i)).unwrap_or_default();
        log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// nginx's configuration: round-robin over the servers, `drained` marked `down`. Requests
    /// that fail before reaching a server are retried on the next one; a POST that reached a
    /// server is not (nginx's default), so a payment is never sent twice by the balancer.
    fn write_nginx_conf(&self, drained: Option<usize>) {
        let dir = self.dir.path().display();
        let upstreams: String = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let state = if drained == Some(i) { " down" } else { "" };
                format!("        server 127.0.0.1:{} max_fails=1 fail_timeout=2s{state};\n", n.port)
            })
            .collect();
        let conf = format!(
            "worker_processes 2;\npid {dir}/nginx.pid;\nevents {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n    \
             client_body_temp_path {dir}/client_body;\n    proxy_temp_path {dir}/proxy;\n    fastcgi_temp_path {dir}/fastcgi;\n    \
             uwsgi_temp_path {dir}/uwsgi;\n    scgi_temp_path {dir}/scgi;\n    upstream clink {{\n{upstreams}    }}\n    server {{\n        \
             listen 127.0.0.1:{port};\n        client_max_body_size 50m;\n        location / {{\n            proxy_pass http://clink;\n            \
             proxy_next_upstream error timeout http_502 http_503;\n            proxy_set_header Host $http_host;\n            \
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n            proxy_max_temp_file_size 0;\n        }}\n    }}\n}}\n",
            port = self.lb_port
        );
        std::fs::write(self.dir.path().join("nginx.conf"), conf).unwrap();
    }

    /// nginx with this cluster's prefix, error log and configuration.
    fn nginx_args(dir: &std::path::Path) -> [std::ffi::OsString; 6] {
        ["-p".into(), dir.into(), "-e".into(), dir.join("nginx-error.log").into(), "-c".into(), dir.join("nginx.conf").into()]
    }

    fn nginx_command(dir: &std::path::Path) -> Command {
        let mut cmd = Command::new(nginx_binary());
        cmd.args(Cluster::nginx_args(dir));
        cmd
    }

    /// Rewrites the configuration and reloads nginx, waiting until its new workers answer.
    async fn reconfigure(&self, drained: Option<usize>) {
        self.write_nginx_conf(drained);
        let out = Cluster::nginx_command(self.dir.path()).args(["-s", "reload"]).output().await.unwrap();
        assert!(out.status.success(), "nginx reload: {}", String::from_utf8_lossy(&out.stderr));
        // The master swaps workers after the signal; the old ones finish what they hold.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    /// Stops server `i` the way a rolling restart does (SIGTERM: it finishes open requests, and
    /// the wallet writer commits what it acknowledged), and waits for it to exit.
    async fn stop_gracefully(&mut self, i: usize) {
        let mut child = self.nodes[i].process.take().expect("running");
        let pid = child.id().unwrap().to_string();
        let out = Command::new("kill").args(["-TERM", &pid]).output().await.unwrap();
        assert!(out.status.success());
        let status = tokio::time::timeout(Duration::from_secs(45), child.wait()).await.expect("exits after SIGTERM").unwrap();
        assert!(status.success(), "server {i} exited with {status} after SIGTERM:\n{}", self.log_tail(i));
    }

    async fn kill_9(&mut self, i: usize) {
        let mut child = self.nodes[i].process.take().expect("running");
        child.start_kill().unwrap(); // SIGKILL: no shutdown, no flush
        child.wait().await.unwrap();
    }

    /// The release binary's CLI against the cluster's database.
    async fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(release_binary())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("CLINK_DATA_DIR", self.dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .await
            .unwrap()
    }

    /// A browser: its own cookies, `Origin` the public one whichever server it talks to.
    fn browser(&self) -> Client {
        common::browser_like_client(&self.lb)
    }

    /// A server function called on one server directly (`base` is a server's own address).
    async fn call_on(&self, client: &Client, base: &str, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client.post(format!("{base}/api/{endpoint}")).header("accept", "application/json").form(form).send().await.unwrap()
    }
}

/// The wallet purchases the database holds.
async fn wallet_order_ids(db: &app::db::Db) -> HashSet<String> {
    app::on_db!(db, pool => sqlx::query_scalar::<_, String>("select order_id from buyer_order where provider = 'wallet'").fetch_all(pool).await)
        .unwrap()
        .into_iter()
        .collect()
}

/// The wallet's receipts gather for ten minutes; lets the gathered ones go now.
async fn release_digests(db: &app::db::Db) {
    app::on_db!(db, pool => sqlx::query("update mail_outbox set next_attempt_at = 0 where digest_key is not null").execute(pool).await.map(|_| ()))
        .unwrap();
}

impl Drop for Cluster {
    /// nginx's workers outlive a killed master (and would hold the test's output open): ask the
    /// master to quit, which takes its workers with it. The servers are killed on drop.
    fn drop(&mut self) {
        if let Some(mut nginx) = self.nginx.take() {
            let _ = std::process::Command::new(nginx_binary())
                .args(Cluster::nginx_args(self.dir.path()))
                .args(["-s", "quit"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            for _ in 0..100 {
                if nginx.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = nginx.start_kill();
        }
    }
}

/// Signs up through the balancer as a person does, the confirmation mail arriving over SMTP.
async fn sign_up(cluster: &Cluster, mail: &smtp::SmtpServer, client: &Client, handle: &str) {
    let email = format!("{handle}@example.com");
    let form = [("email", email.as_str()), ("password", PASSWORD), ("display_name", handle), ("handle", handle)];
    let res = common::call_with(client, &cluster.lb, "signup", &form).await;
    assert_eq!(res.status(), StatusCode::OK, "sign-up of {handle}: {}", res.text().await.unwrap_or_default());
    let path = common::eventually(&format!("the confirmation mail to {email}"), || async {
        mail.messages().iter().filter(|m| m.contains(&format!("To: {email}"))).find_map(|m| link_in(&decoded_body(m), "/signup/confirm/"))
    })
    .await;
    let res = client.get(format!("{}{path}", cluster.lb)).send().await.unwrap();
    assert_eq!(res.headers().get("location").map(|v| v.to_str().unwrap()), Some("/dashboard"), "the link signs in");
}

async fn upload(cluster: &Cluster, creator: &Client, title: &str, price: &str) -> (String, String) {
    let body = common::work_form(title, price).file("files", "album.pdf", "application/pdf", FILE).build();
    let res = creator
        .post(format!("{}/dashboard/works", cluster.lb))
        .header("accept", "application/json")
        .header("content-type", common::Multipart::content_type())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
    let body: Value = res.json().await.unwrap();
    (body["id"].as_str().unwrap().to_string(), body["code"].as_str().unwrap().to_string())
}

/// The bytes of a download link's first file, fetched from the server at `base`.
async fn download_on(base: &str, client: &Client, download_path: &str) -> Vec<u8> {
    let page = client.get(format!("{base}{download_path}")).send().await.unwrap().text().await.unwrap();
    let href = page.split("href=\"").find(|s| s.starts_with(&format!("{download_path}/files/"))).expect("a file link on the download page");
    let href = common::unescape(href.split('"').next().unwrap());
    let res = client.get(format!("{base}{href}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{base}{href}");
    res.bytes().await.unwrap().to_vec()
}

fn message_id(raw: &str) -> Option<String> {
    raw.lines().find_map(|l| l.strip_prefix("Message-ID: ").or_else(|| l.strip_prefix("Message-Id: "))).map(|v| v.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the release build and nginx: scripts/test runs it after building them"]
async fn three_release_servers_behind_nginx() {
    assert!(release_binary().exists(), "{} is missing: run scripts/build-release", release_binary().display());
    assert!(nginx_binary().exists(), "{} is missing: apt-get install nginx-light", nginx_binary().display());
    assert!(pg::available().await, "the deployment test needs PostgreSQL");
    let endpoint = moto::endpoint().await.expect("moto_server");
    let bucket = moto::bucket(&endpoint).await;
    let mail = smtp::start().await.expect("aiosmtpd");
    let (hook_url, hooks) = common::webhook_receiver(0).await;
    let database_url = pg::fresh_schema_url().await;

    let ports = free_ports(SERVERS + 1);
    let lb_port = ports[SERVERS];
    let lb = format!("http://127.0.0.1:{lb_port}");
    let env = vec![
        ("CLINK_DATABASE_URL", database_url.clone()),
        ("CLINK_BASE_URL", lb.clone()),
        ("CLINK_SECRET_KEY", SHARED_KEY.to_string()),
        ("CLINK_STORAGE_URL", format!("s3://{bucket}/clink")),
        ("CLINK_S3_ENDPOINT", endpoint.clone()),
        ("CLINK_S3_REGION", "us-east-1".into()),
        ("CLINK_S3_ACCESS_KEY_ID", "testing".into()),
        ("CLINK_S3_SECRET_ACCESS_KEY", "testing".into()),
        ("CLINK_SMTP_URL", mail.url.clone()),
        ("CLINK_TRUST_FORWARDED_FOR", "true".into()),
        // The test's webhook receiver listens on 127.0.0.1.
        ("CLINK_WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ("LEPTOS_SITE_ROOT", concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site").into()),
        ("RUST_LOG", "warn,sqlx=warn".into()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let nodes = ports[..SERVERS].iter().map(|&port| Node { port, data_dir: tempfile::tempdir().unwrap(), process: None }).collect();
    let mut cluster = Cluster { lb: lb.clone(), lb_port, nodes, env, dir, nginx: None, database_url };
    cluster.write_nginx_conf(None);
    let mut nginx = Cluster::nginx_command(cluster.dir.path());
    nginx.args(["-g", "daemon off;"]).stdout(Stdio::null()).stderr(Stdio::null());
    cluster.nginx = Some(nginx.spawn().expect("start nginx"));

    // All three at the same moment, on an empty database: one migrates, the others wait.
    for i in 0..SERVERS {
        cluster.start(i);
    }
    for i in 0..SERVERS {
        cluster.wait_healthy(i).await;
    }
    common::eventually("nginx in front", || async {
        reqwest::get(format!("{lb}/healthz")).await.ok().filter(|r| r.status() == StatusCode::OK).map(|_| ())
    })
    .await;

    // A creator signs up and uploads through the balancer (to S3), with a sale webhook.
    let creator = cluster.browser();
    sign_up(&cluster, &mail, &creator, "maker").await;
    let res = common::call_with(&creator, &lb, "settings/integrations/save", &[("timezone", "UTC"), ("webhook_url", &hook_url)]).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    let (_, album) = upload(&cluster, &creator, "Night Album", "3").await;
    let (zine_id, zine) = upload(&cluster, &creator, "Tiny Zine", "0.20").await;
    assert_eq!(moto::list(&endpoint, &bucket).await.iter().filter(|k| k.starts_with("clink/works/")).count(), 2, "both files on S3");

    // Card buyers: link page, Buy, card form and return each land on whichever server nginx picks.
    let mut card_orders = Vec::new();
    for n in 0..3 {
        let email = format!("card{n}@example.com");
        card_orders.push(common::buy_with_test_card_at(&lb, &cluster.browser(), BROWSER_UA, &album, &email, "").await);
    }
    // The receipt's link downloads the exact bytes from every server.
    let receipt = common::eventually("the card receipt", || async {
        mail.messages().into_iter().find(|m| m.contains("To: card0@example.com") && decoded_body(m).contains("/d/"))
    })
    .await;
    let download = link_in(&decoded_body(&receipt), "/d/").unwrap();
    let reader = cluster.browser();
    for i in 0..SERVERS {
        assert_eq!(download_on(&cluster.node_url(i), &reader, &download).await, FILE, "the download from server {i}");
    }

    // A wallet buyer tops up by card and buys in one click, through the balancer.
    let fan = cluster.browser();
    sign_up(&cluster, &mail, &fan, "fan").await;
    let back = common::top_up_at(&lb, &fan, "500", None).await;
    assert!(back.starts_with("/wallet"), "{back}");
    let mut wallet_orders = Vec::new();
    for n in 0..30 {
        let bought = common::wallet_buy_at(&lb, &fan, &zine, &format!("steady-{n:04}-purchase")).await.expect("a wallet purchase");
        assert_eq!(bought["price"], "0.20", "{bought}");
        wallet_orders.push(bought["order_id"].as_str().unwrap().to_string());
    }
    // The purchase's own download link (the public origin's) works on a server it didn't touch.
    let bought = common::wallet_buy_at(&lb, &fan, &zine, "steady-download-purchase").await.expect("a wallet purchase");
    wallet_orders.push(bought["order_id"].as_str().unwrap().to_string());
    let path = bought["download_url"].as_str().unwrap().strip_prefix(lb.as_str()).expect("a link on the public origin").to_string();
    assert_eq!(download_on(&cluster.node_url(2), &fan, &path).await, FILE);

    // The creator changes the price on server 0; within a second every server shows it and
    // charges it.
    let update = [
        ("work_id", zine_id.as_str()),
        ("title", "Tiny Zine"),
        ("description", ""),
        ("currency", "EUR"),
        ("price_kind", "fixed"),
        ("price", "0.30"),
        ("slug", ""),
        ("max_downloads", ""),
        ("link_expiry_days", ""),
    ];
    // Each server has the old page cached first.
    let visitor = cluster.browser();
    for i in 0..SERVERS {
        let html = visitor.get(format!("{}/l/{zine}", cluster.node_url(i))).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("€0.20"), "server {i} shows the first price");
    }
    let res = cluster.call_on(&creator, &cluster.node_url(0), "works/update", &update).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    let changed = Instant::now();
    for i in 0..SERVERS {
        loop {
            let html = visitor.get(format!("{}/l/{zine}", cluster.node_url(i))).send().await.unwrap().text().await.unwrap();
            if html.contains("€0.30") && !html.contains("€0.20") {
                break;
            }
            assert!(changed.elapsed() < Duration::from_secs(1), "server {i} still serves the old price after a second");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    for i in 0..SERVERS {
        let bought = common::wallet_buy_at(&cluster.node_url(i), &fan, &zine, &format!("repriced-{i}-purchase")).await.expect("a purchase");
        assert_eq!(bought["price"], "0.30", "server {i} charges the new price: {bought}");
        wallet_orders.push(bought["order_id"].as_str().unwrap().to_string());
    }
    eprintln!("the new price was served everywhere {:?} after the change", changed.elapsed());

    // Every sale's webhook reaches the receiver exactly once across the three senders, and every
    // mail the outbox sent arrived once (its Message-ID is the outbox row's).
    let sales: HashSet<String> = card_orders.iter().chain(&wallet_orders).cloned().collect();
    let deliveries = || {
        let mut per_order: HashMap<String, usize> = HashMap::new();
        for (_, body) in hooks.lock().unwrap().iter() {
            let ping: Value = serde_json::from_str(body).unwrap();
            *per_order.entry(ping["sale"]["order_id"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
        per_order
    };
    common::eventually("a webhook for every sale", || async { sales.iter().all(|o| deliveries().contains_key(o)).then_some(()) }).await;
    let db = app::db::Db::connect(&cluster.database_url).await.unwrap();
    let sent_mail = || async {
        app::on_db!(&db, pool => sqlx::query_scalar::<_, String>("select mail_id from mail_outbox where sent_at is not null").fetch_all(pool).await)
            .unwrap()
    };
    release_digests(&db).await;
    common::eventually("the outbox emptied", || async {
        let pending = app::on_db!(&db, pool => sqlx::query_scalar::<_, i64>("select count(*) from mail_outbox where sent_at is null").fetch_one(pool).await).unwrap();
        (pending == 0).then_some(())
    })
    .await;
    // The senders poll every second: a second server that also took one of these rows would
    // have sent it by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_order = deliveries();
    let twice: Vec<_> = per_order.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "webhooks delivered more than once: {twice:?}");
    assert_eq!(per_order.len(), sales.len(), "one webhook per sale, none for anything else");
    let sent = sent_mail().await;
    let messages = mail.messages();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        *ids.entry(message_id(m).expect("every mail has a Message-ID")).or_default() += 1;
    }
    for mail_id in &sent {
        let n: usize = ids.iter().filter(|(k, _)| k.starts_with(&format!("<{mail_id}@"))).map(|(_, n)| *n).sum();
        assert_eq!(n, 1, "outbox mail {mail_id} arrived {n} times");
    }
    assert_eq!(messages.len(), sent.len(), "no mail arrived that the outbox didn't send");
    let receipts =
        messages.iter().filter(|m| m.contains("To: fan@example.com") && decoded_body(m).contains("with your Clink wallet")).count();
    assert!(receipts >= 1, "the wallet buyer got a receipt");
    eprintln!("{} webhooks and {} mails, each delivered once across {SERVERS} servers", sales.len(), sent.len());

    // kill -9 one server in the middle of a wallet purchase burst through the balancer. Each
    // worker buys at most BURST_EACH times, so that the wallet (492.90 left) covers every try.
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let attempted = Arc::new(Mutex::new(Vec::<String>::new()));
    let burst_over = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (fan, lb, zine) = (fan.clone(), lb.clone(), zine.clone());
            let (acknowledged, attempted, over) = (acknowledged.clone(), attempted.clone(), burst_over.clone());
            tokio::spawn(async move {
                for n in 0..BURST_EACH {
                    if over.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("burst-{w:02}-{n:05}-key");
                    attempted.lock().unwrap().push(key.clone());
                    if let Ok(bought) = common::wallet_buy_at(&lb, &fan, &zine, &key).await {
                        acknowledged.lock().unwrap().push((key, bought["order_id"].as_str().unwrap().to_string()));
                    }
                }
            })
        })
        .collect();
    // In the middle: once a good part of the burst is acknowledged, and well before its end.
    common::eventually("the burst under way", || async { (acknowledged.lock().unwrap().len() >= 200).then_some(()) }).await;
    let at_kill = acknowledged.lock().unwrap().len();
    cluster.kill_9(1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    burst_over.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    cluster.start(1);
    cluster.wait_healthy(1).await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();
    assert!(acknowledged.len() > at_kill, "the other servers went on selling after the kill ({at_kill} then {})", acknowledged.len());
    let stored = wallet_order_ids(&db).await;
    let lost: Vec<_> = acknowledged.iter().filter(|(_, order)| !stored.contains(order)).collect();
    assert!(lost.is_empty(), "{} acknowledged purchases lost: {lost:?}", lost.len());
    // Whatever failed in the crash is retried with its key: each key is one purchase, whether
    // the first try committed (the retry replays it) or not (the retry makes it).
    for key in &attempted {
        common::wallet_buy_at(&lb, &fan, &zine, key).await.unwrap_or_else(|e| panic!("retrying {key}: {e}"));
    }
    let committed = app::on_db!(&db, pool => sqlx::query_scalar::<_, i64>("select count(*) from ledger_txn where idempotency_key like 'wallet:%:burst-%'").fetch_one(pool).await).unwrap();
    assert_eq!(committed, attempted.len() as i64, "one purchase per key");
    let verify = cluster.cli(&["ledger", "verify"]).await;
    assert!(verify.status.success(), "ledger verify after kill -9:\n{}", String::from_utf8_lossy(&verify.stdout));
    eprintln!("kill -9 mid-burst: {} acknowledged, {} attempted, none lost", acknowledged.len(), attempted.len());

    // A rolling restart under a steady light load: drain in nginx, SIGTERM, start, /healthz,
    // back in. No request fails.
    // A buyer whose browser opens a new connection per request: this is about what the balancer
    // retries, not about an idle keep-alive connection racing nginx's reload (a browser retries
    // those itself).
    let steady = common::fresh_connection_browser(&lb);
    sign_up(&cluster, &mail, &steady, "steady").await;
    common::top_up_at(&lb, &steady, "500", None).await;
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let served = Arc::new(Mutex::new(Vec::<String>::new()));
    let load_over = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..3)
        .map(|w| {
            let (browser, lb, zine) = (steady.clone(), lb.clone(), zine.clone());
            let (failures, served, over) = (failures.clone(), served.clone(), load_over.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    if over.load(Ordering::Relaxed) {
                        return;
                    }
                    match browser.get(format!("{lb}/l/{zine}")).send().await {
                        Ok(res) if res.status() == StatusCode::OK => {}
                        Ok(res) => failures.lock().unwrap().push(format!("link page: {}", res.status())),
                        Err(e) => failures.lock().unwrap().push(format!("link page: {e:?}")),
                    }
                    match common::wallet_buy_at(&lb, &browser, &zine, &format!("rolling-{w}-{n:05}-key")).await {
                        Ok(bought) => served.lock().unwrap().push(bought["order_id"].as_str().unwrap().to_string()),
                        Err(e) => failures.lock().unwrap().push(format!("wallet purchase: {e}")),
                    }
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            })
        })
        .collect();
    for i in 0..SERVERS {
        cluster.reconfigure(Some(i)).await;
        cluster.stop_gracefully(i).await;
        cluster.start(i);
        cluster.wait_healthy(i).await;
        cluster.reconfigure(None).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    load_over.store(true, Ordering::Relaxed);
    for w in load {
        w.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    let served = served.lock().unwrap().clone();
    assert!(failures.is_empty(), "{} requests failed during the rolling restart: {failures:?}", failures.len());
    assert!(served.len() > 30, "the load ran ({} purchases)", served.len());
    let stored = wallet_order_ids(&db).await;
    assert!(served.iter().all(|o| stored.contains(o)), "every purchase acknowledged during the restart is stored");
    let verify = cluster.cli(&["ledger", "verify"]).await;
    assert!(verify.status.success(), "ledger verify after the rolling restart:\n{}", String::from_utf8_lossy(&verify.stdout));
    eprintln!("rolling restart of {SERVERS} servers: {} purchases and as many page views, no failure", served.len());

    // After the crash and the restarts, nothing was skipped: every sale has its webhook and every
    // mail arrived. (A server killed between sending and recording a send may send that one
    // again when its claim ends, a minute later; its Message-ID then says it is the same mail.)
    release_digests(&db).await;
    let all_sales: HashSet<String> =
        app::on_db!(&db, pool => sqlx::query_scalar::<_, String>("select order_id from buyer_order where status = 'fulfilled'").fetch_all(pool).await)
            .unwrap()
            .into_iter()
            .collect();
    // A webhook or mail that the killed server had claimed waits for its claim to end (a
    // minute) before another server sends it: wait past that, not just for the live queue.
    let timeout = Instant::now() + Duration::from_secs(90);
    loop {
        let pinged = deliveries();
        let unsent = app::on_db!(&db, pool => sqlx::query_scalar::<_, i64>("select count(*) from mail_outbox where sent_at is null").fetch_one(pool).await).unwrap();
        if unsent == 0 && all_sales.iter().all(|o| pinged.contains_key(o)) {
            break;
        }
        assert!(
            Instant::now() < timeout,
            "{unsent} mails unsent, {} sales without a webhook",
            all_sales.iter().filter(|o| !pinged.contains_key(*o)).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent: HashSet<String> = sent_mail().await.into_iter().map(|id| format!("<{id}@")).collect();
    let arrived: Vec<String> = mail.messages().iter().map(|m| message_id(m).expect("a Message-ID")).collect();
    assert!(arrived.iter().all(|id| sent.iter().any(|prefix| id.starts_with(prefix))), "every mail that arrived is one the outbox sent");
    assert!(sent.iter().all(|prefix| arrived.iter().any(|id| id.starts_with(prefix))), "every mail the outbox sent arrived");
    eprintln!("after the crash and the restarts: {} sales all pinged, {} mails all delivered", all_sales.len(), sent.len());
    db.close().await;
}
