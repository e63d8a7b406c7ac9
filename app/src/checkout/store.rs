//! SQL for orders, handled provider events and the test provider's payments.

use crate::{
    db::{Db, Tx},
    money::Currency,
    on_db, on_tx,
    orders::{OrderStatus, PaymentMethod, Provider},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub order_id: String,
    pub work_id: String,
    pub creator_id: String,
    pub buyer_email: String,
    pub buyer_account_id: Option<String>,
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub status: OrderStatus,
    pub provider: Provider,
    pub provider_payment_id: Option<String>,
    /// A card provider's order: card or Klarna (none for wallet, tab and free orders).
    pub payment_method: Option<PaymentMethod>,
    pub checkout_key: String,
    pub source: String,
    /// The visit that made the order was counted as a view (see `sale::Sale::counted_view`).
    pub counted_view: bool,
    pub save_card: bool,
    pub failure_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub paid_at: Option<i64>,
    pub refunded_at: Option<i64>,
}

const ORDER_COLUMNS: &str = "order_id, work_id, creator_id, buyer_email, buyer_account_id, currency, amount_minor, \
    fee_minor, status, provider, provider_payment_id, payment_method, checkout_key, source, counted_view, save_card, failure_reason, \
    created_at, updated_at, paid_at, refunded_at";

/// Inserts a pending order unless one exists with the same checkout key; returns whether this
/// call created it.
pub async fn insert_order(db: &Db, o: &OrderRow) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "insert into buyer_order (order_id, work_id, creator_id, buyer_email, buyer_account_id, currency, amount_minor, \
         fee_minor, status, provider, provider_payment_id, checkout_key, source, save_card, failure_reason, created_at, \
         updated_at, paid_at, refunded_at, counted_view, payment_method) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
         on conflict (checkout_key) do nothing",
    )
    .bind(&o.order_id).bind(&o.work_id).bind(&o.creator_id).bind(&o.buyer_email).bind(&o.buyer_account_id)
    .bind(o.currency).bind(o.amount_minor).bind(o.fee_minor).bind(o.status).bind(o.provider)
    .bind(&o.provider_payment_id).bind(&o.checkout_key).bind(&o.source).bind(o.save_card).bind(&o.failure_reason)
    .bind(o.created_at).bind(o.updated_at).bind(o.paid_at).bind(o.refunded_at).bind(o.counted_view).bind(o.payment_method)
    .execute(pool).await.map(|r| r.rows_affected() == 1))
}

pub async fn order_by_checkout_key(db: &Db, key: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    let sql = format!("select {ORDER_COLUMNS} from buyer_order where checkout_key = $1");
    on_db!(db, pool => sqlx::query_as::<_, OrderRow>(&sql).bind(key).fetch_optional(pool).await)
}

pub async fn order(db: &Db, order_id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    let sql = format!("select {ORDER_COLUMNS} from buyer_order where order_id = $1");
    on_db!(db, pool => sqlx::query_as::<_, OrderRow>(&sql).bind(order_id).fetch_optional(pool).await)
}

pub async fn order_in(tx: &mut Tx, order_id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    let sql = format!("select {ORDER_COLUMNS} from buyer_order where order_id = $1");
    on_tx!(tx, conn => sqlx::query_as::<_, OrderRow>(&sql).bind(order_id).fetch_optional(conn).await)
}

pub async fn order_id_by_payment(db: &Db, provider: Provider, payment_id: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar("select order_id from buyer_order where provider = $1 and provider_payment_id = $2")
        .bind(provider).bind(payment_id).fetch_optional(pool).await)
}

pub async fn order_by_payment(tx: &mut Tx, provider: &str, payment_id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    let sql = format!("select {ORDER_COLUMNS} from buyer_order where provider = $1 and provider_payment_id = $2");
    on_tx!(tx, conn => sqlx::query_as::<_, OrderRow>(&sql).bind(provider).bind(payment_id).fetch_optional(conn).await)
}

/// A creator's orders (newest first), as the sales list shows them.
pub async fn orders_of_creator(db: &Db, creator_id: &str, limit: i64) -> Result<Vec<OrderRow>, sqlx::Error> {
    let sql = format!(
        "select {ORDER_COLUMNS} from buyer_order where creator_id = $1 and status in ('paid', 'fulfilled', 'refunded') \
         order by created_at desc, order_id desc limit $2"
    );
    on_db!(db, pool => sqlx::query_as::<_, OrderRow>(&sql).bind(creator_id).bind(limit).fetch_all(pool).await)
}

