//! Payouts: a creator asks for their available balance; an admin marks it paid. Both are
//! ledger movements: earnings → payouts pending → payouts paid.

use crate::{
    db::{self, Db},
    ledger::{
        domain::{AccountKind, AccountRef, Posting},
        service::{self as ledger, LedgerError, NewTxn},
    },
    money::{Currency, Money},
    on_db, on_tx,
};

#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error("nothing available to pay out")]
    NothingAvailable,
    #[error("below the minimum payout")]
    BelowMinimum { available: i64, minimum: i64 },
    #[error("payout not found or already paid")]
    NotFound,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayoutRow {
    pub payout_id: String,
    pub creator_id: String,
    pub currency: String,
    pub amount_minor: i64,
    pub status: String,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    /// Where it goes, in full, as the destination read when it was asked for.
    pub destination: Option<String>,
}

const COLUMNS: &str = "payout_id, creator_id, currency, amount_minor, status, created_at, paid_at, destination";

fn pending(creator_id: &str, currency: Currency) -> AccountRef {
    AccountRef::new(AccountKind::PayoutsPending, Some(creator_id), currency)
}

/// Moves the whole available balance in `currency` to "payouts pending", atomically (the
/// debit can't take earnings below zero, so two requests can't pay out the same money), if it
/// is at least `minimum` (a transfer costs the operator a fixed fee), to `destination`.
pub async fn request(db: &Db, creator_id: &str, currency: Currency, minimum: i64, destination: &str) -> Result<PayoutRow, PayoutError> {
    let available = crate::ledger::store::balance(db, &AccountRef::creator_earnings(creator_id, currency).id()).await?;
    if available <= 0 {
        return Err(PayoutError::NothingAvailable);
    }
    if available < minimum {
        return Err(PayoutError::BelowMinimum { available, minimum });
    }
    let now = db::now_ms();
    let row = PayoutRow {
        payout_id: format!("po_{}", db::new_id()),
        creator_id: creator_id.to_string(),
        currency: currency.code().to_string(),
        amount_minor: available,
        status: "requested".into(),
        created_at: now,
        paid_at: None,
        destination: Some(destination.to_string()),
    };
    let mut tx = db.begin().await?;
    match ledger::post(
        &mut tx,
        &NewTxn {
            kind: "payout",
            order_id: Some(row.payout_id.clone()),
            idempotency_key: format!("payout:{}", row.payout_id),
            memo: format!("payout requested ({})", Money::new(available, currency)),
            postings: vec![
                Posting::new(AccountRef::creator_earnings(creator_id, currency), -available),
                Posting::new(pending(creator_id, currency), available),
            ],
        },
    )
    .await
    {
        Err(LedgerError::InsufficientFunds(_)) => return Err(PayoutError::NothingAvailable),
        other => {
            other?;
        }
    }
    on_tx!(&mut tx, conn => sqlx::query(
        "insert into payout (payout_id, creator_id, currency, amount_minor, status, created_at, paid_at, destination) values ($1, $2, $3, $4, $5, $6, null, $7)")
        .bind(&row.payout_id).bind(&row.creator_id).bind(&row.currency).bind(row.amount_minor).bind(&row.status).bind(now).bind(destination)
        .execute(conn).await.map(|_| ()))?;
    tx.commit().await?;
    tracing::info!(payout.id = %row.payout_id, creator.id = %creator_id, amount = available, "payout requested");
    Ok(row)
}

/// An admin paid it: pending → paid, once.
pub async fn mark_paid(db: &Db, payout_id: &str) -> Result<PayoutRow, PayoutError> {
    let mut tx = db.begin().await?;
    let now = db::now_ms();
    let updated = on_tx!(&mut tx, conn => sqlx::query("update payout set status = 'paid', paid_at = $1 where payout_id = $2 and status = 'requested'")
        .bind(now).bind(payout_id).execute(conn).await.map(|r| r.rows_affected() == 1))?;
    if !updated {
        return Err(PayoutError::NotFound);
    }
    let sql = format!("select {COLUMNS} from payout where payout_id = $1");
    let row = on_tx!(&mut tx, conn => sqlx::query_as::<_, PayoutRow>(&sql).bind(payout_id).fetch_one(conn).await)?;
    let currency = Currency::parse(&row.currency).map_err(|_| PayoutError::NotFound)?;
    ledger::post(
        &mut tx,
        &NewTxn {
            kind: "payout_paid",
            order_id: Some(row.payout_id.clone()),
            idempotency_key: format!("payout-paid:{}", row.payout_id),
            memo: "payout sent".into(),
            postings: vec![
                Posting::new(pending(&row.creator_id, currency), -row.amount_minor),
                Posting::new(AccountRef::new(AccountKind::PayoutsPaid, Some(&row.creator_id), currency), row.amount_minor),
            ],
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn list(db: &Db, status: Option<&str>) -> Result<Vec<PayoutRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from payout where ($1 = '' or status = $1) order by created_at");
    on_db!(db, pool => sqlx::query_as::<_, PayoutRow>(&sql).bind(status.unwrap_or("")).fetch_all(pool).await)
}

pub async fn of_creator(db: &Db, creator_id: &str) -> Result<Vec<PayoutRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from payout where creator_id = $1 order by created_at desc");
    on_db!(db, pool => sqlx::query_as::<_, PayoutRow>(&sql).bind(creator_id).fetch_all(pool).await)
}
