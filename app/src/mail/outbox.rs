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
    /// A password reset link, if the address has an account (composed at send time, so the
    /// request is answered the same way whether or not it has one).
    PasswordReset {
        email: String,
    },
    /// The link that proves the new address of an email change.
    ConfirmEmailChange {
        change_id: String,
    },
    /// Sent to the current address when a change away from it is asked for.
    EmailChangeRequested {
        new_email: String,
    },
    /// Sent to the old address once the email changed.
    EmailChanged {
        new_email: String,
    },
    /// Payouts will go somewhere new (masked), not before `hold_until`.
    PayoutDestinationChanged {
        masked: String,
        hold_until: i64,
    },
    /// Two-step sign-in was turned on or off.
    TwoStepChanged {
        on: bool,
    },
    /// A recovery code got someone through the second step; `left` remain.
    RecoveryCodeUsed {
        left: i64,
    },
    /// A wallet buyer's receipts for the purchases of one window, in one message.
    WalletReceipts {
        account_id: String,
        from_ms: i64,
        to_ms: i64,
    },
    /// A creator's wallet sales of one window, in one message.
    SalesDigest {
        creator_id: String,
        from_ms: i64,
        to_ms: i64,
    },
    /// Reminder `reminder` (1 to 3) of the buyer's unpaid tab (what it owes is read at send
    /// time: none is sent for a tab paid meanwhile).
    TabReminder {
        account_id: String,
        reminder: i64,
        /// The tab's currency; each is collected on its own. Absent in a reminder queued before
        /// tabs were: it names what every tab owes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
    },
    /// The receipt of a paid tab settlement: the purchases it paid for.
    TabReceipt {
        topup_id: String,
    },
    /// The buyer's tab was written off: what it owed, per currency.
    TabWrittenOff {
        amounts: Vec<(String, i64)>,
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
            Mail::PasswordReset { .. } => "password_reset",
            Mail::ConfirmEmailChange { .. } => "confirm_email_change",
            Mail::EmailChangeRequested { .. } => "email_change_requested",
            Mail::EmailChanged { .. } => "email_changed",
            Mail::PayoutDestinationChanged { .. } => "payout_destination_changed",
            Mail::TwoStepChanged { .. } => "two_step_changed",
            Mail::RecoveryCodeUsed { .. } => "recovery_code_used",
            Mail::WalletReceipts { .. } => "wallet_receipts",
            Mail::SalesDigest { .. } => "sales_digest",
            Mail::TabReminder { .. } => "tab_reminder",
            Mail::TabReceipt { .. } => "tab_receipt",
            Mail::TabWrittenOff { .. } => "tab_written_off",
        }
    }

    fn order_id(&self) -> Option<&str> {
        match self {
            Mail::Receipt { order_id } | Mail::NewSale { order_id } => Some(order_id),
            _ => None,
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

/// How long a wallet buyer's receipts (and a creator's notices of wallet sales) gather before
/// they go out as one message: ten minutes.
pub const DIGEST_WINDOW_MS: i64 = 10 * 60 * 1000;

/// A digest goes out this long after its window closes, so that a batch stamped inside the
/// window but committed a moment after it is still in it.
const DIGEST_GRACE_MS: i64 = 15_000;

/// The digest window a moment falls in: `[from, to)`.
pub fn digest_window(at_ms: i64) -> (i64, i64) {
    let from = at_ms - at_ms.rem_euclid(DIGEST_WINDOW_MS);
    (from, from + DIGEST_WINDOW_MS)
}

/// When the digest holding an event of `at_ms` goes out.
pub fn digest_due(at_ms: i64) -> i64 {
    digest_window(at_ms).1 + DIGEST_GRACE_MS
}

/// A message to queue with others: `digest` gathers what several events queue for one
/// recipient and window into one row (the first event's; the rest find it by the key).
#[derive(Debug, Clone)]
pub struct Queued {
    pub recipient: String,
    pub mail: Mail,
    /// `(digest key, due at)`: one message per key, sent when the window closes.
    pub digest: Option<(String, i64)>,
}

impl Queued {
    pub fn now(recipient: &str, mail: Mail) -> Queued {
        Queued { recipient: recipient.to_string(), mail, digest: None }
    }
}

/// Queues `mails` (two statements at most: the messages, and the digests).
pub fn push_mails<'a>(w: &mut crate::db::Writes<'a>, mails: &'a [(String, String, Queued)], now: i64) {
    type Row<'r> = &'r (String, String, Queued);
    let (digests, singles): (Vec<Row>, Vec<Row>) = mails.iter().partition(|(_, _, q)| q.digest.is_some());
    crate::on_writes!(w, s => {
        if !singles.is_empty() {
            s.next("insert into mail_outbox (mail_id, kind, recipient, order_id, payload, attempts, next_attempt_at, sent_at, last_error, created_at) ")
                .push_values(singles, |mut row, (mail_id, payload, q)| {
                    row.push_bind(mail_id.as_str()).push_bind(q.mail.kind()).push_bind(q.recipient.as_str()).push_bind(q.mail.order_id())
                        .push_bind(payload.as_str()).push_bind(0i64).push_bind(now).push_bind(None::<i64>).push_bind(None::<String>).push_bind(now);
                });
        }
        if !digests.is_empty() {
            let q = s.next(
                "insert into mail_outbox (mail_id, kind, recipient, order_id, payload, attempts, next_attempt_at, sent_at, last_error, created_at, digest_key) ",
            );
            q.push_values(digests, |mut row, (mail_id, payload, q)| {
                let (key, due) = q.digest.as_ref().map(|(k, d)| (k.as_str(), *d)).unwrap_or_default();
                row.push_bind(mail_id.as_str()).push_bind(q.mail.kind()).push_bind(q.recipient.as_str()).push_bind(None::<String>)
                    .push_bind(payload.as_str()).push_bind(0i64).push_bind(due).push_bind(None::<i64>).push_bind(None::<String>).push_bind(now)
                    .push_bind(key);
            });
            q.push(" on conflict (digest_key) where digest_key is not null do nothing");
        }
    })
}

/// `(mail id, payload, message)` rows for `push_mails`, which borrows them.
pub fn rows_of(mails: Vec<Queued>) -> Vec<(String, String, Queued)> {
    mails.into_iter().map(|q| (db::new_id(), serde_json::to_string(&q.mail).unwrap_or_default(), q)).collect()
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

/// Forgets every mail to or naming one of `addresses` (sent or not): a deleted account's mail.
pub async fn forget_addresses(tx: &mut Tx, addresses: &[String]) -> Result<(), sqlx::Error> {
    for address in addresses {
        // The address as the payload's JSON writes it, quotes included, matched literally.
        let quoted = serde_json::to_string(address).unwrap_or_default();
        let pattern = format!("%{}%", quoted.replace('!', "!!").replace('%', "!%").replace('_', "!_"));
        on_tx!(&mut *tx, conn => sqlx::query("delete from mail_outbox where recipient = $1 or payload like $2 escape '!'")
            .bind(address).bind(&pattern).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_windows_are_ten_minutes_aligned() {
        let at = 1_700_000_123_456;
        let (from, to) = digest_window(at);
        assert_eq!(from % DIGEST_WINDOW_MS, 0);
        assert_eq!(to - from, DIGEST_WINDOW_MS);
        assert!(from <= at && at < to);
        assert_eq!(digest_window(from), (from, to), "the first moment belongs to its window");
        assert_eq!(digest_window(to).0, to, "the end is the next window's");
        assert!(digest_due(at) > to);
    }
}
