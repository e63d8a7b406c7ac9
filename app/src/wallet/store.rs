//! SQL for wallet settings, top-ups and history.

use std::collections::BTreeMap;

use crate::{
    db::{Db, Statements, Tx},
    money::Currency,
    on_db, on_tx,
    orders::{Provider, TopUpStatus},
};

#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct SettingsRow {
    pub account_id: String,
    pub paused: bool,
    pub confirm_above_minor: Option<i64>,
    pub weekly_cap_minor: Option<i64>,
    pub monthly_cap_minor: Option<i64>,
    pub pin_hash: Option<String>,
    pub pin_above_minor: Option<i64>,
    pub autoreload_enabled: bool,
    pub autoreload_currency: Option<String>,
    pub autoreload_below_minor: Option<i64>,
    pub autoreload_amount_minor: Option<i64>,
    pub autoreload_max_per_month: Option<i64>,
    pub saved_card: Option<String>,
    pub updated_at: i64,
    /// The buyer's own tab limit, below the one Clink gives them.
    pub tab_limit_minor: Option<i64>,
    /// When a tab of the buyer's was written off unpaid (`collection`): they never get a tab
    /// again. Written only by the collection, never by `save_settings`.
    pub tab_written_off_at: Option<i64>,
    /// The buyer agreed that `saved_card` pays their tab when it is due or reaches its limit.
    pub tab_autopay: bool,
}

const SETTINGS_COLUMNS: &str = "account_id, paused, confirm_above_minor, weekly_cap_minor, monthly_cap_minor, pin_hash, \
    pin_above_minor, autoreload_enabled, autoreload_currency, autoreload_below_minor, autoreload_amount_minor, \
    autoreload_max_per_month, saved_card, updated_at, tab_limit_minor, tab_written_off_at, tab_autopay";

pub async fn settings(db: &Db, account_id: &str) -> Result<SettingsRow, sqlx::Error> {
    let sql = format!("select {SETTINGS_COLUMNS} from wallet_settings where account_id = $1");
    let row = on_db!(db, pool => sqlx::query_as::<_, SettingsRow>(&sql).bind(account_id).fetch_optional(pool).await)?;
    Ok(row.unwrap_or(SettingsRow { account_id: account_id.to_string(), ..Default::default() }))
}

/// The saved settings of the accounts among `account_ids` (not empty; accounts that never
/// saved any are absent), as a query of `reads`.
pub fn push_settings_in<'a, DB>(reads: &mut Statements<'a, DB>, account_ids: &[&'a str])
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let q = reads.next(&format!("select {SETTINGS_COLUMNS} from wallet_settings where account_id in "));
    crate::db::push_list(q, account_ids);
}

pub async fn save_settings(db: &Db, s: &SettingsRow) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into wallet_settings (account_id, paused, confirm_above_minor, weekly_cap_minor, monthly_cap_minor, pin_hash, \
         pin_above_minor, autoreload_enabled, autoreload_currency, autoreload_below_minor, autoreload_amount_minor, \
         autoreload_max_per_month, saved_card, updated_at, tab_limit_minor, tab_autopay) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         on conflict (account_id) do update set paused = excluded.paused, confirm_above_minor = excluded.confirm_above_minor, \
         weekly_cap_minor = excluded.weekly_cap_minor, monthly_cap_minor = excluded.monthly_cap_minor, pin_hash = excluded.pin_hash, \
         pin_above_minor = excluded.pin_above_minor, autoreload_enabled = excluded.autoreload_enabled, \
         autoreload_currency = excluded.autoreload_currency, autoreload_below_minor = excluded.autoreload_below_minor, \
         autoreload_amount_minor = excluded.autoreload_amount_minor, autoreload_max_per_month = excluded.autoreload_max_per_month, \
         saved_card = excluded.saved_card, updated_at = excluded.updated_at, tab_limit_minor = excluded.tab_limit_minor, \
         tab_autopay = excluded.tab_autopay",
    )
    .bind(&s.account_id).bind(s.paused).bind(s.confirm_above_minor).bind(s.weekly_cap_minor).bind(s.monthly_cap_minor)
    .bind(&s.pin_hash).bind(s.pin_above_minor).bind(s.autoreload_enabled).bind(&s.autoreload_currency)
    .bind(s.autoreload_below_minor).bind(s.autoreload_amount_minor).bind(s.autoreload_max_per_month).bind(&s.saved_card)
    .bind(s.updated_at).bind(s.tab_limit_minor).bind(s.tab_autopay)
    .execute(pool).await.map(|_| ()))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TopUpRow {
    pub topup_id: String,
    pub account_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub status: TopUpStatus,
    pub provider: Provider,
    pub provider_payment_id: Option<String>,
    pub checkout_key: String,
    pub return_to: Option<String>,
    pub automatic: bool,
    pub save_card: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The purchase this top-up was started for (JSON of `service::ThenBuy`).
    pub then_buy: Option<String>,
    /// It settles the buyer's tab (`tab`) rather than filling their wallet.
    pub settles_tab: bool,
}

