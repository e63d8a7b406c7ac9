//! Liveness and metrics endpoints for operators and load balancers.

use std::time::Duration;

use app::state::AppState;
use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

/// `/metrics` is served only to holders of `metrics_token` (operators opt in): request counts
/// by route are nobody else's business.
pub fn router(metrics: PrometheusHandle, metrics_token: Option<secrecy::SecretString>) -> Router<AppState> {
    let token: Option<std::sync::Arc<secrecy::SecretString>> = metrics_token.map(std::sync::Arc::new);
    let last: LastProbe = Default::default();
    Router::new().route("/healthz", get(move |State(state): State<AppState>| healthz(state, last.clone()))).route(
        "/metrics",
        get(move |headers: axum::http::HeaderMap| {
            let (metrics, token) = (metrics.clone(), token.clone());
            async move {
                let Some(token) = token else { return StatusCode::NOT_FOUND.into_response() };
                let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
                let expected = secrecy::ExposeSecret::expose_secret(&*token).as_bytes();
                let ok = given.is_some_and(|g| subtle::ConstantTimeEq::ct_eq(g.as_bytes(), expected).into());
                if !ok {
                    return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response();
                }
                render_metrics(metrics).await.into_response()
            }
        }),
    )
}

/// What the last write probe found, kept for `PROBE_EVERY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writable {
    Yes,
    Full,
    ReadOnly,
    Failing,
}

impl Writable {
    fn label(self) -> &'static str {
        match self {
            Writable::Yes => "ok",
            Writable::Full => "full",
            Writable::ReadOnly => "read-only",
            Writable::Failing => "error",
        }
    }

    fn of(text: &str) -> Writable {
        match app::error::storage_trouble(text) {
            Some(app::error::StorageTrouble::Full) => Writable::Full,
            Some(app::error::StorageTrouble::ReadOnly) => Writable::ReadOnly,
            None => Writable::Failing,
        }
    }
}

/// How long a probe's finding stands: a load balancer asking every second costs one write
/// every couple of seconds, not one per question.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// This server's last probe: when, and what the database and the data directory said.
type LastProbe = std::sync::Arc<std::sync::Mutex<Option<(std::time::Instant, Writable, Writable)>>>;

/// Writes a row to the database and a small file to the data directory.
async fn probe(state: &AppState, last: &LastProbe) -> (Writable, Writable) {
    if let Some((at, db, files)) = *last.lock().unwrap_or_else(|e| e.into_inner())
        && at.elapsed() < PROBE_EVERY
    {
        return (db, files);
    }
    let write = async {
        app::on_db!(&state.db, pool => sqlx::query(
            "insert into health_probe (probe_id, at) values ('probe', $1) on conflict (probe_id) do update set at = excluded.at")
            .bind(app::db::now_ms()).execute(pool).await.map(|_| ()))
    };
    let db = match tokio::time::timeout(Duration::from_secs(2), write).await {
        Ok(Ok(())) => Writable::Yes,
        Ok(Err(e)) => Writable::of(&e.to_string()),
        Err(_) => Writable::Failing,
    };
    // A new file each time, of a few kilobytes, synced: overwriting one file would reuse its
    // own blocks and pass on a full disk.
    let file = state.settings.data_dir.join(format!(".health-probe-{}", app::db::new_id()));
    let files = match write_probe_file(&file).await {
        Ok(()) => Writable::Yes,
        Err(e) => Writable::of(&e.to_string()),
    };
    let _ = tokio::fs::remove_file(&file).await;
    *last.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), db, files));
    (db, files)
}

async fn write_probe_file(path: &std::path::Path) -> std::io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        f.write_all(&[0u8; 8192])?;
        f.sync_all()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// 200 when the database answers and both it and the data directory take a write; 503 with
/// what is wrong otherwise (a load balancer then sends no one here).
async fn healthz(state: AppState, last: LastProbe) -> impl IntoResponse {
    let answers = matches!(tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await, Ok(Ok(())));
    if !answers {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "error", "database": "error" })));
    }
    let (db, files) = probe(&state, &last).await;
    let body = json!({
        "status": if db == Writable::Yes && files == Writable::Yes { "ok" } else { "error" },
        "database": db.label(),
        "files": files.label(),
    });
    let status = if body["status"] == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

async fn render_metrics(handle: PrometheusHandle) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}
