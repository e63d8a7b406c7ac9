//! Server functions for downloads and the buyer library.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::{
    accounts::domain::Email,
    catalog::domain::human_bytes,
    checkout::store as orders,
    delivery::service::{self, DeliveryError},
    edge,
    money::Money,
    orders::{OrderStatus, Provider},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLink {
    pub name: String,
    pub size: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadView {
    pub title: String,
    pub creator: String,
    pub amount: String,
    pub order_id: String,
    pub files: Vec<FileLink>,
    pub allowance: String,
    pub expires: Option<String>,
    /// For a wallet purchase by the signed-in buyer: what the wallet holds now.
    pub wallet_balance: Option<String>,
    /// For a tab purchase by the signed-in buyer: what the tab owes now, and its limit.
    pub tab: Option<(String, String)>,
    /// What the buyer's inbox has, or will have, about this purchase.
    pub receipt_note: String,
}

/// Why a download link no longer opens, in words for the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownloadState {
    Ready(Box<DownloadView>),
    Gone(String),
    Unknown,
}

#[server(endpoint = "downloads/open")]
pub async fn load_download(token: String) -> Result<DownloadState, AppError> {
    let state = edge::app_state()?;
    let d = match service::open(&state.db, &token).await {
        Ok(d) => d,
        // Guessing tokens gets a client nowhere fast: after a few misses, 429s.
        Err(DeliveryError::NotFound) if !state.limits.allow(crate::limits::Limit::GuessPerClient, edge::client_ip().await) => {
            return Err(AppError::RateLimited);
        }
        Err(DeliveryError::NotFound) => return Ok(DownloadState::Unknown),
        Err(DeliveryError::Revoked) => {
            return Ok(DownloadState::Gone("This purchase was refunded, so its download link no longer works.".into()));
        }
        Err(DeliveryError::Expired) => return Ok(DownloadState::Gone("This download link has expired.".into())),
        Err(DeliveryError::Exhausted) => return Ok(DownloadState::Gone("All downloads of this purchase are used.".into())),
        Err(e) => return Err(e.into()),
    };
    let currency = d.order.currency;
    let me =
        edge::signed_in_account().await.ok().flatten().filter(|me| d.order.buyer_account_id.as_deref() == Some(me.account_id.as_str()));
    let wallet_balance = match (&me, d.order.provider) {
        (Some(me), Provider::Wallet) => crate::wallet::service::balance(&state, &me.account_id, currency).await.ok().map(|b| b.to_string()),
        _ => None,
    };
    let tab = match (&me, d.order.provider) {
        (Some(me), Provider::Tab) => {
            let settings = crate::wallet::store::settings(&state.db, &me.account_id).await.unwrap_or_default();
            let tab = crate::wallet::service::tab_state(&state, &me.account_id, currency, &settings).await.ok();
            tab.map(|t| (t.owed.to_string(), t.limit.to_string()))
        }
        _ => None,
    };
    // Wallet receipts go out as one email per buyer and ten minutes (see `checkout::sale`);
    // before that one is sent, the page says when it comes rather than that it came.
    let receipt_note = if matches!(d.order.provider, Provider::Wallet | Provider::Tab)
        && crate::db::now_ms() < crate::mail::outbox::digest_due(d.order.created_at)
    {
        "Your receipt with this link comes by email within ten minutes, with any other wallet purchases you make until then."
    } else {
        "We emailed you this link."
    }
    .to_string();
    let allowance = match d.grant.max_downloads {
        Some(max) => format!("{} of {max} downloads used", d.grant.downloads_used),
        None => "Unlimited downloads".to_string(),
    };
    Ok(DownloadState::Ready(Box::new(DownloadView {
        title: d.work.title,
        creator: d.creator_name,
        amount: if d.order.amount_minor == 0 { "Free".into() } else { Money::new(d.order.amount_minor, currency).to_string() },
        order_id: d.order.order_id,
        files: d
            .files
            .into_iter()
            .map(|f| FileLink {
                url: format!("/d/{token}/files/{}", f.file_id),
                name: f.filename,
                size: human_bytes(f.size_bytes.max(0) as u64),
            })
            .collect(),
        allowance,
        expires: d.grant.expires_at.map(crate::ui::date_label),
        wallet_balance,
        tab,
        receipt_note,
    })))
}

