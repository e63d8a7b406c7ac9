//! The wallet purchase writer: group commit.
//!
//! With SQLite at `synchronous=FULL`, every commit waits for an fsync: one purchase per
//! transaction tops out at the disk's fsync rate. Here a single task owns wallet purchases: it
//! takes every purchase waiting in its queue (up to `max_batch`), applies them one after the
//! other inside ONE transaction, commits once, and only then answers each caller. Durability
//! is unchanged — no caller hears "bought" before the commit that contains its purchase — but
//! one fsync now carries many purchases.
//!
//! Each purchase stays individually correct inside the batch: a savepoint per purchase, the
//! wallet debit as one conditional statement (`... where balance_minor >= amount`: never
//! read-then-write, so no overdraft), spending caps as conditional increments of per-period
//! counters, and the ledger's unique idempotency key, so a retried purchase finds its first
//! result instead of paying twice. On PostgreSQL with several app servers each has its own
//! writer; the same conditional statements keep them correct against each other.

use std::collections::{BTreeMap, HashMap};

use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};

use crate::{
    db::{self, Db, Tx},
    ledger::domain::AccountRef,
    money::Currency,
    on_tx,
};

/// One wallet purchase, validated and priced by the service.
#[derive(Debug, Clone)]
pub struct Purchase {
    /// The ledger idempotency key (`wallet:{buyer}:{client key}`).
    pub key: String,
    pub buyer_id: String,
    pub buyer_email: String,
    pub work_id: String,
    pub work_title: String,
    pub creator_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub source: String,
    pub max_downloads: Option<i64>,
    pub expires_after_ms: Option<i64>,
    pub weekly_cap: Option<i64>,
    pub monthly_cap: Option<i64>,
    /// The hash of the download token the buyer gets back, stored with the purchase so that
    /// the answer needs no second commit.
    pub token_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Bought { order_id: String, balance_minor: i64 },
    /// The same key was bought before: this is that purchase, not a new one.
    Repeated { order_id: String },
    InsufficientFunds,
    CapReached { weekly: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("the wallet writer has stopped")]
    Stopped,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

struct Job {
    purchase: Purchase,
    reply: oneshot::Sender<Result<Outcome, String>>,
}

#[derive(Clone)]
pub struct WalletWriter {
    queue: mpsc::Sender<Job>,
}

impl WalletWriter {
    /// Starts the writer task. `max_batch` = 1 gives one purchase per transaction (the
    /// baseline the benchmark compares against).
    pub fn start(db: Db, max_batch: usize) -> WalletWriter {
        let (queue, mut jobs) = mpsc::channel::<Job>(16 * 1024);
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            let mut known_accounts = std::collections::HashSet::new();
            while let Some(first) = jobs.recv().await {
                let mut batch = vec![first];
                while batch.len() < max_batch {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let purchases: Vec<&Purchase> = batch.iter().map(|j| &j.purchase).collect();
                match commit_batch(&db, &purchases, &mut known_accounts).await {
                    Ok(outcomes) => {
                        for (job, outcome) in batch.into_iter().zip(outcomes) {
                            let _ = job.reply.send(Ok(outcome));
                        }
                    }
                    Err(err) => {
                        tracing::error!(error = %err, size = batch.len(), "wallet batch failed; nothing in it was committed");
                        known_accounts.clear();
                        for job in batch {
                            let _ = job.reply.send(Err(err.to_string()));
                        }
                    }
                }
            }
        });
        WalletWriter { queue }
    }

    /// Queues a purchase and waits until the transaction holding it has committed.
    pub async fn submit(&self, purchase: Purchase) -> Result<Outcome, WriterError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Job { purchase, reply }).await.map_err(|_| WriterError::Stopped)?;
        match answer.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(message)) => Err(WriterError::Database(sqlx::Error::Protocol(message))),
            Err(_) => Err(WriterError::Stopped),
        }
    }
}

