//! The creator API (like Gumroad's): bearer-token JSON endpoints for works. A creator only
//! ever sees their own works: every query is scoped by the token's account, and another
//! creator's work answers 404, exactly like a missing one.

use app::{
    accounts::{store::AccountRow, tokens},
    catalog::{
        service::{self, CatalogError, WorkDraft, WorkFields},
        store::{self, FileRow, WorkRow},
    },
    error::{AppError, internal},
    money::amount_input,
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, State, rejection::JsonRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::uploads::receive_work;

pub fn router(upload_limit: u64) -> Router<AppState> {
    Router::new()
        .route("/api/v1/works", get(list).post(create))
        .route("/api/v1/works/{id}", get(show).patch(update).delete(remove))
        .layer(DefaultBodyLimit::max((upload_limit + 1024 * 1024) as usize))
}

/// The account behind a valid `Authorization: Bearer clk_…` header.
pub struct ApiCreator(pub AccountRow);

impl FromRequestParts<AppState> for ApiCreator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            let mut res = AppError::Unauthorized.into_response();
            res.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer".parse().unwrap());
            res
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(unauthorized)?;
        match tokens::authenticate(&state.db, token).await {
            Ok(Some(account)) => Ok(ApiCreator(account)),
            Ok(None) => Err(unauthorized()),
            Err(e) => Err(AppError::from(e).into_response()),
        }
    }
}

/// A stored time (milliseconds) as RFC 3339, as every API answer and CSV export writes it.
pub(super) fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

fn work_json(state: &AppState, handle: &str, w: &WorkRow, files: Option<&[FileRow]>) -> Value {
    let price = w.price();
    let mut v = json!({
        "id": w.work_id,
        "title": w.title,
        "description": w.description_md,
        "price": {
            "kind": price.kind(),
            "currency": price.currency().code(),
            "amount": price.floor().decimal(),
            "amount_minor": price.floor().minor,
            "suggested": price.suggested().map(|s| s.decimal()),
            "suggested_minor": price.suggested().map(|s| s.minor),
            "label": price.label(),
            "wallet_only": price.wallet_only(),
        },
        "code": w.code,
        "short_url": state.settings.absolute_url(&format!("/l/{}", w.code)),
        "slug": w.slug,
        "slug_url": w.slug.as_ref().map(|s| state.settings.absolute_url(&format!("/{handle}/{s}"))),
        "published": w.published,
        "max_downloads": w.max_downloads,
        "link_expiry_days": w.link_expiry_days,
        "cover_url": w.cover_key.as_ref().map(|_| state.settings.absolute_url(&format!("/l/{}/cover.jpg", w.code))),
        "created_at": iso(w.created_at),
        "updated_at": iso(w.updated_at),
    });
    if let Some(files) = files {
        v["files"] = files
            .iter()
            .map(|f| json!({"id": f.file_id, "filename": f.filename, "content_type": f.content_type, "size_bytes": f.size_bytes, "sha256": f.sha256}))
            .collect();
    }
    v
}

fn db_error(e: sqlx::Error) -> AppError {
    internal("api query failed", &e)
}

async fn list(State(state): State<AppState>, ApiCreator(me): ApiCreator) -> Result<Json<Value>, AppError> {
    let rows = store::list_owned(&state.db, &me.account_id).await.map_err(db_error)?;
    let works: Vec<Value> = rows.iter().map(|w| work_json(&state, &me.handle, w, None)).collect();
    Ok(Json(json!({ "works": works })))
}

async fn show(State(state): State<AppState>, ApiCreator(me): ApiCreator, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    let w = service::owned_work(&state.db, &me.account_id, &id).await?;
    let files = store::files_of(&state.db, &w.work_id).await.map_err(db_error)?;
    Ok(Json(json!({ "work": work_json(&state, &me.handle, &w, Some(&files)) })))
}

