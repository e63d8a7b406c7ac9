//! SQL for accounts.

use crate::{db::Db, on_db, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub account_id: String,
    pub email: String,
    pub handle: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: i64,
    pub bio: String,
    /// The profile's links, one URL per line.
    pub links: String,
    pub avatar_key: Option<String>,
    /// `#rrggbb`, or none for the colour derived from the handle.
    pub accent_color: Option<String>,
    /// Whether the account sells (has a public profile); buyer-only accounts don't.
    pub sells: bool,
    pub email_verified_at: Option<i64>,
    /// Sessions signed in under an older epoch are over (see `session`).
    pub session_epoch: i64,
}

impl AccountRow {
    /// A new account's row with the profile fields empty.
    pub fn new(account_id: String, email: String, handle: String, display_name: String, password_hash: String, now: i64) -> AccountRow {
        AccountRow {
            account_id,
            email,
            handle,
            display_name,
            password_hash,
            created_at: now,
            bio: String::new(),
            links: String::new(),
            avatar_key: None,
            accent_color: None,
            sells: true,
            email_verified_at: None,
            session_epoch: 0,
        }
    }
}

const COLUMNS: &str = "account_id, email, handle, display_name, password_hash, created_at, bio, links, avatar_key, \
    accent_color, sells, email_verified_at, session_epoch";

pub async fn insert(db: &Db, row: &AccountRow) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into account (account_id, email, handle, display_name, password_hash, created_at, sells, email_verified_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.account_id)
    .bind(&row.email)
    .bind(&row.handle)
    .bind(&row.display_name)
    .bind(&row.password_hash)
    .bind(row.created_at)
    .bind(row.sells)
    .bind(row.email_verified_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Records that the account's email is proven. The first proof ends every session signed in
/// before it: an account made by the buyer path with someone else's email address (nothing
/// proved it then) must not stay open to whoever typed it. Returns the current session epoch.
pub async fn mark_email_verified(db: &Db, account_id: &str, now: i64) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "update account set session_epoch = case when email_verified_at is null then session_epoch + 1 else session_epoch end, \
         email_verified_at = coalesce(email_verified_at, $1) where account_id = $2 returning session_epoch")
        .bind(now).bind(account_id).fetch_one(pool).await)
}

/// The session epoch of an account (none: the account is gone).
pub async fn session_epoch(db: &Db, account_id: &str) -> Result<Option<i64>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select session_epoch from account where account_id = $1")
        .bind(account_id).fetch_optional(pool).await)
}

/// A creator's public profile fields.
pub struct ProfileEdit<'a> {
    pub display_name: &'a str,
    pub bio: &'a str,
    pub links: &'a str,
    pub accent_color: Option<&'a str>,
}

pub async fn update_profile(db: &Db, account_id: &str, p: &ProfileEdit<'_>) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update account set display_name = $1, bio = $2, links = $3, accent_color = $4 where account_id = $5")
        .bind(p.display_name).bind(p.bio).bind(p.links).bind(p.accent_color).bind(account_id).execute(pool).await.map(|_| ()))
}

/// Sets the avatar's storage key; returns the one it replaces.
pub async fn set_avatar(db: &Db, account_id: &str, key: Option<&str>) -> Result<Option<String>, sqlx::Error> {
    let old: Option<Option<String>> = on_db!(db, pool => sqlx::query_scalar("select avatar_key from account where account_id = $1")
        .bind(account_id).fetch_optional(pool).await)?;
    on_db!(db, pool => sqlx::query("update account set avatar_key = $1 where account_id = $2")
        .bind(key).bind(account_id).execute(pool).await.map(|_| ()))?;
    Ok(old.flatten())
}

