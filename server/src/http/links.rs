//! Public link assets: cover images (JPEG and WebP), the unfurl previews (the cover with its
//! text, or the generated card), creators' avatars, QR codes, oEmbed, and the Mastodon share
//! redirect.

use std::time::Duration;

use app::{
    accounts::domain::accent_color,
    catalog::{
        api::{image_version, storefront_view},
        domain::is_link_code,
        media::{self, CardText},
        service::{self, LinkRef},
        store,
    },
    error::{AppError, internal},
    state::AppState,
};
use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use bytes::Bytes;
use moka::future::Cache;
use serde::Deserialize;

/// Rendered unfurl images, keyed by code and image version (an edit of the work or of its
/// creator's name or colour changes the key).
pub type CardCache = Cache<(String, String), Bytes>;

pub fn new_card_cache() -> CardCache {
    Cache::builder().max_capacity(1_000).time_to_live(Duration::from_secs(3600)).build()
}

pub fn router(cards: CardCache) -> Router<AppState> {
    Router::new()
        .route("/l/{code}/cover.jpg", get(cover))
        .route("/l/{code}/thumb.jpg", get(thumb))
        .route("/l/{code}/cover.webp", get(cover_webp))
        .route(
            "/l/{code}/card.png",
            get({
                let cards = cards.clone();
                move |state, code| card(state, code, cards.clone())
            }),
        )
        .route("/l/{code}/preview.jpg", get(move |state, code| preview(state, code, cards.clone())))
        .route("/u/{handle}/avatar.jpg", get(avatar))
        .route("/l/{code}/qr.svg", get(qr))
        .route("/oembed", get(oembed))
        .route("/share/mastodon", post(share_on_mastodon))
}

fn image_response(content_type: &'static str, bytes: Bytes, max_age: u32) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_str(&format!("public, max-age={max_age}")).unwrap()),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        bytes,
    )
        .into_response()
}

async fn cover_image(state: &AppState, code: &str, thumb: bool) -> Result<Response, AppError> {
    if !is_link_code(code) {
        return Err(AppError::NotFound);
    }
    let work = store::find_live_by_code(&state.db, code).await.map_err(|e| internal("loading a cover", &e))?.ok_or(AppError::NotFound)?;
    let key = if thumb { work.thumb_key } else { work.cover_key }.ok_or(AppError::NotFound)?;
    let bytes = state.storage.read(&key).await.map_err(|e| match e {
        app::storage::StorageError::NotFound => AppError::NotFound,
        e => internal("reading a cover", &e),
    })?;
    Ok(image_response("image/jpeg", bytes, 86_400))
}

