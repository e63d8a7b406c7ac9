//! The wallet purchase writer: wallet purchases committed in groups.
//!
//! A single writer (`group_commit::GroupCommit`) owns wallet purchases: it takes every purchase
//! waiting and hands them to `PurchaseBatch`, which decides and writes them inside ONE
//! transaction; the engine commits once, makes it durable and only then answers each caller.
//! This file is the purchase logic only; queueing, WAL syncing and checkpointing are the
//! engine's.
//!
//! Each purchase stays individually correct inside the batch: the wallet debit is a conditional
//! statement (`... where balance_minor >= amount`, so no overdraft) — on PostgreSQL one
//! statement for all uncapped purchases of a round, one wallet at most per round; on SQLite,
//! where the batch holds the only write lock, purchases are decided on balances read under that
//! lock and one statement debits every wallet, failing the batch unless it changes exactly
//! those — spending caps are conditional increments of per-period counters inside a savepoint per
//! capped purchase, and the ledger's unique idempotency key makes a retried purchase find its
//! first result instead of paying twice. On PostgreSQL with several app servers each has its
//! own writer; the same conditional statements keep them correct against each other.
//!
//! The service decides a purchase on rows it may have cached (the work, the buyer's spending
//! rules). The batch re-reads those rows inside its transaction — one round of queries per
//! batch, not per purchase — and a purchase decided on anything else comes back `Stale`.
//!
//! A "pay later" purchase (`Funding::WalletElseTab`) is paid from the wallet if it has enough,
//! else from the buyer's tab; the batch decides which on what its reads say (the wallet's
//! balance, whether the creator sells on tabs, the buyer's settlements), so a tab purchase
//! costs the service no reads of its own.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use sqlx::QueryBuilder;

use super::{
    store::{self as wallet_store, SettingsRow},
    tab,
};
use crate::{
    accounts::store::{self as accounts_store, SellerContact},
    catalog::store::{self as catalog_store, WorkRow},
    checkout::sale::{self, Mails, OrderState, Sale, SaleError},
    db::{self, Db, Tx},
    group_commit::{BatchWork, CommitError, GroupCommit},
    ledger::{domain::AccountRef, store as ledger_store},
    money::{Currency, Money},
    on_tx,
    orders::{Provider, TopUpStatus},
};

/// What a purchase may be paid from, as the buyer asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    /// The prepaid wallet only.
    Wallet,
    /// "Get it now · pay later": the wallet if it has enough (the buyer's own money goes
    /// first), else the buyer's tab, if the creator sells on tabs, the tab isn't locked and the
    /// price fits in the buyer's whole limit (`tab::limit_for`, given the operator's limit).
    WalletElseTab { operator_limit_minor: i64 },
}

/// Where a purchase's money came from, as the batch decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayFrom {
    /// The prepaid wallet, which never goes below zero.
    Wallet,
    /// The buyer's tab (see `tab`), which goes down to minus the buyer's tab limit: what they
    /// may owe. The same conditional debit as the wallet's, with another floor.
    Tab { limit_minor: i64 },
}

impl PayFrom {
    /// The ledger account paid from.
    fn account(self, buyer_id: &str, currency: Currency) -> AccountRef {
        match self {
            PayFrom::Wallet => AccountRef::buyer_wallet(buyer_id, currency),
            PayFrom::Tab { .. } => AccountRef::buyer_tab(buyer_id, currency),
        }
    }

    /// The lowest balance a purchase may leave on that account.
    fn floor(self) -> i64 {
        match self {
            PayFrom::Wallet => 0,
            PayFrom::Tab { limit_minor } => -limit_minor,
        }
    }
}