/// A buyer account starts selling: it takes a handle and a name of its choosing. Once: an
/// account that already sells keeps its handle (links and profiles are posted under it).
/// Returns whether this call changed the account.
pub async fn start_selling(db: &Db, account_id: &str, handle: &str, display_name: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query("update account set handle = $1, display_name = $2, sells = true where account_id = $3 and not sells")
        .bind(handle).bind(display_name).bind(account_id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Moves an account to a new handle, keeping the old one as its redirect (and reservation), and
/// dropping any reservation it had on the new one (a creator going back to an earlier handle).
pub async fn change_handle(db: &Db, account_id: &str, new_handle: &str, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, conn => async {
        sqlx::query(
            "insert into old_handle (handle, account_id, retired_at) select handle, account_id, $2 from account where account_id = $1 \
             on conflict (handle) do update set account_id = excluded.account_id, retired_at = excluded.retired_at")
            .bind(account_id).bind(now).execute(&mut *conn).await?;
        sqlx::query("delete from old_handle where handle = $1 and account_id = $2").bind(new_handle).bind(account_id).execute(&mut *conn).await?;
        sqlx::query("update account set handle = $1 where account_id = $2").bind(new_handle).bind(account_id).execute(&mut *conn).await?;
        Ok::<(), sqlx::Error>(())
    }.await)?;
    tx.commit().await
}

/// Whether another account gave up `handle` after `since` (so it is still theirs to redirect).
pub async fn handle_held_by_other(db: &Db, handle: &str, account_id: Option<&str>, since: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "select count(*) from old_handle where handle = $1 and account_id <> $2 and retired_at > $3")
        .bind(handle).bind(account_id.unwrap_or("")).bind(since).fetch_one(pool).await.map(|n| n > 0))
}

/// The current handle of the selling account that gave up `old`, while nobody else holds it.
pub async fn handle_now_for(db: &Db, old: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, String>(
        "select a.handle from old_handle o join account a on a.account_id = o.account_id where o.handle = $1 and a.sells \
         and not exists (select 1 from account b where b.handle = o.handle)")
        .bind(old).fetch_optional(pool).await)
}

/// How many handles `account_id` gave up after `since` (each one stays reserved to it).
pub async fn handles_given_up_since(db: &Db, account_id: &str, since: i64) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select count(*) from old_handle where account_id = $1 and retired_at > $2")
        .bind(account_id).bind(since).fetch_one(pool).await)
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from account where email = $1");
    on_db!(db, pool => sqlx::query_as::<_, AccountRow>(&sql).bind(email).fetch_optional(pool).await)
}

pub async fn find_by_id(db: &Db, account_id: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from account where account_id = $1");
    on_db!(db, pool => sqlx::query_as::<_, AccountRow>(&sql).bind(account_id).fetch_optional(pool).await)
}

pub async fn find_by_handle(db: &Db, handle: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from account where handle = $1");
    on_db!(db, pool => sqlx::query_as::<_, AccountRow>(&sql).bind(handle).fetch_optional(pool).await)
}

pub async fn list(db: &Db) -> Result<Vec<AccountRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from account order by created_at, account_id");
    on_db!(db, pool => sqlx::query_as::<_, AccountRow>(&sql).fetch_all(pool).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub token_id: String,
    pub account_id: String,
    pub name: String,
    pub token_prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn insert_token(db: &Db, row: &TokenRow, token_hash: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into api_token (token_id, account_id, name, token_hash, token_prefix, created_at) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.token_id).bind(&row.account_id).bind(&row.name).bind(token_hash).bind(&row.token_prefix).bind(row.created_at)
    .execute(pool).await.map(|_| ()))
}

pub async fn live_tokens(db: &Db, account_id: &str) -> Result<Vec<TokenRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, TokenRow>(
        "select token_id, account_id, name, token_prefix, created_at, last_used_at, revoked_at from api_token \
         where account_id = $1 and revoked_at is null order by created_at desc",
    )
    .bind(account_id).fetch_all(pool).await)
}

