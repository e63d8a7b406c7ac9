//! Work uploads: streaming multipart with a byte cap, shared by the dashboard form (with or
//! without JavaScript) and the creator API. Nothing is half-saved: until the work row commits,
//! every stored object is tracked and removed if anything fails — including the client going
//! away mid-upload, which drops this future.

use app::{
    accounts::session,
    catalog::{
        domain::sanitize_filename,
        service::{self, CatalogError, StoredCover, UploadedFile, WorkDraft, WorkFields},
        store::WorkRow,
    },
    db,
    error::AppError,
    state::AppState,
    storage::Storage,
};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Multipart, Path, State, multipart::Field},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use bytes::{Bytes, BytesMut};
use tower_sessions::Session;

/// Covers are read into memory to be decoded, so they have their own small cap.
const COVER_LIMIT: usize = 20 * 1024 * 1024;
/// Text fields (title, description...) are small.
const TEXT_LIMIT: usize = 64 * 1024;
/// Room for the multipart framing and text fields on top of the file bytes.
const OVERHEAD: u64 = 1024 * 1024;

pub fn router(upload_limit: u64) -> Router<AppState> {
    Router::new()
        .route("/dashboard/works", post(create_from_form))
        .route("/dashboard/works/{id}/cover", post(replace_cover))
        .route("/settings/avatar", post(replace_avatar))
        .layer(DefaultBodyLimit::max((upload_limit + OVERHEAD) as usize))
}

/// Objects written during a request that must not survive its failure. Dropping the tracker
/// while armed deletes them in the background.
pub struct Orphans {
    storage: Storage,
    keys: Vec<String>,
}

impl Orphans {
    pub fn new(storage: Storage) -> Self {
        Orphans { storage, keys: Vec::new() }
    }

    fn track(&mut self, key: impl Into<String>) {
        self.keys.push(key.into());
    }

    fn keep(mut self) {
        self.keys.clear();
    }
}

impl Drop for Orphans {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let storage = self.storage.clone();
        let keys = std::mem::take(&mut self.keys);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { storage.discard(&keys).await });
        }
    }
}

fn too_large(limit: u64) -> CatalogError {
    CatalogError::TooLarge { limit }
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: u64) -> CatalogError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large(limit) } else { CatalogError::Interrupted(e.body_text()) }
}