/// One wallet or tab purchase, validated and priced by the service.
#[derive(Debug, Clone)]
pub struct Purchase {
    pub funding: Funding,
    /// The ledger idempotency key (`wallet:{buyer}:{client key}`).
    pub key: String,
    pub buyer_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub source: String,
    /// The buyer's visit was counted as a view (see `checkout::sale::Sale::counted_view`).
    pub counted_view: bool,
    /// The download token the buyer gets back (its selector and its verifier's hash), stored
    /// with the purchase so that the answer needs no second commit.
    pub token_selector: String,
    pub token_verifier_hash: String,
    /// The work as the service priced it (possibly from its cache). The purchase goes through
    /// only if the database still has exactly this live, published work.
    pub work: Arc<WorkRow>,
    /// The buyer's wallet settings as the service checked them (spending rules, PIN). The
    /// purchase goes through only if they are still these.
    pub settings: Arc<SettingsRow>,
}

impl Purchase {
    fn wallet(&self) -> String {
        AccountRef::buyer_wallet(&self.buyer_id, self.currency).id()
    }

    fn pays_later(&self) -> bool {
        matches!(self.funding, Funding::WalletElseTab { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Bought {
        order_id: String,
        paid_from: PayFrom,
        /// The buyer's wallet balance after the purchase (read with the batch's reads for a
        /// tab purchase, which leaves the wallet alone).
        wallet_minor: i64,
    },
    /// The same key was bought before: this is that purchase, not a new one.
    Repeated {
        order_id: String,
    },
    /// The wallet can't pay it, or the tab would go over its limit.
    InsufficientFunds,
    /// The tab can't pay for it: the creator doesn't sell on tabs, or the price is more than
    /// the buyer's whole tab limit.
    TabUnavailable,
    /// The card refused the buyer's last settlement, or the collection's third reminder
    /// locked the tab (`overdue`): it takes nothing until it is paid.
    TabLocked {
        overdue: bool,
    },
    CapReached {
        weekly: bool,
    },
    /// The work or the buyer's settings changed since the service read them: decide again.
    Stale,
    /// The buyer's account no longer exists.
    NoSuchBuyer,
}

/// Why a purchase got no outcome: the writer stopped, its batch failed (the error kept), or the
/// batch could not be made durable.
pub type WriterError = CommitError<BatchError>;

/// Why a batch of wallet purchases failed: nothing in it was committed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Sale(#[from] SaleError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The batch's reads came back in another shape than they were sent in.
    #[error("the batch's reads answered {0} results")]
    Reads(usize),
    /// SQLite: the debit changed other wallets than the batch decided on, although the batch
    /// holds the only write lock.
    #[error("{debited} of {decided} wallets debited although the batch holds the write lock")]
    WalletsMoved { debited: u64, decided: usize },
}

/// The wallet's group-commit writer (see `group_commit`): its batches are `PurchaseBatch`es.
#[derive(Clone)]
pub struct WalletWriter {
    engine: GroupCommit<PurchaseBatch>,
}

impl WalletWriter {
    /// Starts the writer on a thread of its own, with its own database connection, and returns
    /// once that connection is open. `max_batch` = 1 gives one purchase per transaction (the
    /// baseline the benchmark compares against).
    pub async fn start(database_url: &str, max_batch: usize) -> Result<WalletWriter, sqlx::Error> {
        let engine = GroupCommit::start("wallet", database_url, max_batch, PurchaseBatch::default()).await?;
        Ok(WalletWriter { engine })
    }

    /// Queues a purchase and waits until the transaction holding it has committed.
    pub async fn submit(&self, purchase: Purchase) -> Result<Outcome, WriterError> {
        self.engine.submit(purchase).await
    }
}

/// What the engine calls with each batch of wallet purchases: decide them (balance, caps,
/// settings still current) and write the sales, in one transaction.
#[derive(Default)]
struct PurchaseBatch {
    /// What earlier commits wrote (accounts, this window's digest mails), not to write again.
    written: sale::Written,
}

impl BatchWork for PurchaseBatch {
    type Item = Purchase;
    type Outcome = Outcome;
    type Error = BatchError;

    async fn commit(&mut self, db: &Db, batch: &[&Purchase]) -> Result<Vec<Outcome>, BatchError> {
        commit_batch(db, batch, &mut self.written).await
    }

    fn worth_retrying(&self, err: &BatchError) -> bool {
        // Another app server's writer held rows this batch needed.
        matches!(err, BatchError::Database(e) | BatchError::Sale(SaleError::Database(e)) if db::is_lock_conflict(e))
    }

    fn forget_uncommitted(&mut self) {
        self.written.clear();
    }
}

/// What a successful purchase writes, gathered for multi-row inserts.
struct Written {
    order_id: String,
    purchase_index: usize,
    paid_from: PayFrom,
}

async fn exec(tx: &mut Tx, sql: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(sql).execute(conn).await.map(|_| ()))
}

/// What the database says, inside the batch's transaction, about the purchases, works, buyers
/// and creators in it.
struct Current {
    /// Purchases already made under the batch's keys (a retry, a double click): key → order.
    done: HashMap<String, String>,
    works: HashMap<String, WorkRow>,
    settings: HashMap<String, SettingsRow>,
    emails: HashMap<String, String>,
    /// The batch's creators: where their notices and webhooks go, whether they sell on tabs.
    sellers: HashMap<String, SellerContact>,
    /// Account balances: on SQLite, those of every account the batch may debit, read under
    /// the batch's write lock (see `debit_uncapped_under_write_lock`); on PostgreSQL, which
    /// debits with conditional statements, only the wallets of "pay later" purchases, to choose
    /// between wallet and tab.
    balances: HashMap<String, i64>,
    /// The settlements of the batch's "pay later" buyers: buyer → (currency, status, id).
    settlements: HashMap<String, Vec<(Currency, TopUpStatus, String)>>,
    /// The tabs of the batch's "pay later" buyers that the collection locked.
    locked_tabs: HashSet<(String, Currency)>,
}

impl Current {
    /// Five to eight queries, sent together (on SQLite one round trip, see `db::Statements`).
    async fn read(tx: &mut Tx, batch: &[&Purchase]) -> Result<Current, BatchError> {
        use sqlx::{FromRow, Row};
        let sqlite = matches!(tx, Tx::Sqlite(_));
        let mut keys: Vec<&str> = batch.iter().map(|p| p.key.as_str()).collect();
        let mut work_ids: Vec<&str> = batch.iter().map(|p| p.work.work_id.as_str()).collect();
        let mut buyer_ids: Vec<&str> = batch.iter().map(|p| p.buyer_id.as_str()).collect();
        let mut creator_ids: Vec<&str> = batch.iter().map(|p| p.work.creator_id.as_str()).collect();
        let mut later_ids: Vec<&str> = batch.iter().filter(|p| p.pays_later()).map(|p| p.buyer_id.as_str()).collect();
        for ids in [&mut keys, &mut work_ids, &mut buyer_ids, &mut creator_ids, &mut later_ids] {
            ids.sort_unstable();
            ids.dedup();
        }
        let mut accounts: Vec<String> = Vec::new();
        for p in batch {
            if sqlite || p.pays_later() {
                accounts.push(p.wallet());
            }
            if sqlite && p.pays_later() {
                accounts.push(AccountRef::buyer_tab(&p.buyer_id, p.currency).id());
            }
        }
        accounts.sort_unstable();
        accounts.dedup();
        let accounts: Vec<&str> = accounts.iter().map(String::as_str).collect();
        on_tx!(tx, conn => {
            let mut reads = db::Statements::new();
            db::push_list(reads.next("select idempotency_key, order_id from ledger_txn where idempotency_key in "), &keys);
            catalog_store::push_live_works_in(&mut reads, &work_ids);
            wallet_store::push_settings_in(&mut reads, &buyer_ids);
            accounts_store::push_emails_in(&mut reads, &buyer_ids);
            accounts_store::push_seller_contacts_in(&mut reads, &creator_ids);
            if !accounts.is_empty() {
                // On SQLite one row of JSON (see `accounts::store::push_emails_in`).
                let sql = if sqlite {
                    "select json_group_array(json_array(account_id, balance_minor)) from ledger_account where account_id in "
                } else {
                    "select account_id, balance_minor from ledger_account where account_id in "
                };
                db::push_list(reads.next(sql), &accounts);
            }
            if !later_ids.is_empty() {
                wallet_store::push_settlement_summaries_in(&mut reads, &later_ids);
                wallet_store::push_locked_tabs_in(&mut reads, &later_ids);
            }
            let answers = reads.fetch(&mut *conn).await?;
            let expected = 5 + usize::from(!accounts.is_empty()) + 2 * usize::from(!later_ids.is_empty());
            if answers.len() != expected {
                return Err(BatchError::Reads(answers.len()));
            }
            let mut answers = answers.into_iter();
            let mut next = move || answers.next().unwrap_or_default();
            let (done, works, settings, emails, sellers) = (next(), next(), next(), next(), next());
            let balances: HashMap<String, i64> = match (accounts.is_empty(), sqlite) {
                (true, _) => HashMap::new(),
                (false, true) => match next().first() {
                    Some(row) => db::from_json_row::<(String, i64)>(row.try_get(0)?)?.into_iter().collect(),
                    None => HashMap::new(),
                },
                (false, false) => next().iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect::<Result<_, sqlx::Error>>()?,
            };
            let mut settlements: HashMap<String, Vec<(Currency, TopUpStatus, String)>> = HashMap::new();
            if !later_ids.is_empty() {
                for (buyer, currency, status, topup_id) in wallet_store::settlement_summaries_from(&next())? {
                    settlements.entry(buyer).or_default().push((currency, status, topup_id));
                }
            }
            let locked_tabs = if later_ids.is_empty() { HashSet::new() } else { wallet_store::locked_tabs_from(&next())?.into_iter().collect() };
            Ok(Current {
                done: done.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect::<Result<_, sqlx::Error>>()?,
                works: works.iter().map(|row| WorkRow::from_row(row).map(|w| (w.work_id.clone(), w))).collect::<Result<_, _>>()?,
                settings: settings.iter().map(|row| SettingsRow::from_row(row).map(|s| (s.account_id.clone(), s))).collect::<Result<_, _>>()?,
                emails: accounts_store::emails_from(&emails)?.into_iter().collect(),
                sellers: accounts_store::seller_contacts_from(&sellers)?.into_iter().map(|c| (c.account_id.clone(), c)).collect(),
                balances,
                settlements,
                locked_tabs,
            })
        })
    }

