//! SQL for download grants, download tokens and library magic links.

use crate::{
    db::{Db, Tx},
    money::Currency,
    on_db, on_tx,
    orders::{OrderStatus, Provider},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub order_id: String,
    pub downloads_used: i64,
    pub max_downloads: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// When the latest counted download began.
    pub last_started_at: Option<i64>,
}

pub async fn insert_grant(
    tx: &mut Tx,
    order_id: &str,
    max_downloads: Option<i64>,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into download_grant (order_id, downloads_used, max_downloads, expires_at, revoked_at, created_at) \
         values ($1, 0, $2, $3, null, $4) on conflict (order_id) do nothing",
    )
    .bind(order_id).bind(max_downloads).bind(expires_at).bind(now).execute(conn).await.map(|_| ()))
}

pub async fn revoke_grant(tx: &mut Tx, order_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("update download_grant set revoked_at = $1 where order_id = $2 and revoked_at is null")
        .bind(now).bind(order_id).execute(conn).await.map(|_| ()))
}

pub async fn insert_selector_token(db: &Db, selector: &str, verifier_hash: &str, order_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("insert into download_selector_token (selector, verifier_hash, order_id, created_at) values ($1, $2, $3, $4)")
        .bind(selector).bind(verifier_hash).bind(order_id).bind(now).execute(pool).await.map(|_| ()))
}

/// A `GrantRow`'s columns, read from `download_grant g`.
const GRANT_COLUMNS: &str = "g.order_id, g.downloads_used, g.max_downloads, g.expires_at, g.revoked_at, g.created_at, g.last_started_at";

#[derive(sqlx::FromRow)]
struct SelectedGrant {
    #[sqlx(flatten)]
    grant: GrantRow,
    verifier_hash: String,
}

/// The grant a selector finds, with the hash its verifier must match.
pub async fn grant_by_selector(db: &Db, selector: &str) -> Result<Option<(GrantRow, String)>, sqlx::Error> {
    let sql = format!(
        "select {GRANT_COLUMNS}, t.verifier_hash from download_selector_token t join download_grant g on g.order_id = t.order_id \
         where t.selector = $1"
    );
    let found = on_db!(db, pool => sqlx::query_as::<_, SelectedGrant>(&sql).bind(selector).fetch_optional(pool).await)?;
    Ok(found.map(|f| (f.grant, f.verifier_hash)))
}

/// The grant a token issued before selectors opens, if the token exists.
pub async fn grant_by_token(db: &Db, token_hash: &str) -> Result<Option<GrantRow>, sqlx::Error> {
    let sql =
        format!("select {GRANT_COLUMNS} from download_token t join download_grant g on g.order_id = t.order_id where t.token_hash = $1");
    on_db!(db, pool => sqlx::query_as::<_, GrantRow>(&sql).bind(token_hash).fetch_optional(pool).await)
}

/// Counts one download, atomically refusing past the limit. Returns whether it was allowed.
pub async fn count_download(db: &Db, order_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update download_grant set downloads_used = downloads_used + 1, last_started_at = $2 where order_id = $1 and revoked_at is null \
         and (max_downloads is null or downloads_used < max_downloads) and (expires_at is null or expires_at > $2)",
    )
    .bind(order_id).bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
}

pub async fn insert_library_token(
    db: &Db,
    token_hash: &str,
    email: &str,
    account_id: Option<&str>,
    expires_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into library_token (token_hash, email, account_id, expires_at, used_at, created_at) values ($1, $2, $3, $4, null, $5)",
    )
    .bind(token_hash).bind(email).bind(account_id).bind(expires_at).bind(now).execute(pool).await.map(|_| ()))
}

/// Uses a magic link once: returns its email (and the account that asked, if any).
pub async fn use_library_token(db: &Db, token_hash: &str, now: i64) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, Option<String>)>(
        "update library_token set used_at = $1 where token_hash = $2 and used_at is null and expires_at > $1 \
         returning email, account_id",
    )
    .bind(now).bind(token_hash).fetch_optional(pool).await)
}

