//! SQL for the ledger.

use crate::{
    db::{Db, Tx},
    on_db, on_tx,
};

/// Creates the account if it doesn't exist yet.
pub async fn ensure_account(
    tx: &mut Tx,
    account_id: &str,
    kind: &str,
    owner: Option<&str>,
    currency: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into ledger_account (account_id, kind, owner_id, currency, balance_minor, created_at) \
         values ($1, $2, $3, $4, 0, $5) on conflict (account_id) do nothing",
    )
    .bind(account_id).bind(kind).bind(owner).bind(currency).bind(now)
    .execute(conn).await.map(|_| ()))
}

/// Records a transaction header; `false` if its idempotency key was already used.
pub async fn insert_txn(
    tx: &mut Tx,
    txn_id: &str,
    kind: &str,
    order_id: Option<&str>,
    idempotency_key: &str,
    memo: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into ledger_txn (txn_id, kind, order_id, idempotency_key, memo, created_at) \
         values ($1, $2, $3, $4, $5, $6) on conflict (idempotency_key) do nothing",
    )
    .bind(txn_id).bind(kind).bind(order_id).bind(idempotency_key).bind(memo).bind(now)
    .execute(conn).await.map(|r| r.rows_affected() == 1))
}

pub async fn insert_entry(
    tx: &mut Tx,
    entry_id: &str,
    txn_id: &str,
    account_id: &str,
    currency: &str,
    amount_minor: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into ledger_entry (entry_id, txn_id, account_id, currency, amount_minor, created_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry_id).bind(txn_id).bind(account_id).bind(currency).bind(amount_minor).bind(now)
    .execute(conn).await.map(|_| ()))
}

/// Adds `delta` to the cached balance. With `floor_zero`, the update only happens if the
/// result stays at or above zero — one atomic conditional statement, never read-then-write —
/// and `false` says it would have overdrawn.
pub async fn apply_delta(tx: &mut Tx, account_id: &str, delta: i64, floor_zero: bool) -> Result<bool, sqlx::Error> {
    let sql = if floor_zero {
        "update ledger_account set balance_minor = balance_minor + $1 where account_id = $2 and balance_minor + $1 >= 0"
    } else {
        "update ledger_account set balance_minor = balance_minor + $1 where account_id = $2"
    };
    on_tx!(tx, conn => sqlx::query(sql).bind(delta).bind(account_id).execute(conn).await.map(|r| r.rows_affected() == 1))
}

pub async fn balance(db: &Db, account_id: &str) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select balance_minor from ledger_account where account_id = $1")
        .bind(account_id).fetch_optional(pool).await.map(|b| b.unwrap_or(0)))
}

/// The id of the transaction recorded under an idempotency key, if any.
pub async fn txn_by_key(db: &Db, idempotency_key: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, String>("select txn_id from ledger_txn where idempotency_key = $1")
        .bind(idempotency_key).fetch_optional(pool).await)
}

/// Balances of every account of an owner and kind, per currency.
pub async fn balances_of(db: &Db, owner_id: &str, kind: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(
        "select currency, balance_minor from ledger_account where owner_id = $1 and kind = $2 order by currency",
    )
    .bind(owner_id).bind(kind).fetch_all(pool).await)
}

/// What write-offs of unpaid tabs took from `creator_id`'s pending earnings, per currency.
pub async fn written_off_pending(db: &Db, creator_id: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(
        "select a.currency, cast(-sum(e.amount_minor) as bigint) from ledger_entry e join ledger_txn t on t.txn_id = e.txn_id \
         join ledger_account a on a.account_id = e.account_id \
         where a.owner_id = $1 and a.kind = 'creator_pending' and t.kind = 'tab_write_off' group by a.currency order by a.currency",
    )
    .bind(creator_id).fetch_all(pool).await)
}

/// A ledger line on one of an owner's accounts, as their data export lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnerLine {
    pub created_at: i64,
    pub txn_id: String,
    pub txn_kind: String,
    pub order_id: Option<String>,
    pub memo: String,
    pub account_kind: String,
    pub currency: String,
    pub amount_minor: i64,
}

/// Every line on the accounts `owner_id` owns (their wallet, earnings, payouts), oldest first.
pub async fn lines_of_owner(db: &Db, owner_id: &str) -> Result<Vec<OwnerLine>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, OwnerLine>(
        "select t.created_at, t.txn_id, t.kind as txn_kind, t.order_id, t.memo, a.kind as account_kind, e.currency, e.amount_minor \
         from ledger_entry e join ledger_account a on a.account_id = e.account_id join ledger_txn t on t.txn_id = e.txn_id \
         where a.owner_id = $1 order by t.created_at, t.txn_id, e.entry_id")
        .bind(owner_id).fetch_all(pool).await)
}

/// A ledger transaction for a multi-row insert.
#[derive(Debug, Clone)]
pub struct TxnRow<'a> {
    pub txn_id: &'a str,
    pub kind: &'a str,
    pub order_id: Option<&'a str>,
    pub idempotency_key: &'a str,
    pub memo: &'a str,
}

/// One entry of a transaction.
#[derive(Debug, Clone)]
pub struct EntryRow<'a> {
    pub entry_id: String,
    pub txn_id: &'a str,
    pub account_id: String,
    pub currency: &'a str,
    pub amount_minor: i64,
}

/// Inserts transactions, their entries, and moves the accounts' cached balances by `deltas`
/// (summed per account by the caller): three statements, whatever the number of rows.
pub fn push_postings<'a>(
    w: &mut crate::db::Writes<'a>,
    txns: &'a [TxnRow<'a>],
    entries: &'a [EntryRow<'a>],
    deltas: &'a [(String, i64)],
    now: i64,
) {
    if txns.is_empty() {
        return;
    }
    crate::on_writes!(w, s => {
        s.next("insert into ledger_txn (txn_id, kind, order_id, idempotency_key, memo, created_at) ").push_values(txns, |mut row, t| {
            row.push_bind(t.txn_id).push_bind(t.kind).push_bind(t.order_id).push_bind(t.idempotency_key).push_bind(t.memo).push_bind(now);
        });
        s.next("insert into ledger_entry (entry_id, txn_id, account_id, currency, amount_minor, created_at) ").push_values(entries, |mut row, e| {
            row.push_bind(e.entry_id.as_str()).push_bind(e.txn_id).push_bind(e.account_id.as_str()).push_bind(e.currency)
                .push_bind(e.amount_minor).push_bind(now);
        });
        for (account_id, delta) in deltas.iter().filter(|(_, d)| *d != 0) {
            let q = s.next("update ledger_account set balance_minor = balance_minor + ");
            q.push_bind(*delta).push(" where account_id = ").push_bind(account_id.as_str());
        }
    })
}

const POSITIVE_BALANCES: &str =
    "select kind, currency, balance_minor from ledger_account where owner_id = $1 and balance_minor > 0 order by kind, currency";

/// Every positive balance on an owner's accounts (money held for them), as
/// `(kind, currency, balance)`.
pub async fn positive_balances(db: &Db, owner_id: &str) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, String, i64)>(POSITIVE_BALANCES).bind(owner_id).fetch_all(pool).await)
}

/// `positive_balances`, read in `tx`.
pub async fn positive_balances_in(tx: &mut Tx, owner_id: &str) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_as::<_, (String, String, i64)>(POSITIVE_BALANCES).bind(owner_id).fetch_all(conn).await)
}
