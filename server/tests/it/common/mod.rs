//! Test harness: starts the real app on a random port, against a fresh SQLite file or a fresh
//! PostgreSQL schema, and talks to it over HTTP.
#![allow(dead_code)]

use std::{collections::HashMap, time::Duration};

use app::state::AppState;
use reqwest::{
    Client, Response, StatusCode,
    header::{HeaderMap, HeaderValue},
};
use server::{config::Config, startup};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot};

pub mod moto;
pub mod pg;
pub mod smtp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each test twice: `name::sqlite` and `name::postgres`. Without a reachable
/// PostgreSQL the second one reports itself skipped (and fails under `CI=true`).
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await;
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if !$crate::common::pg::available().await {
                        return;
                    }
                    let $app = $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await;
                    $body
                }
            }
        )*
    };
}

pub struct TestApp {
    pub base_url: String,
    pub client: Client,
    pub state: AppState,
    pub backend: Backend,
    pub database_url: String,
    pub data_dir: TempDir,
    /// The data directory the server writes to (its outbox is there): `data_dir`, or the first
    /// server's for one started beside it.
    pub shared_dir: std::path::PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, &[]).await
    }

    /// Starts an app with extra environment-style settings on top of the test defaults.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", data_dir.path().join("clink.db").display()),
            Backend::Postgres => pg::fresh_schema_url().await,
        };
        TestApp::start(backend, database_url, data_dir, extra).await
    }

    /// A second app server on this one's database and files, as a deployment with several
    /// servers runs them (its own caches, its own wallet writer).
    pub async fn spawn_beside(&self) -> TestApp {
        // The second server's own temp dir only holds what it writes there itself; files and
        // the app secret come from the first one's directory.
        let own_dir = tempfile::tempdir().expect("temp dir");
        let shared = self.data_dir.path().display().to_string();
        TestApp::start(self.backend, self.database_url.clone(), own_dir, &[("CLINK_DATA_DIR", shared.as_str())]).await
    }

    /// `n` app servers started at the same moment on one fresh database and one data
    /// directory, as a cluster behind a load balancer starts (sharing the signing key).
    pub async fn spawn_together(backend: Backend, n: usize) -> Vec<TestApp> {
        let shared = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", shared.path().join("clink.db").display()),
            Backend::Postgres => pg::fresh_schema_url().await,
        };
        let shared_path = shared.path().display().to_string();
        let key = "U0VDUkVUc2lnbmluZ2tleTAwMDVTRUNSRVRzaWduaW5na2V5MDAwNQ";
        let mut dirs = vec![shared];
        dirs.extend((1..n).map(|_| tempfile::tempdir().expect("temp dir")));
        let settings = [("CLINK_DATA_DIR", shared_path.as_str()), ("CLINK_SECRET_KEY", key)];
        futures::future::join_all(dirs.into_iter().map(|dir| TestApp::start(backend, database_url.clone(), dir, &settings))).await
    }

    async fn start(backend: Backend, database_url: String, data_dir: TempDir, extra: &[(&str, &str)]) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let base_url = format!("http://{addr}");

        let mut vars: HashMap<String, String> = HashMap::from([
            ("CLINK_DATA_DIR".into(), data_dir.path().display().to_string()),
            ("CLINK_DATABASE_URL".into(), database_url.clone()),
            ("CLINK_BASE_URL".into(), base_url.clone()),
            ("LEPTOS_SITE_ADDR".into(), addr.to_string()),
            ("LEPTOS_SITE_ROOT".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site").into()),
        ]);
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
        let shared_dir = std::path::PathBuf::from(&vars["CLINK_DATA_DIR"]);
        let (router, state) = startup::build(&config).await.expect("app builds");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(startup::serve_on(listener, router, config.timeouts, async {
            let _ = rx.await;
        }));

        TestApp { client: browser_like_client(&base_url), base_url, state, backend, database_url, data_dir, shared_dir, shutdown: Some(tx) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A second browser: its own cookie jar, same origin.
    pub fn new_client(&self) -> Client {
        browser_like_client(&self.base_url)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap_or_else(|e| panic!("GET {path}: {e:?}"))
    }

    /// Calls a server function the way the hydrated page does (form-encoded, JSON back).
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Response {
        call_with(&self.client, &self.base_url, endpoint, form).await
    }

    /// Signs up on the shared client as a person does: the form, then the link in the email.
    /// Returns the form's answer (the account exists once it is 200).
    pub async fn sign_up(&self, email: &str, handle: &str, name: &str) -> Response {
        sign_up_on(&self.client, &self.base_url, &self.shared_dir, email, handle, name).await
    }

    /// A creator made by the operator's CLI and logged in with a password (for servers whose
    /// mail goes elsewhere than the outbox directory).
    pub async fn creator_by_cli(&self, handle: &str) -> String {
        let email = format!("{handle}@example.com");
        let out = self.run_cli(&["user", "create", "--email", &email, "--handle", handle, "--password-stdin"], Some(PASSWORD)).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(self.log_in(&email, PASSWORD).await.status(), StatusCode::OK);
        handle.to_string()
    }

    /// Signs up a fresh creator on the shared client, returning the handle.
    pub async fn creator(&self, handle: &str) -> String {
        let res = self.sign_up(&format!("{handle}@example.com"), handle, &format!("Creator {handle}")).await;
        assert_eq!(res.status(), StatusCode::OK, "sign-up of {handle}: {}", res.text().await.unwrap_or_default());
        handle.to_string()
    }

    pub async fn log_in(&self, email: &str, password: &str) -> Response {
        self.call("login", &[("email", email), ("password", password)]).await
    }

    pub async fn run_cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        run_cli(&self.database_url, self.data_dir.path(), args, stdin).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// Signs up on `client` against the server at `base_url` writing its mail to `data_dir`'s
/// outbox: posts the form, then opens the confirmation link from the email (which makes the
/// account and signs the client in). Returns the form's answer; an error answer is returned
/// as it is, with no email looked for.
pub async fn sign_up_on(client: &Client, base_url: &str, data_dir: &std::path::Path, email: &str, handle: &str, name: &str) -> Response {
    let res =
        call_with(client, base_url, "signup", &[("email", email), ("password", PASSWORD), ("display_name", name), ("handle", handle)])
            .await;
    if res.status() != StatusCode::OK {
        return res;
    }
    let outbox = data_dir.join("outbox");
    // The path only: with several servers on one database, any of them may send the email,
    // with its own origin in the link.
    let path = eventually(&format!("the confirmation email to {email}"), || async {
        let mails = std::fs::read_dir(&outbox)
            .map(|r| r.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect::<Vec<_>>())
            .unwrap_or_default();
        mails.iter().filter(|m| m.contains(&format!("To: {email}"))).find_map(|m| link_in(&decoded_body(m), "/signup/confirm/"))
    })
    .await;
    let confirmed = client.get(format!("{base_url}{path}")).send().await.expect("confirmation link");
    assert_eq!(confirmed.headers().get("location").map(|v| v.to_str().unwrap()), Some("/dashboard"), "the link signs in");
    res
}

pub async fn call_with(client: &Client, base_url: &str, endpoint: &str, form: &[(&str, &str)]) -> Response {
    client
        .post(format!("{base_url}/api/{endpoint}"))
        // A same-origin call to `base_url`, whichever server the client was made for.
        .header("origin", base_url)
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .expect("server fn call")
}

/// A client that keeps cookies, doesn't follow redirects (tests look at them) and sends the
/// `Origin` header a browser sends on same-origin POSTs.
pub fn browser_like_client(base_url: &str) -> Client {
    browser_client_named(base_url, "")
}

/// A browser-like client that sends `user_agent` (reqwest sends none of its own).
pub fn browser_client_named(base_url: &str, user_agent: &str) -> Client {
    browser_builder(base_url, user_agent).build().unwrap()
}

/// A browser that opens a new connection for every request, so that a load balancer in front
/// of several servers spreads its requests over them.
pub fn fresh_connection_browser(base_url: &str) -> Client {
    browser_builder(base_url, "").pool_max_idle_per_host(0).build().unwrap()
}

fn browser_builder(base_url: &str, user_agent: &str) -> reqwest::ClientBuilder {
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_str(base_url).unwrap());
    if !user_agent.is_empty() {
        headers.insert("user-agent", HeaderValue::from_str(user_agent).unwrap());
    }
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
}

/// Runs the real `clink` binary against the given database.
pub async fn run_cli(database_url: &str, data_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    run_cli_with(database_url, data_dir, args, stdin, &[]).await
}

/// `run_cli` with more settings in the environment (a payment provider's, say).
pub async fn run_cli_with(
    database_url: &str,
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clink"))
        .args(args)
        .envs(env.iter().copied())
        .env("CLINK_DATABASE_URL", database_url)
        .env("CLINK_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn clink");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).await.unwrap();
    }
    drop(pipe);
    child.wait_with_output().await.unwrap()
}

