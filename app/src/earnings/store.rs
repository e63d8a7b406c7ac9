//! Earnings' SQL that isn't the rollups' (`rollup`, `stats`): the creator's time zone and
//! integration settings, and the recent sales list.

use crate::{
    db::{Db, Tx},
    money::Currency,
    on_db, on_tx,
    orders::{OrderStatus, PaymentMethod, Provider},
};

/// The creator's time zone name (an IANA name), if the account exists.
pub async fn timezone_name(db: &Db, account_id: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar("select timezone from account where account_id = $1")
        .bind(account_id).fetch_optional(pool).await)
}

/// A sale as the recent sales list and the live feed show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SaleLine {
    pub order_id: String,
    pub paid_at: i64,
    pub title: String,
    pub buyer_email: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub source: String,
    pub status: OrderStatus,
    pub provider: Provider,
    pub payment_method: Option<PaymentMethod>,
    pub tab_written_off_at: Option<i64>,
}

/// The creator's newest `limit` paid sales (refunded ones included), newest first.
pub async fn recent_sales(db: &Db, creator_id: &str, limit: i64) -> Result<Vec<SaleLine>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, SaleLine>(
        "select o.order_id, o.paid_at, w.title, o.buyer_email, o.amount_minor, o.currency, o.source, o.status, o.provider, \
         o.payment_method, o.tab_written_off_at \
         from buyer_order o join work w on w.work_id = o.work_id \
         where o.creator_id = $1 and o.paid_at is not null and o.status in ('paid', 'fulfilled', 'refunded') \
         order by o.paid_at desc, o.order_id desc limit $2")
        .bind(creator_id).bind(limit).fetch_all(pool).await)
}

/// A creator's settings for their dashboard and integrations.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Integrations {
    /// An IANA name.
    pub timezone: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// A language tag of `money::NUMBER_FORMATS`; none: the browser's language.
    pub number_format: Option<String>,
}

pub async fn integrations(db: &Db, account_id: &str) -> Result<Integrations, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, Integrations>(
        "select timezone, webhook_url, webhook_secret, number_format from account where account_id = $1")
        .bind(account_id).fetch_one(pool).await)
}

/// The number format the account chose, if any.
pub async fn number_format(db: &Db, account_id: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, Option<String>>("select number_format from account where account_id = $1")
        .bind(account_id).fetch_optional(pool).await.map(Option::flatten))
}

/// Saves the time zone, number format and webhook URL; `new_secret` becomes the webhook secret
/// if there is none.
pub async fn save_integrations(
    db: &Db,
    account_id: &str,
    timezone: &str,
    number_format: Option<&str>,
    url: Option<&str>,
    new_secret: &str,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update account set timezone = $1, number_format = $2, webhook_url = $3, webhook_secret = coalesce(webhook_secret, $4) \
         where account_id = $5")
        .bind(timezone).bind(number_format).bind(url).bind(new_secret).bind(account_id).execute(pool).await.map(|_| ()))
}

/// A deleted creator's payout details go: the destination, each past payout's copy of it,
/// and the webhook deliveries (their URLs and payloads). Payouts and their ledger lines stay.
pub async fn forget_creator(tx: &mut Tx, creator_id: &str) -> Result<(), sqlx::Error> {
    for sql in [
        "delete from payout_destination where account_id = $1",
        "update payout set destination = null where creator_id = $1",
        "delete from webhook_delivery where creator_id = $1",
    ] {
        on_tx!(&mut *tx, conn => sqlx::query(sql).bind(creator_id).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

/// Other creators' queued and sent sale webhooks name a deleted buyer by address: the
/// pseudonym takes its place (the payload is JSON; the address is matched with its quotes).
pub async fn pseudonymise_buyer_in_webhooks(tx: &mut Tx, addresses: &[String], pseudonym: &str) -> Result<(), sqlx::Error> {
    let replacement = serde_json::to_string(pseudonym).unwrap_or_default();
    for address in addresses {
        let quoted = serde_json::to_string(address).unwrap_or_default();
        on_tx!(&mut *tx, conn => sqlx::query("update webhook_delivery set payload = replace(payload, $1, $2) where payload like '%' || $1 || '%'")
            .bind(&quoted).bind(&replacement).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}