/// Orders bought with an email address (the buyer library). Card and free orders are found by
/// their email; wallet and tab orders through the wallet and tab of the account with that email
/// (such an order's email is its buyer's, and accounts' emails never change), because the email
/// index leaves them out: each purchase would write an entry at the buyer's position in it.
pub async fn orders_of_email(db: &Db, email: &str) -> Result<Vec<OrderRow>, sqlx::Error> {
    let sql = format!(
        "select {ORDER_COLUMNS} from buyer_order where buyer_email = $1 and provider not in ('wallet', 'tab') and status in ('fulfilled', 'refunded') \
         union all \
         select {ORDER_COLUMNS} from buyer_order where provider in ('wallet', 'tab') and status in ('fulfilled', 'refunded') and order_id in ( \
             select t.order_id from account a \
             join ledger_account w on w.owner_id = a.account_id and w.kind in ('buyer_wallet', 'buyer_tab') \
             join ledger_entry e on e.account_id = w.account_id \
             join ledger_txn t on t.txn_id = e.txn_id and t.kind = 'sale' \
             where a.email = $1) \
         order by created_at desc, order_id desc"
    );
    on_db!(db, pool => sqlx::query_as::<_, OrderRow>(&sql).bind(email).fetch_all(pool).await)
}

pub async fn set_payment_id(db: &Db, order_id: &str, payment_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update buyer_order set provider_payment_id = $1, updated_at = $2 where order_id = $3 and provider_payment_id is null",
    )
    .bind(payment_id).bind(now).bind(order_id).execute(pool).await.map(|_| ()))
}

/// Moves an order between states only from the expected ones: the transition happens once,
/// whoever asks first. Returns whether it happened.
pub async fn transition(tx: &mut Tx, order_id: &str, from: &[OrderStatus], to: OrderStatus, now: i64) -> Result<bool, sqlx::Error> {
    let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
    let stamp = match to {
        OrderStatus::Paid => ", paid_at = $2",
        OrderStatus::Refunded => ", refunded_at = $2",
        _ => "",
    };
    let sql = format!(
        "update buyer_order set status = $1, updated_at = $2{stamp} where order_id = $3 and status in ({})",
        placeholders.join(", ")
    );
    on_tx!(tx, conn => {
        let mut q = sqlx::query(&sql).bind(to).bind(now).bind(order_id);
        for &s in from {
            q = q.bind(s);
        }
        q.execute(conn).await.map(|r| r.rows_affected() == 1)
    })
}

pub async fn set_failure(db: &Db, order_id: &str, reason: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update buyer_order set status = 'failed', failure_reason = $1, updated_at = $2 where order_id = $3 and status in ('pending', 'failed')",
    )
    .bind(reason).bind(now).bind(order_id).execute(pool).await.map(|_| ()))
}

/// Puts a failed order back to pending for another try (a new card).
pub async fn reopen(db: &Db, order_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update buyer_order set status = 'pending', updated_at = $1 where order_id = $2 and status = 'failed'",
    )
    .bind(now).bind(order_id).execute(pool).await.map(|_| ()))
}

