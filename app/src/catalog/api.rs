//! Server functions for the catalog: thin wrappers over `service`, plus the shapes pages get.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::domain::Price;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::{
    catalog::{
        domain::human_bytes,
        markdown,
        service::{self, LinkRef, WorkDraft, WorkFields},
        store::{self, StorefrontRow, WorkRow},
    },
    edge,
    money::amount_input,
    state::Settings,
};

/// A work in the creator's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkSummary {
    pub id: String,
    pub title: String,
    pub price_label: String,
    pub published: bool,
    pub link: String,
    pub file_count: i64,
    pub total_size: String,
    pub thumb_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileView {
    pub id: String,
    pub filename: String,
    pub size: String,
    pub content_type: String,
    pub sha256: String,
}

/// Everything the edit page and share kit need about one of the creator's works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkDetail {
    pub id: String,
    pub title: String,
    pub description: String,
    pub currency: String,
    pub price_kind: String,
    pub price: String,
    pub suggested: String,
    pub slug: String,
    pub max_downloads: String,
    pub link_expiry_days: String,
    pub published: bool,
    pub price_label: String,
    pub wallet_only: bool,
    pub code: String,
    pub link: String,
    pub slug_link: Option<String>,
    pub image_url: String,
    pub has_cover: bool,
    pub files: Vec<FileView>,
}

/// What a link page shows a buyer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Storefront {
    pub work_id: String,
    pub code: String,
    pub title: String,
    pub description_html: String,
    pub excerpt: String,
    pub price: Price,
    pub price_label: String,
    pub creator_name: String,
    pub creator_handle: String,
    /// The creator's public profile, `/@handle`.
    pub creator_url: String,
    pub avatar_url: Option<String>,
    /// The creator's accent colour (`#rrggbb`, readable under white text).
    pub accent: String,
    /// What the buyer gets, e.g. "1 file · PDF · 2.3 MB".
    pub includes: String,
    /// The cover as the page shows it (WebP, with the JPEG as fallback); none without a cover.
    pub page_image: Option<PageImage>,
    /// Absolute URLs, as social networks need them.
    pub canonical_url: String,
    /// The unfurl image: the cover with title and price on it, or the generated card.
    pub image_url: String,
    /// The unfurl title, price first: text-only unfurls show nothing else of the price.
    pub og_title: String,
    pub has_cover: bool,
    pub oembed_url: String,
    /// A one-time nonce for this page's Buy form: a double click is one order.
    pub checkout_key: String,
    /// Where this visit came from, carried to the order for the creator's analytics.
    pub source: String,
    /// Klarna, where the provider offers it and the price is one Klarna takes.
    #[serde(default)]
    pub klarna: Option<crate::checkout::domain::klarna::KlarnaOffer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageImage {
    pub webp: String,
    pub jpeg: String,
}