/// Reads a whole small field, refusing more than `cap` bytes.
async fn read_capped(field: &mut Field<'_>, cap: usize, limit: u64) -> Result<Option<Bytes>, CatalogError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        if buf.len() + chunk.len() > cap {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

/// Receives a work form: text fields first (the forms put them before the file inputs), then
/// an optional `cover` and one or more `files`. Validates the text before any file is stored.
pub async fn receive_work(
    state: &AppState,
    creator_id: &str,
    headers: &HeaderMap,
    mut multipart: Multipart,
) -> Result<WorkRow, CatalogError> {
    let limit = state.settings.upload_limit_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit + OVERHEAD) {
        return Err(too_large(limit));
    }

    let work_id = db::new_id();
    let mut orphans = Orphans::new(state.storage.clone());
    let mut fields = WorkFields::default();
    let mut text_fields = std::collections::HashSet::new();
    let mut draft: Option<WorkDraft> = None;
    let mut files: Vec<UploadedFile> = Vec::new();
    let mut cover: Option<StoredCover> = None;
    let mut received: u64 = 0;

    while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(e, limit))? {
        let name = field.name().unwrap_or_default().to_string();
        let Some(original_name) = field.file_name().map(str::to_string) else {
            let text = read_capped(&mut field, TEXT_LIMIT, limit)
                .await?
                .ok_or_else(|| app::error::FieldError::new("form", "A text field is too long."))?;
            let text = String::from_utf8(text.to_vec())
                .map_err(|_| app::error::FieldError::new("form", "The form held text that isn't UTF-8."))?;
            // A field sent twice is refused rather than "the last one wins": the two values
            // can't both be what was meant (two prices, say).
            if !text_fields.insert(name.clone()) {
                return Err(app::error::FieldError::new("form", format!("The form sent the field “{name}” twice.")).into());
            }
            fields.set(&name, text);
            continue;
        };
        if draft.is_none() {
            draft = Some(WorkDraft::parse(&fields)?);
        }
        match name.as_str() {
            "cover" => {
                let bytes = read_capped(&mut field, COVER_LIMIT, limit)
                    .await?
                    .ok_or_else(|| app::error::FieldError::new("cover", "The cover image is over 20 MB; use a smaller one."))?;
                if bytes.is_empty() {
                    continue; // no cover chosen
                }
                received += bytes.len() as u64;
                let stored = service::store_cover(&state.storage, &work_id, bytes).await?;
                orphans.track(&stored.cover_key);
                orphans.track(&stored.thumb_key);
                cover = Some(stored);
            }
            "files" | "file" => {
                let key = format!("works/{work_id}/{}", db::new_id());
                let mut upload = state.storage.upload(&key).await?;
                loop {
                    let chunk = match field.chunk().await {
                        Ok(Some(chunk)) => chunk,
                        Ok(None) => break,
                        Err(e) => {
                            upload.abort().await;
                            return Err(multipart_error(e, limit));
                        }
                    };
                    received += chunk.len() as u64;
                    if received > limit {
                        upload.abort().await;
                        return Err(too_large(limit));
                    }
                    if let Err(e) = upload.write(chunk).await {
                        upload.abort().await;
                        return Err(e.into());
                    }
                }
                if upload.size() == 0 && original_name.is_empty() {
                    upload.abort().await; // an empty file input
                    continue;
                }
                let stored = upload.finish().await?;
                orphans.track(&stored.key);
                files.push(UploadedFile { stored, filename: sanitize_filename(&original_name) });
            }
            _ => {
                // Unknown file fields are drained and ignored.
                while field.chunk().await.map_err(|e| multipart_error(e, limit))?.is_some() {}
            }
        }
    }

    let draft = match draft {
        Some(d) => d,
        None => WorkDraft::parse(&fields)?,
    };
    let row = service::create_work(&state.db, creator_id, &work_id, &draft, &files, cover.as_ref()).await?;
    orphans.keep();
    Ok(row)
}

/// Whether the client wants JSON (the upload script, the API) rather than a page.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// Why a buyer account can't upload yet, and what to do.
pub const NOT_SELLING: &str = "Pick your storefront's handle first: open /dashboard/works/new and choose \"Start selling\".";

async fn signed_in(state: &AppState, session: &Session) -> Option<String> {
    session::signed_in_account_id(session, &state.db).await
}

async fn create_from_form(State(state): State<AppState>, session: Session, headers: HeaderMap, multipart: Multipart) -> Response {
    let json = wants_json(&headers);
    let Some(creator_id) = signed_in(&state, &session).await else {
        return if json {
            AppError::Unauthorized.into_response()
        } else {
            super::redirect_to("/login?next=/dashboard/works/new").into_response()
        };
    };
    // A buyer account opts in to selling (and picks its handle) before its first work: the
    // form page shows them that step instead of the upload form. Checked before the body.
    match app::accounts::store::find_by_id(&state.db, &creator_id).await {
        Ok(Some(account)) if account.sells => {}
        Ok(_) if json => return AppError::Conflict(NOT_SELLING.into()).into_response(),
        Ok(_) => return super::redirect_to("/dashboard/works/new").into_response(),
        Err(e) => return app::error::internal("account lookup failed", &e).into_response(),
    }
    match receive_work(&state, &creator_id, &headers, multipart).await {
        Ok(row) => {
            let redirect = format!("/dashboard/works/{}?created=1", row.work_id);
            if json {
                let body = serde_json::json!({ "id": row.work_id, "code": row.code, "redirect": redirect });
                (StatusCode::CREATED, Json(body)).into_response()
            } else {
                super::redirect_to(&redirect).into_response()
            }
        }
        Err(err) => {
            let err = upload_error(err);
            if json {
                err.into_response()
            } else {
                let mut to = format!("/dashboard/works/new?error={}", urlencode(&err.to_string()));
                if let Some(field) = err.field() {
                    to.push_str(&format!("&field={}", urlencode(field)));
                }
                super::redirect_to(&to).into_response()
            }
        }
    }
}

