//! Download rules: tokens (256 bits from the OS generator, stored hashed), limits, expiry,
//! revocation on refund.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;

use super::store::{self, GrantRow};
use crate::{
    catalog::store::{self as catalog_store, FileRow, WorkRow},
    db::{self, Db},
    error::{AppError, internal},
    orders::OrderStatus,
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

/// Tokens are stored as their SHA-256, the same way everywhere.
pub use crate::accounts::tokens::hash;

/// A fresh 256-bit token, base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A download token as issued: `token` goes to the buyer; the database keeps the selector, which
/// finds the token's row, and only a hash of the verifier, which makes the token secret.
pub struct IssuedToken {
    pub token: String,
    pub selector: String,
    pub verifier_hash: String,
}

/// A selector is a UUIDv7 in 32 lowercase hex digits; a verifier is 256 random bits in 43
/// base64url characters. A token is the two run together.
const SELECTOR_LEN: usize = 32;
const VERIFIER_LEN: usize = 43;

/// A fresh download token. Why a selector: tokens used to be stored as the hash of the whole
/// token, and a hash puts every new row at a random position of its index — one more page
/// written per wallet purchase, at every commit and again at the checkpoint. A time-ordered
/// selector appends instead. Knowing a selector gives nothing: the verifier is as strong as the
/// whole token was, and it is stored hashed as the whole token was.
pub fn issue_token() -> IssuedToken {
    let selector = db::new_id();
    let verifier = new_token();
    IssuedToken { token: format!("{selector}{verifier}"), verifier_hash: hash(&verifier), selector }
}

/// A token as a visitor presents it.
#[derive(Debug, PartialEq, Eq)]
enum Presented<'a> {
    /// Issued by `issue_token`.
    Split { selector: &'a str, verifier: &'a str },
    /// Issued before selectors (43 base64url characters, never 75): found by its whole hash.
    Whole(&'a str),
}

fn presented(token: &str) -> Option<Presented<'_>> {
    if !plausible(token) {
        return None;
    }
    // `plausible` allowed ASCII only, so byte positions are character positions.
    let (selector, verifier) = token.split_at(SELECTOR_LEN.min(token.len()));
    let split = verifier.len() == VERIFIER_LEN && selector.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    Some(if split { Presented::Split { selector, verifier } } else { Presented::Whole(token) })
}

/// The grant a presented token opens, if any.
async fn grant_of(db: &Db, token: &str) -> Result<Option<GrantRow>, sqlx::Error> {
    match presented(token) {
        None => Ok(None),
        Some(Presented::Whole(token)) => store::grant_by_token(db, &hash(token)).await,
        Some(Presented::Split { selector, verifier }) => {
            use subtle::ConstantTimeEq;
            Ok(store::grant_by_selector(db, selector)
                .await?
                .filter(|(_, verifier_hash)| bool::from(hash(verifier).as_bytes().ct_eq(verifier_hash.as_bytes())))
                .map(|(grant, _)| grant))
        }
    }
}

/// Issues a new download token for an order's grant (for a receipt, the return redirect, or
/// the library). Several tokens may open one grant; the limits belong to the grant.
pub async fn mint(db: &Db, order_id: &str) -> Result<String, sqlx::Error> {
    let issued = issue_token();
    store::insert_selector_token(db, &issued.selector, &issued.verifier_hash, order_id, db::now_ms()).await?;
    Ok(issued.token)
}

/// Everything a download page needs, once the token is known good.
pub struct Download {
    pub grant: GrantRow,
    pub order: store::PurchaseRow,
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
    let grant = grant_of(db, token).await?.ok_or(DeliveryError::NotFound)?;
    if grant.revoked_at.is_some() {
        return Err(DeliveryError::Revoked);
    }
    if grant.expires_at.is_some_and(|at| at <= db::now_ms()) {
        return Err(DeliveryError::Expired);
    }
    let order = store::purchase(db, &grant.order_id).await?.ok_or(DeliveryError::NotFound)?;
    if order.status == OrderStatus::Refunded {
        return Err(DeliveryError::Revoked);
    }
    let work = catalog_store::find_any(db, &order.work_id).await?.ok_or(DeliveryError::NotFound)?;
    let creator_name = crate::accounts::store::find_by_id(db, &order.creator_id).await?.map(|a| a.display_name).unwrap_or_default();
    let files = catalog_store::files_of(db, &work.work_id).await?;
    Ok(Download { grant, order, work, creator_name, files })
}

/// The file a token opens (without counting a download): its order, how many downloads were
/// started, and the file.
/// How long after a download starts a ranged request continues it without counting anew: a
/// dropped connection resumes, but `Range: bytes=1-` is no way around the limit.
pub const RESUME_WINDOW_MS: i64 = 2 * 3_600_000;

/// The file a download link opens, with its grant's order and whether a ranged request now
/// would resume the latest counted download (within `RESUME_WINDOW_MS` of its start).
pub async fn file_for(db: &Db, token: &str, file_id: &str) -> Result<(String, bool, FileRow), DeliveryError> {
    let download = open(db, token).await?;
    let file = download.files.into_iter().find(|f| f.file_id == file_id).ok_or(DeliveryError::NotFound)?;
    let resumable = download.grant.last_started_at.is_some_and(|started| db::now_ms() - started < RESUME_WINDOW_MS);
    Ok((download.grant.order_id, resumable, file))
}

/// Counts a new download against the grant's limit, atomically; refuses past it.
pub async fn start_download(db: &Db, order_id: &str) -> Result<(), DeliveryError> {
    if store::count_download(db, order_id, db::now_ms()).await? { Ok(()) } else { Err(DeliveryError::Exhausted) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_splits_into_its_selector_and_a_verifier_matching_the_stored_hash() {
        let issued = issue_token();
        assert_eq!(issued.token.len(), SELECTOR_LEN + VERIFIER_LEN);
        let Some(Presented::Split { selector, verifier }) = presented(&issued.token) else { panic!("{} did not split", issued.token) };
        assert_eq!(selector, issued.selector);
        assert_eq!(hash(verifier), issued.verifier_hash);
        assert_ne!(issue_token().token, issued.token);
    }

    #[test]
    fn tokens_issued_before_selectors_are_found_by_their_whole_hash() {
        let old = new_token();
        assert_eq!(presented(&old), Some(Presented::Whole(&old)));
        // 75 characters that don't start with a hex selector are not split either.
        let odd = format!("{}{}", "G".repeat(SELECTOR_LEN), "a".repeat(VERIFIER_LEN));
        assert_eq!(presented(&odd), Some(Presented::Whole(&odd)));
    }

    #[test]
    fn implausible_tokens_are_refused_before_any_lookup() {
        for bad in ["", "short", "../../etc/passwd", &"a".repeat(101), "0123456789abcdef0123456789abcdef.verifier-with-a-dot-xxxxxxxxx"] {
            assert_eq!(presented(bad), None, "{bad}");
        }
    }
}