/// What a successful purchase writes, gathered for multi-row inserts.
struct Written {
    order_id: String,
    txn_id: String,
    purchase_index: usize,
}

async fn exec(tx: &mut Tx, sql: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(sql).execute(conn).await.map(|_| ()))
}

async fn commit_batch(
    db: &Db,
    batch: &[&Purchase],
    known_accounts: &mut std::collections::HashSet<String>,
) -> Result<Vec<Outcome>, sqlx::Error> {
    let now = db::now_ms();
    let (week, month) = super::domain::periods(now);
    let mut tx = db.begin().await?;

    // Purchases already made under these keys (a retry, a double click).
    let keys: Vec<&str> = batch.iter().map(|p| p.key.as_str()).collect();
    let mut done: HashMap<String, String> = on_tx!(&mut tx, conn => {
        let mut q = QueryBuilder::new("select idempotency_key, order_id from ledger_txn where idempotency_key in (");
        let mut list = q.separated(", ");
        for key in &keys {
            list.push_bind(*key);
        }
        q.push(")");
        q.build_query_as::<(String, String)>().fetch_all(conn).await
    })?
    .into_iter()
    .collect();

    let mut outcomes = Vec::with_capacity(batch.len());
    let mut written: Vec<Written> = Vec::new();
    for (i, p) in batch.iter().enumerate() {
        if let Some(order_id) = done.get(&p.key) {
            outcomes.push(Outcome::Repeated { order_id: order_id.clone() });
            continue;
        }
        // Without caps the debit is the only statement, and a refused debit writes nothing:
        // no savepoint needed (two fewer round trips on the one connection every purchase
        // waits for).
        let capped = p.weekly_cap.is_some() || p.monthly_cap.is_some();
        if capped {
            exec(&mut tx, "savepoint wallet_purchase").await?;
        }
        let mut refused = None;
        for (period, cap, weekly) in [(&week, p.weekly_cap, true), (&month, p.monthly_cap, false)] {
            let Some(cap) = cap else { continue };
            let raised = on_tx!(&mut tx, conn => {
                sqlx::query("insert into wallet_spend (account_id, currency, period, spent_minor) values ($1, $2, $3, 0) \
                             on conflict (account_id, currency, period) do nothing")
                    .bind(&p.buyer_id).bind(p.currency.code()).bind(period).execute(&mut *conn).await?;
                sqlx::query("update wallet_spend set spent_minor = spent_minor + $1 \
                             where account_id = $2 and currency = $3 and period = $4 and spent_minor + $1 <= $5")
                    .bind(p.amount_minor).bind(&p.buyer_id).bind(p.currency.code()).bind(period).bind(cap)
                    .execute(conn).await.map(|r| r.rows_affected() == 1)
            })?;
            if !raised {
                refused = Some(Outcome::CapReached { weekly });
                break;
            }
        }
        if refused.is_none() {
            let wallet = AccountRef::buyer_wallet(&p.buyer_id, p.currency).id();
            // The debit: one conditional statement, so the balance can never go below zero.
            let balance: Option<i64> = on_tx!(&mut tx, conn => sqlx::query_scalar(
                "update ledger_account set balance_minor = balance_minor - $1 where account_id = $2 and balance_minor >= $1 \
                 returning balance_minor")
                .bind(p.amount_minor).bind(&wallet).fetch_optional(conn).await)?;
            match balance {
                Some(balance_minor) => {
                    let order_id = db::new_id();
                    done.insert(p.key.clone(), order_id.clone());
                    written.push(Written { order_id: order_id.clone(), txn_id: db::new_id(), purchase_index: i });
                    outcomes.push(Outcome::Bought { order_id, balance_minor });
                    if capped {
                        exec(&mut tx, "release savepoint wallet_purchase").await?;
                    }
                    continue;
                }
                None => refused = Some(Outcome::InsufficientFunds),
            }
        }
        if capped {
            exec(&mut tx, "rollback to savepoint wallet_purchase").await?;
            exec(&mut tx, "release savepoint wallet_purchase").await?;
        }
        outcomes.push(refused.unwrap_or(Outcome::InsufficientFunds));
    }

    if !written.is_empty() {
        write_purchases(&mut tx, batch, &written, now, known_accounts).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Multi-row inserts for every purchase of the batch: orders, ledger transactions and entries,
/// download grants and tokens; then the creators' and the platform's cached balances, once per account.
async fn write_purchases(
    tx: &mut Tx,
    batch: &[&Purchase],
    written: &[Written],
    now: i64,
    known_accounts: &mut std::collections::HashSet<String>,
) -> Result<(), sqlx::Error> {
    // Credits per account (creator earnings, platform fees), applied once each.
    let mut credits: BTreeMap<String, (AccountRef, i64)> = BTreeMap::new();
    for w in written {
        let p = batch[w.purchase_index];
        for (account, amount) in [
            (AccountRef::creator_earnings(&p.creator_id, p.currency), p.amount_minor - p.fee_minor),
            (AccountRef::platform_fees(p.currency), p.fee_minor),
        ] {
            credits.entry(account.id()).or_insert((account, 0)).1 += amount;
        }
    }
    for (id, (account, _)) in &credits {
        if known_accounts.contains(id) {
            continue;
        }
        crate::ledger::store::ensure_account(tx, id, account.kind.as_str(), account.owner.as_deref(), account.currency.code(), now)
            .await?;
        known_accounts.insert(id.clone());
    }

    on_tx!(tx, conn => {
        let mut q = QueryBuilder::new(
            "insert into buyer_order (order_id, work_id, creator_id, buyer_email, buyer_account_id, currency, amount_minor, \
             fee_minor, status, provider, provider_payment_id, checkout_key, source, save_card, failure_reason, created_at, \
             updated_at, paid_at, refunded_at) ",
        );
        q.push_values(written, |mut row, w| {
            let p = batch[w.purchase_index];
            row.push_bind(&w.order_id).push_bind(&p.work_id).push_bind(&p.creator_id).push_bind(&p.buyer_email)
                .push_bind(&p.buyer_id).push_bind(p.currency.code()).push_bind(p.amount_minor).push_bind(p.fee_minor)
                .push_bind("fulfilled").push_bind("wallet").push_bind(&w.txn_id).push_bind(&p.key).push_bind(&p.source)
                .push_bind(false).push_bind(None::<String>).push_bind(now).push_bind(now).push_bind(Some(now)).push_bind(None::<i64>);
        });
        q.build().execute(&mut *conn).await?;

        let mut q = QueryBuilder::new("insert into ledger_txn (txn_id, kind, order_id, idempotency_key, memo, created_at) ");
        q.push_values(written, |mut row, w| {
            let p = batch[w.purchase_index];
            row.push_bind(&w.txn_id).push_bind("sale").push_bind(&w.order_id).push_bind(&p.key)
                .push_bind(format!("wallet purchase of work {}", p.work_id)).push_bind(now);
        });
        q.build().execute(&mut *conn).await?;

        let mut q = QueryBuilder::new("insert into ledger_entry (entry_id, txn_id, account_id, currency, amount_minor, created_at) ");
        let entries: Vec<(String, &str, String, &'static str, i64)> = written
            .iter()
            .flat_map(|w| {
                let p = batch[w.purchase_index];
                let c = p.currency;
                [
                    (AccountRef::buyer_wallet(&p.buyer_id, c).id(), -p.amount_minor),
                    (AccountRef::creator_earnings(&p.creator_id, c).id(), p.amount_minor - p.fee_minor),
                    (AccountRef::platform_fees(c).id(), p.fee_minor),
                ]
                .into_iter()
                .filter(|(_, amount)| *amount != 0)
                .map(move |(account, amount)| (db::new_id(), w.txn_id.as_str(), account, c.code(), amount))
            })
            .collect();
        q.push_values(&entries, |mut row, (entry_id, txn_id, account, currency, amount)| {
            row.push_bind(entry_id).push_bind(*txn_id).push_bind(account).push_bind(*currency).push_bind(*amount).push_bind(now);
        });
        q.build().execute(&mut *conn).await?;

        let mut q = QueryBuilder::new("insert into download_grant (order_id, downloads_used, max_downloads, expires_at, revoked_at, created_at) ");
        q.push_values(written, |mut row, w| {
            let p = batch[w.purchase_index];
            row.push_bind(&w.order_id).push_bind(0i64).push_bind(p.max_downloads)
                .push_bind(p.expires_after_ms.map(|ms| now + ms)).push_bind(None::<i64>).push_bind(now);
        });
        q.build().execute(&mut *conn).await?;

        let mut q = QueryBuilder::new("insert into download_token (token_hash, order_id, created_at) ");
        q.push_values(written, |mut row, w| {
            row.push_bind(&batch[w.purchase_index].token_hash).push_bind(&w.order_id).push_bind(now);
        });
        q.build().execute(&mut *conn).await?;

        for (id, (_, amount)) in &credits {
            if *amount != 0 {
                sqlx::query("update ledger_account set balance_minor = balance_minor + $1 where account_id = $2")
                    .bind(*amount).bind(id).execute(&mut *conn).await?;
            }
        }
        Ok::<(), sqlx::Error>(())
    })?;
    roll_up(tx, batch, written, now).await
}

/// The dashboard's rollups and the creators' sale webhooks for a batch, summed per key so a
/// batch of hundreds writes a handful of rows.
async fn roll_up(tx: &mut Tx, batch: &[&Purchase], written: &[Written], now: i64) -> Result<(), sqlx::Error> {
    use crate::earnings::{rollup, webhooks};
    let hour = rollup::hour_of(now);
    let mut sales: BTreeMap<(&str, &str, &str), rollup::SaleDelta> = BTreeMap::new();
    let mut sources: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for w in written {
        let p = batch[w.purchase_index];
        let d = sales.entry((p.creator_id.as_str(), p.work_id.as_str(), p.currency.code())).or_default();
        d.sales += 1;
        d.gross += p.amount_minor;
        d.net += p.amount_minor - p.fee_minor;
        *sources.entry((p.creator_id.as_str(), p.source.as_str())).or_default() += 1;
    }
    for ((creator, work, currency), d) in &sales {
        rollup::add_sale(tx, creator, work, hour, currency, d).await?;
    }
    for ((creator, source), n) in &sources {
        rollup::add_source(tx, creator, hour, source, 0, *n).await?;
    }
    let mut creators: Vec<&str> = written.iter().map(|w| batch[w.purchase_index].creator_id.as_str()).collect();
    creators.sort_unstable();
    creators.dedup();
    let with_hooks: std::collections::HashSet<String> = on_tx!(tx, conn => {
        let mut q = QueryBuilder::new("select account_id from account where webhook_url is not null and account_id in (");
        let mut list = q.separated(", ");
        for c in &creators {
            list.push_bind(*c);
        }
        q.push(")");
        q.build_query_scalar::<String>().fetch_all(conn).await
    })?
    .into_iter()
    .collect();
    for w in written {
        let p = batch[w.purchase_index];
        if !with_hooks.contains(&p.creator_id) {
            continue;
        }
        let event = webhooks::SaleEvent {
            order_id: &w.order_id,
            work_id: &p.work_id,
            work_title: &p.work_title,
            amount: crate::money::Money::new(p.amount_minor, p.currency).decimal(),
            fee: crate::money::Money::new(p.fee_minor, p.currency).decimal(),
            net: crate::money::Money::new(p.amount_minor - p.fee_minor, p.currency).decimal(),
            currency: p.currency.code(),
            buyer_email: &p.buyer_email,
            source: &p.source,
            provider: "wallet",
        };
        webhooks::enqueue(tx, &p.creator_id, "sale", &event).await?;
    }
    Ok(())
}