/// Marks a provider event handled; `false` if it already was.
pub async fn mark_processed(tx: &mut Tx, event_key: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("insert into processed_event (event_key, created_at) values ($1, $2) on conflict (event_key) do nothing")
        .bind(event_key).bind(now).execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// The wallet and tab orders of the account `$1` (their `buyer_email` is the account's email),
/// found through its wallets' and tabs' ledger entries: see `orders_of_email`.
const PREPAID_ORDERS_OF_ACCOUNT: &str = "select t.order_id from ledger_account w \
    join ledger_entry e on e.account_id = w.account_id \
    join ledger_txn t on t.txn_id = e.txn_id and t.kind = 'sale' \
    where w.owner_id = $1 and w.kind in ('buyer_wallet', 'buyer_tab')";

/// Everything a signed-in buyer bought: card and free orders placed while signed in, those
/// placed with `email` (only pass a proven email), and wallet and tab purchases, newest first.
pub async fn orders_of_buyer(db: &Db, account_id: &str, email: Option<&str>) -> Result<Vec<OrderRow>, sqlx::Error> {
    let sql = format!(
        "select {ORDER_COLUMNS} from buyer_order where provider not in ('wallet', 'tab') and status in ('fulfilled', 'refunded') \
             and (buyer_account_id = $1 or buyer_email = $2) \
         union all \
         select {ORDER_COLUMNS} from buyer_order where provider in ('wallet', 'tab') and status in ('fulfilled', 'refunded') \
             and order_id in ({PREPAID_ORDERS_OF_ACCOUNT}) \
         order by created_at desc, order_id desc"
    );
    on_db!(db, pool => sqlx::query_as::<_, OrderRow>(&sql).bind(account_id).bind(email).fetch_all(pool).await)
}

/// The newest fulfilled order of the work with link `code` by this buyer: bought while signed in
/// as `account_id`, or with `email` (only pass an email the visitor proved or paid with here).
pub async fn owned_order(db: &Db, code: &str, account_id: Option<&str>, email: Option<&str>) -> Result<Option<OrderRow>, sqlx::Error> {
    let sql = format!(
        "select {ORDER_COLUMNS} from buyer_order where status = 'fulfilled' and provider not in ('wallet', 'tab') \
             and work_id = (select work_id from work where code = $3) and (buyer_account_id = $1 or buyer_email = $2) \
         union all \
         select {ORDER_COLUMNS} from buyer_order where status = 'fulfilled' and provider in ('wallet', 'tab') \
             and work_id = (select work_id from work where code = $3) and $1 is not null and order_id in ({PREPAID_ORDERS_OF_ACCOUNT}) \
         order by created_at desc limit 1"
    );
    on_db!(db, pool => sqlx::query_as::<_, OrderRow>(&sql).bind(account_id).bind(email).bind(code).fetch_optional(pool).await)
}

/// Where tab purchase `order_id` stands: paid with its tab, written off unpaid, or neither
/// (not yet, or not a tab purchase). Read in the refund's transaction, which the settlement's
/// and the write-off's locks exclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabPurchase {
    Unpaid,
    Settled,
    WrittenOff,
}

pub async fn tab_purchase(tx: &mut Tx, order_id: &str) -> Result<TabPurchase, sqlx::Error> {
    let row: Option<(Option<i64>, Option<i64>)> = on_tx!(tx, conn => sqlx::query_as(
        "select tab_settled_at, tab_written_off_at from buyer_order where order_id = $1")
        .bind(order_id).fetch_optional(conn).await)?;
    Ok(match row {
        Some((Some(_), _)) => TabPurchase::Settled,
        Some((None, Some(_))) => TabPurchase::WrittenOff,
        _ => TabPurchase::Unpaid,
    })
}

/// Gives an account the guest orders bought with its email. (Wallet and tab orders always have
/// their buyer's account; saying so lets the email index, which leaves them out, serve this.)
pub async fn claim_orders(db: &Db, email: &str, account_id: &str) -> Result<u64, sqlx::Error> {
    on_db!(db, pool => sqlx::query("update buyer_order set buyer_account_id = $1 where buyer_email = $2 and provider not in ('wallet', 'tab') and buyer_account_id is null")
        .bind(account_id).bind(email).execute(pool).await.map(|r| r.rows_affected()))
}

/// Where a test provider payment stands: the states of a Stripe PaymentIntent that the test
/// provider plays (`test_payment.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestPaymentStatus {
    RequiresPaymentMethod,
    RequiresAction,
    Succeeded,
    Failed,
    Refunded,
}

impl TestPaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestPaymentStatus::RequiresPaymentMethod => "requires_payment_method",
            TestPaymentStatus::RequiresAction => "requires_action",
            TestPaymentStatus::Succeeded => "succeeded",
            TestPaymentStatus::Failed => "failed",
            TestPaymentStatus::Refunded => "refunded",
        }
    }

    pub fn from_text(text: &str) -> Option<TestPaymentStatus> {
        Some(match text {
            "requires_payment_method" => TestPaymentStatus::RequiresPaymentMethod,
            "requires_action" => TestPaymentStatus::RequiresAction,
            "succeeded" => TestPaymentStatus::Succeeded,
            "failed" => TestPaymentStatus::Failed,
            "refunded" => TestPaymentStatus::Refunded,
            _ => return None,
        })
    }

    /// The money moved (a refund later does not undo that it did).
    pub fn went_through(self) -> bool {
        matches!(self, TestPaymentStatus::Succeeded | TestPaymentStatus::Refunded)
    }
}

