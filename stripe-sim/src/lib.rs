//! A Stripe API simulator for Clink's integration and browser tests.
//!
//! The test machines have no internet, and `localstripe` returns objects too
//! sparse for async-stripe to deserialize, so this crate serves the slice of
//! the Stripe API Clink uses — customers, card and Klarna PaymentMethods,
//! PaymentIntents (with Stripe's test cards, declines, 3-D Secure and
//! Klarna's redirect),
//! refunds and events — with complete objects, Stripe's error shapes,
//! idempotency keys and signed webhooks. It also serves a small Stripe.js
//! stand-in at `/js/v3` for browser tests.
//!
//! ```ignore
//! let sim = stripe_sim::spawn(stripe_sim::SimConfig::default()).await;
//! let client = stripe::ClientBuilder::new("sk_test_x").url(&sim.base_url).build()?;
//! ```
//!
//! Everything is in memory and lost on shutdown. One simulated account is
//! shared by all API keys (idempotency keys are still scoped per key).

#![recursion_limit = "256"]

mod api;
mod form;
mod objects;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::Value;
use tokio::task::AbortHandle;

pub use objects::API_VERSION;
pub use webhooks::signature_header;

use api::{Req, Saved, Store};
use objects::{ApiError, new_id};

/// A secret key the simulator accepts (any `sk_test_…` works).
pub const TEST_SECRET_KEY: &str = "sk_test_stripe_sim";
/// A publishable key the simulator accepts (any `pk_test_…` works).
pub const TEST_PUBLISHABLE_KEY: &str = "pk_test_stripe_sim";

/// How the simulator pushes webhooks.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to POST events; `None` records events without delivering them.
    pub webhook_url: Option<String>,
    /// Signing secret, `whsec_…`, as the app's webhook handler expects.
    pub webhook_secret: String,
    /// Pause before each retry of a failed delivery; after the last one the
    /// event is given up. `[200ms, 400ms]` means at most 3 attempts.
    pub retry_delays: Vec<Duration>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            webhook_url: None,
            webhook_secret: "whsec_stripe_sim".to_owned(),
            retry_delays: [200, 400, 800, 1600, 3200].map(Duration::from_millis).to_vec(),
        }
    }
}

/// A running simulator. Cloning shares it; dropping every clone does *not*
/// stop it (the server lives until [`SimHandle::shutdown`] or the end of the
/// tokio runtime).
#[derive(Clone)]
pub struct SimHandle {
    /// e.g. `http://127.0.0.1:43817` — pass to `ClientBuilder::url`.
    pub base_url: String,
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Mutex<Store>,
    pub(crate) webhook_secret: String,
    pub(crate) retry_delays: Vec<Duration>,
    pub(crate) http: reqwest::Client,
    /// Webhook deliveries in flight, aborted on shutdown.
    tasks: Mutex<Vec<AbortHandle>>,
    /// Flipped to `true` to stop the server gracefully.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Inner {
    /// Push queued events, each in its own task.
    fn flush(self: &Arc<Self>, outbox: Vec<(String, Value)>) {
        let mut tasks = self.tasks.lock().expect("tasks lock");
        tasks.retain(|t| !t.is_finished());
        for (url, event) in outbox {
            tasks.push(tokio::spawn(webhooks::deliver(self.clone(), url, event)).abort_handle());
        }
    }
}

/// Start a simulator on `127.0.0.1` with an ephemeral port.
///
/// # Panics
/// If no loopback port can be bound.
pub async fn spawn(config: SimConfig) -> SimHandle {
    spawn_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind 127.0.0.1:0")
}

/// Start a simulator on a given address (the binary uses this).
pub async fn spawn_on(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let host = if local.ip().is_unspecified() { "127.0.0.1".to_owned() } else { local.ip().to_string() };
    let base_url = format!("http://{host}:{}", local.port());
    let inner = Arc::new(Inner {
        store: Mutex::new(Store::new(base_url.clone(), config.webhook_url)),
        webhook_secret: config.webhook_secret,
        retry_delays: config.retry_delays,
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("reqwest client"),
        tasks: Mutex::new(Vec::new()),
        stop: tokio::sync::watch::channel(false).0,
    });
    let app = router(inner.clone());
    let mut stop = inner.stop.subscribe();
    tokio::spawn(async move {
        // Graceful: stop accepting, let in-flight requests finish and close
        // idle keep-alive connections (an abort would leave those serving).
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await;
    });
    Ok(SimHandle { base_url, inner })
}

