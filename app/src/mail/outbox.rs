//! The mail outbox table.

use serde::{Deserialize, Serialize};

use crate::{
    db::{self, Db, Tx},
    on_db, on_tx,
};

/// What to send; the message itself is composed at send time, so no download token sits in
/// the database in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    Receipt {
        order_id: String,
    },
    NewSale {
        order_id: String,
    },
    LibraryLink {
        email: String,
        account_id: Option<String>,
    },
    LoginLink {
        email: String,
        next: Option<String>,
    },
    /// The link that finishes a sign-up (the account is made when it is used).
    ConfirmSignup {
        request_id: String,
    },
    /// Someone signed up with an email that has an account: tell its owner, with a sign-in link.
    AccountExists {
        email: String,
    },
}

impl Mail {
    fn kind(&self) -> &'static str {
        match self {
            Mail::Receipt { .. } => "receipt",
            Mail::NewSale { .. } => "new_sale",
            Mail::LibraryLink { .. } => "library_link",
            Mail::LoginLink { .. } => "login_link",
            Mail::ConfirmSignup { .. } => "confirm_signup",
            Mail::AccountExists { .. } => "account_exists",
        }
    }

    fn order_id(&self) -> Option<&str> {
        match self {
            Mail::Receipt { order_id } | Mail::NewSale { order_id } => Some(order_id),
            Mail::LibraryLink { .. } | Mail::LoginLink { .. } | Mail::ConfirmSignup { .. } | Mail::AccountExists { .. } => None,
        }
    }
}

const INSERT: &str = "insert into mail_outbox (mail_id, kind, recipient, order_id, payload, attempts, next_attempt_at, \
    sent_at, last_error, created_at) values ($1, $2, $3, $4, $5, 0, $6, null, null, $6)";

pub async fn enqueue(tx: &mut Tx, recipient: &str, mail: &Mail) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(mail).unwrap_or_default();
    let now = db::now_ms();
    on_tx!(tx, conn => sqlx::query(INSERT)
        .bind(db::new_id()).bind(mail.kind()).bind(recipient).bind(mail.order_id()).bind(&payload).bind(now)
        .execute(conn).await.map(|_| ()))
}

pub async fn enqueue_now(db: &Db, recipient: &str, mail: &Mail) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    enqueue(&mut tx, recipient, mail).await?;
    tx.commit().await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub mail_id: String,
    pub recipient: String,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<OutboxRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, OutboxRow>(
        "select mail_id, recipient, payload, attempts, next_attempt_at from mail_outbox \
         where sent_at is null and next_attempt_at <= $1 order by next_attempt_at limit $2",
    )
    .bind(now).bind(limit).fetch_all(pool).await)
}

/// Leases a message for `lease_ms` so that only one app server sends it.
pub async fn claim(db: &Db, row: &OutboxRow, until: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update mail_outbox set next_attempt_at = $1 where mail_id = $2 and next_attempt_at = $3 and sent_at is null",
    )
    .bind(until).bind(&row.mail_id).bind(row.next_attempt_at).execute(pool).await.map(|r| r.rows_affected() == 1))
}

pub async fn mark_sent(db: &Db, mail_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("update mail_outbox set sent_at = $1, attempts = attempts + 1, last_error = null where mail_id = $2")
        .bind(now).bind(mail_id).execute(pool).await.map(|_| ()))
}

pub async fn mark_failed(db: &Db, mail_id: &str, error: &str, retry_at: i64) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "update mail_outbox set attempts = attempts + 1, last_error = $1, next_attempt_at = $2 where mail_id = $3",
    )
    .bind(error).bind(retry_at).bind(mail_id).execute(pool).await.map(|_| ()))
}

/// Messages not sent yet (for tests and the health of the worker).
pub async fn pending_count(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("select count(*) from mail_outbox where sent_at is null").fetch_one(pool).await)
}