/// The version of a work's generated images: they show the work and its creator's name and
/// colour, so a change to any of them is a new URL (and a new entry in the image caches).
#[cfg(feature = "ssr")]
pub fn image_version(w: &WorkRow, creator_name: &str, accent: &str) -> String {
    let mix = format!("{creator_name}\n{accent}").bytes().fold(0x811c9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("{}-{mix:08x}", w.updated_at)
}

/// The unfurl image of a work: the composited cover preview, or the generated card.
#[cfg(feature = "ssr")]
fn image_url(settings: &Settings, w: &WorkRow, version: &str) -> String {
    match w.cover_key {
        Some(_) => settings.absolute_url(&format!("/l/{}/preview.jpg?v={version}", w.code)),
        None => settings.absolute_url(&format!("/l/{}/card.png?v={version}", w.code)),
    }
}

/// A creator's avatar; the stored key (a new one for every upload) versions the URL.
#[cfg(feature = "ssr")]
pub fn avatar_url(handle: &str, key: &str) -> String {
    let version = key.rsplit('/').next().unwrap_or_default().trim_end_matches(".jpg");
    format!("/@{handle}/avatar.jpg?v={version}")
}

/// "1 file · PDF · 2.3 MB", "3 files · 14.0 MB".
#[cfg(feature = "ssr")]
pub fn includes_label(files: &[store::FileRow]) -> String {
    let bytes: i64 = files.iter().map(|f| f.size_bytes.max(0)).sum();
    let size = human_bytes(bytes as u64);
    match files {
        [one] => {
            let kind = one.filename.rsplit_once('.').map(|(_, ext)| ext.to_ascii_uppercase()).filter(|e| (1..=5).contains(&e.len()));
            match kind {
                Some(kind) => format!("1 file · {kind} · {size}"),
                None => format!("1 file · {size}"),
            }
        }
        many => format!("{} files · {size}", many.len()),
    }
}

#[cfg(feature = "ssr")]
pub fn storefront_view(settings: &Settings, row: StorefrontRow, files: &[store::FileRow]) -> Storefront {
    let link = settings.absolute_url(&format!("/l/{}", row.work.code));
    let accent = crate::accounts::domain::accent_color(&row.handle, row.accent_color.as_deref());
    let version = image_version(&row.work, &row.display_name, &accent);
    let price = row.work.price();
    Storefront {
        image_url: image_url(settings, &row.work, &version),
        page_image: row.work.cover_key.as_ref().map(|_| PageImage {
            webp: format!("/l/{}/cover.webp?v={}", row.work.code, row.work.updated_at),
            jpeg: format!("/l/{}/cover.jpg?v={}", row.work.code, row.work.updated_at),
        }),
        has_cover: row.work.cover_key.is_some(),
        oembed_url: settings.absolute_url(&format!(
            "/oembed?format=json&url={}",
            percent_encoding::utf8_percent_encode(&link, percent_encoding::NON_ALPHANUMERIC)
        )),
        canonical_url: link,
        work_id: row.work.work_id.clone(),
        code: row.work.code.clone(),
        og_title: format!("{} · {} by {}", price.label(), row.work.title, row.display_name),
        title: row.work.title.clone(),
        description_html: markdown::to_safe_html(&row.work.description_md),
        excerpt: markdown::plain_excerpt(&row.work.description_md, 200),
        price,
        price_label: price.label(),
        includes: includes_label(files),
        creator_url: format!("/@{}", row.handle),
        avatar_url: row.avatar_key.as_deref().map(|key| avatar_url(&row.handle, key)),
        accent,
        creator_name: row.display_name,
        creator_handle: row.handle,
        checkout_key: crate::db::new_id(),
        source: "direct".into(),
        klarna: None,
    }
}

/// The traffic source of the page request being rendered: its `ref`/`utm_source` tag or its
/// referrer.
#[cfg(feature = "ssr")]
async fn visit_source(settings: &Settings) -> String {
    let parts: Option<axum::http::request::Parts> = leptos::prelude::use_context();
    let Some(parts) = parts else { return "direct".into() };
    let referer = parts.headers.get(axum::http::header::REFERER).and_then(|v| v.to_str().ok());
    let tag = parts.uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, v)| (k == "ref" || k == "utm_source") && !v.is_empty())
            .map(|(_, v)| v.into_owned())
    });
    let own_host = settings.base_url.split("://").nth(1).unwrap_or_default();
    crate::earnings::sources::classify(referer, tag.as_deref(), own_host)
}

