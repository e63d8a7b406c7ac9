//! Catalog rules: creating works from uploaded files, editing, publishing, deleting, and
//! what a link page shows.

use serde::{Deserialize, Serialize};

use super::{
    domain::{self, Price, human_bytes},
    media::{self, MediaError},
    store::{self, FileRow, StorefrontRow, WorkEdit, WorkRow},
};
use crate::{
    db::{self, Db},
    error::{AppError, FieldError, internal},
    page_cache::PageCache,
    storage::{Storage, StorageError, StoredObject},
};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("work not found")]
    NotFound,
    #[error("slug already used")]
    SlugTaken,
    #[error("a work needs at least one file")]
    NoFile,
    #[error("upload larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    #[error("cover rejected: {0}")]
    BadCover(#[from] MediaError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Every random link code tried was taken (a code space nearly full, or a broken generator).
    #[error("could not allocate a unique link code")]
    NoFreeCode,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<CatalogError> for AppError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Invalid(field) => field.into(),
            CatalogError::NotFound => AppError::NotFound,
            CatalogError::SlugTaken => AppError::invalid("slug", "You already use this slug for another work."),
            CatalogError::NoFile => AppError::invalid("files", "Add at least one file to sell."),
            CatalogError::TooLarge { limit } => {
                AppError::TooLarge(format!("The upload is too large; the limit is {}.", human_bytes(limit)))
            }
            CatalogError::Interrupted(_) => {
                AppError::BadRequest("The upload was interrupted before it finished. Nothing was saved.".into())
            }
            CatalogError::BadCover(MediaError::TooLarge) => {
                AppError::invalid("cover", "That image is too large; use one under 10,000 pixels wide.")
            }
            CatalogError::BadCover(_) => AppError::invalid("cover", "The cover must be a PNG, JPEG, WebP or GIF image."),
            CatalogError::Storage(e) => internal("file storage failed", &e),
            e @ CatalogError::NoFreeCode => internal("publishing a work", &e),
            CatalogError::Database(e) => internal("catalog query failed", &e),
        }
    }
}

/// The raw work form, as both the web form and the API send it. Every field is text until
/// `WorkDraft::parse` says otherwise.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkFields {
    pub title: String,
    pub description: String,
    pub currency: String,
    pub price_kind: String,
    pub price: String,
    pub suggested: String,
    pub slug: String,
    pub max_downloads: String,
    pub link_expiry_days: String,
}

impl WorkFields {
    /// Sets a field by its form name; unknown names are ignored.
    pub fn set(&mut self, name: &str, value: String) {
        match name {
            "title" => self.title = value,
            "description" => self.description = value,
            "currency" => self.currency = value,
            "price_kind" => self.price_kind = value,
            "price" => self.price = value,
            "suggested" => self.suggested = value,
            "slug" => self.slug = value,
            "max_downloads" => self.max_downloads = value,
            "link_expiry_days" => self.link_expiry_days = value,
            _ => {}
        }
    }
}

/// A validated work, ready to store.
#[derive(Debug, Clone)]
pub struct WorkDraft {
    pub title: String,
    pub description_md: String,
    pub price: Price,
    pub slug: Option<String>,
    pub max_downloads: Option<i64>,
    pub link_expiry_days: Option<i64>,
}

impl WorkDraft {
    pub fn parse(f: &WorkFields) -> Result<WorkDraft, FieldError> {
        Ok(WorkDraft {
            title: domain::parse_title(&f.title)?,
            description_md: domain::parse_description(&f.description)?,
            price: Price::parse(&f.currency, &f.price_kind, &f.price, &f.suggested)?,
            slug: domain::parse_slug(&f.slug)?,
            max_downloads: domain::parse_limit(&f.max_downloads, "max_downloads", 10_000)?,
            link_expiry_days: domain::parse_limit(&f.link_expiry_days, "link_expiry_days", 3650)?,
        })
    }
}

/// A file that reached storage, with what the uploader told us about it.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub stored: StoredObject,
    pub filename: String,
}