crate::text_column!(TestPaymentStatus, "test payment status", TestPaymentStatus::as_str, TestPaymentStatus::from_text);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TestPaymentRow {
    pub payment_id: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub email: String,
    pub status: TestPaymentStatus,
    pub card_last4: Option<String>,
    pub card_number: Option<String>,
    pub save_card: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const TEST_COLUMNS: &str =
    "payment_id, order_id, amount_minor, currency, email, status, card_last4, card_number, save_card, created_at, updated_at";

/// Creates the order's test payment, or returns the existing one (one payment per order).
pub async fn upsert_test_payment(db: &Db, p: &TestPaymentRow) -> Result<(TestPaymentRow, bool), sqlx::Error> {
    let created = on_db!(db, pool => sqlx::query(
        "insert into test_payment (payment_id, order_id, amount_minor, currency, email, status, card_last4, card_number, \
         save_card, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) on conflict (order_id) do nothing",
    )
    .bind(&p.payment_id).bind(&p.order_id).bind(p.amount_minor).bind(&p.currency).bind(&p.email).bind(p.status)
    .bind(&p.card_last4).bind(&p.card_number).bind(p.save_card).bind(p.created_at).bind(p.updated_at)
    .execute(pool).await.map(|r| r.rows_affected() == 1))?;
    let sql = format!("select {TEST_COLUMNS} from test_payment where order_id = $1");
    let row = on_db!(db, pool => sqlx::query_as::<_, TestPaymentRow>(&sql).bind(&p.order_id).fetch_one(pool).await)?;
    Ok((row, created))
}

pub async fn test_payments_since(db: &Db, since_ms: i64) -> Result<Vec<TestPaymentRow>, sqlx::Error> {
    let sql = format!("select {TEST_COLUMNS} from test_payment where created_at >= $1 order by created_at");
    on_db!(db, pool => sqlx::query_as::<_, TestPaymentRow>(&sql).bind(since_ms).fetch_all(pool).await)
}

pub async fn test_payment(db: &Db, payment_id: &str) -> Result<Option<TestPaymentRow>, sqlx::Error> {
    let sql = format!("select {TEST_COLUMNS} from test_payment where payment_id = $1");
    on_db!(db, pool => sqlx::query_as::<_, TestPaymentRow>(&sql).bind(payment_id).fetch_optional(pool).await)
}

/// Moves a test payment between states, only from the expected ones.
pub async fn update_test_payment(
    db: &Db,
    payment_id: &str,
    from: TestPaymentStatus,
    to: TestPaymentStatus,
    card: Option<(&str, &str)>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let (number, last4) = card.unzip();
    on_db!(db, pool => sqlx::query(
        "update test_payment set status = $1, card_number = coalesce($2, card_number), card_last4 = coalesce($3, card_last4), \
         updated_at = $4 where payment_id = $5 and status = $6",
    )
    .bind(to).bind(number).bind(last4).bind(now).bind(payment_id).bind(from)
    .execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Records a provider event whose amount or currency differs from what was asked for.
pub async fn record_discrepancy(
    tx: &mut Tx,
    event: &super::provider::ProviderEvent,
    reference: &str,
    expected: crate::money::Money,
    reported: &super::provider::ReportedAmount,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "insert into payment_discrepancy (discrepancy_id, provider, payment_id, reference, event_id, expected_minor, expected_currency, \
         reported_minor, reported_currency, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(crate::db::new_id()).bind(event.provider).bind(&event.payment_id).bind(reference).bind(&event.event_id)
        .bind(expected.minor).bind(expected.currency.code()).bind(reported.minor).bind(&reported.currency).bind(now)
        .execute(conn).await.map(|_| ()))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DiscrepancyRow {
    pub provider: String,
    pub payment_id: String,
    pub reference: String,
    pub event_id: String,
    pub expected_minor: i64,
    pub expected_currency: String,
    pub reported_minor: i64,
    pub reported_currency: String,
    pub created_at: i64,
}

pub async fn discrepancies_since(db: &Db, since: i64) -> Result<Vec<DiscrepancyRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, DiscrepancyRow>(
        "select provider, payment_id, reference, event_id, expected_minor, expected_currency, reported_minor, reported_currency, created_at \
         from payment_discrepancy where created_at >= $1 order by created_at")
        .bind(since).fetch_all(pool).await)
}

/// An order written as it is sold (a wallet purchase: decided and paid at once).
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub order_id: &'a str,
    pub work_id: &'a str,
    pub creator_id: &'a str,
    pub buyer_email: &'a str,
    pub buyer_account_id: Option<&'a str>,
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub provider: Provider,
    pub payment_id: Option<&'a str>,
    pub checkout_key: String,
    pub source: &'a str,
    pub counted_view: bool,
}

