//! Account rules: sign-up, credential checks and login throttling.

use std::{net::IpAddr, num::NonZeroU32, sync::OnceLock};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{
    domain::{DisplayName, Email, Handle, NewPassword},
    store::{self, AccountRow},
};
use crate::{
    db::{self, Db},
    error::{AppError, FieldError, internal},
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

pub async fn sign_up(db: &Db, new: NewAccount) -> Result<AccountRow, AccountError> {
    let password = new.password.expose().to_string();
    let password_hash = hash_password(password).await?;
    let row = AccountRow::new(
        db::new_id(),
        new.email.as_str().to_string(),
        new.handle.as_str().to_string(),
        new.display_name.as_str().to_string(),
        password_hash,
        db::now_ms(),
    );
    store::insert(db, &row).await.map_err(|e| {
        if db::is_unique_violation(&e, "email") {
            AccountError::EmailTaken
        } else if db::is_unique_violation(&e, "handle") {
            AccountError::HandleTaken
        } else {
            AccountError::Database(e)
        }
    })?;
    tracing::info!(account.id = %row.account_id, "account created");
    Ok(row)
}

/// Checks a login attempt. Throttled per client address and per account, and answers the same
/// `InvalidCredentials` (after the same amount of hashing work) whether or not the email exists.
pub async fn log_in(db: &Db, limiter: &LoginLimiter, client: IpAddr, email: &str, password: &str) -> Result<AccountRow, AccountError> {
    let email = email.trim().to_lowercase();
    if !limiter.allow(client, &email) {
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

/// Hashes with argon2id at the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane), on a
/// blocking thread: a hash takes tens of milliseconds of CPU and would stall the async runtime.
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| AccountError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hashing(e.to_string()))?
}

/// Checks a secret (a password, a wallet PIN) against its argon2 hash, on a blocking thread.
pub async fn verify_secret(password: String, stored_hash: String) -> Result<bool, AccountError> {
    tokio::task::spawn_blocking(move || {
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

/// Login throttling: per client address (slows credential stuffing) and per account (slows
/// guessing one password from many addresses). In memory, so per app server.
pub struct LoginLimiter {
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
}

impl LoginLimiter {
    pub fn new(per_client_per_minute: u32, per_account_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            per_client: RateLimiter::keyed(quota(per_client_per_minute)),
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
        }
    }

    fn allow(&self, client: IpAddr, email: &str) -> bool {
        let client_ok = self.per_client.check_key(&client).is_ok();
        let account_ok = self.per_account.check_key(&email.to_string()).is_ok();
        client_ok && account_ok
    }

    /// Throttles any other guessable secret (a wallet PIN) by a key of the caller's choosing,
    /// with the per-account quota.
    pub fn allow_key(&self, key: &str) -> bool {
        self.per_account.check_key(&key.to_string()).is_ok()
    }

    /// Forgets keys whose limits have fully recovered, so the maps don't grow without bound.
    pub fn forget_idle(&self) {
        self.per_client.retain_recent();
        self.per_account.retain_recent();
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(30, 5)
    }
}
