//! Public link assets: cover images, the generated preview card, QR codes, oEmbed, and the
//! Mastodon share redirect.

use std::time::Duration;

use app::{
    catalog::{
        api::storefront_view,
        domain::is_link_code,
        media::{self, CardText},
        service::{self, LinkRef},
        store,
    },
    error::{AppError, internal},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use bytes::Bytes;
use moka::future::Cache;
use serde::Deserialize;

/// Rendered preview cards, keyed by code and last update (an edit changes the key).
pub type CardCache = Cache<(String, i64), Bytes>;

pub fn new_card_cache() -> CardCache {
    Cache::builder().max_capacity(1_000).time_to_live(Duration::from_secs(3600)).build()
}

pub fn router(cards: CardCache) -> Router<AppState> {
    Router::new()
        .route("/l/{code}/cover.jpg", get(cover))
        .route("/l/{code}/thumb.jpg", get(thumb))
        .route("/l/{code}/card.png", get(move |state, code| card(state, code, cards.clone())))
        .route("/l/{code}/qr.svg", get(qr))
        .route("/oembed", get(oembed))
        .route("/share/mastodon", get(share_on_mastodon))
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
    let work = store::find_live_by_code(&state.db, code)
        .await
        .map_err(|e| internal("loading a cover", &e))?
        .ok_or(AppError::NotFound)?;
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

/// The 1200x630 preview card for works without a cover: title, creator and price.
async fn card(State(state): State<AppState>, Path(code): Path<String>, cards: CardCache) -> Result<Response, AppError> {
    let row = service::storefront(&state.db, &LinkRef::Code(code.clone())).await.map_err(AppError::from)?;
    let key = (code, row.work.updated_at);
    let png = cards
        .try_get_with(key, async move {
            let title = row.work.title.clone();
            let creator = row.display_name.clone();
            let price = row.work.price().label();
            tokio::task::spawn_blocking(move || {
                media::render_card(&CardText { title: &title, creator: &creator, price: &price }).map(Bytes::from)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| internal("rendering a preview card", &e))?;
    Ok(image_response("image/png", png, 3600))
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
    let path = url
        .strip_prefix(&state.settings.base_url)
        .ok_or(AppError::NotFound)?
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let link = match segments.as_slice() {
        ["l", code] => LinkRef::Code(code.to_string()),
        [handle, slug] => LinkRef::Slug { handle: handle.to_string(), slug: slug.to_string() },
        _ => return Err(AppError::NotFound),
    };
    let row = service::storefront(&state.db, &link).await.map_err(AppError::from)?;
    let view = storefront_view(&state.settings, row);
    let button = format!(
        "<a href=\"{url}\" style=\"display:inline-block;padding:10px 18px;background:#4338ca;color:#fff;border-radius:10px;font:600 16px system-ui,sans-serif;text-decoration:none\">Buy on Clink — {price}</a>",
        url = html_escape(&view.canonical_url),
        price = html_escape(&view.price_label),
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

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[derive(Deserialize)]
struct MastodonShare {
    instance: String,
    text: String,
}

/// Sends the sharer to their own Mastodon instance's share page. The instance is checked to be
/// a plain host name, so this can't be used as an open redirect to arbitrary URLs.
async fn share_on_mastodon(Query(q): Query<MastodonShare>) -> Result<Response, AppError> {
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
