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
    money::{Currency, Money},
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
}

/// Why a download link no longer opens, in words for the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownloadState {
    Ready(DownloadView),
    Gone(String),
    Unknown,
}

#[server(endpoint = "downloads/open")]
pub async fn load_download(token: String) -> Result<DownloadState, AppError> {
    let state = edge::app_state()?;
    let d = match service::open(&state.db, &token).await {
        Ok(d) => d,
        Err(DeliveryError::NotFound) => return Ok(DownloadState::Unknown),
        Err(DeliveryError::Revoked) => {
            return Ok(DownloadState::Gone("This purchase was refunded, so its download link no longer works.".into()));
        }
        Err(DeliveryError::Expired) => return Ok(DownloadState::Gone("This download link has expired.".into())),
        Err(DeliveryError::Exhausted) => return Ok(DownloadState::Gone("All downloads of this purchase are used.".into())),
        Err(e) => return Err(e.into()),
    };
    let currency = Currency::parse(&d.order.currency).unwrap_or(Currency::Eur);
    let wallet_balance = match (edge::signed_in_account().await.ok().flatten(), d.order.provider.as_str()) {
        (Some(me), "wallet") if d.order.buyer_account_id.as_deref() == Some(me.account_id.as_str()) => {
            crate::wallet::service::balance(&state, &me.account_id, currency).await.ok().map(|b| b.to_string())
        }
        _ => None,
    };
    let allowance = match d.grant.max_downloads {
        Some(max) => format!("{} of {max} downloads used", d.grant.downloads_used),
        None => "Unlimited downloads".to_string(),
    };
    Ok(DownloadState::Ready(DownloadView {
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
    }))
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
    let email: Option<String> = session.get(LIBRARY_EMAIL_KEY).await.ok().flatten();
    let Some(email) = email else { return Ok(LibraryView { email: None, purchases: vec![] }) };
    let rows = orders::orders_of_email(&state.db, &email).await.map_err(|e| crate::error::internal("library", &e))?;
    let mut purchases = Vec::new();
    for o in rows {
        let title = crate::catalog::store::find_any(&state.db, &o.work_id).await.ok().flatten().map(|w| w.title).unwrap_or_default();
        let currency = Currency::parse(&o.currency).unwrap_or(Currency::Eur);
        purchases.push(Purchase {
            title,
            amount: if o.amount_minor == 0 { "Free".into() } else { Money::new(o.amount_minor, currency).to_string() },
            date: crate::ui::date_label(o.created_at),
            refunded: o.status == "refunded",
            order_id: o.order_id,
        });
    }
    Ok(LibraryView { email: Some(email), purchases })
}

/// Sends a magic link. Says the same whether or not the email bought anything.
#[server(endpoint = "library/link")]
pub async fn email_library_link(email: String) -> Result<String, AppError> {
    let state = edge::app_state()?;
    let email = Email::parse(&email)?;
    let account_id = edge::signed_in_account().await?.map(|a| a.account_id);
    let has_purchases = !orders::orders_of_email(&state.db, email.as_str())
        .await
        .map_err(|e| crate::error::internal("library", &e))?
        .is_empty();
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