pub async fn revoke_token(db: &Db, account_id: &str, token_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update api_token set revoked_at = $1 where token_id = $2 and account_id = $3 and revoked_at is null",
    )
    .bind(now).bind(token_id).bind(account_id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// The account owning a live token with this hash, marking the token used.
pub async fn account_by_token_hash(db: &Db, token_hash: &str, now: i64) -> Result<Option<AccountRow>, sqlx::Error> {
    let sql = "update api_token set last_used_at = $1 where token_hash = $2 and revoked_at is null returning account_id";
    let account_id: Option<String> = on_db!(db, pool => sqlx::query_scalar(sql).bind(now).bind(token_hash).fetch_optional(pool).await)?;
    match account_id {
        Some(id) => find_by_id(db, &id).await,
        None => Ok(None),
    }
}

pub async fn notify_sales(db: &Db, account_id: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, bool>("select notify_sales from account where account_id = $1")
        .bind(account_id).fetch_optional(pool).await.map(|v| v.unwrap_or(true)))
}

pub async fn set_notify_sales(db: &Db, account_id: &str, enabled: bool) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("update account set notify_sales = $1 where account_id = $2")
        .bind(enabled).bind(account_id).execute(pool).await.map(|_| ()))
}

/// Magic sign-in links: stored hashed, usable once, before they expire.
pub async fn insert_login_token(
    db: &Db,
    token_hash: &str,
    email: &str,
    next: Option<&str>,
    expires_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into login_token (token_hash, email, next, expires_at, used_at, created_at) values ($1, $2, $3, $4, null, $5)")
        .bind(token_hash).bind(email).bind(next).bind(expires_at).bind(now).execute(pool).await.map(|_| ()))
}

pub async fn use_login_token(db: &Db, token_hash: &str, now: i64) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, Option<String>)>(
        "update login_token set used_at = $1 where token_hash = $2 and used_at is null and expires_at > $1 returning email, next")
        .bind(now).bind(token_hash).fetch_optional(pool).await)
}

/// `(account_id, email)` of the accounts among `account_ids` (not empty) that exist, as a
/// query of `reads`; `emails_from` decodes its rows.
///
/// On SQLite the answer is one row, a JSON array of pairs: there every row of a result is a
/// message from the connection's thread to the caller's, and waking the caller for each one
/// cost the wallet writer (which asks this for every batch) more than the query itself.
pub fn push_emails_in<'a, DB>(reads: &mut crate::db::Statements<'a, DB>, account_ids: &[&'a str])
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let q = if crate::db::is_sqlite::<DB>() {
        reads.next("select json_group_array(json_array(account_id, email)) from account where account_id in ")
    } else {
        reads.next("select account_id, email from account where account_id in ")
    };
    crate::db::push_list(q, account_ids);
}

/// The pairs of `push_emails_in`'s query from its rows.
pub fn emails_from<R: sqlx::Row>(rows: &[R]) -> Result<Vec<(String, String)>, sqlx::Error>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    if crate::db::is_sqlite::<R::Database>() {
        match rows.first() {
            Some(row) => crate::db::from_json_row(row.try_get(0)?),
            None => Err(sqlx::Error::RowNotFound),
        }
    } else {
        rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
    }
}

/// A sign-up waiting for its email to be proven.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignupRequest {
    pub request_id: String,
    pub email: String,
    pub handle: String,
    pub display_name: String,
    pub password_hash: String,
}

pub async fn insert_signup_request(tx: &mut crate::db::Tx, r: &SignupRequest, expires_at: i64, now: i64) -> Result<(), sqlx::Error> {
    crate::on_tx!(tx, pool => sqlx::query(
        "insert into signup_request (request_id, email, handle, display_name, password_hash, token_hash, expires_at, used_at, created_at) \
         values ($1, $2, $3, $4, $5, null, $6, null, $7)")
        .bind(&r.request_id).bind(&r.email).bind(&r.handle).bind(&r.display_name).bind(&r.password_hash).bind(expires_at).bind(now)
        .execute(pool).await.map(|_| ()))
}