    /// Where `p` is paid from, or why it can't be: a wallet purchase from the wallet; a "pay
    /// later" one from the wallet if it has enough (`wallet_left`: what the batch's wallets hold
    /// after the purchases decided before it), else from the tab if the tab can take it.
    /// Whether the tab has room is the conditional debit's to decide.
    fn pay_from(&self, p: &Purchase, wallet_left: &mut HashMap<String, i64>) -> Result<PayFrom, Outcome> {
        let wallet = p.wallet();
        let left = match wallet_left.entry(wallet) {
            std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(e) => self.balances.get(e.key()).copied().map(|b| e.insert(b)),
        };
        let operator_limit_minor = match (p.funding, left) {
            (_, Some(left)) if *left >= p.amount_minor => {
                *left -= p.amount_minor;
                return Ok(PayFrom::Wallet);
            }
            (Funding::Wallet, _) => return Ok(PayFrom::Wallet),
            (Funding::WalletElseTab { operator_limit_minor }, _) => operator_limit_minor,
        };
        // Written off: never a tab again.
        if p.settings.tab_written_off_at.is_some() || self.sellers.get(&p.work.creator_id).is_none_or(|s| s.tab_sales_off) {
            return Err(Outcome::TabUnavailable);
        }
        if self.locked_tabs.contains(&(p.buyer_id.clone(), p.currency)) {
            return Err(Outcome::TabLocked { overdue: true });
        }
        let settlements = self.settlements.get(&p.buyer_id).into_iter().flatten();
        let standing = tab::Standing::of(settlements.map(|(c, s, id)| (*c, *s, id.as_str())), p.currency);
        if standing.open.as_ref().is_some_and(|o| o.failed) {
            return Err(Outcome::TabLocked { overdue: false });
        }
        let limit_minor = tab::limit_for(operator_limit_minor, standing.paid_a_tab, p.settings.tab_limit_minor);
        if p.amount_minor > limit_minor {
            return Err(Outcome::TabUnavailable);
        }
        Ok(PayFrom::Tab { limit_minor })
    }