impl SimHandle {
    /// Change where future events are delivered (the app's port may only be
    /// known after the simulator started). Events already queued keep their
    /// original target.
    pub fn set_webhook_url(&self, url: &str) {
        self.inner.store.lock().expect("store lock").webhook_url = Some(url.to_owned());
    }

    /// Every event created so far, oldest first (`GET /v1/events` lists
    /// newest first, like Stripe).
    pub async fn events(&self) -> Vec<Value> {
        self.inner.store.lock().expect("store lock").events.clone()
    }

    /// Every webhook delivery attempt so far, in the order they finished:
    /// (event id, HTTP status, or 0 for a connection error/timeout).
    pub async fn webhook_attempts(&self) -> Vec<(String, u16)> {
        self.inner.store.lock().expect("store lock").attempts.clone()
    }

    /// Resolve a PaymentIntent's 3-D Secure challenge, as the customer would
    /// in the browser: success charges the card, failure puts the intent back
    /// to `requires_payment_method` with `payment_intent_authentication_failure`.
    ///
    /// # Panics
    /// If the PaymentIntent does not exist or is not `requires_action` — a
    /// test bug worth failing loudly on.
    pub async fn complete_3ds(&self, payment_intent_id: &str, success: bool) {
        let mut store = self.inner.store.lock().expect("store lock");
        if let Err(e) = store.complete_3ds(payment_intent_id, success, None) {
            panic!("complete_3ds({payment_intent_id}): {}", e.error["message"]);
        }
        let outbox = std::mem::take(&mut store.outbox);
        drop(store);
        self.inner.flush(outbox);
    }

    /// URL of the Stripe.js stand-in, for the app's `<script src>`.
    pub fn js_url(&self) -> String {
        format!("{}/js/v3", self.base_url)
    }

    /// Stop serving (gracefully) and abandon pending webhook retries. Affects
    /// every clone of this handle.
    pub fn shutdown(self) {
        self.inner.stop.send_replace(true);
        for task in self.inner.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
    }
}

// ---- HTTP layer ---------------------------------------------------------

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/v1/{*path}", any(api_entry))
        .route("/js/v3", get(stripe_js))
        .route("/_sim/health", get(|| async { "ok" }))
        .route("/_sim/3ds/{id}", post(sim_3ds).options(preflight))
        .route("/_sim/3ds/{id}/challenge", get(|| async { Html(include_str!("challenge.html")) }))
        .route("/_sim/klarna/{id}/authorize", get(|| async { Html(include_str!("klarna.html")) }))
        .route(
            "/_sim/customer-page.js",
            get(|| async { ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8")], include_str!("customer-page.js")) }),
        )
        .route(
            "/_sim/events",
            get(|State(inner): State<Arc<Inner>>| async move { axum::Json(inner.store.lock().expect("store lock").events.clone()) }),
        )
        .route(
            "/_sim/webhook_attempts",
            get(|State(inner): State<Arc<Inner>>| async move { axum::Json(inner.store.lock().expect("store lock").attempts.clone()) }),
        )
        .fallback(|method: Method, uri: Uri| async move {
            let e = ApiError::auth(404, &format!("Unrecognized request URL ({method}: {}).", uri.path()));
            json_response(e.status, &e.body(), None)
        })
        .layer(axum::middleware::map_response(cors))
        .with_state(inner)
}

/// The browser page is on another origin than the simulator.
async fn cors(mut response: Response) -> Response {
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, Idempotency-Key, Stripe-Version, Stripe-Account"),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    r
}

fn json_response(status: u16, body: &Value, request_id: Option<&str>) -> Response {
    let bytes = serde_json::to_vec_pretty(body).expect("json");
    raw_response(status, bytes, request_id)
}

fn raw_response(status: u16, body: Vec<u8>, request_id: Option<&str>) -> Response {
    let mut r = (StatusCode::from_u16(status).expect("status"), body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("Stripe-Version", HeaderValue::from_static(API_VERSION));
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        h.insert("Request-Id", id);
    }
    r
}

/// The API key from `Authorization: Bearer …`, or Stripe.js's `key` param.
fn api_key(headers: &HeaderMap, params: &Value) -> Result<String, ApiError> {
    let key = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(auth) => auth.strip_prefix("Bearer ").map(str::trim).unwrap_or_default().to_owned(),
        None => params.get("key").and_then(Value::as_str).unwrap_or_default().to_owned(),
    };
    if key.is_empty() {
        return Err(ApiError::auth(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, using \
             Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication \
             for details, or we can help at https://support.stripe.com/.",
        ));
    }
    let valid = ["sk_test_", "rk_test_", "pk_test_"].iter().any(|p| key.starts_with(p) && key.len() > p.len());
    if !valid {
        let shown: String = key.chars().take(8).collect();
        let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(ApiError::auth(401, &format!("Invalid API Key provided: {shown}****{tail}")));
    }
    Ok(key)
}