/// The JSON error body of a failed call: (code, field, message).
pub async fn error_of(res: Response) -> (String, Option<String>, String) {
    let body: serde_json::Value = res.json().await.expect("json error body");
    // Server functions send the AppError itself; plain routes wrap it in {"error": {...}}.
    if let Some(err) = body.get("error") {
        return (
            err["code"].as_str().unwrap_or_default().to_string(),
            err["field"].as_str().map(str::to_string),
            err["message"].as_str().unwrap_or_default().to_string(),
        );
    }
    match &body {
        serde_json::Value::Object(map) => {
            let (variant, inner) = map.iter().next().expect("one variant");
            let field = inner.get("field").and_then(|f| f.as_str()).map(str::to_string);
            let message = inner
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
                .or_else(|| inner.as_str().map(str::to_string))
                .unwrap_or_default();
            (variant.clone(), field, message)
        }
        serde_json::Value::String(unit) => (unit.clone(), None, String::new()),
        other => panic!("unexpected error body {other}"),
    }
}

/// A hand-built multipart body, so tests control every byte (hostile file names included).
#[derive(Default)]
pub struct Multipart {
    parts: Vec<u8>,
}

pub const BOUNDARY: &str = "clinktestboundary7MA4YWxkTrZu0gW";

impl Multipart {
    pub fn new() -> Self {
        Multipart::default()
    }

    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.parts
            .extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        self
    }

    pub fn file(mut self, name: &str, filename: &str, content_type: &str, data: &[u8]) -> Self {
        self.parts.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        self.parts.extend_from_slice(data);
        self.parts.extend_from_slice(b"\r\n");
        self
    }

    pub fn build(mut self) -> Vec<u8> {
        self.parts.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.parts
    }

    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }
}