const TOPUP_COLUMNS: &str = "topup_id, account_id, currency, amount_minor, status, provider, provider_payment_id, checkout_key, \
    return_to, automatic, save_card, created_at, updated_at, then_buy, settles_tab";

/// Inserts a pending top-up unless its checkout key was used; returns the top-up either way.
pub async fn insert_topup(db: &Db, t: &TopUpRow) -> Result<TopUpRow, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into wallet_topup (topup_id, account_id, currency, amount_minor, status, provider, provider_payment_id, \
         checkout_key, return_to, automatic, save_card, created_at, updated_at, then_buy, settles_tab) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) on conflict (checkout_key) do nothing",
    )
    .bind(&t.topup_id).bind(&t.account_id).bind(t.currency).bind(t.amount_minor).bind(t.status).bind(t.provider)
    .bind(&t.provider_payment_id).bind(&t.checkout_key).bind(&t.return_to).bind(t.automatic).bind(t.save_card)
    .bind(t.created_at).bind(t.updated_at).bind(&t.then_buy).bind(t.settles_tab)
    .execute(pool).await.map(|_| ()))?;
    let sql = format!("select {TOPUP_COLUMNS} from wallet_topup where checkout_key = $1");
    on_db!(db, pool => sqlx::query_as::<_, TopUpRow>(&sql).bind(&t.checkout_key).fetch_one(pool).await)
}

/// Inserts a top-up in `tx` (a settlement, with the claim on the purchases it pays for).
pub async fn insert_topup_in(tx: &mut Tx, t: &TopUpRow) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into wallet_topup (topup_id, account_id, currency, amount_minor, status, provider, provider_payment_id, \
         checkout_key, return_to, automatic, save_card, created_at, updated_at, then_buy, settles_tab) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&t.topup_id).bind(&t.account_id).bind(t.currency).bind(t.amount_minor).bind(t.status).bind(t.provider)
    .bind(&t.provider_payment_id).bind(&t.checkout_key).bind(&t.return_to).bind(t.automatic).bind(t.save_card)
    .bind(t.created_at).bind(t.updated_at).bind(&t.then_buy).bind(t.settles_tab)
    .execute(conn).await.map(|_| ()))
}

pub async fn topup(db: &Db, topup_id: &str) -> Result<Option<TopUpRow>, sqlx::Error> {
    let sql = format!("select {TOPUP_COLUMNS} from wallet_topup where topup_id = $1");
    on_db!(db, pool => sqlx::query_as::<_, TopUpRow>(&sql).bind(topup_id).fetch_optional(pool).await)
}

/// The top-up paid by a provider's payment (events that name only the payment: refunds).
pub async fn topup_id_by_payment(db: &Db, provider: Provider, payment_id: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar("select topup_id from wallet_topup where provider = $1 and provider_payment_id = $2")
        .bind(provider).bind(payment_id).fetch_optional(pool).await)
}