/// Inserts `orders` as fulfilled, in one statement.
pub fn push_fulfilled_orders<'a>(w: &mut crate::db::Writes<'a>, orders: &'a [NewOrder<'a>], now: i64) {
    if orders.is_empty() {
        return;
    }
    crate::on_writes!(w, s => {
        s.next(
            "insert into buyer_order (order_id, work_id, creator_id, buyer_email, buyer_account_id, currency, amount_minor, \
             fee_minor, status, provider, provider_payment_id, checkout_key, source, save_card, failure_reason, created_at, \
             updated_at, paid_at, refunded_at, counted_view) ",
        )
        .push_values(orders, |mut row, o| {
            row.push_bind(o.order_id).push_bind(o.work_id).push_bind(o.creator_id).push_bind(o.buyer_email)
                .push_bind(o.buyer_account_id).push_bind(o.currency).push_bind(o.amount_minor).push_bind(o.fee_minor)
                .push_bind(OrderStatus::Fulfilled).push_bind(o.provider).push_bind(o.payment_id).push_bind(o.checkout_key.as_str())
                .push_bind(o.source).push_bind(false).push_bind(None::<String>).push_bind(now).push_bind(now).push_bind(Some(now))
                .push_bind(None::<i64>).push_bind(o.counted_view);
        });
    })
}

/// Moves paid orders (a confirmed card payment) to fulfilled, in one statement.
pub fn push_fulfil_paid<'a>(w: &mut crate::db::Writes<'a>, order_ids: &'a [&'a str], now: i64) {
    if order_ids.is_empty() {
        return;
    }
    crate::on_writes!(w, s => {
        let q = s.next("update buyer_order set status = 'fulfilled', updated_at = ");
        q.push_bind(now).push(" where status = 'paid' and order_id in ");
        crate::db::push_list(q, order_ids);
    })
}

/// A line of a wallet buyer's digest receipt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReceiptLine {
    pub order_id: String,
    pub title: String,
    pub creator_name: String,
    pub currency: Currency,
    pub amount_minor: i64,
}

/// The wallet and tab purchases `$1` made in `[$2, $3)` and still has (refunded ones left out),
/// found through the buyer's ledger entries as `orders_of_buyer` does: the joins, then the
/// conditions, with `o` the order.
const PURCHASES_OF_WINDOW: (&str, &str) = (
    "from ledger_account la \
     join ledger_entry e on e.account_id = la.account_id and e.created_at >= $2 and e.created_at < $3 \
     join ledger_txn t on t.txn_id = e.txn_id and t.kind = 'sale' \
     join buyer_order o on o.order_id = t.order_id",
    "where la.owner_id = $1 and la.kind in ('buyer_wallet', 'buyer_tab') and o.provider in ('wallet', 'tab') and o.status = 'fulfilled'",
);

/// The first `limit` of those purchases, oldest first.
pub async fn wallet_purchases_between(db: &Db, account_id: &str, from: i64, to: i64, limit: i64) -> Result<Vec<ReceiptLine>, sqlx::Error> {
    let (joins, conditions) = PURCHASES_OF_WINDOW;
    let sql = format!(
        "select o.order_id, w.title, a.display_name as creator_name, o.currency, o.amount_minor {joins} \
         join work w on w.work_id = o.work_id join account a on a.account_id = o.creator_id {conditions} \
         order by o.created_at, o.order_id limit $4"
    );
    on_db!(db, pool => sqlx::query_as::<_, ReceiptLine>(&sql).bind(account_id).bind(from).bind(to).bind(limit).fetch_all(pool).await)
}

/// What a window's purchases or sales come to in one currency: how many, what was paid, and
/// what the creator earns after fees.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WindowTotal {
    pub currency: Currency,
    pub count: i64,
    pub amount_minor: i64,
    pub net_minor: i64,
}

/// Sums per currency over orders `o`, casting so that PostgreSQL's
/// `sum(bigint)`, a numeric, reads as an integer.
const WINDOW_TOTALS: &str = "select o.currency, count(*) as count, cast(sum(o.amount_minor) as bigint) as amount_minor, \
    cast(sum(o.amount_minor - o.fee_minor) as bigint) as net_minor";

