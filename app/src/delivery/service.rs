//! Download rules: tokens (256 bits from the OS generator, stored hashed), limits, expiry,
//! revocation on refund.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::store::{self, GrantRow};
use crate::{
    catalog::store::{self as catalog_store, FileRow, WorkRow},
    checkout::store::{self as orders, OrderRow},
    db::{self, Db},
    error::{AppError, internal},
};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no such download")]
    NotFound,
    #[error("refunded")]
    Revoked,
    #[error("expired")]
    Expired,
    #[error("download limit reached")]
    Exhausted,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<DeliveryError> for AppError {
    fn from(err: DeliveryError) -> Self {
        match err {
            DeliveryError::NotFound => AppError::NotFound,
            DeliveryError::Revoked => AppError::Forbidden,
            DeliveryError::Expired | DeliveryError::Exhausted => AppError::Forbidden,
            DeliveryError::Database(e) => internal("delivery query failed", &e),
        }
    }
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh 256-bit token, base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Issues a new download token for an order's grant (for a receipt, the return redirect, or
/// the library). Several tokens may open one grant; the limits belong to the grant.
pub async fn mint(db: &Db, order_id: &str) -> Result<String, sqlx::Error> {
    let token = new_token();
    store::insert_token(db, &hash(&token), order_id, db::now_ms()).await?;
    Ok(token)
}

/// Everything a download page needs, once the token is known good.
pub struct Download {
    pub grant: GrantRow,
    pub order: OrderRow,
    pub work: WorkRow,
    pub creator_name: String,
    pub files: Vec<FileRow>,
}

fn plausible(token: &str) -> bool {
    (20..=100).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Opens a token: refunded, expired and exhausted grants say so (the buyer deserves to know
/// why), unknown tokens are just not found.
pub async fn open(db: &Db, token: &str) -> Result<Download, DeliveryError> {
    if !plausible(token) {
        return Err(DeliveryError::NotFound);
    }
    let grant = store::grant_by_token(db, &hash(token)).await?.ok_or(DeliveryError::NotFound)?;
    if grant.revoked_at.is_some() {
        return Err(DeliveryError::Revoked);
    }
    if grant.expires_at.is_some_and(|at| at <= db::now_ms()) {
        return Err(DeliveryError::Expired);
    }
    let order = orders::order(db, &grant.order_id).await?.ok_or(DeliveryError::NotFound)?;
    if order.status == "refunded" {
        return Err(DeliveryError::Revoked);
    }
    let work = catalog_store::find_any(db, &order.work_id).await?.ok_or(DeliveryError::NotFound)?;
    let creator_name = crate::accounts::store::find_by_id(db, &order.creator_id)
        .await?
        .map(|a| a.display_name)
        .unwrap_or_default();
    let files = catalog_store::files_of(db, &work.work_id).await?;
    Ok(Download { grant, order, work, creator_name, files })
}

/// The file a token opens (without counting a download): its order, how many downloads were
/// started, and the file.
pub async fn file_for(db: &Db, token: &str, file_id: &str) -> Result<(String, i64, FileRow), DeliveryError> {
    let download = open(db, token).await?;
    let file = download.files.into_iter().find(|f| f.file_id == file_id).ok_or(DeliveryError::NotFound)?;
    Ok((download.grant.order_id, download.grant.downloads_used, file))
}

/// Counts a new download against the grant's limit, atomically; refuses past it.
pub async fn start_download(db: &Db, order_id: &str) -> Result<(), DeliveryError> {
    if store::count_download(db, order_id, db::now_ms()).await? { Ok(()) } else { Err(DeliveryError::Exhausted) }
}