async fn replace_cover(State(state): State<AppState>, session: Session, Path(work_id): Path<String>, mut multipart: Multipart) -> Response {
    let Some(creator_id) = signed_in(&state, &session).await else {
        return super::redirect_to("/login").into_response();
    };
    let back = format!("/dashboard/works/{}", urlencode(&work_id));
    let mut image = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(mut field)) if field.name() == Some("cover") => match read_capped(&mut field, COVER_LIMIT, COVER_LIMIT as u64).await {
                Ok(Some(bytes)) => image = Some(bytes),
                Ok(None) => {
                    return super::redirect_to(&format!("{back}?cover_error={}", urlencode("The cover image is over 20 MB.")))
                        .into_response();
                }
                Err(_) => return super::redirect_to(&back).into_response(),
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return super::redirect_to(&back).into_response(),
        }
    }
    let Some(image) = image.filter(|b| !b.is_empty()) else {
        return super::redirect_to(&format!("{back}?cover_error={}", urlencode("Choose an image first."))).into_response();
    };
    match service::replace_cover(&state.db, &state.storage, &state.page_cache, &creator_id, &work_id, image).await {
        Ok(()) => super::redirect_to(&back).into_response(),
        Err(CatalogError::NotFound) => AppError::NotFound.into_response(),
        Err(err) => {
            let err = AppError::from(err);
            super::redirect_to(&format!("{back}?cover_error={}", urlencode(&err.to_string()))).into_response()
        }
    }
}

/// A new profile picture (or `remove=1` to go back to the initial).
async fn replace_avatar(State(state): State<AppState>, session: Session, mut multipart: Multipart) -> Response {
    let Some(account_id) = signed_in(&state, &session).await else {
        return super::redirect_to("/login?next=/settings").into_response();
    };
    let back = |error: &str| super::redirect_to(&format!("/settings?avatar_error={}#profile", urlencode(error))).into_response();
    let mut image = None;
    let mut remove = false;
    loop {
        match multipart.next_field().await {
            Ok(Some(mut field)) if field.name() == Some("avatar") => match read_capped(&mut field, COVER_LIMIT, COVER_LIMIT as u64).await {
                Ok(Some(bytes)) => image = Some(bytes),
                Ok(None) => return back("The picture is over 20 MB; use a smaller one."),
                Err(_) => return back("The upload was interrupted. Please try again."),
            },
            Ok(Some(field)) if field.name() == Some("remove") => remove = true,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => return back("The upload was interrupted. Please try again."),
        }
    }
    let new_key = match image.filter(|b| !b.is_empty()) {
        Some(bytes) => {
            let jpeg = match tokio::task::spawn_blocking(move || app::catalog::media::process_avatar(&bytes)).await {
                Ok(Ok(jpeg)) => jpeg,
                Ok(Err(app::catalog::media::MediaError::TooLarge)) => {
                    return back("That image is too large; use one under 10,000 pixels wide.");
                }
                Ok(Err(_)) => return back("The picture must be a PNG, JPEG, WebP or GIF image."),
                Err(e) => return app::error::internal("processing an avatar", &e).into_response(),
            };
            let key = format!("avatars/{account_id}/{}.jpg", db::new_id());
            if let Err(e) = state.storage.put(&key, jpeg.into()).await {
                return app::error::internal("storing an avatar", &e).into_response();
            }
            Some(key)
        }
        None if remove => None,
        None => return back("Choose a picture first."),
    };
    match app::accounts::service::set_avatar(&state.db, &state.storage, &state.page_cache, &account_id, new_key.as_deref()).await {
        Ok(()) => super::redirect_to("/settings?saved=1#profile").into_response(),
        Err(e) => {
            if let Some(key) = new_key {
                state.storage.discard(&[key]).await;
            }
            app::error::internal("saving an avatar", &e).into_response()
        }
    }
}

/// An upload's failure for the uploader: a full disk is 507 Insufficient Storage (the file
/// didn't fit; nothing was kept), everything else as the catalog says.
fn upload_error(err: CatalogError) -> AppError {
    let full = app::error::storage_trouble(&err.to_string()) == Some(app::error::StorageTrouble::Full);
    match AppError::from(err) {
        AppError::Unavailable(_) | AppError::Internal if full => AppError::InsufficientStorage(
            "The server has no room for this upload right now. Nothing was kept; please try again later.".into(),
        ),
        other => other,
    }
}

pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