/// Records the token of the confirmation email being sent; false if the request is gone.
pub async fn set_signup_token(db: &Db, request_id: &str, token_hash: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query("update signup_request set token_hash = $1 where request_id = $2 and used_at is null")
        .bind(token_hash).bind(request_id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Uses a confirmation link: once, before it expires.
pub async fn use_signup_token(db: &Db, token_hash: &str, now: i64) -> Result<Option<SignupRequest>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, SignupRequest>(
        "update signup_request set used_at = $1 where token_hash = $2 and used_at is null and expires_at > $1 \
         returning request_id, email, handle, display_name, password_hash")
        .bind(now).bind(token_hash).fetch_optional(pool).await)
}

/// A requested email change, valid while the account stays at `session_epoch`.
pub struct NewEmailChange<'a> {
    pub change_id: &'a str,
    pub account_id: &'a str,
    pub new_email: &'a str,
    pub session_epoch: i64,
    pub expires_at: i64,
}

pub async fn insert_email_change(tx: &mut crate::db::Tx, c: &NewEmailChange<'_>, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into email_change (change_id, account_id, new_email, session_epoch, token_hash, expires_at, used_at, created_at) \
         values ($1, $2, $3, $4, null, $5, null, $6)")
        .bind(c.change_id).bind(c.account_id).bind(c.new_email).bind(c.session_epoch).bind(c.expires_at).bind(now)
        .execute(conn).await.map(|_| ()))
}

/// Records the token of the confirmation email being sent; false if the change is gone.
pub async fn set_email_change_token(db: &Db, change_id: &str, token_hash: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query("update email_change set token_hash = $1 where change_id = $2 and used_at is null")
        .bind(token_hash).bind(change_id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// An email change made by its link.
#[derive(Debug, Clone)]
pub struct EmailChanged {
    pub account_id: String,
    pub old_email: String,
    pub new_email: String,
    /// The account's email was proven before; if not, its sessions (opened without proof)
    /// ended with this change, and `session_epoch` is the new one.
    pub was_proven: bool,
    pub session_epoch: i64,
}

/// Uses an email change's link (once, before it expires, and only if the account's session
/// epoch hasn't moved since it was asked: a password change or reset cancels it) and moves the
/// account to the new address, proven now. None for an unknown, used, expired or cancelled
/// link. A new address taken by another account meanwhile is a unique violation.
pub async fn use_email_change(tx: &mut crate::db::Tx, token_hash: &str, now: i64) -> Result<Option<EmailChanged>, sqlx::Error> {
    on_tx!(tx, conn => async {
        let Some((account_id, new_email)) = sqlx::query_as::<_, (String, String)>(
            "update email_change set used_at = $1 where token_hash = $2 and used_at is null and expires_at > $1 \
             and session_epoch = (select a.session_epoch from account a where a.account_id = email_change.account_id) \
             returning account_id, new_email")
            .bind(now).bind(token_hash).fetch_optional(&mut *conn).await? else { return Ok(None) };
        let (old_email, proven_at): (String, Option<i64>) = sqlx::query_as("select email, email_verified_at from account where account_id = $1")
            .bind(&account_id).fetch_one(&mut *conn).await?;
        sqlx::query("update email_change set old_email = $1 where token_hash = $2").bind(&old_email).bind(token_hash).execute(&mut *conn).await?;
        // Like a first sign-in link: proving an address ends the sessions opened without proof.
        let session_epoch: i64 = sqlx::query_scalar(
            "update account set session_epoch = case when email_verified_at is null then session_epoch + 1 else session_epoch end, \
             email = $1, email_verified_at = $2 where account_id = $3 returning session_epoch")
            .bind(&new_email).bind(now).bind(&account_id).fetch_one(&mut *conn).await?;
        // Other pending changes of this account are void now.
        sqlx::query("update email_change set used_at = $1 where account_id = $2 and used_at is null")
            .bind(now).bind(&account_id).execute(&mut *conn).await?;
        Ok::<_, sqlx::Error>(Some(EmailChanged { account_id, old_email, new_email, was_proven: proven_at.is_some(), session_epoch }))
    }.await)
}

/// What a sale needs to know about the account that sold: where its notices and webhook go,
/// and whether it sells on buyers' tabs.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct SellerContact {
    pub account_id: String,
    pub email: String,
    /// Wants an email for every sale.
    pub notify_sales: bool,
    pub webhook_url: Option<String>,
    /// Turned tab sales off (see `sells_on_tab`).
    pub tab_sales_off: bool,
}

const SELLER_CONTACT: &str = "select account_id, email, notify_sales, webhook_url, tab_sales_off from account where account_id ";

pub async fn seller_contact_in(tx: &mut crate::db::Tx, account_id: &str) -> Result<Option<SellerContact>, sqlx::Error> {
    let sql = format!("{SELLER_CONTACT} = $1");
    crate::on_tx!(tx, conn => sqlx::query_as::<_, SellerContact>(&sql).bind(account_id).fetch_optional(conn).await)
}

/// Adds the query of the sellers `account_ids` to `reads` (the wallet writer's batch read);
/// `seller_contacts_from` decodes its rows.
pub fn push_seller_contacts_in<'a, DB>(reads: &mut crate::db::Statements<'a, DB>, account_ids: &[&'a str])
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    crate::db::push_list(reads.next(SELLER_CONTACT).push("in "), account_ids);
}

pub fn seller_contacts_from<R: sqlx::Row>(rows: &[R]) -> Result<Vec<SellerContact>, sqlx::Error>
where
    for<'r> SellerContact: sqlx::FromRow<'r, R>,
{
    rows.iter().map(|row| <SellerContact as sqlx::FromRow<R>>::from_row(row)).collect()
}

pub async fn insert_password_reset(db: &Db, token_hash: &str, account_id: &str, expires_at: i64, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into password_reset (token_hash, account_id, expires_at, used_at, created_at) values ($1, $2, $3, null, $4)")
        .bind(token_hash).bind(account_id).bind(expires_at).bind(now).execute(pool).await.map(|_| ()))
}