/// The text fields of a valid work form.
pub fn work_form(title: &str, price: &str) -> Multipart {
    Multipart::new()
        .text("title", title)
        .text("description", "A **fine** work.\n\n<script>alert(1)</script>")
        .text("currency", "EUR")
        .text("price_kind", "fixed")
        .text("price", price)
}

impl TestApp {
    /// Posts a work form the way the upload script does (JSON back).
    pub async fn upload(&self, body: Vec<u8>) -> Response {
        self.try_upload(body).await.expect("upload")
    }

    /// The same, for an upload the server may refuse mid-body: it answers 413 as soon as the cap
    /// is passed and may close the connection while the client is still sending, so the client
    /// sees either the 413 or a broken pipe.
    pub async fn try_upload(&self, body: Vec<u8>) -> reqwest::Result<Response> {
        self.client
            .post(self.url("/dashboard/works"))
            .header("accept", "application/json")
            .header("content-type", Multipart::content_type())
            .body(body)
            .send()
            .await
    }

    /// Uploads a one-file work and returns (work id, link code).
    pub async fn publish_work(&self, title: &str, price: &str, data: &[u8]) -> (String, String) {
        let res = self.upload(work_form(title, price).file("files", "work.pdf", "application/pdf", data).build()).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap_or_default());
        let body: serde_json::Value = res.json().await.unwrap();
        (body["id"].as_str().unwrap().to_string(), body["code"].as_str().unwrap().to_string())
    }

    /// Every object in file storage.
    pub async fn stored_keys(&self) -> Vec<String> {
        self.state.storage.keys("").await.unwrap_or_default()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        app::on_db!(&self.state.db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).expect("count query")
    }
}

/// A small real PNG image.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// Pulls `content` of `<meta property|name="key" content="...">` out of a page.
pub fn meta(html: &str, key: &str) -> Option<String> {
    for attr in ["property", "name"] {
        let needle = format!("{attr}=\"{key}\"");
        if let Some(i) = html.find(&needle) {
            let tag_start = html[..i].rfind('<')?;
            let tag_end = i + html[i..].find('>')?;
            let tag = &html[tag_start..tag_end];
            let c = tag.find("content=\"")? + 9;
            let rest = &tag[c..];
            return Some(rest[..rest.find('"')?].replace("&amp;", "&"));
        }
    }
    None
}