pub async fn topup_in(tx: &mut Tx, topup_id: &str) -> Result<Option<TopUpRow>, sqlx::Error> {
    let sql = format!("select {TOPUP_COLUMNS} from wallet_topup where topup_id = $1");
    on_tx!(tx, conn => sqlx::query_as::<_, TopUpRow>(&sql).bind(topup_id).fetch_optional(conn).await)
}

pub async fn set_topup_payment(db: &Db, topup_id: &str, payment_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("update wallet_topup set provider_payment_id = $1, updated_at = $2 where topup_id = $3 and provider_payment_id is null")
        .bind(payment_id).bind(now).bind(topup_id).execute(pool).await.map(|_| ()))
}

/// Moves a top-up from pending (or failed: another card) to `to`; whether it moved.
pub async fn settle_topup(tx: &mut Tx, topup_id: &str, to: TopUpStatus, now: i64) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("update wallet_topup set status = $1, updated_at = $2 where topup_id = $3 and status in ('pending', 'failed')")
        .bind(to).bind(now).bind(topup_id).execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// Automatic top-ups started since `since_ms` (the month's auto-reload allowance).
pub async fn automatic_topups_since(db: &Db, account_id: &str, since_ms: i64) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "select count(*) from wallet_topup where account_id = $1 and automatic = $2 and created_at >= $3 and status <> 'failed'")
        .bind(account_id).bind(true).bind(since_ms).fetch_one(pool).await)
}

/// One line of wallet history: a ledger entry on the wallet, with what it was.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub entry_id: String,
    pub currency: String,
    pub amount_minor: i64,
    pub created_at: i64,
    pub kind: String,
    pub order_id: Option<String>,
    pub title: Option<String>,
}

/// Every movement of the account's wallets, oldest first (the running balance is summed by
/// the caller in this order).
pub async fn history(db: &Db, account_id: &str) -> Result<Vec<HistoryRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, HistoryRow>(
        "select e.entry_id, e.currency, e.amount_minor, e.created_at, t.kind, t.order_id, w.title \
         from ledger_entry e join ledger_account a on a.account_id = e.account_id \
         join ledger_txn t on t.txn_id = e.txn_id \
         left join buyer_order o on o.order_id = t.order_id left join work w on w.work_id = o.work_id \
         where a.kind = 'buyer_wallet' and a.owner_id = $1 order by e.created_at, e.entry_id",
    )
    .bind(account_id).fetch_all(pool).await)
}

pub async fn spent_in_period(db: &Db, account_id: &str, currency: &str, period: &str) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "select spent_minor from wallet_spend where account_id = $1 and currency = $2 and period = $3")
        .bind(account_id).bind(currency).bind(period).fetch_optional(pool).await.map(|v| v.unwrap_or(0)))
}

/// Spending counters (`wallet_spend`): what a buyer spent per currency and spending period.
/// Every wallet purchase raises them, capped or not, so a cap set mid-week counts what the week
/// already spent; a refund gives its amount back to the periods the purchase fell in.
///
/// Raises the counters by the given amounts: one upsert for all of them, a statement of
/// `statements` (the wallet writer sends it with the rest of its batch). Each
/// (account, currency, period) appears once: PostgreSQL refuses an upsert that touches a row twice.
pub fn push_spent<'a, DB>(statements: &mut Statements<'a, DB>, spent: &BTreeMap<(String, String, String), i64>)
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if spent.is_empty() {
        return;
    }
    let q = statements.next("insert into wallet_spend (account_id, currency, period, spent_minor) ");
    // Owned values: the caller (the sale core's `also`) can't lend its map for the statements' life.
    q.push_values(spent, |mut row, ((account, currency, period), amount)| {
        row.push_bind(account.clone()).push_bind(currency.clone()).push_bind(period.clone()).push_bind(*amount);
    });
    q.push(" on conflict (account_id, currency, period) do update set spent_minor = wallet_spend.spent_minor + excluded.spent_minor");
}