    /// Why `p` can't be applied as decided, if it can't.
    fn refuses(&self, p: &Purchase) -> Option<Outcome> {
        if !self.emails.contains_key(&p.buyer_id) {
            return Some(Outcome::NoSuchBuyer);
        }
        let work_current = self.works.get(&p.work.work_id) == Some(&*p.work);
        let settings_current = match self.settings.get(&p.buyer_id) {
            Some(saved) => saved == &*p.settings,
            // Never saved: the service decided on the defaults.
            None => *p.settings == SettingsRow { account_id: p.buyer_id.clone(), ..Default::default() },
        };
        (!work_current || !settings_current).then_some(Outcome::Stale)
    }
}

async fn commit_batch(db: &Db, batch: &[&Purchase], memo: &mut sale::Written) -> Result<Vec<Outcome>, BatchError> {
    let started = std::time::Instant::now();
    let now = db::now_ms();
    let (week, month) = super::domain::periods(now);
    let mut tx = db.begin().await?;

    // A first tab purchase is the first use of the buyer's tab account: it must exist before
    // the conditional debit can move it (and before the reads, which SQLite's debit relies on).
    let mut tabs: Vec<AccountRef> =
        batch.iter().filter(|p| p.pays_later()).map(|p| AccountRef::buyer_tab(&p.buyer_id, p.currency)).collect();
    tabs.sort_by_key(AccountRef::id);
    tabs.dedup();
    for tab in tabs {
        let id = tab.id();
        if !memo.has_account(&id) {
            ledger_store::ensure_account(&mut tx, &id, tab.kind.as_str(), tab.owner.as_deref(), tab.currency.code(), now).await?;
            memo.add_account(id);
        }
    }

    let mut current = Current::read(&mut tx, batch).await?;

    let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
    // Where each purchase is paid from (`Current::pay_from`; refused ones keep the default).
    let mut paid_from: Vec<PayFrom> = vec![PayFrom::Wallet; batch.len()];
    let mut wallet_left: HashMap<String, i64> = HashMap::new();
    // A key sent twice within the batch gets the first one's outcome.
    let mut first_with_key: HashMap<&str, usize> = HashMap::new();
    let mut copies: Vec<(usize, usize)> = Vec::new();
    // Purchases without caps, debited together below.
    let mut uncapped: Vec<usize> = Vec::new();
    for (i, p) in batch.iter().enumerate() {
        if let Some(order_id) = current.done.get(&p.key) {
            outcomes[i] = Some(Outcome::Repeated { order_id: order_id.clone() });
            continue;
        }
        if let Some(&first) = first_with_key.get(p.key.as_str()) {
            copies.push((i, first));
            continue;
        }
        first_with_key.insert(p.key.as_str(), i);
        if let Some(refused) = current.refuses(p) {
            outcomes[i] = Some(refused);
            continue;
        }
        match current.pay_from(p, &mut wallet_left) {
            Ok(from) => paid_from[i] = from,
            Err(refused) => {
                outcomes[i] = Some(refused);
                continue;
            }
        }
        if p.settings.weekly_cap_minor.is_none() && p.settings.monthly_cap_minor.is_none() {
            uncapped.push(i);
            continue;
        }
        outcomes[i] = Some(debit_capped(&mut tx, p, paid_from[i], &week, &month).await?);
    }
    let balances = std::mem::take(&mut current.balances);
    debit_uncapped(&mut tx, batch, &paid_from, uncapped, balances, &mut outcomes).await?;
    for (i, p) in batch.iter().enumerate() {
        match (&mut outcomes[i], paid_from[i]) {
            // A tab purchase leaves the wallet as the reads found it.
            (Some(Outcome::Bought { wallet_minor, .. }), PayFrom::Tab { .. }) => {
                *wallet_minor = wallet_left.get(&p.wallet()).copied().unwrap_or(0);
            }
            // The wallet was to pay, on a balance read here, but couldn't after all (on
            // PostgreSQL another server's purchase got there first): the purchase is decided
            // again, when the tab may pay.
            (outcome @ Some(Outcome::InsufficientFunds), PayFrom::Wallet) if p.pays_later() => *outcome = Some(Outcome::Stale),
            _ => {}
        }
    }
    // Every purchase counts towards the buyer's spending, so that a cap set later this week
    // counts it: the periods without a cap (debit_capped raised the capped ones) in one upsert
    // for the batch, summed per buyer and period.
    let mut spent: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for (p, outcome) in batch.iter().zip(&outcomes) {
        if let Some(Outcome::Bought { .. }) = outcome {
            for (period, cap) in [(&week, p.settings.weekly_cap_minor), (&month, p.settings.monthly_cap_minor)] {
                if cap.is_none() {
                    *spent.entry((p.buyer_id.clone(), p.currency.code().to_string(), period.clone())).or_default() += p.amount_minor;
                }
            }
        }
    }
    for (copy, first) in copies {
        outcomes[copy] = match &outcomes[first] {
            Some(Outcome::Bought { order_id, .. }) => Some(Outcome::Repeated { order_id: order_id.clone() }),
            other => other.clone(),
        };
    }
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Stale)).collect();

    let written: Vec<Written> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            // A copy answers `Repeated`, never `Bought`: each `Bought` is one purchase to write.
            Outcome::Bought { order_id, paid_from, .. } => {
                Some(Written { order_id: order_id.clone(), purchase_index: i, paid_from: *paid_from })
            }
            _ => None,
        })
        .collect();
    if !written.is_empty() {
        write_sales(&mut tx, batch, &written, &spent, &current, now, memo).await?;
    }
    let applied = started.elapsed();
    tx.commit().await?;
    tracing::debug!(
        purchases = batch.len(),
        applied_us = applied.as_micros() as u64,
        committed_us = started.elapsed().as_micros() as u64,
        "wallet batch"
    );
    Ok(outcomes)
}

