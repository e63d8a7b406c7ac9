//! Cross-cutting request handling: client address, CSRF origin check, metrics, and turning
//! server-function errors into the right HTTP status.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use app::{catalog::service::LinkRef, db::now_ms, earnings::sources, edge::ClientIp, error::AppError, state::AppState};
use axum::{
    body::{Body, to_bytes},
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Records the client address as a request extension. Behind a trusted proxy the right-most
/// `X-Forwarded-For` entry is the one the proxy itself saw; anything left of it is client-supplied.
pub async fn client_ip(State(trust_forwarded_for): State<bool>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    let forwarded =
        trust_forwarded_for.then(|| req.headers().get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()).flatten();
    if let Some(ip) = forwarded.or(peer) {
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// The origins a page may load scripts, frames and connections from besides its own: Stripe's
/// (or the simulator's) when Stripe is on. Built once from the config.
#[derive(Debug, Clone, Default)]
pub struct ContentPolicy {
    header: Arc<str>,
    /// Whether to send `Strict-Transport-Security` (the public origin is https).
    hsts: bool,
}

impl ContentPolicy {
    /// `payment_origins`: where Stripe.js comes from and what it talks to and frames.
    pub fn new(payment_origins: &[String], https: bool) -> ContentPolicy {
        let extra = payment_origins.join(" ");
        // `{nonce}` is replaced per response. Scripts: our own files, the islands' loader (nonce),
        // WebAssembly (which Chromium treats as eval) and Stripe.js; no inline script without the
        // nonce, so injected markup cannot run. Styles allow inline `style` attributes (the
        // accent colour), which cannot run code.
        let header = format!(
            "default-src 'self'; script-src 'self' 'nonce-{{nonce}}' 'wasm-unsafe-eval' {extra}; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:; font-src 'self'; connect-src 'self' {extra}; frame-src {frames}; \
             form-action 'self' https: {extra}; base-uri 'none'; object-src 'none'; frame-ancestors 'none'",
            frames = if extra.is_empty() { "'none'".to_string() } else { extra.clone() },
        );
        ContentPolicy { header: header.replace(" ;", ";").into(), hsts: https }
    }
}

/// The nonce of the response being rendered, for the inline scripts Leptos writes (the
/// islands' loader); set by `security_headers`, read by the app's shell.
pub use app::edge::CspNonce;

/// Security headers on every response (each only where the handler set none of its own, as
/// downloads do): a nonce-based Content-Security-Policy, `nosniff`, a referrer policy, a
/// permissions policy, framing refused, and HSTS when the site is served over https.
pub async fn security_headers(State(policy): State<ContentPolicy>, mut req: Request, next: Next) -> Response {
    let nonce = new_nonce();
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if !h.contains_key(&name)
            && let Ok(value) = HeaderValue::from_str(value)
        {
            h.insert(name, value);
        }
    };
    set(header::CONTENT_SECURITY_POLICY, &policy.header.replace("{nonce}", &nonce));
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "strict-origin-when-cross-origin");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), usb=(), payment=(self), interest-cohort=()",
    );
    if policy.hsts {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
    }
    res
}

/// 128 random bits, base64url.
fn new_nonce() -> String {
    leptos::nonce::Nonce::new().to_string()
}

/// The largest form body (`application/x-www-form-urlencoded`) read; uploads are multipart.
const FORM_LIMIT: usize = 1024 * 1024;