/// Raises one counter by `amount`, but only as far as `cap`: false (and nothing changed) when
/// the purchase would take the period past its cap. A conditional statement, so concurrent
/// purchases can't both slip under the cap.
pub async fn add_spent_within_cap(
    tx: &mut Tx,
    account_id: &str,
    currency: &str,
    period: &str,
    amount: i64,
    cap: i64,
) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query("insert into wallet_spend (account_id, currency, period, spent_minor) values ($1, $2, $3, 0) \
                     on conflict (account_id, currency, period) do nothing")
            .bind(account_id).bind(currency).bind(period).execute(&mut *conn).await?;
        sqlx::query("update wallet_spend set spent_minor = spent_minor + $1 \
                     where account_id = $2 and currency = $3 and period = $4 and spent_minor + $1 <= $5")
            .bind(amount).bind(account_id).bind(currency).bind(period).bind(cap)
            .execute(conn).await.map(|r| r.rows_affected() == 1)
    })
}

/// A refunded wallet purchase no longer counts against the periods it was made in. Never below
/// zero: counters kept before every purchase was counted may hold less than the purchase.
pub async fn give_back_spent(tx: &mut Tx, account_id: &str, currency: &str, periods: [&str; 2], amount: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "update wallet_spend set spent_minor = case when spent_minor > $1 then spent_minor - $1 else 0 end \
         where account_id = $2 and currency = $3 and period in ($4, $5)")
        .bind(amount).bind(account_id).bind(currency).bind(periods[0]).bind(periods[1])
        .execute(conn).await.map(|_| ()))
}

/// Every spending counter, for `clink ledger verify`.
pub async fn all_spent(db: &Db) -> Result<Vec<(String, String, String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, String, String, i64)>(
        "select account_id, currency, period, spent_minor from wallet_spend").fetch_all(pool).await)
}

/// A deleted account's wallet settings (PIN, saved card, caps) go; its top-ups stay for the
/// books, without where they returned to, and so do its spending counts (amounts that
/// `verify` checks against its purchases).
pub async fn forget(tx: &mut Tx, account_id: &str) -> Result<(), sqlx::Error> {
    for sql in [
        "delete from wallet_settings where account_id = $1",
        "delete from tab_device where account_id = $1",
        "update wallet_topup set return_to = null, then_buy = null where account_id = $1",
    ] {
        on_tx!(&mut *tx, conn => sqlx::query(sql).bind(account_id).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

// The tab (see `tab`).

/// What a buyer owes on their tab in `currency` (0 without a tab).
pub async fn tab_owed(db: &Db, account_id: &str, currency: Currency) -> Result<i64, sqlx::Error> {
    let tab = crate::ledger::domain::AccountRef::buyer_tab(account_id, currency).id();
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select balance_minor from ledger_account where account_id = $1")
        .bind(&tab).fetch_optional(pool).await)
    .map(|balance| -balance.unwrap_or(0))
}

/// The buyer's settlements (top-ups that settle their tab), newest first.
pub async fn settlements(db: &Db, account_id: &str) -> Result<Vec<TopUpRow>, sqlx::Error> {
    let sql = format!(
        "select {TOPUP_COLUMNS} from wallet_topup where account_id = $1 and settles_tab = $2 order by created_at desc, topup_id desc"
    );
    on_db!(db, pool => sqlx::query_as::<_, TopUpRow>(&sql).bind(account_id).bind(true).fetch_all(pool).await)
}

/// A summary of the settlements of the buyers among `account_ids` (not empty), as a query of
/// `reads` (the wallet writer's batch read): one row per buyer, currency and status, with the
/// newest settlement id of that status. A buyer has at most one open (pending or failed)
/// settlement per currency, since `settle_tab` pays the open one again rather than start
/// another. `settlement_summaries_from` decodes its rows. On SQLite the answer is one row of
/// JSON, for the reason `accounts::store::push_emails_in` gives.
pub fn push_settlement_summaries_in<'a, DB>(reads: &mut Statements<'a, DB>, account_ids: &[&'a str])
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    const SUMMARY: &str = "select account_id, currency, status, max(topup_id) as topup_id from wallet_topup \
        where settles_tab = true and account_id in ";
    if crate::db::is_sqlite::<DB>() {
        let q = reads.next(&format!("select json_group_array(json_array(account_id, currency, status, topup_id)) from ({SUMMARY}"));
        crate::db::push_list(q, account_ids);
        q.push(" group by account_id, currency, status)");
    } else {
        let q = reads.next(SUMMARY);
        crate::db::push_list(q, account_ids);
        q.push(" group by account_id, currency, status");
    }
}

/// `(account_id, currency, status, topup_id)` of `push_settlement_summaries_in`'s rows (rows
/// with a currency or status this build doesn't know are left out).
pub fn settlement_summaries_from<R: sqlx::Row>(rows: &[R]) -> Result<Vec<(String, Currency, TopUpStatus, String)>, sqlx::Error>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let raw: Vec<(String, String, String, String)> = if crate::db::is_sqlite::<R::Database>() {
        match rows.first() {
            Some(row) => crate::db::from_json_row(row.try_get(0)?)?,
            None => return Err(sqlx::Error::RowNotFound),
        }
    } else {
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?)))
            .collect::<Result<_, sqlx::Error>>()?
    };
    Ok(raw
        .into_iter()
        .filter_map(|(account, currency, status, topup)| {
            Some((account, Currency::from_code(&currency)?, TopUpStatus::from_text(&status)?, topup))
        })
        .collect())
}

