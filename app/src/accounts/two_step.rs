//! Two-step sign-in: after the password (or an emailed link) a six-digit code from an
//! authenticator app (TOTP, RFC 6238, by `totp-rs`), or one of ten single-use recovery codes
//! for a lost phone. Turned on from Settings by scanning a QR code and typing one code.
//!
//! Required for a creator once they ask for a payout, and asked again (step-up) before the
//! changes that could hand an account or its money to someone else: the email, the payout
//! destination and the sale webhook URL.

use rand::Rng;
use totp_rs::{Builder, Totp};

use super::{
    service::{AccountError, confirm_password},
    store::{self, AccountRow},
};
use crate::{
    db::{self, Db},
    error::FieldError,
    limits::{Limit, Limits},
    mail::outbox::{self, Mail},
    secret::AppSecret,
};

/// How long a sign-in waits for its second step before it has to start again.
pub const PENDING_SIGN_IN_MS: i64 = 10 * 60 * 1000;

/// How many recovery codes an account gets (each works once).
pub const RECOVERY_CODES: usize = 10;

/// Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or copied by hand from
/// paper survives (see `normalise_recovery_code`).
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// What the sealed secret is for (the app key seals other things for other purposes).
const SEAL_PURPOSE: &str = "two-step secret";

const WRONG_CODE: &str = "That code didn't work. Type the 6 digits your app shows now, or a recovery code.";

/// Where an account's two-step sign-in stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Off,
    /// A secret was made and waits for its first code: what to scan or type into the app.
    SettingUp {
        otpauth_url: String,
        secret_base32: String,
    },
    On {
        since: i64,
        recovery_codes_left: i64,
    },
}

/// Which kind of code got someone through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeUsed {
    App,
    Recovery { left: i64 },
}

/// Whether the account signs in with a second step.
pub async fn is_on(db: &Db, account_id: &str) -> Result<bool, AccountError> {
    Ok(store::two_step(db, account_id).await?.is_some_and(|row| row.enabled_at.is_some()))
}

pub async fn status(db: &Db, key: &AppSecret, account: &AccountRow) -> Result<Status, AccountError> {
    let Some(row) = store::two_step(db, &account.account_id).await? else { return Ok(Status::Off) };
    match row.enabled_at {
        Some(since) => Ok(Status::On { since, recovery_codes_left: store::recovery_codes_left(db, &account.account_id).await? }),
        None => {
            let totp = totp_for(key, account, &row.secret_sealed)?;
            let otpauth_url = totp.to_url().map_err(|e| AccountError::Sealing(e.to_string()))?;
            Ok(Status::SettingUp { otpauth_url, secret_base32: totp.secret().to_base32() })
        }
    }
}

/// Makes a new secret for the authenticator app to scan. It does nothing until a code from
/// the app confirms it (`confirm`); starting again replaces an unconfirmed one.
pub async fn start(db: &Db, key: &AppSecret, account: &AccountRow) -> Result<(), AccountError> {
    if is_on(db, &account.account_id).await? {
        return Err(FieldError::new("code", "Two-step sign-in is already on.").into());
    }
    // 160 bits, the size RFC 4226 recommends.
    let secret: [u8; 20] = rand::rng().random();
    let sealed = key.seal(SEAL_PURPOSE, account.account_id.as_bytes(), &secret);
    store::start_two_step(db, &account.account_id, &sealed, db::now_ms()).await?;
    Ok(())
}

/// Turns two-step sign-in on with the first code from the app and the current password, and
/// returns the recovery codes (shown once). The account's address hears of it.
pub async fn confirm(
    db: &Db,
    limits: &Limits,
    key: &AppSecret,
    account: &AccountRow,
    code: &str,
    password: &str,
) -> Result<Vec<String>, AccountError> {
    confirm_password(limits, account, password).await?;
    throttle(limits, &account.account_id)?;
    let Some(row) = store::two_step(db, &account.account_id).await?.filter(|row| row.enabled_at.is_none()) else {
        return Err(FieldError::new("code", "Start again: press “Set up two-step sign-in”.").into());
    };
    let totp = totp_for(key, account, &row.secret_sealed)?;
    let step = totp.check(code.trim(), now_secs()).ok_or_else(|| FieldError::new("code", WRONG_CODE))? as i64;
    let codes = new_codes();
    let mut tx = db.begin().await?;
    // Only the secret this code was checked against: "Set up" pressed again in another tab meanwhile
    // made a new one, which the app never scanned.
    if !store::enable_two_step(&mut tx, &account.account_id, &row.secret_sealed, step, db::now_ms()).await? {
        return Err(FieldError::new("code", "Start again: press “Set up two-step sign-in”.").into());
    }
    store::replace_recovery_codes(&mut tx, &account.account_id, &recovery_hashes(key, account, &codes)).await?;
    outbox::enqueue(&mut tx, &account.email, &Mail::TwoStepChanged { on: true }).await?;
    tx.commit().await?;
    tracing::info!(account.id = %account.account_id, "two-step sign-in turned on");
    Ok(codes)
}