/// A wallet purchase this browser has just made: the link page it was bought on shows its
/// download (and starts it) where Buy was. It is kept in the session, not in the URL, so a link
/// page address the buyer copies to share carries no download token.
#[cfg(feature = "ssr")]
#[derive(Debug, Serialize, Deserialize)]
struct JustBought {
    /// Whose purchase: another account signing in on this browser doesn't see it.
    account_id: String,
    code: String,
    token: String,
    at_ms: i64,
}

/// A purchase just made, for the link page (see [`load_just_bought`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JustBoughtView {
    pub download: DownloadView,
    /// Start the first file by itself: only on arriving from the purchase, not on every reload
    /// (each start counts as one of the purchase's downloads).
    pub start: bool,
}

#[cfg(feature = "ssr")]
const JUST_BOUGHT_KEY: &str = "just_bought";

/// How long the link page keeps showing the purchase in place of Buy.
#[cfg(feature = "ssr")]
const JUST_BOUGHT_MS: i64 = 10 * 60 * 1000;

/// How long after the purchase the page still starts the download by itself: the redirect from
/// the purchase, not a reload or a Back to the page later.
#[cfg(feature = "ssr")]
const AUTO_START_MS: i64 = 30 * 1000;

/// Remembers the wallet purchase of `code` that `account_id` just made in this session (see
/// [`JustBought`]).
#[cfg(feature = "ssr")]
pub async fn remember_just_bought(
    session: &tower_sessions::Session,
    account_id: &str,
    code: &str,
    token: &str,
) -> Result<(), tower_sessions::session::Error> {
    let just =
        JustBought { account_id: account_id.to_string(), code: code.to_string(), token: token.to_string(), at_ms: crate::db::now_ms() };
    session.insert(JUST_BOUGHT_KEY, just).await
}