async fn create(
    State(state): State<AppState>,
    ApiCreator(me): ApiCreator,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    if !me.sells {
        return Err(AppError::Conflict(super::uploads::NOT_SELLING.into()));
    }
    let multipart = multipart.map_err(|e| AppError::BadRequest(format!("Send multipart/form-data: {}", e.body_text())))?;
    let w = receive_work(&state, &me.account_id, &headers, multipart).await?;
    let files = store::files_of(&state.db, &w.work_id).await.map_err(db_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "work": work_json(&state, &me.handle, &w, Some(&files)) }))).into_response())
}

/// `null` and "absent" differ in a PATCH: `Some(None)` clears a field, `None` leaves it.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PricePatch {
    kind: Option<String>,
    currency: Option<String>,
    /// Decimal strings ("4.99"), never JSON numbers: money is not a float.
    amount: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    suggested: Option<Option<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkPatch {
    title: Option<String>,
    description: Option<String>,
    price: Option<PricePatch>,
    #[serde(default, deserialize_with = "nullable")]
    slug: Option<Option<String>>,
    published: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    max_downloads: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    link_expiry_days: Option<Option<i64>>,
}

fn fields_of(w: &WorkRow) -> WorkFields {
    let price = w.price();
    WorkFields {
        title: w.title.clone(),
        description: w.description_md.clone(),
        currency: price.currency().code().into(),
        price_kind: price.kind().into(),
        price: amount_input(price.floor().minor),
        suggested: price.suggested().map(|s| amount_input(s.minor)).unwrap_or_default(),
        slug: w.slug.clone().unwrap_or_default(),
        max_downloads: w.max_downloads.map(|n| n.to_string()).unwrap_or_default(),
        link_expiry_days: w.link_expiry_days.map(|n| n.to_string()).unwrap_or_default(),
    }
}

async fn update(
    State(state): State<AppState>,
    ApiCreator(me): ApiCreator,
    Path(id): Path<String>,
    patch: Result<Json<WorkPatch>, JsonRejection>,
) -> Result<Json<Value>, AppError> {
    let Json(patch) = patch.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let current = service::owned_work(&state.db, &me.account_id, &id).await?;
    let mut f = fields_of(&current);
    if let Some(title) = patch.title {
        f.title = title;
    }
    if let Some(description) = patch.description {
        f.description = description;
    }
    if let Some(price) = patch.price {
        if let Some(kind) = price.kind {
            f.price_kind = kind;
            if f.price_kind == "fixed" {
                f.suggested.clear();
            }
        }
        if let Some(currency) = price.currency {
            f.currency = currency;
        }
        if let Some(amount) = price.amount {
            f.price = amount;
        }
        if let Some(suggested) = price.suggested {
            f.suggested = suggested.unwrap_or_default();
        }
    }
    if let Some(slug) = patch.slug {
        f.slug = slug.unwrap_or_default();
    }
    if let Some(n) = patch.max_downloads {
        f.max_downloads = n.map(|n| n.to_string()).unwrap_or_default();
    }
    if let Some(n) = patch.link_expiry_days {
        f.link_expiry_days = n.map(|n| n.to_string()).unwrap_or_default();
    }
    let draft = WorkDraft::parse(&f)?;
    service::update_work(&state.db, &state.page_cache, &me.account_id, &id, &draft).await?;
    if let Some(published) = patch.published {
        service::set_published(&state.db, &state.page_cache, &me.account_id, &id, published).await?;
    }
    let w = service::owned_work(&state.db, &me.account_id, &id).await?;
    let files = store::files_of(&state.db, &w.work_id).await.map_err(db_error)?;
    Ok(Json(json!({ "work": work_json(&state, &me.handle, &w, Some(&files)) })))
}

async fn remove(State(state): State<AppState>, ApiCreator(me): ApiCreator, Path(id): Path<String>) -> Result<StatusCode, AppError> {
    match service::delete_work(&state.db, &state.page_cache, &me.account_id, &id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(CatalogError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(e.into()),
    }
}