#[server(endpoint = "works/list")]
pub async fn my_works() -> Result<Vec<WorkSummary>, AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    let rows = store::list_owned(&state.db, &account.account_id).await.map_err(service::CatalogError::from)?;
    let totals = store::file_totals(&state.db, &account.account_id).await.map_err(service::CatalogError::from)?;
    Ok(rows
        .into_iter()
        .map(|w| {
            let (count, bytes) = totals.iter().find(|(id, _, _)| *id == w.work_id).map(|(_, c, b)| (*c, *b)).unwrap_or((0, 0));
            WorkSummary {
                link: state.settings.absolute_url(&format!("/l/{}", w.code)),
                thumb_url: w.thumb_key.as_ref().map(|_| format!("/l/{}/thumb.jpg?v={}", w.code, w.updated_at)),
                price_label: w.price().label(),
                id: w.work_id,
                title: w.title,
                published: w.published,
                file_count: count,
                total_size: human_bytes(bytes.max(0) as u64),
            }
        })
        .collect())
}

#[server(endpoint = "works/get")]
pub async fn my_work(work_id: String) -> Result<WorkDetail, AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    let w = service::owned_work(&state.db, &account.account_id, &work_id).await?;
    let files = store::files_of(&state.db, &w.work_id).await.map_err(service::CatalogError::from)?;
    let price = w.price();
    Ok(WorkDetail {
        id: w.work_id.clone(),
        title: w.title.clone(),
        description: w.description_md.clone(),
        currency: w.currency.clone(),
        price_kind: w.price_kind.clone(),
        price: amount_input(price.floor().minor),
        suggested: price.suggested().map(|s| amount_input(s.minor)).unwrap_or_default(),
        slug: w.slug.clone().unwrap_or_default(),
        max_downloads: w.max_downloads.map(|n| n.to_string()).unwrap_or_default(),
        link_expiry_days: w.link_expiry_days.map(|n| n.to_string()).unwrap_or_default(),
        published: w.published,
        price_label: price.label(),
        wallet_only: price.wallet_only(),
        link: state.settings.absolute_url(&format!("/l/{}", w.code)),
        slug_link: w.slug.as_ref().map(|s| state.settings.absolute_url(&format!("/{}/{s}", account.handle))),
        image_url: image_url(
            &state.settings,
            &w,
            &image_version(
                &w,
                &account.display_name,
                &crate::accounts::domain::accent_color(&account.handle, account.accent_color.as_deref()),
            ),
        ),
        has_cover: w.cover_key.is_some(),
        code: w.code,
        files: files
            .into_iter()
            .map(|f| FileView {
                id: f.file_id,
                filename: f.filename,
                size: human_bytes(f.size_bytes.max(0) as u64),
                content_type: f.content_type,
                sha256: f.sha256,
            })
            .collect(),
    })
}

#[server(endpoint = "works/update")]
#[allow(clippy::too_many_arguments)]
pub async fn update_work(
    work_id: String,
    title: String,
    description: String,
    currency: String,
    price_kind: String,
    price: String,
    suggested: Option<String>,
    slug: Option<String>,
    max_downloads: Option<String>,
    link_expiry_days: Option<String>,
) -> Result<String, AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    let fields = WorkFields {
        title,
        description,
        currency,
        price_kind,
        price,
        suggested: suggested.unwrap_or_default(),
        slug: slug.unwrap_or_default(),
        max_downloads: max_downloads.unwrap_or_default(),
        link_expiry_days: link_expiry_days.unwrap_or_default(),
    };
    let draft = WorkDraft::parse(&fields)?;
    let row = service::update_work(&state.db, &state.page_cache, &account.account_id, &work_id, &draft).await?;
    Ok(format!("Saved. Buyers now see {}.", row.price().label()))
}

#[server(endpoint = "works/publish")]
pub async fn set_published(work_id: String, published: bool) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    service::set_published(&state.db, &state.page_cache, &account.account_id, &work_id, published).await?;
    Ok(())
}

#[server(endpoint = "works/delete")]
pub async fn delete_work(work_id: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    service::delete_work(&state.db, &state.page_cache, &account.account_id, &work_id).await?;
    edge::redirect(&format!("/dashboard/works?deleted={work_id}"));
    Ok(())
}