async fn cover(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response, AppError> {
    cover_image(&state, &code, false).await
}

async fn thumb(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response, AppError> {
    cover_image(&state, &code, true).await
}

/// The text of a work's unfurl image, and its cache key.
async fn unfurl_text(state: &AppState, code: String) -> Result<(store::StorefrontRow, (String, String), String), AppError> {
    let row = service::storefront(&state.db, &LinkRef::Code(code.clone())).await.map_err(AppError::from)?;
    let accent = accent_color(&row.handle, row.accent_color.as_deref());
    let key = (code, image_version(&row.work, &row.display_name, &accent));
    Ok((row, key, accent))
}

/// Renders (or finds) an unfurl image; `render` runs on a blocking thread.
async fn rendered(
    cards: &CardCache,
    key: (String, String),
    render: impl FnOnce() -> Result<Vec<u8>, media::MediaError> + Send + 'static,
) -> Result<Bytes, AppError> {
    cards
        .try_get_with(key, async move {
            tokio::task::spawn_blocking(move || render().map(Bytes::from)).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| internal("rendering an unfurl image", &e))
}

/// The 1200x630 preview card for works without a cover: title, creator and price on the
/// creator's colour.
async fn card(State(state): State<AppState>, Path(code): Path<String>, cards: CardCache) -> Result<Response, AppError> {
    let (row, key, accent) = unfurl_text(&state, code).await?;
    let png = rendered(&cards, key, move || {
        let price = row.work.price().label();
        media::render_card(&CardText { title: &row.work.title, creator: &row.display_name, price: &price, accent: &accent })
    })
    .await?;
    Ok(image_response("image/png", png, 3600))
}

/// The unfurl preview of a work with a cover: the cover with its title, creator and price.
async fn preview(State(state): State<AppState>, Path(code): Path<String>, cards: CardCache) -> Result<Response, AppError> {
    let (row, key, accent) = unfurl_text(&state, code).await?;
    let cover_key = row.work.cover_key.clone().ok_or(AppError::NotFound)?;
    let cover = state.storage.read(&cover_key).await.map_err(|e| match e {
        app::storage::StorageError::NotFound => AppError::NotFound,
        e => internal("reading a cover", &e),
    })?;
    let jpeg = rendered(&cards, key, move || {
        let price = row.work.price().label();
        media::render_cover_preview(
            &cover,
            &CardText { title: &row.work.title, creator: &row.display_name, price: &price, accent: &accent },
        )
    })
    .await?;
    Ok(image_response("image/jpeg", jpeg, 3600))
}

/// The link page's own cover image, as WebP. Made from the stored JPEG on first request and
/// kept beside it in storage.
async fn cover_webp(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response, AppError> {
    if !is_link_code(&code) {
        return Err(AppError::NotFound);
    }
    let work = store::find_live_by_code(&state.db, &code).await.map_err(|e| internal("loading a cover", &e))?.ok_or(AppError::NotFound)?;
    let jpeg_key = work.cover_key.ok_or(AppError::NotFound)?;
    let webp_key = format!("{}.webp", jpeg_key.trim_end_matches(".jpg"));
    let read_error = |e: app::storage::StorageError| match e {
        app::storage::StorageError::NotFound => AppError::NotFound,
        e => internal("reading a cover", &e),
    };
    match state.storage.read(&webp_key).await {
        Ok(bytes) => return Ok(image_response("image/webp", bytes, 86_400)),
        Err(app::storage::StorageError::NotFound) => {}
        Err(e) => return Err(read_error(e)),
    }
    let jpeg = state.storage.read(&jpeg_key).await.map_err(read_error)?;
    let webp = tokio::task::spawn_blocking(move || media::jpeg_to_webp(&jpeg))
        .await
        .map_err(|e| internal("encoding a cover", &e))?
        .map_err(|e| internal("encoding a cover", &e))?;
    let webp = Bytes::from(webp);
    // Not kept if storage refuses: the next visit encodes it again.
    if let Err(e) = state.storage.put(&webp_key, webp.clone()).await {
        tracing::warn!(error = %e, "could not keep a WebP cover");
    }
    Ok(image_response("image/webp", webp, 86_400))
}

/// A creator's avatar (256x256 JPEG), for creators with a public profile.
async fn avatar(State(state): State<AppState>, Path(handle): Path<String>) -> Result<Response, AppError> {
    let account = app::accounts::store::find_by_handle(&state.db, &handle.to_lowercase())
        .await
        .map_err(|e| internal("loading an avatar", &e))?
        .filter(|a| a.sells)
        .ok_or(AppError::NotFound)?;
    let key = account.avatar_key.ok_or(AppError::NotFound)?;
    let bytes = state.storage.read(&key).await.map_err(|e| match e {
        app::storage::StorageError::NotFound => AppError::NotFound,
        e => internal("reading an avatar", &e),
    })?;
    Ok(image_response("image/jpeg", bytes, 86_400))
}

async fn qr(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response, AppError> {
    if !is_link_code(&code) {
        return Err(AppError::NotFound);
    }
    let svg = media::qr_svg(&state.settings.absolute_url(&format!("/l/{code}"))).map_err(|e| internal("QR code", &e))?;
    Ok(image_response("image/svg+xml", Bytes::from(svg), 86_400))
}

#[derive(Deserialize)]
struct OembedQuery {
    url: Option<String>,
    format: Option<String>,
}

/// oEmbed (https://oembed.com): a "rich" embed with a Buy button, for blogs and chat apps.
async fn oembed(State(state): State<AppState>, Query(q): Query<OembedQuery>) -> Result<Response, AppError> {
    if q.format.as_deref().is_some_and(|f| f != "json") {
        return Ok((StatusCode::NOT_IMPLEMENTED, "Only format=json is supported.").into_response());
    }
    let url = q.url.ok_or_else(|| AppError::BadRequest("Pass the link as ?url=".into()))?;
    let path = url.strip_prefix(&state.settings.base_url).ok_or(AppError::NotFound)?.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let link = match segments.as_slice() {
        ["l", code] => LinkRef::Code(code.to_string()),
        [handle, slug] => LinkRef::Slug { handle: handle.to_string(), slug: slug.to_string() },
        _ => return Err(AppError::NotFound),
    };
    let row = service::storefront(&state.db, &link).await.map_err(AppError::from)?;
    let files = store::files_of(&state.db, &row.work.work_id).await.map_err(|e| internal("oEmbed", &e))?;
    let view = storefront_view(&state.settings, row, &files);
    let button = format!(
        "<a href=\"{url}\" style=\"display:inline-block;padding:10px 18px;background:#4338ca;color:#fff;border-radius:10px;font:600 16px system-ui,sans-serif;text-decoration:none\">Buy on Clink — {price}</a>",
        url = app::ui::escape_html(&view.canonical_url),
        price = app::ui::escape_html(&view.price_label),
    );
    Ok(Json(serde_json::json!({
        "version": "1.0",
        "type": "rich",
        "provider_name": "Clink",
        "provider_url": state.settings.base_url,
        "title": view.title,
        "author_name": view.creator_name,
        "author_url": state.settings.absolute_url(&format!("/l/{}", view.code)),
        "html": button,
        "width": 320,
        "height": 48,
        "thumbnail_url": view.image_url,
        "thumbnail_width": 1200,
        "thumbnail_height": 630,
        "cache_age": 3600,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct MastodonShare {
    instance: String,
    text: String,
}

/// Sends the sharer to their own Mastodon instance's share page: the one redirect that leaves
/// the site on purpose. It answers only a POST from Clink's own share form (the CSRF check
/// refuses any other origin), so nobody can hand out a Clink link that lands elsewhere; the
/// instance must be a plain host name.
async fn share_on_mastodon(Form(q): Form<MastodonShare>) -> Result<Response, AppError> {
    let host = q
        .instance
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches('@')
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let valid = host.len() <= 253
        && host.contains('.')
        && !host.starts_with(['.', '-'])
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !valid {
        return Err(AppError::invalid("instance", "Enter your Mastodon server's name, like mastodon.social."));
    }
    let text = percent_encoding::utf8_percent_encode(&q.text, percent_encoding::NON_ALPHANUMERIC);
    Ok(Redirect::to(&format!("https://{host}/share?text={text}")).into_response())
}