/// One purchase on a tab.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TabItem {
    pub order_id: String,
    pub creator_id: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

/// Claims the buyer's open tab purchases in `currency` (fulfilled, in no settlement yet) for
/// settlement `topup_id`, and returns them.
pub async fn claim_tab_items(tx: &mut Tx, account_id: &str, currency: Currency, topup_id: &str) -> Result<Vec<TabItem>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_as::<_, TabItem>(
        "update buyer_order set tab_settlement_id = $1 where provider = 'tab' and buyer_account_id = $2 and currency = $3 \
         and status = 'fulfilled' and tab_settlement_id is null and tab_settled_at is null and tab_written_off_at is null \
         returning order_id, creator_id, amount_minor, fee_minor")
        .bind(topup_id).bind(account_id).bind(currency).fetch_all(conn).await)
}

/// Marks the purchases settlement `topup_id` pays for as settled, and returns them: those it
/// claimed that still stand (a purchase refunded meanwhile came off the tab by itself). The
/// update locks them, so a refund running at the same time either comes first (and the
/// purchase isn't here) or after (and finds it settled).
pub async fn settle_tab_items(tx: &mut Tx, topup_id: &str, now: i64) -> Result<Vec<TabItem>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_as::<_, TabItem>(
        "update buyer_order set tab_settled_at = $1 where tab_settlement_id = $2 and status = 'fulfilled' and tab_settled_at is null \
         and tab_written_off_at is null \
         returning order_id, creator_id, amount_minor, fee_minor")
        .bind(now).bind(topup_id).fetch_all(conn).await)
}

/// An open tab purchase, for the tab page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenTabItem {
    pub order_id: String,
    pub title: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub created_at: i64,
}

/// The buyer's tab purchases not paid yet, newest first.
pub async fn open_tab_items(db: &Db, account_id: &str) -> Result<Vec<OpenTabItem>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, OpenTabItem>(
        "select o.order_id, w.title, o.currency, o.amount_minor, o.created_at from buyer_order o join work w on w.work_id = o.work_id \
         where o.provider = 'tab' and o.buyer_account_id = $1 and o.status = 'fulfilled' and o.tab_settled_at is null \
         and o.tab_written_off_at is null \
         order by o.created_at desc, o.order_id desc")
        .bind(account_id).fetch_all(pool).await)
}

/// The tab purchases of the account `$1`, found through its tabs' ledger entries: the order
/// indexes by email and account leave tab purchases out (as they do wallet purchases), so that
/// the group commit writes fewer index entries per purchase.
const TAB_ORDERS_OF_ACCOUNT: &str = "select t.order_id from ledger_account a \
    join ledger_entry e on e.account_id = a.account_id \
    join ledger_txn t on t.txn_id = e.txn_id and t.kind = 'sale' \
    where a.owner_id = $1 and a.kind = 'buyer_tab'";