/// A purchase under spending caps: the caps are raised with conditional increments of the
/// period counters, then the wallet debited, all inside a savepoint so a refusal leaves nothing.
async fn debit_capped(tx: &mut Tx, p: &Purchase, paid_from: PayFrom, week: &str, month: &str) -> Result<Outcome, sqlx::Error> {
    exec(tx, "savepoint wallet_purchase").await?;
    let mut refused = None;
    for (period, cap, weekly) in [(week, p.settings.weekly_cap_minor, true), (month, p.settings.monthly_cap_minor, false)] {
        let Some(cap) = cap else { continue };
        if !wallet_store::add_spent_within_cap(tx, &p.buyer_id, p.currency.code(), period, p.amount_minor, cap).await? {
            refused = Some(Outcome::CapReached { weekly });
            break;
        }
    }
    if refused.is_none() {
        let account = paid_from.account(&p.buyer_id, p.currency).id();
        // The debit: one conditional statement, so the balance can never go below its floor.
        let balance: Option<i64> = on_tx!(&mut *tx, conn => sqlx::query_scalar(
            "update ledger_account set balance_minor = balance_minor - $1 where account_id = $2 and balance_minor - $1 >= $3 \
             returning balance_minor")
            .bind(p.amount_minor).bind(&account).bind(paid_from.floor()).fetch_optional(conn).await)?;
        if let Some(balance_minor) = balance {
            exec(tx, "release savepoint wallet_purchase").await?;
            return Ok(Outcome::Bought { order_id: db::new_id(), paid_from, wallet_minor: balance_minor });
        }
        refused = Some(Outcome::InsufficientFunds);
    }
    exec(tx, "rollback to savepoint wallet_purchase").await?;
    exec(tx, "release savepoint wallet_purchase").await?;
    Ok(refused.unwrap_or(Outcome::InsufficientFunds))
}

