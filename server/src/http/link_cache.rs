//! The fast path for shared links: anonymous visits to `/l/{code}` are answered from the page
//! cache (with a fresh checkout nonce each), before the rest of the middleware runs.
//! A burst of visitors from a viral post then costs a cache lookup and a view count each.

use std::time::Instant;

use app::{
    catalog::{domain::is_link_code, service::LinkRef},
    db::now_ms,
    earnings::sources,
    edge::CspNonce,
    page_cache::CachedPage,
    state::AppState,
};
use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::Response,
};
use bytes::Bytes;

use crate::middleware::{campaign_tag, is_bot, only_campaign_tags};

pub async fn cached_link_page(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = req.uri().path();
    let Some(code) = path.strip_prefix("/l/").filter(|c| is_link_code(c)).map(str::to_owned) else {
        return next.run(req).await;
    };
    let personal = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("clink_session=") || c.contains("clink_buyer="));
    if req.method() != Method::GET || personal || !only_campaign_tags(req.uri().query()) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let user_agent = text(header::USER_AGENT).unwrap_or_default();
    let accept = text(header::ACCEPT_ENCODING).unwrap_or_default();
    let (brotli, gzip) = (accept.contains("br"), accept.contains("gzip"));
    let own_host = state.settings.base_url.split("://").nth(1).unwrap_or_default();
    let tag = req.uri().query().and_then(campaign_tag);
    let source = sources::classify(text(header::REFERER), tag.as_deref(), own_host);
    let key = format!("{code}\n{source}");
    let csp_nonce = req.extensions().get::<CspNonce>().map(|n| n.0.clone()).unwrap_or_default();

    if let Some(page) = state.page_cache.get(&key) {
        if !is_bot(user_agent) {
            state.views.record(LinkRef::Code(code), source, now_ms());
        }
        metrics::counter!("http_requests_total", "method" => "GET", "route" => "/l/{code}", "status" => "200", "cache" => "hit")
            .increment(1);
        metrics::histogram!("http_request_duration_seconds", "method" => "GET", "route" => "/l/{code}", "status" => "200")
            .record(started.elapsed().as_secs_f64());
        let html = page.render(&app::db::new_id(), &csp_nonce);
        let (body, encoding) = match (brotli, gzip) {
            (true, _) => (compress_brotli(&html), Some("br")),
            (false, true) => (compress_gzip(&html), Some("gzip")),
            _ => (Bytes::from(html), None),
        };
        let mut res = Response::new(Body::from(body));
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding, cookie"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // As CDNs do: lets an operator (and the tests) see which answers came from the cache.
        h.insert("x-cache", HeaderValue::from_static("hit"));
        if let Some(encoding) = encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        return res;
    }

    // A miss: render through the whole stack, uncompressed, and keep it for the next visitors.
    req.headers_mut().remove(header::ACCEPT_ENCODING);
    let res = next.run(req).await;
    let html = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html"));
    if res.status() != StatusCode::OK || !html || res.headers().contains_key(header::SET_COOKIE) {
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, 1024 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    state.page_cache.insert(key, CachedPage::from_rendered(&bytes, &csp_nonce));
    Response::from_parts(parts, Body::from(bytes))
}

fn compress_brotli(data: &[u8]) -> Bytes {
    let mut out = Vec::new();
    // Quality 4: most of brotli's gain over gzip at a fraction of the cost of higher levels.
    let params = brotli::enc::BrotliEncoderParams { quality: 4, lgwin: 20, ..Default::default() };
    let _ = brotli::BrotliCompress(&mut &data[..], &mut out, &params);
    out.into()
}

fn compress_gzip(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(data);
    gz.finish().unwrap_or_default().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_campaign_tags_are_cacheable() {
        assert!(only_campaign_tags(None));
        assert!(only_campaign_tags(Some("ref=x")));
        assert!(only_campaign_tags(Some("utm_source=mastodon&utm_medium=social")));
        assert!(!only_campaign_tags(Some("order=1&k=2")));
        assert!(!only_campaign_tags(Some("ref=x&error=boom")));
    }
}
