//! Sale webhooks (Gumroad's "ping"): every sale and refund is POSTed as JSON to the URL a
//! creator set, signed with HMAC-SHA256 (`Clink-Signature: t=…,v1=…`, over `"{t}.{body}"`,
//! like Stripe's). Deliveries are rows in an outbox written in the sale's own transaction, so
//! they survive restarts; failures retry with exponential backoff for 24 hours.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{
    db::{self, Db, Tx},
    money::Currency,
    on_db, on_tx,
    orders::{PaidWith, Provider},
    outbound::{self, OutboundPolicy},
};

/// How long a delivery keeps being retried.
pub const RETRY_FOR_MS: i64 = 24 * 3_600_000;

pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The next attempt after `attempts` failures: base, 2×, 4× … (10 s, 20 s, 40 s by default),
/// capped at an hour.
pub fn backoff_ms(base_ms: i64, attempts: i64) -> i64 {
    base_ms.saturating_mul(1 << attempts.clamp(0, 20)).min(3_600_000)
}

/// What a ping carries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SaleEvent<'a> {
    pub order_id: &'a str,
    pub work_id: &'a str,
    pub work_title: &'a str,
    pub amount: String,
    pub fee: String,
    pub net: String,
    pub currency: Currency,
    pub buyer_email: &'a str,
    pub source: &'a str,
    pub provider: Provider,
    pub paid_with: PaidWith,
}

fn payload(delivery_id: &str, event_type: &str, now: i64, sale: &SaleEvent<'_>) -> String {
    serde_json::json!({
        "id": delivery_id,
        "type": event_type,
        "created_at": jiff::Timestamp::from_millisecond(now).map(|t| t.to_string()).unwrap_or_default(),
        "sale": sale,
    })
    .to_string()
}

/// Queues a ping for the creator's webhook URL, if they set one, inside the caller's transaction.
pub async fn enqueue(tx: &mut Tx, creator_id: &str, event_type: &str, sale: &SaleEvent<'_>) -> Result<(), sqlx::Error> {
    let url: Option<Option<String>> = on_tx!(tx, conn => sqlx::query_scalar("select webhook_url from account where account_id = $1")
        .bind(creator_id).fetch_optional(conn).await)?;
    match url.flatten() {
        Some(url) => enqueue_to(tx, creator_id, &url, event_type, sale).await,
        None => Ok(()),
    }
}

/// Queues a ping for `url`, the creator's webhook URL as the caller read it inside the same
/// transaction (the wallet writer reads its batch's creators' URLs at once).
pub async fn enqueue_to(tx: &mut Tx, creator_id: &str, url: &str, event_type: &str, sale: &SaleEvent<'_>) -> Result<(), sqlx::Error> {
    let now = db::now_ms();
    let delivery_id = db::new_id();
    let body = payload(&delivery_id, event_type, now, sale);
    on_tx!(tx, conn => sqlx::query(
        "insert into webhook_delivery (delivery_id, creator_id, event_type, url, payload, attempts, next_attempt_at, \
         delivered_at, gave_up_at, last_status, last_error, created_at) values ($1, $2, $3, $4, $5, 0, $6, null, null, null, null, $6)",
    )
    .bind(&delivery_id).bind(creator_id).bind(event_type).bind(url).bind(&body).bind(now)
    .execute(conn).await.map(|_| ()))
}

/// A ping queued with others (the sale core writes a set of sales at once).
#[derive(Debug, Clone)]
pub struct Ping<'a> {
    pub creator_id: &'a str,
    pub url: &'a str,
    pub event_type: &'a str,
    pub delivery_id: String,
    pub payload: String,
}

impl<'a> Ping<'a> {
    pub fn new(creator_id: &'a str, url: &'a str, event_type: &'a str, sale: &SaleEvent<'_>, now: i64) -> Ping<'a> {
        let delivery_id = db::new_id();
        let payload = payload(&delivery_id, event_type, now, sale);
        Ping { creator_id, url, event_type, delivery_id, payload }
    }
}

/// Queues `pings` in one statement.
pub fn push_pings<'a>(w: &mut crate::db::Writes<'a>, pings: &'a [Ping<'a>], now: i64) {
    if pings.is_empty() {
        return;
    }
    crate::on_writes!(w, s => {
        s.next(
            "insert into webhook_delivery (delivery_id, creator_id, event_type, url, payload, attempts, next_attempt_at, \
             delivered_at, gave_up_at, last_status, last_error, created_at) ",
        )
        .push_values(pings, |mut row, p| {
            row.push_bind(p.delivery_id.as_str()).push_bind(p.creator_id).push_bind(p.event_type).push_bind(p.url)
                .push_bind(p.payload.as_str()).push_bind(0i64).push_bind(now).push_bind(None::<i64>).push_bind(None::<i64>)
                .push_bind(None::<i64>).push_bind(None::<String>).push_bind(now);
        });
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub delivery_id: String,
    pub creator_id: String,
    pub event_type: String,
    pub url: String,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub gave_up_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "delivery_id, creator_id, event_type, url, payload, attempts, next_attempt_at, delivered_at, gave_up_at, \
    last_status, last_error, created_at";

pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from webhook_delivery where delivered_at is null and gave_up_at is null and next_attempt_at <= $1 \
         order by next_attempt_at limit $2"
    );
    on_db!(db, pool => sqlx::query_as::<_, DeliveryRow>(&sql).bind(now).bind(limit).fetch_all(pool).await)
}

/// Leases a delivery so only one app server sends it.
pub async fn claim(db: &Db, row: &DeliveryRow, until: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update webhook_delivery set next_attempt_at = $1 where delivery_id = $2 and next_attempt_at = $3 and delivered_at is null",
    )
    .bind(until).bind(&row.delivery_id).bind(row.next_attempt_at).execute(pool).await.map(|r| r.rows_affected() == 1))
}

