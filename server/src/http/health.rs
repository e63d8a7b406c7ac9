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

pub fn router(metrics: PrometheusHandle) -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(move || render_metrics(metrics.clone())))
}

/// 200 when the database answers within two seconds, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let db_ok = matches!(tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await, Ok(Ok(())));
    if db_ok {
        (StatusCode::OK, Json(json!({ "status": "ok", "database": "ok" })))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "error", "database": "error" })))
    }
}

async fn render_metrics(handle: PrometheusHandle) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}
