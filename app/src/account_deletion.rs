//! Deleting an account, for a creator or a buyer. It composes every area, so it sits above them
//! (like `verify`), and each area's store forgets its own part in one transaction:
//!
//! - the account row stays, because orders and ledger lines point at it, but its email,
//!   handle, name, password, profile, webhook and time zone are replaced or emptied, and
//!   `deleted_at` is set;
//! - everything that could sign it in goes (sessions end with the epoch; devices, API tokens,
//!   two-step, reset, change and sign-in links go), and its old handles are freed;
//! - its works leave every page; their covers go from storage at once, their files once the
//!   last buyer's link has expired (links are cut to 30 days at most; see `purge_files`);
//! - its purchases and the test provider's payments keep their amounts under a pseudonym;
//! - its payout destination, webhook deliveries, wallet settings and mail go.
//!
//! Ledger entries stay as they are: they are append-only accounting records, and they name
//! only the account id. Money still held for the account must leave first, so none is
//! stranded: earnings are paid out, a payout under way is paid, a wallet is spent.

use crate::{
    accounts::{
        self,
        service::AccountError,
        store::{AccountRow, Pseudonym},
        two_step::StepUp,
    },
    catalog, checkout,
    db::{self, Db},
    delivery, earnings,
    error::{AppError, internal},
    ledger, mail,
    money::{Currency, Money},
    page_cache::PageCache,
    storage::Storage,
    wallet,
};

#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    #[error(transparent)]
    Account(#[from] AccountError),
    /// Money is still held for the account: it leaves first.
    #[error("money still held for the account")]
    MoneyHeld(Vec<Held>),
    #[error("account already deleted")]
    AlreadyDeleted,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<DeletionError> for AppError {
    fn from(err: DeletionError) -> Self {
        match err {
            DeletionError::Account(e) => e.into(),
            DeletionError::MoneyHeld(held) => AppError::Conflict(held.iter().map(Held::explain).collect::<Vec<_>>().join(" ")),
            DeletionError::AlreadyDeleted => AppError::Unauthorized,
            DeletionError::Database(e) => internal("account deletion", &e),
        }
    }
}

/// Money held for an account, which stops its deletion until it has left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Earnings not paid out yet.
    Earnings(Money),
    /// A payout asked for and not yet sent.
    PayoutUnderway(Money),
    /// Wallet balance not spent.
    Wallet(Money),
}

impl Held {
    /// What to do about it, in a sentence.
    pub fn explain(&self) -> String {
        match self {
            Held::Earnings(m) => format!(
                "You have {m} in earnings: request a payout first (Earnings → Request payout). Below the minimum payout, write to us and we'll send it."
            ),
            Held::PayoutUnderway(m) => format!("Your payout of {m} is on its way: you can delete your account once it's paid."),
            Held::Wallet(m) => format!("Your wallet still holds {m}: spend it first, or write to us for a refund."),
        }
    }

    fn of(kind: &str, currency: &str, minor: i64) -> Option<Held> {
        let money = Money::new(minor, Currency::parse(currency).ok()?);
        match kind {
            "creator_earnings" => Some(Held::Earnings(money)),
            "payouts_pending" => Some(Held::PayoutUnderway(money)),
            "buyer_wallet" => Some(Held::Wallet(money)),
            _ => None,
        }
    }
}

/// What still stops the account's deletion (nothing, for most). A debt (a balance below zero,
/// after a refund) stops nothing: there is nothing to pay out.
pub async fn money_held(db: &Db, account_id: &str) -> Result<Vec<Held>, sqlx::Error> {
    Ok(held(&ledger::store::positive_balances(db, account_id).await?))
}

fn held(balances: &[(String, String, i64)]) -> Vec<Held> {
    balances.iter().filter_map(|(kind, currency, minor)| Held::of(kind, currency, *minor)).collect()
}