#[server(endpoint = "works/restore")]
pub async fn restore_work(work_id: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    service::restore_work(&state.db, &state.page_cache, &account.account_id, &work_id).await?;
    edge::redirect(&format!("/dashboard/works/{work_id}"));
    Ok(())
}

#[server(endpoint = "storefront")]
pub async fn load_storefront(code: Option<String>, handle: Option<String>, slug: Option<String>) -> Result<Storefront, AppError> {
    let state = edge::app_state()?;
    let link = match (code, handle, slug) {
        (Some(code), _, _) => LinkRef::Code(code),
        (None, Some(handle), Some(slug)) => LinkRef::Slug { handle, slug },
        _ => return Err(AppError::NotFound),
    };
    let row = service::storefront(&state.db, &link).await?;
    let files = store::files_of(&state.db, &row.work.work_id).await.map_err(service::CatalogError::from)?;
    let mut view = storefront_view(&state.settings, row, &files);
    view.source = visit_source(&state.settings).await;
    view.klarna = state.payments.offers_klarna().then(|| crate::checkout::domain::klarna::offer(view.price)).flatten();
    Ok(view)
}

/// Who made the work behind a link that no longer opens, so its page can lead to their other
/// works: `(handle, display name)`, if the creator has a public profile.
#[server(endpoint = "storefront/creator")]
pub async fn load_dead_link_creator(code: Option<String>) -> Result<Option<(String, String)>, AppError> {
    let state = edge::app_state()?;
    let Some(code) = code.filter(|c| super::domain::is_link_code(c)) else { return Ok(None) };
    let found = store::creator_of_code(&state.db, &code).await.map_err(service::CatalogError::from)?;
    Ok(found.filter(|(_, _, sells)| *sells).map(|(handle, name, _)| (handle, name)))
}

/// A work on a creator's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkCard {
    pub title: String,
    pub price_label: String,
    pub url: String,
    /// The cover's thumbnail (400x210); none without a cover.
    pub thumb_url: Option<String>,
}

/// A creator's public profile at `/@handle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub handle: String,
    pub name: String,
    pub bio: String,
    pub links: Vec<String>,
    pub avatar_url: Option<String>,
    pub accent: String,
    pub url: String,
    /// The profile's unfurl image: the creator's avatar, else their newest work's image.
    pub image_url: Option<String>,
    pub works: Vec<WorkCard>,
}

#[server(endpoint = "profile")]
pub async fn load_profile(handle: String) -> Result<Profile, AppError> {
    let state = edge::app_state()?;
    let handle = handle.trim_start_matches('@').to_lowercase();
    let account = crate::accounts::store::find_by_handle(&state.db, &handle)
        .await
        .map_err(service::CatalogError::from)?
        .filter(|a| a.sells)
        .ok_or(AppError::NotFound)?;
    let works = store::published_by_creator(&state.db, &account.account_id).await.map_err(service::CatalogError::from)?;
    let accent = crate::accounts::domain::accent_color(&account.handle, account.accent_color.as_deref());
    let avatar_url = account.avatar_key.as_deref().map(|key| avatar_url(&account.handle, key));
    let image_url = avatar_url
        .as_ref()
        .map(|a| state.settings.absolute_url(a))
        .or_else(|| works.first().map(|w| image_url(&state.settings, w, &image_version(w, &account.display_name, &accent))));
    Ok(Profile {
        url: state.settings.absolute_url(&format!("/@{}", account.handle)),
        links: crate::accounts::domain::parse_links(&account.links).unwrap_or_default(),
        works: works
            .into_iter()
            .map(|w| WorkCard {
                url: format!("/l/{}", w.code),
                thumb_url: w.thumb_key.as_ref().map(|_| format!("/l/{}/thumb.jpg?v={}", w.code, w.updated_at)),
                price_label: w.price().label(),
                title: w.title,
            })
            .collect(),
        image_url,
        avatar_url,
        accent,
        bio: account.bio,
        name: account.display_name,
        handle: account.handle,
    })
}