/// Refuses form posts whose fields aren't UTF-8 once percent-decoded. Left alone, the form
/// decoders replace the bad bytes with U+FFFD and the app stores mangled values (an email
/// `a\u{fffd}\u{fffd}@example.com`); a client sending that has a bug or bad intent, and
/// hears so.
pub async fn strict_forms(req: Request, next: Next) -> Response {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, FORM_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) if past_the_limit(&e) => return AppError::TooLarge("The form is too large.".into()).into_response(),
        // It stopped arriving (the body idle timeout) or the connection broke.
        Err(_) => return AppError::BadRequest("The form didn't arrive whole. Please send it again.".into()).into_response(),
    };
    if !form_is_utf8(&bytes) {
        return AppError::BadRequest("The form held text that isn't UTF-8.".into()).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether reading a body failed because it passed the size limit (rather than stalling).
fn past_the_limit(err: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.to_string().contains("length limit exceeded") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Whether every name and value of a URL-encoded form decodes to UTF-8.
fn form_is_utf8(body: &[u8]) -> bool {
    body.split(|&b| b == b'&').flat_map(|pair| pair.split(|&b| b == b'=')).all(|piece| {
        let spaced: Vec<u8> = piece.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
        std::str::from_utf8(&decoded).is_ok()
    })
}

/// Creators' profiles live at `/@handle` (and their avatars at `/@handle/avatar.jpg`), which no
/// route pattern can express (a parameter can't share its segment with the `@`): before
/// routing, they become `/u/handle…`, where the routes are.
pub fn rewrite_profile_path(mut req: Request) -> Request {
    let Some(rest) = req.uri().path().strip_prefix("/@") else { return req };
    let path_and_query = match req.uri().query() {
        Some(query) => format!("/u/{rest}?{query}"),
        None => format!("/u/{rest}"),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(rewritten) = path_and_query.parse() {
        parts.path_and_query = Some(rewritten);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
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

/// Counts a link-page view when the page was served (200) to something that isn't a bot. The
/// count goes to memory; the page doesn't wait for the database.
pub async fn count_link_views(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let is_link_page = req.method() == Method::GET && matches!(route.as_deref(), Some("/l/{code}" | "/{handle}/{slug}"));
    // A landing from a post carries campaign tags at most; the same page with `?order=…` is a
    // buyer already in checkout (back from the card page, say), not another view.
    if !is_link_page || !only_campaign_tags(req.uri().query()) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let (user_agent, referer) = {
        let headers = req.headers();
        let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        (get(header::USER_AGENT).unwrap_or_default(), get(header::REFERER))
    };
    let tag = req.uri().query().and_then(campaign_tag);
    let res = next.run(req).await;
    if res.status() == StatusCode::OK && !is_bot(&user_agent) {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let link = match segments.as_slice() {
            ["l", code] => Some(LinkRef::Code((*code).to_string())),
            [handle, slug] => Some(LinkRef::Slug { handle: handle.to_lowercase(), slug: slug.to_lowercase() }),
            _ => None,
        };
        if let Some(link) = link {
            let own_host = state.settings.base_url.split("://").nth(1).unwrap_or_default();
            let source = sources::classify(referer.as_deref(), tag.as_deref(), own_host);
            state.views.record(link, source, now_ms());
        }
    }
    res
}

/// A creator who changed their handle keeps their posted links: a page that isn't found under
/// a handle a creator gave up (`/@old`, `/@old/avatar.jpg`, `/old/slug`) is moved (301) to the
/// same page under their current handle. Only not-found answers are looked at, so live pages
/// pay nothing for it.
pub async fn old_handle_redirects(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let res = next.run(req).await;
    if res.status() != StatusCode::NOT_FOUND {
        return res;
    }
    // Profiles reach the router as `/u/handle…` (see `rewrite_profile_path`). The page moves to
    // `{before}{new handle}{after}`.
    let (old, before, after) = match path.trim_start_matches('/').split('/').collect::<Vec<_>>().as_slice() {
        ["u", handle, rest @ ..] if rest.len() <= 1 => {
            (handle.to_string(), "/@", rest.first().map(|r| format!("/{r}")).unwrap_or_default())
        }
        [handle, slug] if !slug.is_empty() => (handle.to_string(), "/", format!("/{slug}")),
        _ => return res,
    };
    let Ok(old) = app::accounts::domain::Handle::parse(&old) else { return res };
    match app::accounts::store::handle_now_for(&state.db, old.as_str()).await {
        Ok(Some(new)) if new != old.as_str() => {
            let mut to = format!("{before}{new}{after}");
            if let Some(query) = query {
                to.push('?');
                to.push_str(&query);
            }
            match HeaderValue::from_str(&to) {
                // Moved for good, but remembered by browsers for an hour only: a creator may go
                // back to the old handle, and a 301 cached forever would then loop.
                Ok(location) => (
                    StatusCode::MOVED_PERMANENTLY,
                    [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"))],
                )
                    .into_response(),
                Err(_) => res,
            }
        }
        Ok(_) => res,
        Err(e) => {
            tracing::warn!(error = %e, "old handle lookup failed");
            res
        }
    }
}

/// Whether a query string holds nothing but campaign tags (`ref`, `utm_*`).
pub fn only_campaign_tags(query: Option<&str>) -> bool {
    query.is_none_or(|q| {
        q.split('&').filter(|p| !p.is_empty()).all(|p| {
            let name = p.split('=').next().unwrap_or_default();
            name == "ref" || name.starts_with("utm_")
        })
    })
}

/// `ref`, else `utm_source`, from a query string.
pub fn campaign_tag(query: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = url_pairs(query);
    let find = |key: &str| pairs.iter().find(|(k, v)| k == key && !v.is_empty()).map(|(_, v)| v.clone());
    find("ref").or_else(|| find("utm_source"))
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .collect()
}

/// Whether a user agent is a crawler. The regex set is costly per call; answers are
/// remembered per user agent (there are few distinct ones).
pub fn is_bot(user_agent: &str) -> bool {
    static BOTS: std::sync::OnceLock<isbot::Bots> = std::sync::OnceLock::new();
    static SEEN: std::sync::OnceLock<moka::sync::Cache<String, bool>> = std::sync::OnceLock::new();
    if user_agent.is_empty() {
        return true;
    }
    let seen = SEEN.get_or_init(|| moka::sync::Cache::new(10_000));
    if let Some(known) = seen.get(user_agent) {
        return known;
    }
    let bot = BOTS.get_or_init(isbot::Bots::default).is_bot(user_agent);
    seen.insert(user_agent.to_string(), bot);
    bot
}

/// Counts requests and records latency per matched route (never per raw URL, which would let
/// anyone grow the metric set without bound).
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".to_owned());
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
    fn forms_must_decode_to_utf8() {
        assert!(form_is_utf8(b"email=ann%40example.com&name=Ren%C3%A9e+B"));
        assert!(!form_is_utf8(b"email=a%FF%FE%40example.com"));
        assert!(!form_is_utf8(b"x=%C3"));
        assert!(!form_is_utf8(b"%FF=1"));
        assert!(form_is_utf8(b""));
    }

    #[test]
    fn profiles_are_routed_by_their_at_paths() {
        let rewrite = |uri: &str| rewrite_profile_path(Request::builder().uri(uri).body(Body::empty()).unwrap()).uri().to_string();
        assert_eq!(rewrite("/@ann"), "/u/ann");
        assert_eq!(rewrite("/@ann/avatar.jpg?v=1"), "/u/ann/avatar.jpg?v=1");
        assert_eq!(rewrite("/l/abc"), "/l/abc");
        assert_eq!(rewrite("/ann/@x"), "/ann/@x");
    }

    #[test]
    fn campaign_tags_from_queries() {
        assert_eq!(campaign_tag("ref=newsletter").as_deref(), Some("newsletter"));
        assert_eq!(campaign_tag("utm_source=mastodon&ref=x").as_deref(), Some("x"));
        assert_eq!(campaign_tag("utm_source=Spring%20Sale").as_deref(), Some("Spring Sale"));
        assert_eq!(campaign_tag("ref=&utm_source=blog").as_deref(), Some("blog"));
        assert_eq!(campaign_tag("a=b"), None);
    }

    #[test]
    fn bots_are_recognised() {
        assert!(is_bot("Twitterbot/1.0"));
        assert!(is_bot("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"));
        assert!(is_bot("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"));
        assert!(is_bot("curl/8.5.0"));
        assert!(is_bot(""));
        assert!(!is_bot(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
        ));
        assert!(!is_bot("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"));
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