pub const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// The value of a hidden input in a page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let i = html.find(&needle)?;
    let tag_start = html[..i].rfind('<')?;
    let tag_end = i + html[i..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// Decodes the few entities Leptos escapes in attribute values and text.
pub fn unescape(s: &str) -> String {
    s.replace("&amp;", "&").replace("&quot;", "\"").replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">")
}

/// Polls `check` until it returns `Some`, for up to ten seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

impl TestApp {
    /// Emails written to the dev outbox (no SMTP configured), oldest first.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.shared_dir.join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&dir).map(|r| r.flatten().collect()).unwrap_or_default();
        files.sort_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
        files.iter().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect()
    }

    /// Waits for an email to `to` whose text contains `needle`, and returns it.
    pub async fn email_to(&self, to: &str, needle: &str) -> String {
        eventually(&format!("an email to {to} containing {needle:?}"), || async {
            self.outbox().into_iter().find(|m| m.contains(&format!("To: {to}")) && decoded_body(m).contains(needle))
        })
        .await
    }

    pub async fn order_status(&self, order_id: &str) -> String {
        app::on_db!(&self.state.db, pool => sqlx::query_scalar::<_, String>("select status from buyer_order where order_id = $1")
            .bind(order_id).fetch_one(pool).await)
        .unwrap()
    }

    pub async fn ledger_is_clean(&self) {
        let report = app::verify::verify(&self.state.db).await.unwrap();
        assert!(report.is_clean(), "ledger violations: {:?}", report.violations);
    }
}

/// An email's body with quoted-printable soft breaks and escapes undone (enough for links).
pub fn decoded_body(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    let mut buf = Vec::new();
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            buf.push(b);
            i += 3;
            continue;
        }
        buf.push(bytes[i]);
        i += 1;
    }
    out.push_str(&String::from_utf8_lossy(&buf));
    out
}

/// The first URL in `text` starting with `prefix`.
pub fn link_in(text: &str, prefix: &str) -> Option<String> {
    let i = text.find(prefix)?;
    let end = text[i..].find(|c: char| c.is_whitespace() || c == '"' || c == '<').map(|e| i + e).unwrap_or(text.len());
    Some(text[i..end].to_string())
}

/// Signs a buyer up on a fresh client and tops their wallet up through the test card page.
pub async fn buyer_with_balance(app: &TestApp, handle: &str, amount: &str) -> Client {
    let buyer = app.new_client();
    let res = sign_up_on(&buyer, &app.base_url, &app.shared_dir, &format!("{handle}@example.com"), handle, handle).await;
    assert_eq!(res.status(), StatusCode::OK, "buyer sign-up");
    top_up(app, &buyer, amount, None).await;
    buyer
}

/// Tops up `buyer`'s wallet with the test card; returns where the return led.
pub async fn top_up(app: &TestApp, buyer: &Client, amount: &str, return_to: Option<&str>) -> String {
    top_up_at(&app.base_url, buyer, amount, return_to).await
}

/// `top_up` through the server (or load balancer) at `base_url`.
pub async fn top_up_at(base_url: &str, buyer: &Client, amount: &str, return_to: Option<&str>) -> String {
    let url = |path: &str| format!("{base_url}{path}");
    let mut form = vec![("amount", amount.to_string()), ("currency", "EUR".into()), ("remember", "1".into())];
    if let Some(r) = return_to {
        form.push(("return_to", r.to_string()));
    }
    let res = buyer.post(url("/wallet/topup")).form(&form).send().await.unwrap();
    let pay = res.headers()["location"].to_str().unwrap().to_string();
    assert!(pay.starts_with("/wallet?topup="), "{pay}");
    let page = buyer.get(url(&pay)).send().await.unwrap().text().await.unwrap();
    let action =
        unescape(page.split("action=\"").find(|s| s.starts_with("/pay/test/")).expect("test card form").split('"').next().unwrap());
    let (id, k) = (hidden_input(&page, "order_id").unwrap(), unescape(&hidden_input(&page, "k").unwrap()));
    let res = buyer
        .post(url(&action))
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
    let res = buyer.get(url(&back)).send().await.unwrap();
    res.headers()["location"].to_str().unwrap().to_string()
}