/// Cover images already resized and stored.
#[derive(Debug, Clone)]
pub struct StoredCover {
    pub cover_key: String,
    pub thumb_key: String,
}

/// The type a file is served with: what its bytes say, else what its name says, else opaque.
/// The uploader's declared type is never trusted.
pub fn content_type_of(file: &UploadedFile) -> String {
    file.stored
        .sniffed_type
        .map(str::to_string)
        .or_else(|| mime_guess::from_path(&file.filename).first().map(|m| m.essence_str().to_string()))
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

/// Stores a new, published work and its files in one transaction. The files are already in
/// storage; the caller removes them if this fails.
pub async fn create_work(
    db: &Db,
    creator_id: &str,
    work_id: &str,
    draft: &WorkDraft,
    files: &[UploadedFile],
    cover: Option<&StoredCover>,
) -> Result<WorkRow, CatalogError> {
    if files.is_empty() {
        return Err(CatalogError::NoFile);
    }
    let now = db::now_ms();
    // A code collision is astronomically rare but possible: retry with a fresh code.
    for _ in 0..5 {
        let row = WorkRow {
            work_id: work_id.to_string(),
            creator_id: creator_id.to_string(),
            title: draft.title.clone(),
            description_md: draft.description_md.clone(),
            currency: draft.price.currency().code().to_string(),
            price_kind: draft.price.kind().to_string(),
            price_minor: draft.price.floor().minor,
            suggested_minor: draft.price.suggested().map(|m| m.minor),
            code: domain::new_link_code(),
            slug: draft.slug.clone(),
            published: true,
            max_downloads: draft.max_downloads,
            link_expiry_days: draft.link_expiry_days,
            cover_key: cover.map(|c| c.cover_key.clone()),
            thumb_key: cover.map(|c| c.thumb_key.clone()),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let mut tx = db.begin().await?;
        match store::insert_work(&mut tx, &row).await {
            Err(e) if db::is_unique_violation(&e, "code") => continue,
            Err(e) if db::is_unique_violation(&e, "slug") => return Err(CatalogError::SlugTaken),
            Err(e) => return Err(e.into()),
            Ok(()) => {}
        }
        for (position, file) in files.iter().enumerate() {
            let file_row = FileRow {
                file_id: db::new_id(),
                work_id: row.work_id.clone(),
                storage_key: file.stored.key.clone(),
                filename: file.filename.clone(),
                content_type: content_type_of(file),
                size_bytes: file.stored.size_bytes as i64,
                sha256: file.stored.sha256.clone(),
                position: position as i64,
                created_at: now,
            };
            store::insert_file(&mut tx, &file_row).await?;
        }
        tx.commit().await?;
        tracing::info!(work.id = %row.work_id, creator.id = %creator_id, files = files.len(), "work created");
        return Ok(row);
    }
    Err(CatalogError::NoFreeCode)
}

/// Link pages are cached (`PageCache`): every change a buyer could see on one clears them here,
/// in the service that makes it, so no caller has to remember.
pub async fn update_work(db: &Db, pages: &PageCache, creator_id: &str, work_id: &str, draft: &WorkDraft) -> Result<WorkRow, CatalogError> {
    let edit = WorkEdit {
        title: &draft.title,
        description_md: &draft.description_md,
        price: draft.price,
        slug: draft.slug.as_deref(),
        max_downloads: draft.max_downloads,
        link_expiry_days: draft.link_expiry_days,
    };
    match store::update_work(db, creator_id, work_id, &edit, db::now_ms()).await {
        Ok(true) => {}
        Ok(false) => return Err(CatalogError::NotFound),
        Err(e) if db::is_unique_violation(&e, "slug") => return Err(CatalogError::SlugTaken),
        Err(e) => return Err(e.into()),
    }
    pages.invalidate_all().await;
    owned_work(db, creator_id, work_id).await
}

pub async fn set_published(db: &Db, pages: &PageCache, creator_id: &str, work_id: &str, published: bool) -> Result<(), CatalogError> {
    if !store::set_published(db, creator_id, work_id, published, db::now_ms()).await? {
        return Err(CatalogError::NotFound);
    }
    pages.invalidate_all().await;
    tracing::info!(work.id = %work_id, published, "work visibility changed");
    Ok(())
}

pub async fn delete_work(db: &Db, pages: &PageCache, creator_id: &str, work_id: &str) -> Result<(), CatalogError> {
    if !store::soft_delete(db, creator_id, work_id, db::now_ms()).await? {
        return Err(CatalogError::NotFound);
    }
    pages.invalidate_all().await;
    tracing::info!(work.id = %work_id, "work deleted");
    Ok(())
}

/// Undo for a delete. If the work's slug went to another work meanwhile, the restored work
/// keeps only its short link.
pub async fn restore_work(db: &Db, pages: &PageCache, creator_id: &str, work_id: &str) -> Result<(), CatalogError> {
    let restored = match store::restore(db, creator_id, work_id, db::now_ms()).await {
        Err(e) if db::is_unique_violation(&e, "slug") => {
            store::clear_slug(db, creator_id, work_id).await?;
            store::restore(db, creator_id, work_id, db::now_ms()).await?
        }
        other => other?,
    };
    if !restored {
        return Err(CatalogError::NotFound);
    }
    pages.invalidate_all().await;
    tracing::info!(work.id = %work_id, "work restored");
    Ok(())
}

pub async fn owned_work(db: &Db, creator_id: &str, work_id: &str) -> Result<WorkRow, CatalogError> {
    store::find_owned(db, creator_id, work_id).await?.ok_or(CatalogError::NotFound)
}

/// Resizes and stores a cover, returning its keys. The caller records them (or discards them).
pub async fn store_cover(storage: &Storage, work_id: &str, image: bytes::Bytes) -> Result<StoredCover, CatalogError> {
    let processed = tokio::task::spawn_blocking(move || media::process_cover(&image))
        .await
        .map_err(|e| CatalogError::Storage(StorageError::Io(std::io::Error::other(e))))??;
    let stem = format!("covers/{work_id}/{}", db::new_id());
    let cover = StoredCover { cover_key: format!("{stem}-cover.jpg"), thumb_key: format!("{stem}-thumb.jpg") };
    storage.put(&cover.cover_key, processed.cover_jpeg.into()).await?;
    if let Err(e) = storage.put(&cover.thumb_key, processed.thumb_jpeg.into()).await {
        storage.discard(std::slice::from_ref(&cover.cover_key)).await;
        return Err(e.into());
    }
    Ok(cover)
}

/// Replaces a work's cover; the old images are removed once the new ones are recorded.
pub async fn replace_cover(
    db: &Db,
    storage: &Storage,
    pages: &PageCache,
    creator_id: &str,
    work_id: &str,
    image: bytes::Bytes,
) -> Result<(), CatalogError> {
    let old = owned_work(db, creator_id, work_id).await?;
    let cover = store_cover(storage, work_id, image).await?;
    match store::set_cover(db, creator_id, work_id, &cover.cover_key, &cover.thumb_key, db::now_ms()).await {
        Ok(true) => {
            pages.invalidate_all().await;
            let old_keys: Vec<String> = [old.cover_key, old.thumb_key].into_iter().flatten().collect();
            storage.discard(&old_keys).await;
            Ok(())
        }
        other => {
            storage.discard(&[cover.cover_key, cover.thumb_key]).await;
            match other {
                Ok(_) => Err(CatalogError::NotFound),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// A published work by link code or by handle and slug.
pub async fn storefront(db: &Db, link: &LinkRef) -> Result<StorefrontRow, CatalogError> {
    let found = match link {
        LinkRef::Code(code) if domain::is_link_code(code) => store::storefront_by_code(db, code).await?,
        LinkRef::Slug { handle, slug } => store::storefront_by_slug(db, &handle.to_lowercase(), &slug.to_lowercase()).await?,
        LinkRef::Code(_) => None,
    };
    found.ok_or(CatalogError::NotFound)
}

/// How a link names its work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkRef {
    Code(String),
    Slug { handle: String, slug: String },
}