async fn api_entry(State(inner): State<Arc<Inner>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if method == Method::OPTIONS {
        return preflight().await;
    }
    let request_id = new_id("req");
    let is_post = method == Method::POST;
    let params = if is_post { form::parse(&body) } else { form::parse(uri.query().unwrap_or("").as_bytes()) };
    let key = match api_key(&headers, &params) {
        Ok(key) => key,
        Err(e) => return json_response(e.status, &e.body(), Some(&request_id)),
    };
    let path: Vec<&str> = uri.path().trim_start_matches("/v1/").split('/').filter(|s| !s.is_empty()).collect();
    let idempotency_key = headers.get("Idempotency-Key").and_then(|v| v.to_str().ok()).filter(|_| is_post).map(str::to_owned);

    let mut store = inner.store.lock().expect("store lock");
    // Same key + same request: replay the stored bytes. Same key, different
    // request: refuse. Keys are scoped to the API key, like Stripe's.
    let fingerprint = [method.as_str().as_bytes(), b" ", uri.path().as_bytes(), b"\n", &body].concat();
    if let Some(k) = &idempotency_key
        && let Some(saved) = store.idempotency.get(&(key.clone(), k.clone()))
    {
        if saved.fingerprint != fingerprint {
            let e = ApiError::idempotency(k);
            return json_response(e.status, &e.body(), Some(&request_id));
        }
        let mut r = raw_response(saved.status, saved.body.clone(), Some(&request_id));
        r.headers_mut().insert("Idempotent-Replayed", HeaderValue::from_static("true"));
        if let Ok(v) = HeaderValue::from_str(&saved.request_id) {
            r.headers_mut().insert("Original-Request", v);
        }
        return r;
    }

    let req = Req { id: Some(request_id.clone()), idempotency_key: idempotency_key.clone(), publishable: key.starts_with("pk_") };
    let (status, body_json) = match store.dispatch(&req, method.as_str(), &path, &params) {
        Ok(v) => (200, v),
        Err(e) => (e.status, e.body()),
    };
    let bytes = serde_json::to_vec_pretty(&body_json).expect("json");
    // Stripe saves results once the endpoint has run (success or a card
    // error), not for requests that failed validation.
    if let Some(k) = idempotency_key
        && (status == 200 || status == 402)
    {
        store.idempotency.insert((key, k), Saved { fingerprint, request_id: request_id.clone(), status, body: bytes.clone() });
    }
    let outbox = std::mem::take(&mut store.outbox);
    drop(store);
    inner.flush(outbox);
    raw_response(status, bytes, Some(&request_id))
}

/// What the challenge buttons call: `client_secret` and `result=success|fail`.
async fn sim_3ds(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut params = form::parse(&body);
    for (k, v) in query {
        params[k] = Value::String(v);
    }
    let success = match params.get("result").and_then(Value::as_str) {
        Some("success" | "succeeded" | "complete") => true,
        Some("fail" | "failed" | "failure") => false,
        _ => {
            let e = ApiError::invalid_param("result", "result must be `success` or `fail`.");
            return json_response(e.status, &e.body(), None);
        }
    };
    let Some(secret) = params.get("client_secret").and_then(Value::as_str).map(str::to_owned) else {
        let e = ApiError::missing_param("client_secret");
        return json_response(e.status, &e.body(), None);
    };
    let mut store = inner.store.lock().expect("store lock");
    let result = store.complete_3ds(&id, success, Some(&secret));
    let outbox = std::mem::take(&mut store.outbox);
    drop(store);
    inner.flush(outbox);
    match result {
        Ok(pi) => json_response(200, &pi, None),
        Err(e) => json_response(e.status, &e.body(), None),
    }
}

async fn stripe_js(State(inner): State<Arc<Inner>>) -> Response {
    let base = inner.store.lock().expect("store lock").base_url.clone();
    let js = include_str!("stripe.js").replace("__SIM_BASE_URL__", &base);
    let mut r = js.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