/// A download grant for a multi-row insert, with the token its buyer is handed at once (a
/// wallet purchase answers with its link; a card buyer's tokens are minted later).
#[derive(Debug, Clone)]
pub struct GrantInsert<'a> {
    pub order_id: &'a str,
    pub max_downloads: Option<i64>,
    pub expires_at: Option<i64>,
    /// `(selector, verifier hash)`.
    pub token: Option<(&'a str, &'a str)>,
}

pub fn push_grants<'a>(w: &mut crate::db::Writes<'a>, grants: &'a [GrantInsert<'a>], now: i64) {
    if grants.is_empty() {
        return;
    }
    crate::on_writes!(w, s => {
        s.next("insert into download_grant (order_id, downloads_used, max_downloads, expires_at, revoked_at, created_at) ")
            .push_values(grants, |mut row, g| {
                row.push_bind(g.order_id).push_bind(0i64).push_bind(g.max_downloads).push_bind(g.expires_at).push_bind(None::<i64>).push_bind(now);
            });
        let with_tokens: Vec<&GrantInsert<'a>> = grants.iter().filter(|g| g.token.is_some()).collect();
        if !with_tokens.is_empty() {
            s.next("insert into download_selector_token (selector, verifier_hash, order_id, created_at) ").push_values(with_tokens, |mut row, g| {
                let (selector, verifier) = g.token.unwrap_or_default();
                row.push_bind(selector).push_bind(verifier).push_bind(g.order_id).push_bind(now);
            });
        }
    })
}

/// The order a grant gives access to, as delivery sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PurchaseRow {
    pub order_id: String,
    pub work_id: String,
    pub creator_id: String,
    pub buyer_account_id: Option<String>,
    pub currency: Currency,
    pub amount_minor: i64,
    pub status: OrderStatus,
    pub provider: Provider,
    pub created_at: i64,
}

pub async fn purchase(db: &Db, order_id: &str) -> Result<Option<PurchaseRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, PurchaseRow>(
        "select order_id, work_id, creator_id, buyer_account_id, currency, amount_minor, status, provider, created_at \
         from buyer_order where order_id = $1")
        .bind(order_id).fetch_optional(pool).await)
}

/// How long at most buyers keep their download links once the creator deleted their account.
pub const AFTER_CREATOR_DELETED_MS: i64 = 30 * 24 * 3_600_000;

/// The addresses the account's library links were sent to.
pub async fn library_addresses_of(tx: &mut Tx, account_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, String>("select distinct email from library_token where account_id = $1")
        .bind(account_id).fetch_all(conn).await)
}

/// A deleted account's buyers keep their links until they expire, and at most until `until`;
/// the library links mailed to the account or its addresses stop working.
pub async fn wind_down(tx: &mut Tx, account_id: &str, addresses: &[String], until: i64) -> Result<(), sqlx::Error> {
    on_tx!(&mut *tx, conn => sqlx::query(
        "update download_grant set expires_at = $1 where (expires_at is null or expires_at > $1) \
         and order_id in (select order_id from buyer_order where creator_id = $2)")
        .bind(until).bind(account_id).execute(conn).await.map(|_| ()))?;
    on_tx!(&mut *tx, conn => sqlx::query("delete from library_token where account_id = $1").bind(account_id).execute(conn).await.map(|_| ()))?;
    for address in addresses {
        on_tx!(&mut *tx, conn => sqlx::query("delete from library_token where email = $1").bind(address).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

/// Works of deleted accounts whose files are still stored and that no buyer can download any
/// more: every grant revoked, or expired before `expired_before` (a download started just
/// before its link expired may still be streaming, or resume).
pub async fn works_to_purge(db: &Db, expired_before: i64) -> Result<Vec<String>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, String>(
        "select w.work_id from work w join account a on a.account_id = w.creator_id \
         where a.deleted_at is not null and w.files_purged_at is null \
         and not exists (select 1 from buyer_order o join download_grant g on g.order_id = o.order_id \
             where o.work_id = w.work_id and g.revoked_at is null and (g.expires_at is null or g.expires_at > $1))")
        .bind(expired_before).fetch_all(pool).await)
}