/// Checks a code from the app, or a recovery code (used up by this), for an account that has
/// two-step sign-in on. A code from the app is accepted once: a code seen over someone's
/// shoulder is worthless once it was used. Throttled per account: 5 tries, then one every 12 s.
/// `field` is the form field the code came in, for the error.
pub async fn check_code(
    db: &Db,
    limits: &Limits,
    key: &AppSecret,
    account: &AccountRow,
    code: &str,
    field: &'static str,
) -> Result<CodeUsed, AccountError> {
    throttle(limits, &account.account_id)?;
    let wrong = || AccountError::from(FieldError::new(field, WRONG_CODE));
    let Some(row) = store::two_step(db, &account.account_id).await?.filter(|row| row.enabled_at.is_some()) else { return Err(wrong()) };
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let totp = totp_for(key, account, &row.secret_sealed)?;
        let step = totp.check(&digits, now_secs()).ok_or_else(wrong)? as i64;
        if !store::accept_step(db, &account.account_id, step).await? {
            return Err(FieldError::new(field, "That code was just used. Wait for the next one in your app.").into());
        }
        return Ok(CodeUsed::App);
    }
    let recovery = normalise_recovery_code(code);
    if recovery.len() != 10 {
        return Err(wrong());
    }
    let mut tx = db.begin().await?;
    if !store::use_recovery_code(&mut tx, &account.account_id, &recovery_hash(key, account, &recovery), db::now_ms()).await? {
        return Err(wrong());
    }
    let left = store::recovery_codes_left_in(&mut tx, &account.account_id).await?;
    // Its owner hears of it: a recovery code used by someone else is the sign of a takeover.
    outbox::enqueue(&mut tx, &account.email, &Mail::RecoveryCodeUsed { left }).await?;
    tx.commit().await?;
    tracing::info!(account.id = %account.account_id, left, "recovery code used");
    Ok(CodeUsed::Recovery { left })
}

/// The step-up before a sensitive change: with two-step sign-in on, a code is asked for again
/// (from the form's `two_step_code` field); with it off there is nothing more to ask. Holds what
/// the check needs: the throttle, the key that opens secrets, and the code the form carried.
pub struct StepUp<'a> {
    pub limits: &'a Limits,
    pub key: &'a AppSecret,
    pub code: &'a str,
}

impl StepUp<'_> {
    pub async fn check(&self, db: &Db, account: &AccountRow) -> Result<(), AccountError> {
        if !is_on(db, &account.account_id).await? {
            return Ok(());
        }
        if self.code.trim().is_empty() {
            return Err(FieldError::new("two_step_code", "Type the code from your authenticator app.").into());
        }
        check_code(db, self.limits, self.key, account, self.code, "two_step_code").await.map(|_| ())
    }
}