/// Debits every uncapped purchase of the batch (`balances`: SQLite's, from `Current`).
async fn debit_uncapped(
    tx: &mut Tx,
    batch: &[&Purchase],
    paid_from: &[PayFrom],
    pending: Vec<usize>,
    balances: HashMap<String, i64>,
    outcomes: &mut [Option<Outcome>],
) -> Result<(), BatchError> {
    if pending.is_empty() {
        return Ok(());
    }
    match tx {
        Tx::Sqlite(conn) => debit_uncapped_under_write_lock(conn, batch, paid_from, pending, balances, outcomes).await,
        Tx::Postgres(_) => Ok(debit_uncapped_in_rounds(tx, batch, paid_from, pending, outcomes).await?),
    }
}

/// SQLite: the batch's transaction began `IMMEDIATE`, so it holds the database's only write
/// lock and no balance can change under it. The balances of the batch's wallets were read with
/// the batch's other reads (`Current`); the capped purchases debited since are never of the
/// same wallets, since a buyer's purchases in a batch share the settings that make them capped
/// or not (any that don't are `Stale`). Each purchase is decided in order against its wallet's
/// running balance, and then one statement debits each wallet by its total, still on the
/// condition that the balance covers it. If that statement does not change exactly the wallets
/// decided on, the batch fails and nothing in it is committed.
async fn debit_uncapped_under_write_lock(
    conn: &mut sqlx::SqliteConnection,
    batch: &[&Purchase],
    paid_from: &[PayFrom],
    pending: Vec<usize>,
    mut balances: HashMap<String, i64>,
    outcomes: &mut [Option<Outcome>],
) -> Result<(), BatchError> {
    let wallets: Vec<String> = pending.iter().map(|&i| paid_from[i].account(&batch[i].buyer_id, batch[i].currency).id()).collect();
    // Per account: the total debit and the floor (a wallet's 0, a tab's minus its limit).
    let mut debits: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (&i, wallet) in pending.iter().zip(&wallets) {
        let (amount, floor) = (batch[i].amount_minor, paid_from[i].floor());
        outcomes[i] = Some(match balances.get_mut(wallet) {
            Some(balance) if *balance - amount >= floor => {
                *balance -= amount;
                let debit = debits.entry(wallet.as_str()).or_insert((0, floor));
                debit.0 += amount;
                debit.1 = debit.1.max(floor);
                Outcome::Bought { order_id: db::new_id(), paid_from: paid_from[i], wallet_minor: *balance }
            }
            _ => Outcome::InsufficientFunds,
        });
    }
    if debits.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::new("update ledger_account set balance_minor = balance_minor - v.column2 from (");
    q.push_values(&debits, |mut row, (wallet, &(amount, floor))| {
        row.push_bind(*wallet).push_bind(amount).push_bind(floor);
    });
    q.push(") as v where ledger_account.account_id = v.column1 and ledger_account.balance_minor - v.column2 >= v.column3");
    let debited = q.build().execute(&mut *conn).await?.rows_affected();
    if debited != debits.len() as u64 {
        return Err(BatchError::WalletsMoved { debited, decided: debits.len() });
    }
    Ok(())
}