/// The buyer's settled tab purchases: the settlement that paid each, and its amount.
pub async fn settled_tab_items(db: &Db, account_id: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(
        &format!("select tab_settlement_id, amount_minor from buyer_order where provider = 'tab' and tab_settled_at is not null \
         and order_id in ({TAB_ORDERS_OF_ACCOUNT})"))
        .bind(account_id).fetch_all(pool).await)
}

/// Points a settlement still to be paid at the purchase to make once it is.
pub async fn set_then_buy(db: &Db, topup_id: &str, then_buy: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("update wallet_topup set then_buy = $1 where topup_id = $2 and status <> 'succeeded'")
        .bind(then_buy).bind(topup_id).execute(pool).await.map(|_| ()))
}

/// The tabs (buyer and currency) with a purchase unpaid since `bought_before` or earlier: what
/// the collection looks at.
pub async fn tabs_unpaid_since(db: &Db, bought_before: i64) -> Result<Vec<(String, Currency)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, Currency)>(
        "select buyer_account_id, currency from buyer_order where provider = 'tab' and status = 'fulfilled' and tab_settled_at is null \
         and tab_written_off_at is null and buyer_account_id is not null group by buyer_account_id, currency having min(created_at) <= $1")
        .bind(bought_before).fetch_all(pool).await)
}

/// How far the collection of a buyer's tab in one currency is (`collection`). A tab not in
/// collection has no row, and reads as the default: no reminder yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct CollectionRow {
    /// Reminders sent (0 to 3) and when the last one went; the third locked the tab.
    pub reminders: i64,
    pub reminded_at: Option<i64>,
    pub locked_at: Option<i64>,
    pub written_off_at: Option<i64>,
}

/// The collection of the buyer's tab in `currency`.
pub async fn tab_collection(db: &Db, account_id: &str, currency: Currency) -> Result<CollectionRow, sqlx::Error> {
    let row = on_db!(db, pool => sqlx::query_as::<_, CollectionRow>(
        "select reminders, reminded_at, locked_at, written_off_at from tab_collection where account_id = $1 and currency = $2")
        .bind(account_id).bind(currency).fetch_optional(pool).await)?;
    Ok(row.unwrap_or_default())
}

/// The collection of each of the buyer's tabs that is in collection, by currency (a currency
/// this build doesn't know is left out); the others read as `CollectionRow::default()`.
pub async fn tab_collections(db: &Db, account_id: &str) -> Result<Vec<(Currency, CollectionRow)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct TabInCollection {
        currency: String,
        #[sqlx(flatten)]
        collection: CollectionRow,
    }
    let rows = on_db!(db, pool => sqlx::query_as::<_, TabInCollection>(
        "select currency, reminders, reminded_at, locked_at, written_off_at from tab_collection where account_id = $1")
        .bind(account_id).fetch_all(pool).await)?;
    Ok(rows.into_iter().filter_map(|row| Some((Currency::from_code(&row.currency)?, row.collection))).collect())
}

/// Which tabs of the buyers among `account_ids` (not empty) the collection locked, as a query
/// of `reads` (the wallet writer's batch read). `locked_tabs_from` decodes its rows. On SQLite
/// the answer is one row of JSON, for the reason `accounts::store::push_emails_in` gives.
pub fn push_locked_tabs_in<'a, DB>(reads: &mut Statements<'a, DB>, account_ids: &[&'a str])
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    const LOCKED: &str = "select account_id, currency from tab_collection where locked_at is not null and account_id in ";
    if crate::db::is_sqlite::<DB>() {
        let q = reads.next(&format!("select json_group_array(json_array(account_id, currency)) from ({LOCKED}"));
        crate::db::push_list(q, account_ids);
        q.push(")");
    } else {
        crate::db::push_list(reads.next(LOCKED), account_ids);
    }
}

