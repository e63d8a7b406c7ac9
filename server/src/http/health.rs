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
pub fn router(metrics: PrometheusHandle, metrics_token: Option<String>) -> Router<AppState> {
    let token: Option<std::sync::Arc<str>> = metrics_token.map(Into::into);
    Router::new().route("/healthz", get(healthz)).route(
        "/metrics",
        get(move |headers: axum::http::HeaderMap| {
            let (metrics, token) = (metrics.clone(), token.clone());
            async move {
                let Some(token) = token else { return StatusCode::NOT_FOUND.into_response() };
                let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
                let ok = given.is_some_and(|g| subtle::ConstantTimeEq::ct_eq(g.as_bytes(), token.as_bytes()).into());
                if !ok {
                    return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response();
                }
                render_metrics(metrics).await.into_response()
            }
        }),
    )
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
