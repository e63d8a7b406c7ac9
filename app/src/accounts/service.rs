//! Account rules: sign-up, credential checks and login throttling.

use std::{net::IpAddr, sync::OnceLock};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

use super::{
    domain::{DisplayName, Email, Handle, NewPassword},
    store::{self, AccountRow},
};
use crate::{
    db::{self, Db},
    error::{AppError, FieldError, internal},
    limits::{Limit, Limits},
    secret::AppSecret,
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("email already registered")]
    EmailTaken,
    #[error("handle already taken")]
    HandleTaken,
    /// Deliberately the same for an unknown email and a wrong password.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many login attempts")]
    RateLimited,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// A two-step secret that doesn't open (the app key changed) or a TOTP that can't be built.
    #[error("two-step secret: {0}")]
    Sealing(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<AccountError> for AppError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::Invalid(field) => field.into(),
            AccountError::EmailTaken => AppError::invalid("email", "An account with this email already exists. Log in instead?"),
            AccountError::HandleTaken => AppError::invalid("handle", "That handle is taken. Try another."),
            AccountError::InvalidCredentials => AppError::invalid("password", "That email and password don't match an account."),
            AccountError::RateLimited => AppError::RateLimited,
            AccountError::Hashing(e) => internal("password hashing failed", &e),
            AccountError::Sealing(e) => internal("two-step sign-in", &e),
            AccountError::Database(e) => internal("account query failed", &e),
        }
    }
}

/// What a sign-up form or the admin CLI provides, already parsed.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Email,
    pub handle: Handle,
    pub display_name: DisplayName,
    pub password: NewPassword,
}

impl NewAccount {
    pub fn parse(email: &str, password: &str, display_name: &str, handle: &str) -> Result<Self, FieldError> {
        Ok(NewAccount {
            email: Email::parse(email)?,
            password: NewPassword::parse(password)?,
            display_name: DisplayName::parse(display_name)?,
            handle: Handle::parse(handle)?,
        })
    }
}

/// How long a sign-up's confirmation link works.
const SIGNUP_LINK_MS: i64 = 24 * 3_600_000;