/// `(account_id, currency)` of `push_locked_tabs_in`'s rows (a currency this build doesn't
/// know is left out).
pub fn locked_tabs_from<R: sqlx::Row>(rows: &[R]) -> Result<Vec<(String, Currency)>, sqlx::Error>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let raw: Vec<(String, String)> = if crate::db::is_sqlite::<R::Database>() {
        match rows.first() {
            Some(row) => crate::db::from_json_row(row.try_get(0)?)?,
            None => return Err(sqlx::Error::RowNotFound),
        }
    } else {
        rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect::<Result<_, sqlx::Error>>()?
    };
    Ok(raw.into_iter().filter_map(|(account, currency)| Some((account, Currency::from_code(&currency)?))).collect())
}

/// Records reminder `reminder` (1 to 3) of the buyer's unpaid tab in `currency`, if
/// `reminder - 1` is the last one sent (so that of several servers' collections one sends
/// it); the third locks the tab. Whether this call recorded it.
///
/// The first reminder starts the tab's collection (its row); the others only move a row that
/// is there. Paying the tab deletes the row, so a pass that read it before the payment finds
/// nothing to move, and doesn't put a paid tab back in collection.
pub async fn record_tab_reminder(tx: &mut Tx, account_id: &str, currency: Currency, reminder: i64, now: i64) -> Result<bool, sqlx::Error> {
    if reminder <= 1 {
        return on_tx!(tx, conn => sqlx::query(
            "insert into tab_collection (account_id, currency, reminders, reminded_at) values ($1, $2, 1, $3) \
             on conflict (account_id, currency) do nothing")
            .bind(account_id).bind(currency).bind(now).execute(conn).await.map(|r| r.rows_affected() == 1));
    }
    let locked_at = (reminder >= 3).then_some(now);
    on_tx!(tx, conn => sqlx::query(
        "update tab_collection set reminders = $1, reminded_at = $2, locked_at = coalesce(locked_at, $3) \
         where account_id = $4 and currency = $5 and reminders = $6 and written_off_at is null")
        .bind(reminder).bind(now).bind(locked_at).bind(account_id).bind(currency).bind(reminder - 1)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// Marks the buyer's tab in `currency` written off, if the third reminder locked it and it
/// isn't written off yet, and the buyer as one who never gets a tab again. Whether this call
/// did.
pub async fn mark_tab_written_off(tx: &mut Tx, account_id: &str, currency: Currency, now: i64) -> Result<bool, sqlx::Error> {
    let marked = on_tx!(tx, conn => sqlx::query(
        "update tab_collection set written_off_at = $1 where account_id = $2 and currency = $3 and reminders = 3 \
         and written_off_at is null")
        .bind(now).bind(account_id).bind(currency).execute(conn).await.map(|r| r.rows_affected() == 1))?;
    if marked {
        on_tx!(tx, conn => sqlx::query(
            "insert into wallet_settings (account_id, paused, autoreload_enabled, updated_at, tab_written_off_at) \
             values ($1, false, false, $2, $2) \
             on conflict (account_id) do update set tab_written_off_at = coalesce(wallet_settings.tab_written_off_at, excluded.tab_written_off_at)")
            .bind(account_id).bind(now).execute(conn).await.map(|_| ()))?;
    }
    Ok(marked)
}

/// A tab purchase written off: who sold it and what it cost.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WrittenOffItem {
    pub order_id: String,
    pub creator_id: String,
    pub work_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

/// Writes off the buyer's unpaid tab purchases in `currency` (those a settlement claimed but
/// didn't pay too) and returns them.
pub async fn write_off_tab_items(tx: &mut Tx, account_id: &str, currency: Currency, now: i64) -> Result<Vec<WrittenOffItem>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_as::<_, WrittenOffItem>(
        "update buyer_order set tab_written_off_at = $1 where provider = 'tab' and buyer_account_id = $2 and currency = $3 \
         and status = 'fulfilled' and tab_settled_at is null and tab_written_off_at is null \
         returning order_id, creator_id, work_id, currency, amount_minor, fee_minor")
        .bind(now).bind(account_id).bind(currency).fetch_all(conn).await)
}

