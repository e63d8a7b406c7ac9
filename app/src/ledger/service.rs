//! Posting balanced transactions.

use std::collections::BTreeMap;

use super::{domain::Posting, store};
use crate::{
    db::{self, Db, Tx},
    money::Currency,
};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("transaction does not balance in {0}")]
    Unbalanced(Currency),
    #[error("account {0} would go below zero")]
    InsufficientFunds(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A transaction to record.
#[derive(Debug, Clone)]
pub struct NewTxn {
    pub kind: &'static str,
    pub order_id: Option<String>,
    /// Recording the same key twice records it once (the second call reports `Duplicate`).
    pub idempotency_key: String,
    pub memo: String,
    pub postings: Vec<Posting>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    Recorded(String),
    /// Already recorded under this idempotency key: nothing was changed.
    Duplicate,
}

/// Records `txn` inside the caller's database transaction, so it commits or rolls back with
/// the business change it accounts for. Checks the balance per currency before writing, and
/// refuses to take a never-negative account (a wallet) below zero.
pub async fn post(tx: &mut Tx, txn: &NewTxn) -> Result<Posted, LedgerError> {
    let mut sums: BTreeMap<Currency, i64> = BTreeMap::new();
    for p in &txn.postings {
        *sums.entry(p.amount.currency).or_default() += p.amount.minor;
    }
    if let Some((currency, _)) = sums.iter().find(|(_, sum)| **sum != 0) {
        return Err(LedgerError::Unbalanced(*currency));
    }
    let now = db::now_ms();
    let txn_id = db::new_id();
    if !store::insert_txn(tx, &txn_id, txn.kind, txn.order_id.as_deref(), &txn.idempotency_key, &txn.memo, now).await? {
        return Ok(Posted::Duplicate);
    }
    for p in txn.postings.iter().filter(|p| p.amount.minor != 0) {
        let account_id = p.account.id();
        store::ensure_account(tx, &account_id, p.account.kind.as_str(), p.account.owner.as_deref(), p.amount.currency.code(), now).await?;
        store::insert_entry(tx, &db::new_id(), &txn_id, &account_id, p.amount.currency.code(), p.amount.minor, now).await?;
        let floor = p.account.kind.never_negative() && p.amount.minor < 0 && !p.may_overdraw;
        if !store::apply_delta(tx, &account_id, p.amount.minor, floor).await? {
            return Err(LedgerError::InsufficientFunds(account_id));
        }
    }
    Ok(Posted::Recorded(txn_id))
}

/// Posts `txn` in a transaction of its own.
pub async fn post_alone(db: &Db, txn: &NewTxn) -> Result<Posted, LedgerError> {
    let mut tx = db.begin().await?;
    let posted = post(&mut tx, txn).await?;
    tx.commit().await?;
    Ok(posted)
}