pub async fn record_attempt(
    db: &Db,
    delivery_id: &str,
    status: Option<u16>,
    error: Option<&str>,
    delivered: bool,
    next_attempt_at: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update webhook_delivery set attempts = attempts + 1, last_status = $1, last_error = $2, \
         delivered_at = case when $3 then $4 else delivered_at end, \
         gave_up_at = case when $3 then gave_up_at when $5 is null then $4 else gave_up_at end, \
         next_attempt_at = coalesce($5, next_attempt_at) where delivery_id = $6",
    )
    .bind(status.map(i64::from)).bind(error).bind(delivered).bind(now).bind(next_attempt_at).bind(delivery_id)
    .execute(pool).await.map(|_| ()))
}

/// The creator's delivery log, newest first.
pub async fn log(db: &Db, creator_id: &str, limit: i64) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from webhook_delivery where creator_id = $1 order by created_at desc, delivery_id desc limit $2");
    on_db!(db, pool => sqlx::query_as::<_, DeliveryRow>(&sql).bind(creator_id).bind(limit).fetch_all(pool).await)
}

/// "Resend": the delivery goes out again as soon as the worker runs. Only the owner's.
pub async fn resend(db: &Db, creator_id: &str, delivery_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update webhook_delivery set delivered_at = null, gave_up_at = null, next_attempt_at = $1 \
         where delivery_id = $2 and creator_id = $3",
    )
    .bind(now).bind(delivery_id).bind(creator_id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Sends what is due once; returns how many were delivered. A URL the outbound policy refuses
/// (it was saved under another policy, or names a private address) is given up at once.
pub async fn send_due(db: &Db, client: &reqwest::Client, backoff_base_ms: i64, policy: OutboundPolicy) -> usize {
    let now = db::now_ms();
    let Ok(rows) = due(db, now, 50).await else { return 0 };
    let mut delivered = 0;
    for row in rows {
        if !claim(db, &row, now + 60_000).await.unwrap_or(false) {
            continue;
        }
        let secret: Option<Option<String>> =
            on_db!(db, pool => sqlx::query_scalar("select webhook_secret from account where account_id = $1")
            .bind(&row.creator_id).fetch_optional(pool).await)
            .unwrap_or(None);
        let secret = secret.flatten().unwrap_or_default();
        let timestamp = now / 1000;
        if let Err(refused) = outbound::check_url(&row.url, policy) {
            tracing::warn!(delivery.id = %row.delivery_id, reason = %refused, "webhook URL refused");
            let _ = record_attempt(db, &row.delivery_id, None, Some("refused: not a public web address"), false, None, db::now_ms()).await;
            continue;
        }
        let result = client
            .post(&row.url)
            .header("content-type", "application/json")
            .header("clink-signature", signature(&secret, timestamp, &row.payload))
            .header("clink-event", &row.event_type)
            .header("clink-delivery", &row.delivery_id)
            .body(row.payload.clone())
            .send()
            .await;
        let now = db::now_ms();
        let (status, error, ok) = match result {
            Ok(res) => (
                Some(res.status().as_u16()),
                (!res.status().is_success()).then(|| format!("HTTP {}", res.status())),
                res.status().is_success(),
            ),
            // The creator sees a category; the operator's log has the cause.
            Err(e) => {
                tracing::info!(delivery.id = %row.delivery_id, error = %e, "webhook request failed");
                (None, Some(outbound::describe(&e).to_string()), false)
            }
        };
        let next = (!ok).then(|| now + backoff_ms(backoff_base_ms, row.attempts)).filter(|at| *at < row.created_at + RETRY_FOR_MS);
        if let Err(e) = record_attempt(db, &row.delivery_id, status, error.as_deref(), ok, next, now).await {
            tracing::warn!(error = %e, "recording a webhook attempt failed");
        }
        if ok {
            delivered += 1;
        } else {
            tracing::info!(delivery.id = %row.delivery_id, attempts = row.attempts + 1, ?status, "webhook delivery failed; will retry");
        }
    }
    delivered
}

pub async fn run(db: Db, every: std::time::Duration, backoff_base_ms: i64, policy: OutboundPolicy) {
    let client = outbound::client(policy);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        send_due(&db, &client, backoff_base_ms, policy).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_backoff() {
        let sig = signature("whsec", 1_700_000_000, "{}");
        assert!(sig.starts_with("t=1700000000,v1="));
        assert_eq!(sig.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(sig, signature("other", 1_700_000_000, "{}"));
        assert_eq!(backoff_ms(10_000, 0), 10_000);
        assert_eq!(backoff_ms(10_000, 1), 20_000);
        assert_eq!(backoff_ms(10_000, 30), 3_600_000);
    }
}