/// A JSON wallet purchase; returns (status, body).
pub async fn wallet_buy(app: &TestApp, buyer: &Client, code: &str, key: &str, extra: serde_json::Value) -> (StatusCode, serde_json::Value) {
    let mut body = serde_json::json!({ "code": code, "idempotency_key": key });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let res = buyer.post(app.url("/api/wallet/purchases")).json(&body).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or_default())
}

/// A wallet purchase at the server `base`: its answer when bought (201, or 200 for a repeat),
/// else the status and answer, or the transport error (a server killed mid-request).
pub async fn wallet_buy_at(base: &str, buyer: &Client, code: &str, key: &str) -> Result<serde_json::Value, String> {
    let res = buyer
        .post(format!("{base}/api/wallet/purchases"))
        .json(&serde_json::json!({ "code": code, "idempotency_key": key }))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if status == StatusCode::CREATED || status == StatusCode::OK { Ok(body) } else { Err(format!("{status}: {body}")) }
}

pub async fn wallet_balance(app: &TestApp, handle: &str) -> i64 {
    let id: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("select account_id from account where handle = $1")
        .bind(handle).fetch_one(pool).await)
    .unwrap();
    app::ledger::store::balance(&app.state.db, &format!("buyer_wallet:{id}:EUR")).await.unwrap()
}

/// A whole purchase with the test card, as a browser does it: the link page (with `query`,
/// e.g. `?ref=x`), Buy, the card form, the return. Returns the order id.
pub async fn buy_with_test_card(app: &TestApp, buyer: &Client, code: &str, email: &str, query: &str) -> String {
    buy_with_test_card_as(app, buyer, BROWSER_UA, code, email, query).await
}

/// `buy_with_test_card` by a client that says it is `user_agent` on the link page and the Buy post.
pub async fn buy_with_test_card_as(app: &TestApp, buyer: &Client, user_agent: &str, code: &str, email: &str, query: &str) -> String {
    buy_with_test_card_at(&app.base_url, buyer, user_agent, code, email, query).await
}

/// `buy_with_test_card_as` through the server (or load balancer) at `base_url`.
pub async fn buy_with_test_card_at(base_url: &str, buyer: &Client, user_agent: &str, code: &str, email: &str, query: &str) -> String {
    let url = |path: &str| format!("{base_url}{path}");
    let html = buyer.get(url(&format!("/l/{code}{query}"))).header("user-agent", user_agent).send().await.unwrap().text().await.unwrap();
    let key = hidden_input(&html, "checkout_key").expect("buy form");
    let source = hidden_input(&html, "source").unwrap_or_default();
    let res = buyer
        .post(url(&format!("/checkout/{code}")))
        .header("user-agent", user_agent)
        .form(&[("checkout_key", key.as_str()), ("source", source.as_str()), ("email", email)])
        .send()
        .await
        .unwrap();
    let pay = res.headers()["location"].to_str().unwrap().to_string();
    let page = buyer.get(url(&pay)).send().await.unwrap().text().await.unwrap();
    let action = unescape(page.split("action=\"").find(|s| s.starts_with("/pay/test/")).expect("card form").split('"').next().unwrap());
    let (order_id, k) = (hidden_input(&page, "order_id").unwrap(), unescape(&hidden_input(&page, "k").unwrap()));
    let res = buyer
        .post(url(&action))
        .form(&[
            ("order_id", order_id.as_str()),
            ("k", k.as_str()),
            ("card_number", "4242424242424242"),
            ("card_expiry", "12/34"),
            ("card_cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    let back = res.headers()["location"].to_str().unwrap().to_string();
    let res = buyer.get(url(&back)).send().await.unwrap();
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/d/"), "purchase completed");
    order_id
}

/// Every file under `dir`, at any depth (none if it doesn't exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// What a webhook receiver was sent: each request's headers and body, in arrival order.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>;

/// A webhook receiver that answers 500 to the first `fail_first` requests.
pub async fn webhook_receiver(fail_first: usize) -> (String, Received) {
    let seen: Received = Default::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                log.push((headers, body));
                if log.len() <= fail_first { axum::http::StatusCode::INTERNAL_SERVER_ERROR } else { axum::http::StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}
