//! `clink ledger verify`: every invariant of the money, checked against the data: the ledger,
//! the orders it records and the wallets' spending counters. It reads every area that holds
//! money, so it sits above them (see the layering rule in the README).

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    db::Db,
    on_db,
    orders::{OrderStatus, TopUpStatus},
    wallet::{domain::periods, store as wallet_store},
};

#[derive(Debug, Default)]
pub struct Report {
    pub transactions: i64,
    pub entries: i64,
    pub accounts: i64,
    pub violations: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

async fn rows(db: &Db, sql: &str) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, String, i64)>(sql).fetch_all(pool).await)
}

async fn count(db: &Db, sql: &str) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await)
}

pub async fn verify(db: &Db) -> Result<Report, sqlx::Error> {
    let mut report = Report {
        transactions: count(db, "select count(*) from ledger_txn").await?,
        entries: count(db, "select count(*) from ledger_entry").await?,
        accounts: count(db, "select count(*) from ledger_account").await?,
        violations: Vec::new(),
    };
    let v = &mut report.violations;

    for (txn, currency, sum) in rows(db,
        "select txn_id, currency, cast(sum(amount_minor) as bigint) from ledger_entry group by txn_id, currency having sum(amount_minor) <> 0").await?
    {
        v.push(format!("transaction {txn} does not balance in {currency}: off by {sum}"));
    }
    for (account, cached, sum) in rows(
        db,
        "select a.account_id, cast(a.balance_minor as text), cast(coalesce(sum(e.amount_minor), 0) as bigint) \
         from ledger_account a left join ledger_entry e on e.account_id = a.account_id \
         group by a.account_id, a.balance_minor having a.balance_minor <> coalesce(sum(e.amount_minor), 0)",
    )
    .await?
    {
        v.push(format!("account {account}: cached balance {cached} but entries sum to {sum}"));
    }
    for (account, kind, balance) in rows(
        db,
        // A wallet below zero owes a top-up the provider refunded after it was spent; nothing
        // else takes one there.
        "select a.account_id, a.kind, a.balance_minor from ledger_account a \
         where a.kind in ('buyer_wallet', 'creator_earnings', 'creator_pending', 'payouts_pending') and a.balance_minor < 0 \
         and not (a.kind = 'buyer_wallet' and exists (select 1 from ledger_entry e join ledger_txn t on t.txn_id = e.txn_id \
             where e.account_id = a.account_id and t.kind = 'topup_refund'))",
    )
    .await?
    {
        v.push(format!("{kind} account {account} is negative: {balance}"));
    }
    for (account, currency, _) in rows(
        db,
        "select e.entry_id, e.currency, 0 from ledger_entry e join ledger_account a on a.account_id = e.account_id \
         where a.currency <> e.currency",
    )
    .await?
    {
        v.push(format!("entry {account} is in {currency}, not its account's currency"));
    }
    // Every paid order has exactly one sale in the ledger, of its amount and fee, and every
    // sale belongs to a paid order.
    for (order, status, n) in rows(
        db,
        "select o.order_id, o.status, (select count(*) from ledger_txn t where t.order_id = o.order_id and t.kind = 'sale') \
         from buyer_order o where o.status in ('paid', 'fulfilled', 'refunded') and o.amount_minor > 0",
    )
    .await?
    {
        if n != 1 {
            v.push(format!("{status} order {order} has {n} sale transactions, expected 1"));
        }
    }
    for (txn, order, _) in rows(
        db,
        "select t.txn_id, coalesce(t.order_id, '(none)'), 0 from ledger_txn t \
         where t.kind = 'sale' and not exists (select 1 from buyer_order o where o.order_id = t.order_id \
         and o.status in ('paid', 'fulfilled', 'refunded'))",
    )
    .await?
    {
        v.push(format!("sale transaction {txn} has no paid order ({order})"));
    }
    for (order, what, amount) in rows(db,
        "select o.order_id, 'creator share', cast(coalesce(sum(e.amount_minor), 0) as bigint) - (o.amount_minor - o.fee_minor) \
         from buyer_order o join ledger_txn t on t.order_id = o.order_id and t.kind = 'sale' \
         join ledger_entry e on e.txn_id = t.txn_id join ledger_account a on a.account_id = e.account_id and a.kind in ('creator_earnings', 'creator_pending') \
         group by o.order_id, o.amount_minor, o.fee_minor having cast(coalesce(sum(e.amount_minor), 0) as bigint) <> o.amount_minor - o.fee_minor").await?
    {
        v.push(format!("order {order}: ledger {what} differs from the order by {amount}"));
    }
    for (order, status, n) in rows(
        db,
        "select o.order_id, o.status, (select count(*) from ledger_txn t where t.order_id = o.order_id and t.kind = 'refund') \
         from buyer_order o where o.amount_minor > 0 and o.provider <> 'free'",
    )
    .await?
    {
        let expected = if status == OrderStatus::Refunded.as_str() { 1 } else { 0 };
        if n != expected {
            v.push(format!("{status} order {order} has {n} refund transactions, expected {expected}"));
        }
    }
    // Every succeeded top-up is credited exactly once, and every credit has its top-up.
    for (topup, status, n) in rows(
        db,
        "select w.topup_id, w.status, (select count(*) from ledger_txn t where t.order_id = w.topup_id \
             and t.kind = case when w.settles_tab then 'tab_settlement' else 'topup' end) \
         from wallet_topup w",
    )
    .await?
    {
        let expected = if status == TopUpStatus::Succeeded.as_str() { 1 } else { 0 };
        if n != expected {
            v.push(format!("{status} top-up {topup} has {n} ledger credits, expected {expected}"));
        }
    }
    // A top-up taken back by its provider was a credited top-up, taken back once.
    for (topup, _, n) in rows(
        db,
        "select coalesce(t.order_id, '(none)'), '', count(*) from ledger_txn t where t.kind = 'topup_refund' \
         and not exists (select 1 from ledger_txn c where c.kind = 'topup' and c.order_id = t.order_id) group by t.order_id",
    )
    .await?
    {
        v.push(format!("top-up {topup} was taken back {n} time(s) without ever being credited"));
    }
    for (txn, topup, _) in rows(
        db,
        "select t.txn_id, coalesce(t.order_id, '(none)'), 0 from ledger_txn t where t.kind = 'topup' \
         and not exists (select 1 from wallet_topup w where w.topup_id = t.order_id and w.status = 'succeeded')",
    )
    .await?
    {
        v.push(format!("top-up credit {txn} has no succeeded top-up ({topup})"));
    }
    // A tab settlement has its succeeded settlement.
    for (txn, topup, _) in rows(
        db,
        "select t.txn_id, coalesce(t.order_id, '(none)'), 0 from ledger_txn t where t.kind = 'tab_settlement' \
         and not exists (select 1 from wallet_topup w where w.topup_id = t.order_id and w.status = 'succeeded' and w.settles_tab)",
    )
    .await?
    {
        v.push(format!("tab settlement {txn} has no succeeded settlement ({topup})"));
    }
    // Every tab owes exactly its unsettled purchases (those neither paid nor written off), and
    // every creator's pending earnings are exactly their shares of them.
    for (account, owed_by_ledger, owed_by_orders) in rows(
        db,
        "select a.account_id, cast(-a.balance_minor as text), cast(coalesce((select sum(o.amount_minor) from buyer_order o \
             where o.provider = 'tab' and o.buyer_account_id = a.owner_id and o.currency = a.currency and o.status = 'fulfilled' \
             and o.tab_settled_at is null and o.tab_written_off_at is null), 0) as bigint) \
         from ledger_account a where a.kind = 'buyer_tab'",
    )
    .await?
    {
        if owed_by_ledger != owed_by_orders.to_string() {
            v.push(format!("tab {account} owes {owed_by_ledger} but its unsettled purchases cost {owed_by_orders}"));
        }
    }
    for (account, pending, shares) in rows(
        db,
        "select a.account_id, cast(a.balance_minor as text), cast(coalesce((select sum(o.amount_minor - o.fee_minor) from buyer_order o \
             where o.provider = 'tab' and o.creator_id = a.owner_id and o.currency = a.currency and o.status = 'fulfilled' \
             and o.tab_settled_at is null and o.tab_written_off_at is null), 0) as bigint) \
         from ledger_account a where a.kind = 'creator_pending'",
    )
    .await?
    {
        if pending != shares.to_string() {
            v.push(format!("pending earnings {account} hold {pending} but the creator's unsettled tab shares are {shares}"));
        }
    }
    // A settled tab purchase was settled by a paid settlement.
    for (order, settlement, _) in rows(
        db,
        "select o.order_id, coalesce(o.tab_settlement_id, '(none)'), 0 from buyer_order o where o.tab_settled_at is not null \
         and not exists (select 1 from wallet_topup w where w.topup_id = o.tab_settlement_id and w.status = 'succeeded' and w.settles_tab)",
    )
    .await?
    {
        v.push(format!("tab purchase {order} is settled without a paid settlement ({settlement})"));
    }
    // A written-off tab purchase was cleared by its buyer's write-off transaction.
    for (order, buyer, _) in rows(
        db,
        "select o.order_id, coalesce(o.buyer_account_id, '(none)'), 0 from buyer_order o where o.tab_written_off_at is not null \
         and not exists (select 1 from ledger_txn t where t.kind = 'tab_write_off' \
         and t.idempotency_key = 'tab_write_off:' || o.buyer_account_id || ':' || o.currency)",
    )
    .await?
    {
        v.push(format!("tab purchase {order} is written off without its buyer's write-off ({buyer})"));
    }
    // The wallet's spending counters (what caps are checked against) are sums of the wallet
    // purchases still standing, per buyer, currency and spending period.
    let purchases: Vec<(String, String, i64, i64)> = on_db!(db, pool => sqlx::query_as(
        "select buyer_account_id, currency, created_at, amount_minor from buyer_order \
         where provider in ('wallet', 'tab') and status <> 'refunded' and buyer_account_id is not null").fetch_all(pool).await)?;
    let mut expected: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for (buyer, currency, created_at, amount) in purchases {
        let (week, month) = periods(created_at);
        for period in [week, month] {
            *expected.entry((buyer.clone(), currency.clone(), period)).or_default() += amount;
        }
    }
    let counted: BTreeMap<(String, String, String), i64> = wallet_store::all_spent(db)
        .await?
        .into_iter()
        .map(|(account, currency, period, spent)| ((account, currency, period), spent))
        .collect();
    for key in expected.keys().chain(counted.keys()).collect::<BTreeSet<_>>() {
        let (want, have) = (expected.get(key).copied().unwrap_or(0), counted.get(key).copied().unwrap_or(0));
        if want != have {
            let (account, currency, period) = key;
            v.push(format!("wallet of {account} counts {have} {currency} spent in {period}, but its purchases sum to {want}"));
        }
    }
    Ok(report)
}