/// Uses a reset token (once, before it expires) and sets the account's new password hash in
/// the same transaction, moving its session epoch so every session signed in before ends.
/// Returns the account's new epoch, or none for an unknown, used or expired token.
pub async fn reset_password(db: &Db, token_hash: &str, password_hash: &str, now: i64) -> Result<Option<(String, i64)>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let used: Option<String> = crate::on_tx!(&mut tx, conn => sqlx::query_scalar(
        "update password_reset set used_at = $1 where token_hash = $2 and used_at is null and expires_at > $1 returning account_id")
        .bind(now).bind(token_hash).fetch_optional(conn).await)?;
    let Some(account_id) = used else { return Ok(None) };
    let epoch = set_password_in(&mut tx, &account_id, password_hash).await?;
    // Any other reset link sent before this one is spent too.
    crate::on_tx!(&mut tx, conn => sqlx::query("update password_reset set used_at = $1 where account_id = $2 and used_at is null")
        .bind(now).bind(&account_id).execute(conn).await.map(|_| ()))?;
    tx.commit().await?;
    Ok(Some((account_id, epoch)))
}

/// Sets a new password hash and moves the session epoch (signing out every session); returns
/// the new epoch.
pub async fn set_password(db: &Db, account_id: &str, password_hash: &str) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let epoch = set_password_in(&mut tx, account_id, password_hash).await?;
    tx.commit().await?;
    Ok(epoch)
}

async fn set_password_in(tx: &mut crate::db::Tx, account_id: &str, password_hash: &str) -> Result<i64, sqlx::Error> {
    crate::on_tx!(tx, conn => sqlx::query_scalar::<_, i64>(
        "update account set password_hash = $1, session_epoch = session_epoch + 1 where account_id = $2 returning session_epoch")
        .bind(password_hash).bind(account_id).fetch_one(conn).await)
}

/// Whether a reset token can still be used (checked before hashing the new password, so that
/// a stale link costs no hashing work).
pub async fn password_reset_usable(db: &Db, token_hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "select count(*) from password_reset where token_hash = $1 and used_at is null and expires_at > $2")
        .bind(token_hash).bind(now).fetch_one(pool).await.map(|n| n > 0))
}