/// PostgreSQL, where other app servers' writers debit the same wallets: one conditional
/// statement per round, `update ... from (values (wallet, amount), ...) where balance >= amount
/// returning ...`. A wallet appears at most once per round (an `update ... from` applies one
/// row per target), so a buyer's second purchase in the batch waits for the next round and
/// sees the first one's debit. A wallet the statement leaves alone could not pay.
async fn debit_uncapped_in_rounds(
    tx: &mut Tx,
    batch: &[&Purchase],
    paid_from: &[PayFrom],
    mut pending: Vec<usize>,
    outcomes: &mut [Option<Outcome>],
) -> Result<(), sqlx::Error> {
    while !pending.is_empty() {
        // Ordered by wallet: writers on other servers then lock the wallets two batches share in
        // the same order, and don't deadlock on them.
        let mut in_round: BTreeMap<String, usize> = BTreeMap::new();
        let mut next_round = Vec::new();
        for i in pending {
            let p = batch[i];
            let wallet = paid_from[i].account(&p.buyer_id, p.currency).id();
            if let std::collections::btree_map::Entry::Vacant(e) = in_round.entry(wallet) {
                e.insert(i);
            } else {
                next_round.push(i);
            }
        }
        let balances: HashMap<String, i64> = on_tx!(&mut *tx, conn => {
            let mut q = QueryBuilder::new("update ledger_account set balance_minor = balance_minor - v.column2 from (");
            q.push_values(&in_round, |mut row, (wallet, &i)| {
                row.push_bind(wallet.as_str()).push_bind(batch[i].amount_minor).push_bind(paid_from[i].floor());
            });
            q.push(") as v where ledger_account.account_id = v.column1 and ledger_account.balance_minor - v.column2 >= v.column3 \
                    returning account_id, balance_minor");
            q.build_query_as::<(String, i64)>().fetch_all(conn).await
        })?
        .into_iter()
        .collect();
        for (wallet, i) in in_round {
            outcomes[i] = Some(match balances.get(&wallet) {
                Some(&balance_minor) => Outcome::Bought { order_id: db::new_id(), paid_from: paid_from[i], wallet_minor: balance_minor },
                None => Outcome::InsufficientFunds,
            });
        }
        pending = next_round;
    }
    Ok(())
}

