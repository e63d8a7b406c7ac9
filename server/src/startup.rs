//! Builds the whole app (database, sessions, router, middleware) and serves it.

use std::{
    path::Path,
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context;
use app::{
    App,
    accounts::session::{CachedSessions, SessionBackend},
    checkout::{
        provider::{Payments, TestProvider},
        stripe_provider::StripeProvider,
    },
    db::Db,
    earnings::views::ViewCounter,
    mail::sender::Mailer,
    secret::AppSecret,
    shell,
    state::{AppState, Settings, SharedState},
    storage::Storage,
    wallet::writer::WalletWriter,
};
use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderValue, header},
    middleware::{from_fn, from_fn_with_state},
    response::Response,
};
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::{
    compression::{CompressionLayer, DefaultPredicate, Predicate},
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use tower_sessions::{
    ExpiredDeletion, Expiry, SessionManagerLayer,
    cookie::{SameSite, time::Duration as CookieDuration},
};
use tracing::Span;

use crate::{config::Config, http, middleware};

/// Connects and migrates the database, then assembles the router.
pub async fn build(config: &Config) -> anyhow::Result<(Router, AppState)> {
    // Several dependencies bring rustls with different crypto back ends (ring for Stripe and
    // SMTP, aws-lc for S3); rustls then needs to be told which one the process uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let db = if config.migrate_on_start {
        connect_database(&config.database_url).await?
    } else {
        connect_migrated(&config.database_url).await?
    };
    let sessions = CachedSessions::new(SessionBackend::for_db(&db).await.context("preparing the session store")?);
    tokio::spawn(sessions.clone().follow_other_servers());
    tokio::spawn(sessions.clone().continuously_delete_expired(Duration::from_secs(3600)));

    let page_cache = app::page_cache::PageCache::for_db(&db).await.context("preparing the link-page cache")?;
    tokio::spawn(page_cache.clone().follow_other_servers());

    let storage = Storage::open(&config.storage).context("opening file storage (CLINK_STORAGE_URL)")?;
    let secret = load_secret(config)?;
    let wallet_writer =
        WalletWriter::start(&config.database_url, config.wallet_max_batch).await.context("connecting the wallet writer to the database")?;
    let payments = payments(config)?;
    let mailer = match &config.smtp_url {
        Some(url) => Mailer::smtp(secrecy::ExposeSecret::expose_secret(url), &config.mail_from),
        None => Mailer::files(config.data_dir.join("outbox"), &config.mail_from),
    }
    .map_err(|e| anyhow::anyhow!("configuring mail (CLINK_SMTP_URL, CLINK_MAIL_FROM): {e}"))?;
    let state = AppState::new(SharedState {
        db,
        settings: Settings {
            base_url: config.base_url.clone(),
            data_dir: config.data_dir.clone(),
            dev_mode: config.dev_mode,
            upload_limit_bytes: config.upload_limit_bytes,
            fee_bps: config.fee_bps,
            min_payout_minor: config.min_payout_minor,
            tab_limit_minor: config.tab_limit_minor,
            outbound: app::outbound::OutboundPolicy { allow_private: config.webhook_allow_private },
        },
        limits: app::limits::Limits::configured(config.rate_limit_scale, &config.new_tab_quotas),
        storage,
        views: ViewCounter::default(),
        payments,
        mailer,
        wallet_writer,
        purchase_cache: Default::default(),
        page_cache,
        secret,
        leptos_options: leptos_options(config),
    });
    spawn_housekeeping(&state, config.webhook_backoff_ms);
    Ok((router(state.clone(), sessions, config), state))
}

/// The configured payment provider: Stripe when its keys are set, else the test provider.
pub fn payments(config: &Config) -> anyhow::Result<Payments> {
    Ok(match &config.stripe {
        Some(settings) => Payments::Stripe(StripeProvider::new(settings).context("configuring Stripe")?),
        None => Payments::Test(TestProvider),
    })
}

/// Connects to the configured database and applies pending migrations.
pub async fn connect_database(url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(url).await.context("connecting to the database (CLINK_DATABASE_URL)")?;
    db.migrate().await.context("applying database migrations")?;
    Ok(db)
}

/// Connects to a database that `clink migrate` has brought up to date, and refuses one that
/// misses a migration this build needs (`clink serve --no-migrate`).
pub async fn connect_migrated(url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(url).await.context("connecting to the database (CLINK_DATABASE_URL)")?;
    let pending = db.pending_migrations().await.context("reading which migrations the database has")?;
    if !pending.is_empty() {
        let list = migration_list(&pending);
        anyhow::bail!(
            "the database lacks migration(s) {list} that this version needs: run `clink migrate` first, or start without --no-migrate"
        );
    }
    Ok(db)
}

