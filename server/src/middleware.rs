//! Cross-cutting request handling: client address, CSRF origin check, metrics, and turning
//! server-function errors into the right HTTP status.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use app::{edge::ClientIp, error::AppError};
use axum::{
    body::{Body, to_bytes},
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Records the client address as a request extension. Behind a trusted proxy the right-most
/// `X-Forwarded-For` entry is the one the proxy itself saw; anything left of it is client-supplied.
pub async fn client_ip(State(trust_forwarded_for): State<bool>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok())
        .flatten();
    if let Some(ip) = forwarded.or(peer) {
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// Paths that take no cookies and authenticate otherwise (bearer tokens, signatures), so a
/// cross-site request to them carries no ambient authority.
fn exempt_from_csrf(path: &str) -> bool {
    path.starts_with("/api/v1/") || path.starts_with("/webhooks/")
}

/// Refuses state-changing requests that a browser marks as cross-site. Browsers send
/// `Sec-Fetch-Site` and `Origin` on every POST; a request with neither is not from a browser
/// form or script on another site, but we still refuse it to keep the rule simple to audit.
pub async fn csrf(State(base_url): State<Arc<str>>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE);
    if safe || exempt_from_csrf(req.uri().path()) || is_same_origin(req.headers(), &base_url) {
        return next.run(req).await;
    }
    tracing::warn!(path = req.uri().path(), "cross-site request refused");
    let body = serde_json::json!({
        "error": { "code": "cross_site", "message": "This request came from another site and was refused." }
    });
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

fn is_same_origin(headers: &HeaderMap, base_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // `none` is a user-initiated navigation (typed URL, bookmark), never a forged request.
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if origin == base_url {
        return true;
    }
    // Also accept the origin the browser actually addressed (e.g. localhost vs 127.0.0.1): a
    // forged cross-site request cannot set the Host header to the attacker's origin.
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let scheme_host = origin.split_once("://").map(|(_, h)| h);
    matches!((host, scheme_host), (Some(h), Some(o)) if h == o)
}

/// Server functions answer every error with 500; this gives each the status its `AppError`
/// variant means (400 for validation, 401, 404, 429...). Plain form posts get redirects and are
/// left alone.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR || !res.headers().contains_key("serverfnerror") {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Counts requests and records latency per matched route (never per raw URL, which would let
/// anyone grow the metric set without bound).
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_rules() {
        let base = "http://127.0.0.1:3000";
        assert!(is_same_origin(&headers(&[("sec-fetch-site", "same-origin")]), base));
        assert!(!is_same_origin(&headers(&[("sec-fetch-site", "cross-site"), ("origin", base)]), base));
        assert!(!is_same_origin(&headers(&[("sec-fetch-site", "same-site")]), base));
        assert!(is_same_origin(&headers(&[("origin", base)]), base));
        assert!(is_same_origin(&headers(&[("origin", "http://localhost:3000"), ("host", "localhost:3000")]), base));
        assert!(!is_same_origin(&headers(&[("origin", "https://evil.example"), ("host", "127.0.0.1:3000")]), base));
        assert!(!is_same_origin(&headers(&[("origin", "null")]), base));
        assert!(!is_same_origin(&headers(&[]), base));
    }
}