/// A browser signed in to an account (see the `signed_in_device` table).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub device_id: String,
    pub user_agent: String,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
}

pub async fn insert_device(db: &Db, device_id: &str, account_id: &str, epoch: i64, user_agent: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into signed_in_device (device_id, account_id, session_epoch, user_agent, signed_in_at, last_seen_at) \
         values ($1, $2, $3, $4, $5, $5)")
        .bind(device_id).bind(account_id).bind(epoch).bind(user_agent).bind(now).execute(pool).await.map(|_| ()))
}

pub async fn delete_device(db: &Db, device_id: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("delete from signed_in_device where device_id = $1").bind(device_id).execute(pool).await.map(|_| ()))
}

pub async fn touch_device(db: &Db, device_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("update signed_in_device set last_seen_at = $1 where device_id = $2")
        .bind(now).bind(device_id).execute(pool).await.map(|_| ()))
}

/// The devices still signed in to an account: under its current session epoch, and seen since
/// `seen_since`. Most recently seen first.
pub async fn signed_in_devices(db: &Db, account_id: &str, seen_since: i64) -> Result<Vec<DeviceRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, DeviceRow>(
        "select d.device_id, d.user_agent, d.signed_in_at, d.last_seen_at from signed_in_device d \
         join account a on a.account_id = d.account_id and a.session_epoch = d.session_epoch \
         where d.account_id = $1 and d.last_seen_at > $2 order by d.last_seen_at desc, d.signed_in_at desc")
        .bind(account_id).bind(seen_since).fetch_all(pool).await)
}

/// Ends every session of an account (moves its epoch) and forgets its signed-in devices; the
/// caller signs its own browser in again under the returned epoch, which lists it anew.
pub async fn end_sessions(db: &Db, account_id: &str) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let epoch = crate::on_tx!(&mut tx, conn => sqlx::query_scalar::<_, i64>(
        "update account set session_epoch = session_epoch + 1 where account_id = $1 returning session_epoch")
        .bind(account_id).fetch_one(conn).await)?;
    crate::on_tx!(&mut tx, conn => sqlx::query("delete from signed_in_device where account_id = $1")
        .bind(account_id).execute(conn).await.map(|_| ()))?;
    tx.commit().await?;
    Ok(epoch)
}

/// An account's two-step sign-in (see `two_step`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TwoStepRow {
    pub secret_sealed: String,
    /// `None` while it is being set up.
    pub enabled_at: Option<i64>,
}

pub async fn two_step(db: &Db, account_id: &str) -> Result<Option<TwoStepRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, TwoStepRow>("select secret_sealed, enabled_at from two_step where account_id = $1")
        .bind(account_id).fetch_optional(pool).await)
}

/// A new secret waiting for its first code; replaces one still waiting, never one in use.
pub async fn start_two_step(db: &Db, account_id: &str, secret_sealed: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into two_step (account_id, secret_sealed, enabled_at, last_step, created_at) values ($1, $2, null, 0, $3) \
         on conflict (account_id) do update set secret_sealed = excluded.secret_sealed, created_at = excluded.created_at \
         where two_step.enabled_at is null")
        .bind(account_id).bind(secret_sealed).bind(now).execute(pool).await.map(|_| ()))
}

/// Turns the waiting secret on, if it is still `secret_sealed`, its first code (`step`) counted
/// as used. False if nothing (or another secret) waited.
pub async fn enable_two_step(
    tx: &mut crate::db::Tx,
    account_id: &str,
    secret_sealed: &str,
    step: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "update two_step set enabled_at = $1, last_step = $2 where account_id = $3 and enabled_at is null and secret_sealed = $4")
        .bind(now).bind(step).bind(account_id).bind(secret_sealed).execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// Counts the code of `step` as used, if no code of that step or a later one was: true if it