/// Migration versions as `1, 2, 3`.
pub fn migration_list(versions: &[i64]) -> String {
    versions.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

fn spawn_housekeeping(state: &AppState, webhook_backoff_ms: i64) {
    tokio::spawn(app::mail_drain::run(state.clone(), MAIL_INTERVAL));
    tokio::spawn(app::earnings::webhooks::run(state.db.clone(), WEBHOOK_INTERVAL, webhook_backoff_ms, state.settings.outbound));
    let limiter_state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tick.tick().await;
            limiter_state.limits.forget_idle();
        }
    });
    // At start (what a crash left) and every hour after.
    tokio::spawn(state.storage.clone().sweep_staging_every(STAGING_SWEEP_INTERVAL, STAGING_IDLE));
    // Deleted accounts' files, once their buyers' links have expired: at start and hourly.
    tokio::spawn(app::account_deletion::purge_files_every(state.db.clone(), state.storage.clone(), STAGING_SWEEP_INTERVAL));
    // Hourly, over the last 30 days: what the provider and the ledger disagree on goes to the
    // operator's log.
    tokio::spawn(app::checkout::reconcile::run_every(
        state.db.clone(),
        state.payments.clone(),
        RECONCILE_INTERVAL,
        RECONCILE_WINDOW,
        app::checkout::reconcile::log_findings,
    ));
    // Hourly: unpaid tabs reminded, locked, written off (each step once across the cluster).
    tokio::spawn(app::wallet::collection::run_every(state.clone(), TAB_COLLECTION_INTERVAL));
    let views_state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(VIEW_FLUSH_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = views_state.views.flush(&views_state.db).await {
                tracing::warn!(error = %e, "could not save link views; retrying");
            }
        }
    });
}

/// The signing key: from the config, else the one kept in the data directory (created once).
pub fn load_secret(config: &Config) -> anyhow::Result<AppSecret> {
    if let Some(key) = config.secret_key.as_ref().and_then(|k| AppSecret::from_base64(secrecy::ExposeSecret::expose_secret(k))) {
        return Ok(key);
    }
    let path = config.data_dir.join("secret.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return AppSecret::from_base64(&existing).with_context(|| format!("{} is not a valid key", path.display()));
    }
    let key = AppSecret::generate();
    std::fs::write(&path, key.to_base64()).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(key)
}

/// How often unpaid tabs are looked at (`app::wallet::collection`).
pub const TAB_COLLECTION_INTERVAL: Duration = Duration::from_secs(3600);

/// How long a staging file of an upload must be untouched to count as abandoned (a live
/// upload writes to it constantly; the body idle timeout ends a stalled one long before).
pub const STAGING_IDLE: Duration = Duration::from_secs(600);

/// How often abandoned staging files are looked for.
pub const STAGING_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// How often the provider's payments are compared with the ledger, and over how long a past.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(3600);
pub const RECONCILE_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// How often due sale webhooks are sent.
pub const WEBHOOK_INTERVAL: Duration = Duration::from_millis(500);

/// How often the mail outbox is drained.
pub const MAIL_INTERVAL: Duration = Duration::from_millis(500);

/// How often counted link views reach the database.
pub const VIEW_FLUSH_INTERVAL: Duration = Duration::from_secs(2);

fn leptos_options(config: &Config) -> LeptosOptions {
    // cargo-leptos writes the asset hashes next to the binary; without that file (tests, a
    // plain `cargo run`) the assets keep their plain names.
    let hashes_present =
        std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt"))).is_some_and(|p| p.exists());
    LeptosOptions::builder()
        .output_name("clink")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(config.site_addr)
        .hash_files(hashes_present)
        .env(if config.dev_mode { leptos::config::Env::DEV } else { leptos::config::Env::PROD })
        .build()
}

/// The app's routes, generated once per process.
///
/// Generating them runs the app with resource loading switched off through a process-wide flag
/// (leptos_server's `SuppressResourceLoad`): a page rendering anywhere in the process at that
/// moment whose resource is first polled then waits forever (leptos issue #4773). A server
/// generates its routes before it serves, so one server per process never sees this; the
/// integration tests start many servers in one process, and about one run in fifteen had a
/// page of one test hang while another test started its server.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState, sessions: CachedSessions, config: &Config) -> Router {
    let provide_state = {
        let state = state.clone();
        move || {
            provide_context(state.leptos_options.clone());
            provide_context(state.clone());
        }
    };
    let render_shell = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };

    let session_layer = SessionManagerLayer::new(sessions)
        .with_name("clink_session")
        .with_secure(state.settings.uses_https())
        .with_same_site(SameSite::Lax)
        .with_http_only(true)
        .with_expiry(Expiry::OnInactivity(CookieDuration::days(14)));

    let base_url: Arc<str> = Arc::from(config.base_url.as_str());
    Router::new()
        .leptos_routes_with_context(&state, route_list(), provide_state.clone(), render_shell)
        .merge(http::health::router(metrics_handle(), config.metrics_token.clone()))
        .merge(http::uploads::router(config.upload_limit_bytes))
        .merge(http::api_v1::router(config.upload_limit_bytes))
        .merge(http::links::router(http::links::new_card_cache()))
        .merge(http::checkout::router())
        .merge(http::downloads::router())
        .merge(http::wallet::router())
        .merge(http::accounts::router())
        .merge(http::earnings::router())
        .merge(http::export::router())
        .nest_service("/pkg", static_assets(&config.site_root.join("pkg"), state.leptos_options.hash_files))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(provide_state, shell))
        .layer(from_fn(middleware::server_fn_status))
        .layer(from_fn_with_state(state.clone(), middleware::old_handle_redirects))
        .layer(from_fn_with_state(state.clone(), middleware::count_link_views))
        .layer(session_layer)
        .layer(from_fn(middleware::strict_forms))
        .layer(from_fn_with_state(base_url, middleware::csrf))
        .layer(from_fn_with_state(config.trust_forwarded_for, middleware::client_ip))
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(not_a_download)))
        .layer(from_fn(middleware::track_metrics))
        .layer(trace_layer())
        .layer(from_fn_with_state(state.clone(), http::link_cache::cached_link_page))
        .layer(from_fn_with_state(content_policy(config), middleware::security_headers))
        // A request body that stops arriving for this long ends the request (an upload of any
        // size keeps going while bytes flow).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(config.timeouts.body_idle))
        .with_state(state)
}