/// Deletes `account` (see the module's description), once its owner gave the current password
/// and, with two-step sign-in on, a code. The caller signs its browser out.
pub async fn delete_account(
    db: &Db,
    pages: &PageCache,
    storage: &Storage,
    step_up: &StepUp<'_>,
    account: &AccountRow,
    current_password: &str,
) -> Result<(), DeletionError> {
    accounts::service::confirm_password(step_up.limits, account, current_password).await?;
    step_up.check(db, account).await?;
    let blockers = money_held(db, &account.account_id).await?;
    if !blockers.is_empty() {
        return Err(DeletionError::MoneyHeld(blockers));
    }
    let id = account.account_id.as_str();
    let email = format!("deleted-{id}@deleted.invalid");
    let handle = format!("deleted-{id}");
    let password_hash = accounts::service::hash_password(uuid::Uuid::new_v4().to_string()).await?;
    let now = db::now_ms();

    let mut tx = db.begin().await?;
    // Its works leave every page first, so that no new sale starts on them.
    let mut images = catalog::store::close_works_of(&mut tx, id, now).await?;
    checkout::store::fail_pending_orders_of_creator(&mut tx, id, now).await?;
    let mut addresses = accounts::store::addresses_of(&mut tx, id).await?;
    addresses.extend(checkout::store::buyer_addresses_of(&mut tx, id).await?);
    addresses.extend(delivery::store::library_addresses_of(&mut tx, id).await?);
    addresses.sort();
    addresses.dedup();
    images.extend(accounts::store::avatar_key_in(&mut tx, id).await?);
    let handles = accounts::store::handles_of(&mut tx, id).await?;
    let retired: Vec<String> = handles.iter().map(|h| accounts::service::retired_handle_hash(step_up.key, h)).collect();
    let pseudonym = Pseudonym { email: &email, handle: &handle, password_hash: &password_hash };
    if !accounts::store::erase(&mut tx, id, &addresses, &pseudonym, now).await? {
        return Err(DeletionError::AlreadyDeleted);
    }
    // Read again in the transaction: a sale or top-up that landed since the check above would
    // otherwise be stranded on a deleted account. (On SQLite the transaction holds the write
    // lock, so nothing lands between this and the commit; on PostgreSQL a sale committing in
    // the same instant still can, and `clink ledger verify` does not see it as an error: the
    // earnings wait on the account for the operator.)
    let blockers = held(&ledger::store::positive_balances_in(&mut tx, id).await?);
    if !blockers.is_empty() {
        return Err(DeletionError::MoneyHeld(blockers));
    }
    delivery::store::wind_down(&mut tx, id, &addresses, now + delivery::store::AFTER_CREATOR_DELETED_MS).await?;
    checkout::store::pseudonymise_buyer(&mut tx, id, &addresses, &email).await?;
    earnings::store::forget_creator(&mut tx, id).await?;
    earnings::store::pseudonymise_buyer_in_webhooks(&mut tx, &addresses, &email).await?;
    wallet::store::forget(&mut tx, id).await?;
    accounts::store::retire_handles(&mut tx, &retired, now).await?;
    mail::outbox::forget_addresses(&mut tx, &addresses).await?;
    let mut needles = addresses.clone();
    needles.push(id.to_string());
    accounts::store::delete_sessions_naming(&mut tx, &needles).await?;
    tx.commit().await?;

    accounts::session::forget_epoch(id);
    pages.invalidate_all().await;
    storage.discard(&images).await;
    tracing::info!(account.id = %id, "account deleted");
    // Works nobody bought lose their files now, in the background; the hourly sweep takes
    // the rest as their buyers' links expire.
    let (db, storage) = (db.clone(), storage.clone());
    tokio::spawn(async move {
        if let Err(e) = purge_files(&db, &storage).await {
            tracing::warn!(error = %e, "could not purge deleted accounts' files yet; the sweep will");
        }
    });
    Ok(())
}

/// Deletes from storage the files of deleted accounts' works that no buyer can download any
/// more, and returns how many works were purged. Safe to run on several servers at once
/// (deleting an object twice is no error). A work whose files could not all be deleted is
/// tried again next time.
pub async fn purge_files(db: &Db, storage: &Storage) -> Result<usize, sqlx::Error> {
    let now = db::now_ms();
    let mut purged = 0;
    for work_id in delivery::store::works_to_purge(db, now - delivery::service::RESUME_WINDOW_MS).await? {
        let mut complete = true;
        for key in catalog::store::file_keys(db, &work_id).await? {
            if let Err(e) = storage.delete(&key).await {
                tracing::warn!(error = %e, work.id = %work_id, "could not delete a deleted account's file; trying again later");
                complete = false;
            }
        }
        if complete {
            let mut tx = db.begin().await?;
            catalog::store::mark_files_purged(&mut tx, &work_id, now).await?;
            tx.commit().await?;
            purged += 1;
        }
    }
    Ok(purged)
}

/// `purge_files` now and every `every` after.
pub async fn purge_files_every(db: Db, storage: Storage, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match purge_files(&db, &storage).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(works = n, "deleted the files of deleted accounts' works"),
            Err(e) => tracing::warn!(error = %e, "could not purge deleted accounts' files; trying again later"),
        }
    }
}