/// The purchase of `code` the signed-in buyer has just made in this browser, ready to
/// download; None when there is none (another browser or account, another work, or over ten
/// minutes ago).
#[server(endpoint = "library/just-bought")]
pub async fn load_just_bought(code: String) -> Result<Option<JustBoughtView>, AppError> {
    let session = edge::current_session().await?;
    let Some(just) = session.get::<JustBought>(JUST_BOUGHT_KEY).await.ok().flatten() else { return Ok(None) };
    let age = crate::db::now_ms() - just.at_ms;
    if just.code != code || age > JUST_BOUGHT_MS {
        return Ok(None);
    }
    if edge::signed_in_account().await?.is_none_or(|me| me.account_id != just.account_id) {
        return Ok(None);
    }
    match load_download(just.token).await? {
        DownloadState::Ready(download) => Ok(Some(JustBoughtView { download: *download, start: age <= AUTO_START_MS })),
        // Refunded or used up since: the page offers what it would to anyone.
        DownloadState::Gone(_) | DownloadState::Unknown => Ok(None),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub order_id: String,
    pub title: String,
    pub amount: String,
    pub date: String,
    pub refunded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryView {
    /// The email whose purchases are shown (proven by a magic link).
    pub email: Option<String>,
    pub purchases: Vec<Purchase>,
}

#[cfg(feature = "ssr")]
pub const LIBRARY_EMAIL_KEY: &str = "library_email";

#[server(endpoint = "library/list")]
pub async fn my_library() -> Result<LibraryView, AppError> {
    let state = edge::app_state()?;
    let session = edge::current_session().await?;
    let db_err = |e: sqlx::Error| crate::error::internal("library", &e);
    // A signed-in buyer sees their purchases at once; an email proven by a library link adds
    // what was bought with it.
    let proven: Option<String> = session.get(LIBRARY_EMAIL_KEY).await.ok().flatten();
    let rows = match (edge::signed_in_account().await?, &proven) {
        (Some(me), _) => {
            let verified = me.email_verified_at.is_some().then_some(me.email.as_str());
            let mut rows = orders::orders_of_buyer(&state.db, &me.account_id, verified.or(proven.as_deref())).await.map_err(db_err)?;
            rows.dedup_by(|a, b| a.order_id == b.order_id);
            return Ok(LibraryView { email: Some(me.email.clone()), purchases: purchases(&state, rows).await? });
        }
        (None, Some(email)) => orders::orders_of_email(&state.db, email).await.map_err(db_err)?,
        (None, None) => return Ok(LibraryView { email: None, purchases: vec![] }),
    };
    Ok(LibraryView { email: proven, purchases: purchases(&state, rows).await? })
}

#[cfg(feature = "ssr")]
async fn purchases(state: &crate::state::AppState, rows: Vec<orders::OrderRow>) -> Result<Vec<Purchase>, AppError> {
    let mut ids: Vec<&str> = rows.iter().map(|o| o.work_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let titles = crate::catalog::store::titles_of(&state.db, &ids).await.map_err(|e| crate::error::internal("library", &e))?;
    Ok(rows
        .into_iter()
        .map(|o| {
            let currency = o.currency;
            Purchase {
                title: titles.get(&o.work_id).cloned().unwrap_or_default(),
                amount: if o.amount_minor == 0 { "Free".into() } else { Money::new(o.amount_minor, currency).to_string() },
                date: crate::ui::date_label(o.created_at),
                refunded: o.status == OrderStatus::Refunded,
                order_id: o.order_id,
            }
        })
        .collect())
}

/// A visitor who already owns a work, as its link page tells them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// The order the library opens for a signed-in owner. None: the browser only remembers the
    /// card it was paid with, which proves no email, so the download link goes by email.
    pub order_id: Option<String>,
    /// The email it was bought with (masked unless signed in).
    pub email: String,
    pub date: String,
}

#[server(endpoint = "library/owned")]
pub async fn load_ownership(code: String) -> Result<Option<Ownership>, AppError> {
    let state = edge::app_state()?;
    let db_err = |e: sqlx::Error| crate::error::internal("ownership", &e);
    if let Some(me) = edge::signed_in_account().await? {
        let verified = me.email_verified_at.is_some().then_some(me.email.as_str());
        let order = orders::owned_order(&state.db, &code, Some(&me.account_id), verified).await.map_err(db_err)?;
        return Ok(order.map(|o| Ownership {
            email: o.buyer_email.clone(),
            date: crate::ui::date_label(o.created_at),
            order_id: Some(o.order_id),
        }));
    }
    let Some(card) = crate::checkout::api::remembered_card(&state).await else { return Ok(None) };
    let order = orders::owned_order(&state.db, &code, None, Some(&card.email)).await.map_err(db_err)?;
    Ok(order.map(|o| Ownership { email: o.buyer_email, date: crate::ui::date_label(o.created_at), order_id: None }))
}

/// Sends a magic link. Says the same whether or not the email bought anything.
#[server(endpoint = "library/link")]
pub async fn email_library_link(email: String) -> Result<String, AppError> {
    let state = edge::app_state()?;
    let email = Email::parse(&email)?;
    let client = edge::client_ip().await;
    let limits = &state.limits;
    if !limits.allow(crate::limits::Limit::MailPerAddress, email.as_str()) || !limits.allow(crate::limits::Limit::MailPerClient, client) {
        return Err(AppError::RateLimited);
    }
    let account_id = edge::signed_in_account().await?.map(|a| a.account_id);
    let has_purchases =
        !orders::orders_of_email(&state.db, email.as_str()).await.map_err(|e| crate::error::internal("library", &e))?.is_empty();
    if has_purchases {
        crate::mail::outbox::enqueue_now(
            &state.db,
            email.as_str(),
            &crate::mail::outbox::Mail::LibraryLink { email: email.as_str().to_string(), account_id },
        )
        .await
        .map_err(|e| crate::error::internal("queueing a library link", &e))?;
    }
    leptos_axum::redirect("/library?sent=1");
    Ok(format!("If {} has purchases, a link to them is on its way. It works once, within 30 minutes.", email.as_str()))
}