/// The totals of all of `wallet_purchases_between`'s purchases, however many there are.
pub async fn wallet_purchase_totals(db: &Db, account_id: &str, from: i64, to: i64) -> Result<Vec<WindowTotal>, sqlx::Error> {
    let (joins, conditions) = PURCHASES_OF_WINDOW;
    let sql = format!("{WINDOW_TOTALS} {joins} {conditions} group by o.currency order by o.currency");
    on_db!(db, pool => sqlx::query_as::<_, WindowTotal>(&sql).bind(account_id).bind(from).bind(to).fetch_all(pool).await)
}

/// A creator's wallet and tab sales paid in `[$2, $3)` that still stand (the conditions, with
/// `o` the order).
const SALES_OF_WINDOW: &str =
    "where o.creator_id = $1 and o.paid_at >= $2 and o.paid_at < $3 and o.provider in ('wallet', 'tab') and o.status = 'fulfilled'";

/// The first `limit` of those sales, oldest first, each with its work's title.
pub async fn wallet_sales_between(
    db: &Db,
    creator_id: &str,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<(OrderRow, String)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        order: OrderRow,
        title: String,
    }
    let sql = format!(
        "select {}, w.title from buyer_order o join work w on w.work_id = o.work_id {SALES_OF_WINDOW} \
         order by o.paid_at, o.order_id limit $4",
        ORDER_COLUMNS.split(", ").map(|c| format!("o.{}", c.trim())).collect::<Vec<_>>().join(", "),
    );
    let rows = on_db!(db, pool => sqlx::query_as::<_, Row>(&sql).bind(creator_id).bind(from).bind(to).bind(limit).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|r| (r.order, r.title)).collect())
}

/// The totals of all of `wallet_sales_between`'s sales, however many there are.
pub async fn wallet_sale_totals(db: &Db, creator_id: &str, from: i64, to: i64) -> Result<Vec<WindowTotal>, sqlx::Error> {
    let sql = format!("{WINDOW_TOTALS} from buyer_order o {SALES_OF_WINDOW} group by o.currency order by o.currency");
    on_db!(db, pool => sqlx::query_as::<_, WindowTotal>(&sql).bind(creator_id).bind(from).bind(to).fetch_all(pool).await)
}

/// The addresses an account bought with (its own, claimed into it by a proven link).
pub async fn buyer_addresses_of(tx: &mut Tx, account_id: &str) -> Result<Vec<String>, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_scalar::<_, String>("select distinct buyer_email from buyer_order where buyer_account_id = $1")
        .bind(account_id).fetch_all(conn).await)
}

/// A deleted account's purchases keep their amounts and parties for the books, under
/// `pseudonym` in place of any of its addresses; so do the test provider's payments (of its
/// orders and top-ups, whatever address they were made with), without the card's digits.
pub async fn pseudonymise_buyer(tx: &mut Tx, account_id: &str, addresses: &[String], pseudonym: &str) -> Result<(), sqlx::Error> {
    on_tx!(&mut *tx, conn => sqlx::query(
        "update test_payment set email = $1, card_number = null, card_last4 = null \
         where order_id in (select order_id from buyer_order where buyer_account_id = $2) \
         or order_id in (select topup_id from wallet_topup where account_id = $2)")
        .bind(pseudonym).bind(account_id).execute(conn).await.map(|_| ()))?;
    on_tx!(&mut *tx, conn => sqlx::query("update buyer_order set buyer_email = $1 where buyer_account_id = $2")
        .bind(pseudonym).bind(account_id).execute(conn).await.map(|_| ()))?;
    for address in addresses {
        for sql in [
            "update buyer_order set buyer_email = $1 where buyer_email = $2",
            "update test_payment set email = $1, card_number = null, card_last4 = null where email = $2",
        ] {
            on_tx!(&mut *tx, conn => sqlx::query(sql).bind(pseudonym).bind(address).execute(conn).await.map(|_| ()))?;
        }
    }
    Ok(())
}

/// Card orders of a deleted creator's works still waiting for their payment fail now: a
/// payment arriving later finds no order to fulfil (the provider's event is then refunded or
/// reported like any payment for a failed order), and the books never credit a deleted account.
pub async fn fail_pending_orders_of_creator(tx: &mut Tx, creator_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "update buyer_order set status = 'failed', failure_reason = 'The creator deleted their account.', updated_at = $1 \
         where creator_id = $2 and status = 'pending'")
        .bind(now).bind(creator_id).execute(conn).await.map(|_| ()))
}