/// What the batch's purchases write: each is a sale, written with the others by the sale core
/// (orders, ledger, grants and tokens, rollups, webhooks, digest mails), and the buyers'
/// spending counters, added to the same statements.
async fn write_sales(
    tx: &mut Tx,
    batch: &[&Purchase],
    written: &[Written],
    spent: &BTreeMap<(String, String, String), i64>,
    current: &Current,
    now: i64,
    memo: &mut sale::Written,
) -> Result<(), SaleError> {
    let nobody = SellerContact::default();
    let sales: Vec<Sale<'_>> = written
        .iter()
        .map(|w| {
            let p = batch[w.purchase_index];
            Sale {
                order_id: w.order_id.clone(),
                order: OrderState::New,
                work: &p.work,
                creator: current.sellers.get(&p.work.creator_id).unwrap_or(&nobody),
                amount: Money::new(p.amount_minor, p.currency),
                fee_minor: p.fee_minor,
                buyer_email: current.emails.get(&p.buyer_id).map_or("", String::as_str),
                buyer_account_id: Some(&p.buyer_id),
                provider: match w.paid_from {
                    PayFrom::Wallet => Provider::Wallet,
                    PayFrom::Tab { .. } => Provider::Tab,
                },
                payment_method: None,
                payment_id: None,
                source: &p.source,
                counted_view: p.counted_view,
                paid_from: w.paid_from.account(&p.buyer_id, p.currency),
                // The conditional debit above was the purchase's decision.
                paid_from_debited: true,
                ledger_key: p.key.clone(),
                memo: match w.paid_from {
                    PayFrom::Wallet => format!("wallet purchase of work {}", p.work.work_id),
                    PayFrom::Tab { .. } => format!("tab purchase of work {}", p.work.work_id),
                },
                token: Some((&p.token_selector, &p.token_verifier_hash)),
            }
        })
        .collect();
    sale::write(tx, &sales, Mails::Digest, memo, now, |writes| crate::on_writes!(writes, s => wallet_store::push_spent(s, spent))).await
}