/// may be accepted. One statement, so two requests racing with one code can't both win.
pub async fn accept_step(db: &Db, account_id: &str, step: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query("update two_step set last_step = $1 where account_id = $2 and enabled_at is not null and last_step < $1")
        .bind(step).bind(account_id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

pub async fn delete_two_step(tx: &mut crate::db::Tx, account_id: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("delete from recovery_code where account_id = $1").bind(account_id).execute(&mut *conn).await.map(|_| ()))?;
    on_tx!(tx, conn => sqlx::query("delete from two_step where account_id = $1").bind(account_id).execute(conn).await.map(|_| ()))
}

/// The account's recovery codes become these (hashes); the old ones stop working.
pub async fn replace_recovery_codes(tx: &mut crate::db::Tx, account_id: &str, hashes: &[String]) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("delete from recovery_code where account_id = $1").bind(account_id).execute(&mut *conn).await.map(|_| ()))?;
    for code_hash in hashes {
        on_tx!(tx, conn => sqlx::query("insert into recovery_code (account_id, code_hash, used_at) values ($1, $2, null)")
            .bind(account_id).bind(code_hash).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

/// Uses a recovery code up: true if it was the account's and unused.
pub async fn use_recovery_code(tx: &mut crate::db::Tx, account_id: &str, code_hash: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("update recovery_code set used_at = $1 where account_id = $2 and code_hash = $3 and used_at is null")
        .bind(now).bind(account_id).bind(code_hash).execute(conn).await.map(|r| r.rows_affected() == 1))
}

const CODES_LEFT: &str = "select count(*) from recovery_code where account_id = $1 and used_at is null";

pub async fn recovery_codes_left(db: &Db, account_id: &str) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(CODES_LEFT).bind(account_id).fetch_one(pool).await)
}

pub async fn recovery_codes_left_in(tx: &mut crate::db::Tx, account_id: &str) -> Result<i64, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, i64>(CODES_LEFT).bind(account_id).fetch_one(conn).await)
}

/// Every address an account used or asked to move to: the current one and those of its email
/// changes (each old address was mailed about its change, so their mails name these too).
pub async fn addresses_of(tx: &mut crate::db::Tx, account_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, String>(
        "select email from account where account_id = $1 \
         union select new_email from email_change where account_id = $1 \
         union select old_email from email_change where account_id = $1 and old_email is not null")
        .bind(account_id).fetch_all(conn).await)
}

/// Ends every browser session whose stored data names one of `needles` (an account id, an
/// address a library link proved): tower-sessions keeps a session's data as MessagePack,
/// where strings are plain UTF-8.
pub async fn delete_sessions_naming(tx: &mut crate::db::Tx, needles: &[String]) -> Result<(), sqlx::Error> {
    for needle in needles {
        match &mut *tx {
            crate::db::Tx::Sqlite(t) => {
                sqlx::query("delete from session where instr(data, cast($1 as blob)) > 0").bind(needle).execute(&mut **t).await?;
            }
            crate::db::Tx::Postgres(t) => {
                sqlx::query("delete from session where position(convert_to($1, 'UTF8') in data) > 0")
                    .bind(needle)
                    .execute(&mut **t)
                    .await?;
            }
        }
    }
    Ok(())
}

/// What a deleted account's row keeps in place of its owner's data.
pub struct Pseudonym<'a> {
    pub email: &'a str,
    pub handle: &'a str,
    /// A hash of a random password nobody knows.
    pub password_hash: &'a str,
}