/// The page policy: Stripe's origins (or the simulator's) are allowed when Stripe is on.
fn content_policy(config: &Config) -> middleware::ContentPolicy {
    let origin = |url: &str| -> Option<String> {
        let (scheme, rest) = url.split_once("://")?;
        Some(format!("{scheme}://{}", rest.split('/').next()?))
    };
    let mut origins = Vec::new();
    if let Some(stripe) = &config.stripe {
        origins.extend(origin(&stripe.js_url));
        origins.extend(stripe.api_base.as_deref().and_then(origin));
        if stripe.api_base.is_none() {
            origins.push("https://api.stripe.com".into());
        }
        // Stripe.js frames its card fields and 3-D Secure pages from these.
        origins.extend(["https://js.stripe.com".to_string(), "https://hooks.stripe.com".to_string()]);
        origins.sort();
        origins.dedup();
    }
    middleware::ContentPolicy::new(&origins, config.base_url.starts_with("https://"))
}

/// Downloads are never compressed on the fly: that would break byte ranges and resuming.
fn not_a_download(_: axum::http::StatusCode, _: axum::http::Version, headers: &axum::http::HeaderMap, _: &axum::http::Extensions) -> bool {
    !headers.contains_key(header::CONTENT_DISPOSITION)
}

/// The compiled CSS, JS and wasm. Hashed file names never change content, so they are cached
/// for a year; unhashed ones (debug builds) are revalidated.
fn static_assets(dir: &Path, hashed: bool) -> Router {
    let cache = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
    let service = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static(cache)))
        .service(ServeDir::new(dir).precompressed_br().precompressed_gzip());
    Router::new().fallback_service(service)
}

#[expect(clippy::type_complexity, reason = "tower-http's layer type, spelled out once")]
fn trace_layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&Request) -> Span + Clone,
    (),
    impl Fn(&Response, Duration, &Span) + Clone,
> {
    TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
            tracing::info_span!("request", method = %req.method(), route, status = tracing::field::Empty)
        })
        .on_request(())
        .on_response(|res: &Response, latency: Duration, span: &Span| {
            span.record("status", res.status().as_u16());
            tracing::info!(status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "served");
        })
}

/// The process-wide Prometheus recorder (a process has one global metrics recorder; tests
/// start many apps in one process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0],
                )
                .expect("static bucket list is valid")
                .build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Serves on an already-bound listener until `shutdown` resolves, then lets open requests
/// finish (for up to `DRAIN`).
///
/// The accept loop is hyper's own rather than `axum::serve`, for its timeouts: a client that
/// sends half a request header and waits holds a connection (and a task) until
/// `timeouts.header_read` passes, not forever; a request body that stops arriving is cut off
/// after `timeouts.body_idle` (see `router`).
pub async fn serve_on(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.header_read);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(Duration::from_secs(30)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: the next accept may work.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            // The profile rewrite wraps the router: inside it, routing has already happened.
            router.clone().oneshot(middleware::rewrite_profile_path(req))
        });
        let connection = graceful.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still open after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

/// How long open requests may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);

/// How long a client may take to send a request's header, and to send the next piece of its body.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub body_idle: Duration,
}

/// `clink serve`: build, bind, serve until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let (router, state) = build(&config).await?;
    let listener = TcpListener::bind(config.site_addr).await.with_context(|| format!("binding {} (LEPTOS_SITE_ADDR)", config.site_addr))?;
    tracing::info!(base_url = %config.base_url, addr = %config.site_addr, database = ?state.db.backend(), "clink is listening");
    serve_on(listener, router, config.timeouts, shutdown_signal()).await?;
    // Views counted since the last flush would otherwise be lost on a clean shutdown.
    let _ = state.views.flush(&state.db).await;
    state.db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