/// Ten new recovery codes in place of the old ones (a code from the app first).
pub async fn replace_recovery_codes(
    db: &Db,
    limits: &Limits,
    key: &AppSecret,
    account: &AccountRow,
    code: &str,
) -> Result<Vec<String>, AccountError> {
    check_code(db, limits, key, account, code, "code").await?;
    let codes = new_codes();
    let mut tx = db.begin().await?;
    store::replace_recovery_codes(&mut tx, &account.account_id, &recovery_hashes(key, account, &codes)).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Turns two-step sign-in off (the password and a code first), unless the account needs it:
/// `required` is set for a creator who has asked for a payout.
pub async fn turn_off(
    db: &Db,
    limits: &Limits,
    key: &AppSecret,
    account: &AccountRow,
    password: &str,
    code: &str,
    required: bool,
) -> Result<(), AccountError> {
    if required {
        return Err(FieldError::new("code", "Accounts that receive payouts keep two-step sign-in on.").into());
    }
    confirm_password(limits, account, password).await?;
    check_code(db, limits, key, account, code, "code").await?;
    let mut tx = db.begin().await?;
    store::delete_two_step(&mut tx, &account.account_id).await?;
    outbox::enqueue(&mut tx, &account.email, &Mail::TwoStepChanged { on: false }).await?;
    tx.commit().await?;
    tracing::info!(account.id = %account.account_id, "two-step sign-in turned off");
    Ok(())
}

/// The operator turns two-step sign-in off for an owner who lost both the phone and the codes
/// (`clink user reset-two-step`, once they proved who they are another way): every session
/// ends, and the account's address is told.
pub async fn operator_reset(db: &Db, account: &AccountRow) -> Result<(), AccountError> {
    let mut tx = db.begin().await?;
    store::delete_two_step(&mut tx, &account.account_id).await?;
    outbox::enqueue(&mut tx, &account.email, &Mail::TwoStepChanged { on: false }).await?;
    tx.commit().await?;
    super::service::sign_out_other_devices(db, &account.account_id).await?;
    tracing::info!(account.id = %account.account_id, "two-step sign-in reset by the operator");
    Ok(())
}

fn throttle(limits: &Limits, account_id: &str) -> Result<(), AccountError> {
    if limits.allow(Limit::SecondStepPerAccount, account_id) { Ok(()) } else { Err(AccountError::RateLimited) }
}

fn now_secs() -> u64 {
    u64::try_from(db::now_ms() / 1000).unwrap_or_default()
}

/// The account's TOTP, from its sealed secret. Labelled "Clink: <email>" in the app.
fn totp_for(key: &AppSecret, account: &AccountRow, sealed: &str) -> Result<Totp, AccountError> {
    let secret = key.open(SEAL_PURPOSE, account.account_id.as_bytes(), sealed).ok_or_else(|| {
        AccountError::Sealing("the two-step secret doesn't open with this server's key (CLINK_SECRET_KEY changed?)".into())
    })?;
    // The label may not hold a colon (it separates the issuer in the otpauth URL).
    let label = account.email.replace(':', "");
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some("Clink"))
        .with_account_name(label)
        .build()
        .map_err(|e| AccountError::Sealing(e.to_string()))
}

/// A recovery code as stored: keyed with the app key and bound to its account, so a copy of the
/// database alone can't be searched for the codes (50 bits each) a guess at a time for every
/// account at once.
fn recovery_hash(key: &AppSecret, account: &AccountRow, normalised: &str) -> String {
    key.sign("recovery code", format!("{}:{normalised}", account.account_id).as_bytes())
}

fn recovery_hashes(key: &AppSecret, account: &AccountRow, codes: &[String]) -> Vec<String> {
    codes.iter().map(|c| recovery_hash(key, account, &normalise_recovery_code(c))).collect()
}

/// Ten codes like `7kq2m-x9c4d`.
fn new_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10).map(|_| RECOVERY_ALPHABET[rng.random_range(0..32)] as char).collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// A recovery code as typed, in the form its hash was made from: case, spaces and hyphens
/// don't matter, and the letters Crockford's alphabet leaves out read as the digits they look
/// like.
pub fn normalise_recovery_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_random_and_survive_retyping() {
        let codes = new_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(normalise_recovery_code(code).len(), 10);
            assert_eq!(normalise_recovery_code(&code.to_uppercase().replace('-', " ")), normalise_recovery_code(code));
        }
        assert_eq!(normalise_recovery_code("O1LI0-abcde"), "01110abcde");
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_account_and_key() {
        let key = AppSecret::generate();
        let sealed = key.seal(SEAL_PURPOSE, b"acc-1", b"twenty bytes secret!");
        assert_eq!(key.open(SEAL_PURPOSE, b"acc-1", &sealed).as_deref(), Some(&b"twenty bytes secret!"[..]));
        assert_eq!(key.open(SEAL_PURPOSE, b"acc-2", &sealed), None);
        assert_eq!(key.open("another purpose", b"acc-1", &sealed), None);
        assert_eq!(AppSecret::generate().open(SEAL_PURPOSE, b"acc-1", &sealed), None);
        assert_ne!(key.seal(SEAL_PURPOSE, b"acc-1", b"twenty bytes secret!"), sealed, "a fresh nonce each time");
    }
}
