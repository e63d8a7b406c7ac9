//! A throwaway PostgreSQL database per test run, and a fresh schema per test inside it.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

fn admin_url() -> String {
    std::env::var("CLINK_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("postgres url has a path");
    format!("{base}/{db}")
}

static RUN_DATABASE: OnceCell<Option<String>> = OnceCell::const_new();

/// Creates this run's database once (and drops runs older than two hours). `None` when no
/// PostgreSQL is reachable.
async fn run_database() -> Option<String> {
    RUN_DATABASE
        .get_or_init(|| async {
            let mut admin = match PgConnection::connect(&admin_url()).await {
                Ok(conn) => conn,
                Err(err) => {
                    eprintln!("postgres not reachable at {}: {err}", admin_url());
                    return None;
                }
            };
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            let stale: Vec<String> = sqlx::query_scalar("select datname from pg_database where datname like 'clink_test_%'")
                .fetch_all(&mut admin)
                .await
                .unwrap_or_default();
            for name in stale {
                let started = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
                if now.saturating_sub(started) > 7200 {
                    let _ = admin.execute(format!("drop database if exists \"{name}\" with (force)").as_str()).await;
                }
            }
            let name = format!("clink_test_{now}_{}", std::process::id());
            admin.execute(format!("create database \"{name}\"").as_str()).await.expect("create test database");
            Some(name)
        })
        .await
        .clone()
}

/// Whether the PostgreSQL variant of a test can run. Under `CI=true` an unreachable server is
/// a failure, not a skip.
pub async fn available() -> bool {
    if run_database().await.is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL is required under CI=true but is not reachable at {}", admin_url());
    }
    eprintln!("SKIPPED: PostgreSQL test (no server at {})", admin_url());
    false
}

/// A database URL whose connections live in a brand-new schema.
pub async fn fresh_schema_url() -> String {
    let db = run_database().await.expect("postgres available");
    let url = with_database(&admin_url(), &db);
    let schema = format!("t_{}", uuid_like());
    let mut conn = PgConnection::connect(&url).await.expect("connect test database");
    conn.execute(format!("create schema \"{schema}\"").as_str()).await.expect("create schema");
    format!("{url}?options=-c%20search_path%3D{schema}")
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{:x}", nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}