/// Erases an account's own data, once (false if it was deleted already): the row keeps its id
/// (orders and ledger lines point at it) with a pseudonym for each unique field; everything that
/// could sign it in goes (devices, tokens, two-step, reset and change links, old handles, which
/// are freed), and its sessions end with its epoch.
pub async fn erase(
    tx: &mut crate::db::Tx,
    account_id: &str,
    addresses: &[String],
    p: &Pseudonym<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let erased = on_tx!(&mut *tx, conn => sqlx::query(
        "update account set email = $1, handle = $2, display_name = 'Deleted account', password_hash = $3, bio = '', links = '', \
         avatar_key = null, accent_color = null, webhook_url = null, webhook_secret = null, sells = $4, notify_sales = $4, \
         email_verified_at = null, timezone = 'UTC', session_epoch = session_epoch + 1, deleted_at = $5 \
         where account_id = $6 and deleted_at is null")
        .bind(p.email).bind(p.handle).bind(p.password_hash).bind(false).bind(now).bind(account_id)
        .execute(conn).await.map(|r| r.rows_affected() == 1))?;
    if !erased {
        return Ok(false);
    }
    for table in ["signed_in_device", "api_token", "recovery_code", "two_step", "password_reset", "email_change", "old_handle"] {
        let sql = format!("delete from {table} where account_id = $1");
        on_tx!(&mut *tx, conn => sqlx::query(&sql).bind(account_id).execute(conn).await.map(|_| ()))?;
    }
    for address in addresses {
        for sql in ["delete from login_token where email = $1", "delete from signup_request where email = $1"] {
            on_tx!(&mut *tx, conn => sqlx::query(sql).bind(address).execute(conn).await.map(|_| ()))?;
        }
    }
    Ok(true)
}

/// The image keys (avatar) a deleted account leaves in storage, read before `erase`.
pub async fn avatar_key_in(tx: &mut crate::db::Tx, account_id: &str) -> Result<Option<String>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, Option<String>>("select avatar_key from account where account_id = $1")
        .bind(account_id).fetch_optional(conn).await.map(Option::flatten))
}

/// Whether the account was deleted, read in `tx` (a payment for a deleted party isn't applied).
pub async fn deleted_in(tx: &mut crate::db::Tx, account_id: &str) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, Option<i64>>("select deleted_at from account where account_id = $1")
        .bind(account_id).fetch_optional(conn).await.map(|d| d.flatten().is_some()))
}

/// The email of account `account_id`, in a transaction.
pub async fn email_in(tx: &mut crate::db::Tx, account_id: &str) -> Result<Option<String>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, String>("select email from account where account_id = $1")
        .bind(account_id).fetch_optional(conn).await)
}

/// The handles an account holds or gave up (still reserved for it), read before `erase`.
pub async fn handles_of(tx: &mut crate::db::Tx, account_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, String>(
        "select handle from account where account_id = $1 union select handle from old_handle where account_id = $1")
        .bind(account_id).fetch_all(conn).await)
}

/// Reserves a deleted account's handles, by their keyed hashes, from `now`.
pub async fn retire_handles(tx: &mut crate::db::Tx, hashes: &[String], now: i64) -> Result<(), sqlx::Error> {
    for hash in hashes {
        on_tx!(&mut *tx, conn => sqlx::query(
            "insert into retired_handle (handle_hash, retired_at) values ($1, $2) \
             on conflict (handle_hash) do update set retired_at = excluded.retired_at")
            .bind(hash).bind(now).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

/// Whether a deleted account gave up the handle of this hash since `since`.
pub async fn handle_retired_since(db: &Db, hash: &str, since: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select count(*) from retired_handle where handle_hash = $1 and retired_at > $2")
        .bind(hash).bind(since).fetch_one(pool).await.map(|n| n > 0))
}

/// Whether the creator sells on buyers' tabs (on unless they turned it off).
pub async fn sells_on_tab(db: &Db, account_id: &str) -> Result<bool, sqlx::Error> {
    crate::on_db!(db, pool => sqlx::query_scalar::<_, bool>("select tab_sales_off from account where account_id = $1")
        .bind(account_id).fetch_optional(pool).await)
    .map(|off| off == Some(false))
}

/// Turns tab sales on or off for the creator's works.
pub async fn set_sells_on_tab(db: &Db, account_id: &str, on: bool) -> Result<(), sqlx::Error> {
    crate::on_db!(db, pool => sqlx::query("update account set tab_sales_off = $1 where account_id = $2")
        .bind(!on).bind(account_id).execute(pool).await.map(|_| ()))
}