/// A sign-up from the form: nothing is made until the email is proven. A free email gets the
/// link that makes the account; an email that has an account gets a note and a sign-in link.
/// Either way the answer (and the work done: one password hash) is the same, so the form
/// tells nobody which emails have accounts. A taken handle is said at once: handles are public.
pub async fn request_sign_up(db: &Db, key: &AppSecret, new: NewAccount) -> Result<(), AccountError> {
    let password_hash = hash_password(new.password.expose().to_string()).await?;
    let existing = store::find_by_email(db, new.email.as_str()).await?;
    if existing.is_none() {
        handle_available(db, key, &new.handle, None).await?;
    }
    let mut tx = db.begin().await?;
    if existing.is_some() {
        crate::mail::outbox::enqueue(
            &mut tx,
            new.email.as_str(),
            &crate::mail::outbox::Mail::AccountExists { email: new.email.as_str().into() },
        )
        .await?;
        tx.commit().await?;
        tracing::info!("sign-up with an email that has an account: its owner was told");
        return Ok(());
    }
    let now = db::now_ms();
    let request = store::SignupRequest {
        request_id: db::new_id(),
        email: new.email.as_str().into(),
        handle: new.handle.as_str().into(),
        display_name: new.display_name.as_str().into(),
        password_hash,
    };
    store::insert_signup_request(&mut tx, &request, now + SIGNUP_LINK_MS, now).await?;
    crate::mail::outbox::enqueue(
        &mut tx,
        new.email.as_str(),
        &crate::mail::outbox::Mail::ConfirmSignup { request_id: request.request_id.clone() },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A confirmation link used: the account is made, its email proven. `None`: the link is
/// unknown, used or expired.
pub async fn confirm_sign_up(db: &Db, token_hash: &str) -> Result<Option<AccountRow>, AccountError> {
    let Some(request) = store::use_signup_token(db, token_hash, db::now_ms()).await? else { return Ok(None) };
    let now = db::now_ms();
    let mut row = AccountRow::new(db::new_id(), request.email, request.handle, request.display_name, request.password_hash, now);
    row.email_verified_at = Some(now);
    insert_account(db, &row).await?;
    Ok(Some(row))
}

/// A buyer opts in to selling: the handle of their storefront (`/@handle`) and the name on it.
/// Their purchases, wallet and sign-in stay as they are. An account that sells already is left
/// as it is (a handle, once posted, is not changed here).
pub async fn start_selling(db: &Db, key: &AppSecret, account_id: &str, handle: &Handle, name: &DisplayName) -> Result<(), AccountError> {
    handle_available(db, key, handle, Some(account_id)).await?;
    match store::start_selling(db, account_id, handle.as_str(), name.as_str()).await {
        Ok(changed) => {
            if changed {
                tracing::info!(account.id = %account_id, "account started selling");
            }
            Ok(())
        }
        Err(e) if db::is_unique_violation(&e, "handle") => Err(AccountError::HandleTaken),
        Err(e) => Err(e.into()),
    }
}

/// How long a handle given up stays its old owner's: their posted links redirect to the new
/// handle, and nobody else can take it and receive that traffic.
pub const OLD_HANDLE_RESERVED_MS: i64 = 90 * 86_400_000;

/// Handle changes allowed per `OLD_HANDLE_RESERVED_MS`.
const MAX_HANDLE_CHANGES: i64 = 3;

/// Whether `handle` is free for `account_id` (or a new account): no other account holds it,
/// and no other account gave it up in the last 90 days (by changing it, or by deleting itself).
async fn handle_available(db: &Db, key: &AppSecret, handle: &Handle, account_id: Option<&str>) -> Result<(), AccountError> {
    let held = store::find_by_handle(db, handle.as_str()).await?.is_some_and(|other| Some(other.account_id.as_str()) != account_id);
    let since = db::now_ms() - OLD_HANDLE_RESERVED_MS;
    if held
        || store::handle_held_by_other(db, handle.as_str(), account_id, since).await?
        || store::handle_retired_since(db, &retired_handle_hash(key, handle.as_str()), since).await?
    {
        return Err(AccountError::HandleTaken);
    }
    Ok(())
}

/// A creator changes their handle. Links under the old one keep working (each redirects to the
/// same page under the new handle) and nobody else can take it for 90 days. Link pages show the
/// handle, so the cached ones are cleared.
pub async fn change_handle(
    db: &Db,
    key: &AppSecret,
    pages: &crate::page_cache::PageCache,
    account_id: &str,
    handle: &Handle,
) -> Result<(), AccountError> {
    let me = store::find_by_id(db, account_id).await?.ok_or(AccountError::InvalidCredentials)?;
    if !me.sells {
        return Err(FieldError::new("handle", "Start selling first: your storefront's handle is chosen there.").into());
    }
    if me.handle == handle.as_str() {
        return Ok(());
    }
    // Each handle given up stays reserved for 90 days: a few changes, not a way to hoard names.
    if store::handles_given_up_since(db, account_id, db::now_ms() - OLD_HANDLE_RESERVED_MS).await? >= MAX_HANDLE_CHANGES {
        return Err(
            FieldError::new("handle", "You've changed your handle three times in 90 days. Please wait before changing it again.").into()
        );
    }
    handle_available(db, key, handle, Some(account_id)).await?;
    match store::change_handle(db, account_id, handle.as_str(), db::now_ms()).await {
        Ok(()) => {}
        Err(e) if db::is_unique_violation(&e, "handle") => return Err(AccountError::HandleTaken),
        Err(e) => return Err(e.into()),
    }
    pages.invalidate_all().await;
    tracing::info!(account.id = %account_id, "handle changed");
    Ok(())
}

/// Makes an account directly (the operator's CLI, whose caller is trusted with the email, so
/// it counts as proven).
pub async fn sign_up(db: &Db, key: &AppSecret, new: NewAccount) -> Result<AccountRow, AccountError> {
    handle_available(db, key, &new.handle, None).await?;
    let password = new.password.expose().to_string();
    let password_hash = hash_password(password).await?;
    let mut row = AccountRow::new(
        db::new_id(),
        new.email.as_str().to_string(),
        new.handle.as_str().to_string(),
        new.display_name.as_str().to_string(),
        password_hash,
        db::now_ms(),
    );
    row.email_verified_at = Some(row.created_at);
    insert_account(db, &row).await?;
    Ok(row)
}

async fn insert_account(db: &Db, row: &AccountRow) -> Result<(), AccountError> {
    store::insert(db, row).await.map_err(|e| {
        if db::is_unique_violation(&e, "email") {
            AccountError::EmailTaken
        } else if db::is_unique_violation(&e, "handle") {
            AccountError::HandleTaken
        } else {
            AccountError::Database(e)
        }
    })?;
    tracing::info!(account.id = %row.account_id, "account created");
    Ok(())
}

/// Checks a login attempt. Throttled per client address and per account, and answers the same
/// `InvalidCredentials` (after the same amount of hashing work) whether or not the email exists.
pub async fn log_in(db: &Db, limits: &Limits, client: IpAddr, email: &str, password: &str) -> Result<AccountRow, AccountError> {
    let email = email.trim().to_lowercase();
    if !limits.allow(Limit::LoginPerClient, client) || !limits.allow(Limit::LoginPerAccount, &email) {
        tracing::warn!(client = %client, "login throttled");
        return Err(AccountError::RateLimited);
    }
    if password.chars().count() > NewPassword::MAX_CHARS {
        return Err(AccountError::InvalidCredentials);
    }
    let found = store::find_by_email(db, &email).await?;
    let stored_hash = match &found {
        Some(row) => row.password_hash.clone(),
        None => dummy_hash().to_string(),
    };
    let matches = verify_secret(password.to_string(), stored_hash).await?;
    match found {
        Some(row) if matches => Ok(row),
        _ => Err(AccountError::InvalidCredentials),
    }
}

/// The account for a proven email (a used magic link): the existing one, or a new buyer
/// account. Either way the email is now verified, which ends any session signed in to the
/// account before anyone proved it (see `store::mark_email_verified`).
pub async fn account_for_email(db: &Db, email: &Email) -> Result<AccountRow, AccountError> {
    let mut account = match store::find_by_email(db, email.as_str()).await? {
        Some(row) => row,
        None => match new_buyer(db, email, true).await {
            // Made meanwhile by another request.
            Err(AccountError::EmailTaken) => store::find_by_email(db, email.as_str()).await?.ok_or(AccountError::EmailTaken)?,
            other => other?,
        },
    };
    let epoch = store::mark_email_verified(db, &account.account_id, db::now_ms()).await?;
    if epoch != account.session_epoch {
        super::session::forget_epoch(&account.account_id);
        account.session_epoch = epoch;
    }
    Ok(account)
}

/// A buyer who only gave an email at a link page: a new account for it, or `None` if the email
/// already has one (its owner signs in instead). The account sells nothing and has no usable
/// password; the email is not proven yet.
pub async fn start_buyer(db: &Db, email: &Email) -> Result<Option<AccountRow>, AccountError> {
    if store::find_by_email(db, email.as_str()).await?.is_some() {
        return Ok(None);
    }
    match new_buyer(db, email, false).await {
        Ok(row) => Ok(Some(row)),
        Err(AccountError::EmailTaken) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A buyer account: a generated handle (it has no profile), a random password nobody knows
/// (they sign in by link), and `sells` off.
async fn new_buyer(db: &Db, email: &Email, proven: bool) -> Result<AccountRow, AccountError> {
    let local = email.as_str().split('@').next().unwrap_or("buyer");
    let display = DisplayName::parse(local).unwrap_or_else(|_| DisplayName::parse("Buyer").expect("valid name"));
    let password_hash = hash_password(uuid::Uuid::new_v4().to_string()).await?;
    let now = db::now_ms();
    for _ in 0..5 {
        let suffix: String = uuid::Uuid::new_v4().simple().to_string().chars().take(8).collect();
        let mut row = AccountRow::new(
            db::new_id(),
            email.as_str().to_string(),
            format!("buyer_{suffix}"),
            display.as_str().to_string(),
            password_hash.clone(),
            now,
        );
        row.sells = false;
        row.email_verified_at = proven.then_some(now);
        match store::insert(db, &row).await {
            Ok(()) => {
                tracing::info!(account.id = %row.account_id, "buyer account created");
                return Ok(row);
            }
            Err(e) if db::is_unique_violation(&e, "handle") => continue,
            Err(e) if db::is_unique_violation(&e, "email") => return Err(AccountError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
    }
    Err(AccountError::HandleTaken)
}

/// Password hashes running at once, at most one per core: each takes its 19 MiB at once, and
/// sixty sign-ups in parallel took a server from 76 MB to 1 GB before this. Others wait their
/// turn (and sign-ups are rate limited per client besides).
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// Counts the hashes running, and the most that ever ran at once: the bound above, observed
/// (the unit tests check it; it is two atomic adds per hash).
struct Hashing;

static HASHING_NOW: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static HASHING_PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Hashing {
    fn start() -> Hashing {
        use std::sync::atomic::Ordering::SeqCst;
        let running = HASHING_NOW.fetch_add(1, SeqCst) + 1;
        HASHING_PEAK.fetch_max(running, SeqCst);
        Hashing
    }

    /// The most hashes that ran at once in this process.
    #[cfg(test)]
    fn peak() -> usize {
        HASHING_PEAK.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Hashing {
    fn drop(&mut self) {
        HASHING_NOW.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How a deleted account's handle is kept while it stays reserved: an HMAC under the app key,
/// so the table names no handle, and nobody can test guesses against it without the key.
pub fn retired_handle_hash(key: &AppSecret, handle: &str) -> String {
    key.sign("retired-handle", handle.as_bytes())
}

/// Hashes with argon2id at the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane), on a
/// blocking thread: a hash takes tens of milliseconds of CPU and would stall the async runtime.
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    let _slot = hashing_slots().acquire().await.map_err(|e| AccountError::Hashing(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _running = Hashing::start();
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| AccountError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hashing(e.to_string()))?
}

/// Checks a secret (a password, a wallet PIN) against its argon2 hash, on a blocking thread.
pub async fn verify_secret(password: String, stored_hash: String) -> Result<bool, AccountError> {
    let _slot = hashing_slots().acquire().await.map_err(|e| AccountError::Hashing(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _running = Hashing::start();
        let parsed = PasswordHash::new(&stored_hash).map_err(|e| AccountError::Hashing(e.to_string()))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| AccountError::Hashing(e.to_string()))?
}

/// A hash of a random password, verified against when the email is unknown so that the
/// response time does not reveal which emails have accounts.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(uuid::Uuid::new_v4().as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

/// Saves a creator's public profile; their link pages show the name and colour, so the cached
/// ones are cleared.
pub async fn update_profile(
    db: &Db,
    pages: &crate::page_cache::PageCache,
    account_id: &str,
    edit: &store::ProfileEdit<'_>,
) -> Result<(), AccountError> {
    store::update_profile(db, account_id, edit).await?;
    pages.invalidate_all().await;
    Ok(())
}

/// Sets (or, with `None`, removes) the stored avatar; the previous picture is discarded and
/// the cached link pages cleared. On failure the caller still owns `new_key`.
pub async fn set_avatar(
    db: &Db,
    storage: &crate::storage::Storage,
    pages: &crate::page_cache::PageCache,
    account_id: &str,
    new_key: Option<&str>,
) -> Result<(), AccountError> {
    let old = store::set_avatar(db, account_id, new_key).await?;
    if let Some(old) = old {
        storage.discard(&[old]).await;
    }
    pages.invalidate_all().await;
    Ok(())
}

/// How long a password reset link works.
pub const RESET_LINK_MS: i64 = 30 * 60 * 1000;

/// Sets a new password from a reset link: the link works once and within `RESET_LINK_MS`;
/// every session signed in before ends. Returns the account and its new session epoch, for
/// signing in the browser that used the link.
pub async fn reset_password(db: &Db, token: &str, new: &NewPassword) -> Result<(String, i64), AccountError> {
    let token_hash = super::tokens::hash(token);
    let stale = || FieldError::new("token", "This reset link has expired or was already used. Ask for a new one below.");
    if !store::password_reset_usable(db, &token_hash, db::now_ms()).await? {
        return Err(stale().into());
    }
    let hash = hash_password(new.expose().to_string()).await?;
    match store::reset_password(db, &token_hash, &hash, db::now_ms()).await? {
        Some((account_id, epoch)) => {
            super::session::forget_epoch(&account_id);
            tracing::info!(account.id = %account_id, "password reset; other sessions ended");
            Ok((account_id, epoch))
        }
        None => Err(stale().into()),
    }
}

/// Changes a password, given the current one (throttled like a login); every other session
/// ends. Returns the new session epoch, for keeping the current session signed in.
pub async fn change_password(
    db: &Db,
    limits: &Limits,
    account: &AccountRow,
    current: &str,
    new: &NewPassword,
) -> Result<i64, AccountError> {
    if !limits.allow(Limit::LoginPerAccount, &account.email) {
        return Err(AccountError::RateLimited);
    }
    if current.chars().count() > NewPassword::MAX_CHARS || !verify_secret(current.to_string(), account.password_hash.clone()).await? {
        return Err(FieldError::new("current_password", "That isn't your current password.").into());
    }
    let epoch = store::set_password(db, &account.account_id, &hash_password(new.expose().to_string()).await?).await?;
    super::session::forget_epoch(&account.account_id);
    tracing::info!(account.id = %account.account_id, "password changed; other sessions ended");
    Ok(epoch)
}

/// How long the link proving a new email works.
pub const EMAIL_CHANGE_LINK_MS: i64 = 24 * 60 * 60 * 1000;

/// The current password, asked for again before a change that could hand the account or its
/// money to someone else (email, payout destination). Rate limited per account like a login.
pub async fn confirm_password(limits: &Limits, account: &AccountRow, current_password: &str) -> Result<(), AccountError> {
    if !limits.allow(Limit::LoginPerAccount, &account.email) {
        return Err(AccountError::RateLimited);
    }
    if current_password.chars().count() > NewPassword::MAX_CHARS
        || !verify_secret(current_password.to_string(), account.password_hash.clone()).await?
    {
        return Err(FieldError::new("current_password", "That isn't your current password.").into());
    }
    Ok(())
}

/// Asks to move an account to a new email: the current password is asked for (throttled like
/// a login), then the new address gets a link that proves it. Nothing changes until it is used.
/// The account's own address, not proven yet (a wallet buyer who started selling), gets its
/// link without the password: proving it hands nothing to anyone else.
pub async fn request_email_change(
    db: &Db,
    account: &AccountRow,
    current_password: &str,
    step_up: &super::two_step::StepUp<'_>,
    new_email: &Email,
) -> Result<(), AccountError> {
    let same = new_email.as_str() == account.email;
    if same && account.email_verified_at.is_some() {
        return Err(FieldError::new("new_email", "That's already your email.").into());
    }
    if !same {
        confirm_password(step_up.limits, account, current_password).await?;
        step_up.check(db, account).await?;
        if store::find_by_email(db, new_email.as_str()).await?.is_some() {
            return Err(FieldError::new("new_email", "Another Clink account uses that email.").into());
        }
    }
    let now = db::now_ms();
    let change_id = db::new_id();
    let change = store::NewEmailChange {
        change_id: &change_id,
        account_id: &account.account_id,
        new_email: new_email.as_str(),
        session_epoch: account.session_epoch,
        expires_at: now + EMAIL_CHANGE_LINK_MS,
    };
    let mut tx = db.begin().await?;
    store::insert_email_change(&mut tx, &change, now).await?;
    use crate::mail::outbox::{self, Mail};
    outbox::enqueue(&mut tx, new_email.as_str(), &Mail::ConfirmEmailChange { change_id: change_id.clone() }).await?;
    // The current address hears of it at once: if it wasn't its owner, a password reset
    // (mailed here, the change not being made yet) cancels it.
    if !same {
        outbox::enqueue(&mut tx, &account.email, &Mail::EmailChangeRequested { new_email: new_email.as_str().into() }).await?;
    }
    tx.commit().await?;
    tracing::info!(account.id = %account.account_id, "email change requested");
    Ok(())
}

/// The new address proven by its link: the account uses it from now on, and the old address
/// is told. `None` for an unknown, used or expired link.
pub async fn confirm_email_change(db: &Db, token_hash: &str) -> Result<Option<store::EmailChanged>, AccountError> {
    let mut tx = db.begin().await?;
    let changed = match store::use_email_change(&mut tx, token_hash, db::now_ms()).await {
        Ok(changed) => changed,
        Err(e) if db::is_unique_violation(&e, "email") => {
            return Err(FieldError::new("email", "Another Clink account started using that email meanwhile.").into());
        }
        Err(e) => return Err(e.into()),
    };
    let Some(changed) = changed else { return Ok(None) };
    // Told in the same transaction: the change never happens without its notice.
    if changed.old_email != changed.new_email {
        let notice = crate::mail::outbox::Mail::EmailChanged { new_email: changed.new_email.clone() };
        crate::mail::outbox::enqueue(&mut tx, &changed.old_email, &notice).await?;
    }
    tx.commit().await?;
    if !changed.was_proven {
        super::session::forget_epoch(&changed.account_id);
    }
    tracing::info!(account.id = %changed.account_id, changed = changed.old_email != changed.new_email, "email confirmed");
    Ok(Some(changed))
}

/// A signed-in browser, as Settings lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// "Chrome on Android", from the browser's user agent.
    pub label: String,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
    /// The browser asking.
    pub this_device: bool,
}

/// The browsers signed in to an account now, this one first.
pub async fn signed_in_devices(db: &Db, account_id: &str, this_device: Option<&str>) -> Result<Vec<Device>, AccountError> {
    let seen_since = db::now_ms() - super::session::SESSION_IDLE_DAYS * 24 * 60 * 60 * 1000;
    let mut devices: Vec<Device> = store::signed_in_devices(db, account_id, seen_since)
        .await?
        .into_iter()
        .map(|row| Device {
            label: describe_device(&row.user_agent),
            signed_in_at: row.signed_in_at,
            last_seen_at: row.last_seen_at,
            this_device: this_device == Some(row.device_id.as_str()),
        })
        .collect();
    devices.sort_by_key(|d| !d.this_device);
    Ok(devices)
}

/// Signs the account out everywhere: every session ends at its next request, on every app
/// server (see `session::signed_in_account_id`). Returns the new session epoch, under which the
/// caller signs its own browser in again.
pub async fn sign_out_other_devices(db: &Db, account_id: &str) -> Result<i64, AccountError> {
    let epoch = store::end_sessions(db, account_id).await?;
    super::session::forget_epoch(account_id);
    tracing::info!(account.id = %account_id, "signed out of other devices");
    Ok(epoch)
}

/// "Safari on iPhone": the browser and system a user agent names, as far as it can be told.
pub fn describe_device(user_agent: &str) -> String {
    let known = |s: &str| !s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN;
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(ua) if known(ua.name) && known(ua.os) => format!("{} on {}", ua.name, ua.os),
        Some(ua) if known(ua.name) => ua.name.to_string(),
        Some(ua) if known(ua.os) => format!("A browser on {}", ua.os),
        _ => "Unknown browser".to_string(),
    }
}

/// "3 days ago": how long before `now` something happened, roughly.
pub fn time_ago(then_ms: i64, now_ms: i64) -> String {
    let minutes = (now_ms - then_ms).max(0) / 60_000;
    match minutes {
        0..60 => "within the last hour".to_string(),
        60..120 => "an hour ago".to_string(),
        120..1440 => format!("{} hours ago", minutes / 60),
        1440..2880 => "yesterday".to_string(),
        _ => format!("{} days ago", minutes / 1440),
    }
}

#[cfg(test)]
mod device_tests {
    use super::*;

    #[test]
    fn devices_are_described_by_browser_and_system() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_device(iphone), "Safari on iPhone");
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        assert_eq!(describe_device(windows), "Chrome on Windows 10");
        assert_eq!(describe_device(""), "Unknown browser");
        // Not a browser: named as what it is.
        assert_eq!(describe_device("curl/8.5.0"), "HTTP Library");
    }

    #[test]
    fn times_ago_read_naturally() {
        let hour = 60 * 60 * 1000;
        assert_eq!(time_ago(0, 59 * 60 * 1000), "within the last hour");
        assert_eq!(time_ago(0, hour), "an hour ago");
        assert_eq!(time_ago(0, 5 * hour), "5 hours ago");
        assert_eq!(time_ago(0, 30 * hour), "yesterday");
        assert_eq!(time_ago(0, 24 * 9 * hour), "9 days ago");
        assert_eq!(time_ago(10, 0), "within the last hour");
    }
}

#[cfg(test)]
mod hashing_tests {
    use super::*;

    /// Many sign-ups at once: their hashes queue for a core each instead of all taking their
    /// 19 MiB at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn password_hashes_run_at_most_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let tasks: Vec<_> = (0..cores * 4).map(|i| tokio::spawn(hash_password(format!("password {i}")))).collect();
        let mut hashes = Vec::new();
        for task in tasks {
            hashes.push(task.await.unwrap().unwrap());
        }
        assert!(verify_secret("password 0".into(), hashes[0].clone()).await.unwrap());
        let peak = Hashing::peak();
        assert!(peak >= 1 && peak <= cores, "{peak} hashes ran at once on {cores} cores");
    }
}