/// A paid settlement ends the collection of the buyer's tab in its currency: no more
/// reminders, no lock (a written-off tab stays so). Their tabs in other currencies go on
/// being collected.
pub async fn end_tab_collection(tx: &mut Tx, account_id: &str, currency: Currency) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("delete from tab_collection where account_id = $1 and currency = $2 and written_off_at is null")
        .bind(account_id).bind(currency).execute(conn).await.map(|_| ()))
}

/// Ends the collection of every tab that owes nothing any more (its purchases were refunded):
/// its reminders stop and its lock goes. A written-off tab stays so.
pub async fn end_collection_of_cleared_tabs(db: &Db) -> Result<u64, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "delete from tab_collection where written_off_at is null and not exists (select 1 from buyer_order o \
         where o.provider = 'tab' and o.buyer_account_id = tab_collection.account_id and o.currency = tab_collection.currency \
         and o.status = 'fulfilled' and o.tab_settled_at is null and o.tab_written_off_at is null)")
        .execute(pool).await.map(|r| r.rows_affected()))
}

/// Blocks the email with hash `email_hash` from new tabs.
pub async fn block_tab_email(tx: &mut Tx, email_hash: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("insert into tab_block (email_hash, created_at) values ($1, $2) on conflict (email_hash) do nothing")
        .bind(email_hash).bind(now).execute(conn).await.map(|_| ()))
}

/// Remembers that the buyer used the tab from the device with hash `device_hash`.
pub async fn remember_tab_device(db: &Db, device_hash: &str, account_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into tab_device (device_hash, account_id, created_at) values ($1, $2, $3) on conflict (device_hash, account_id) do nothing")
        .bind(device_hash).bind(account_id).bind(now).execute(pool).await.map(|_| ()))
}

/// Blocks every device the buyer used the tab from.
pub async fn block_tab_devices(tx: &mut Tx, account_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into tab_device_block (device_hash, created_at) select device_hash, $2 from tab_device where account_id = $1 \
         on conflict (device_hash) do nothing")
        .bind(account_id).bind(now).execute(conn).await.map(|_| ()))
}

/// Whether the device with hash `device_hash` is blocked from new tabs.
pub async fn tab_device_blocked(db: &Db, device_hash: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select count(*) from tab_device_block where device_hash = $1")
        .bind(device_hash).fetch_one(pool).await.map(|n| n > 0))
}

/// Whether the email with hash `email_hash` is blocked from new tabs.
pub async fn tab_email_blocked(db: &Db, email_hash: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select count(*) from tab_block where email_hash = $1")
        .bind(email_hash).fetch_one(pool).await.map(|n| n > 0))
}

/// The purchases settlement `topup_id` paid for: title and amount, oldest first.
pub async fn settled_by(db: &Db, topup_id: &str) -> Result<Vec<(String, Currency, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, Currency, i64)>(
        "select w.title, o.currency, o.amount_minor from buyer_order o join work w on w.work_id = o.work_id \
         where o.tab_settlement_id = $1 and o.tab_settled_at is not null order by o.created_at, o.order_id")
        .bind(topup_id).fetch_all(pool).await)
}

/// A tab purchase as the tab's statement lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TabStatementItem {
    pub order_id: String,
    pub title: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub status: crate::orders::OrderStatus,
    pub created_at: i64,
    pub tab_settlement_id: Option<String>,
    pub tab_settled_at: Option<i64>,
    pub tab_written_off_at: Option<i64>,
}

/// Every tab purchase of the buyer, newest first.
pub async fn tab_statement_items(db: &Db, account_id: &str) -> Result<Vec<TabStatementItem>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, TabStatementItem>(
        &format!("select o.order_id, w.title, o.currency, o.amount_minor, o.status, o.created_at, o.tab_settlement_id, o.tab_settled_at, \
         o.tab_written_off_at from buyer_order o join work w on w.work_id = o.work_id \
         where o.provider = 'tab' and o.order_id in ({TAB_ORDERS_OF_ACCOUNT}) order by o.created_at desc, o.order_id desc"))
        .bind(account_id).fetch_all(pool).await)
}
