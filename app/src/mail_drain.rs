//! Drains the mail outbox: a background task takes due messages, composes each from current
//! data (an order, a work, a digest's window of purchases; minting download tokens for
//! receipts) and sends it through the `mail::sender::Mailer`, retrying failures with backoff.
//!
//! Composing reads every area that mail talks about, so this sits above them all (see the
//! layering rule in the README), while `mail` itself (the outbox, the templates, the
//! transport) sits below them and can be used by any.

use std::time::Duration;

use crate::{
    accounts::store as accounts,
    catalog::store as catalog,
    checkout::store as orders,
    db,
    delivery::{service as delivery, store as delivery_store},
    mail::{
        outbox::{self, Mail},
        templates::{self, Message},
    },
    money::Money,
    orders::OrderStatus,
    state::AppState,
};

/// Composes a message from current data (minting a download token for receipts).
async fn compose(state: &AppState, mail: &Mail) -> Result<Option<Message>, String> {
    let db = &state.db;
    let e = |e: sqlx::Error| e.to_string();
    match mail {
        Mail::Receipt { order_id } | Mail::NewSale { order_id } => {
            let Some(order) = orders::order(db, order_id).await.map_err(e)? else { return Ok(None) };
            // Refunded before the mail went out (a refund that arrived with the payment): no
            // receipt for a purchase the buyer no longer has, no "new sale" for a sale undone.
            if order.status == OrderStatus::Refunded {
                return Ok(None);
            }
            let Some(work) = catalog::find_any(db, &order.work_id).await.map_err(e)? else { return Ok(None) };
            let creator = accounts::find_by_id(db, &order.creator_id).await.map_err(e)?;
            let amount = Money::new(order.amount_minor, order.currency);
            if let Mail::Receipt { .. } = mail {
                let token = delivery::mint(db, &order.order_id).await.map_err(e)?;
                let url = state.settings.absolute_url(&format!("/d/{token}"));
                let creator_name = creator.map(|c| c.display_name).unwrap_or_default();
                Ok(Some(templates::receipt(&work.title, &creator_name, amount, &order.order_id, &url)))
            } else {
                let net = Money::new(order.amount_minor - order.fee_minor, order.currency);
                let buyer = crate::accounts::domain::mask_email(&order.buyer_email);
                Ok(Some(templates::new_sale(&work.title, amount, net, &buyer, &state.settings.absolute_url("/dashboard/sales"))))
            }
        }
        Mail::TabReminder { account_id, reminder, currency } => {
            let tabs = crate::ledger::store::balances_of(db, account_id, "buyer_tab").await.map_err(e)?;
            let owed: Vec<Money> = tabs
                .iter()
                .filter(|(code, balance)| *balance < 0 && currency.as_ref().is_none_or(|c| c == code))
                .filter_map(|(currency, balance)| Some(Money::new(-balance, crate::money::Currency::from_code(currency)?)))
                .collect();
            if owed.is_empty() {
                return Ok(None); // paid before the reminder went out
            }
            Ok(Some(templates::tab_reminder(*reminder, &owed, &state.settings.absolute_url("/wallet#tab-h"))))
        }
        Mail::TabReceipt { topup_id } => {
            let Some(settlement) = crate::wallet::store::topup(db, topup_id).await.map_err(e)? else { return Ok(None) };
            let items: Vec<(String, Money)> = crate::wallet::store::settled_by(db, topup_id)
                .await
                .map_err(e)?
                .into_iter()
                .map(|(title, currency, minor)| (title, Money::new(minor, currency)))
                .collect();
            let paid = Money::new(settlement.amount_minor, settlement.currency);
            let covered: i64 = items.iter().map(|(_, m)| m.minor).sum();
            let to_wallet = Money::new((settlement.amount_minor - covered).max(0), settlement.currency);
            Ok(Some(templates::tab_receipt(paid, &items, to_wallet, topup_id, &state.settings.absolute_url("/wallet#tab-h"))))
        }
        Mail::TabWrittenOff { amounts } => {
            let owed: Vec<Money> = amounts
                .iter()
                .filter_map(|(currency, minor)| Some(Money::new(*minor, crate::money::Currency::from_code(currency)?)))
                .collect();
            Ok(Some(templates::tab_written_off(&owed)))
        }
        Mail::WalletReceipts { account_id, from_ms, to_ms } => {
            let (lines, totals) = tokio::try_join!(
                orders::wallet_purchases_between(db, account_id, *from_ms, *to_ms, templates::DIGEST_LISTS as i64),
                orders::wallet_purchase_totals(db, account_id, *from_ms, *to_ms),
            )
            .map_err(e)?;
            if lines.is_empty() {
                return Ok(None); // every purchase of the window was refunded before it went out
            }
            let mut items = Vec::with_capacity(lines.len());
            for line in &lines {
                let token = delivery::mint(db, &line.order_id).await.map_err(e)?;
                items.push(templates::ReceiptItem {
                    title: &line.title,
                    creator: &line.creator_name,
                    amount: Money::new(line.amount_minor, line.currency),
                    download_url: state.settings.absolute_url(&format!("/d/{token}")),
                });
            }
            Ok(Some(templates::wallet_receipts(&items, &digest_totals(&totals), &state.settings.absolute_url("/library"))))
        }
        Mail::SalesDigest { creator_id, from_ms, to_ms } => {
            let (sales, totals) = tokio::try_join!(
                orders::wallet_sales_between(db, creator_id, *from_ms, *to_ms, templates::DIGEST_LISTS as i64),
                orders::wallet_sale_totals(db, creator_id, *from_ms, *to_ms),
            )
            .map_err(e)?;
            if sales.is_empty() {
                return Ok(None);
            }
            let items: Vec<templates::SaleItem<'_>> = sales
                .iter()
                .map(|(order, title)| {
                    let currency = order.currency;
                    templates::SaleItem {
                        title,
                        amount: Money::new(order.amount_minor, currency),
                        net: Money::new(order.amount_minor - order.fee_minor, currency),
                        buyer: crate::accounts::domain::mask_email(&order.buyer_email),
                    }
                })
                .collect();
            Ok(Some(templates::sales_digest(&items, &digest_totals(&totals), &state.settings.absolute_url("/dashboard/sales"))))
        }
        Mail::PasswordReset { email } => {
            let Some(account) = accounts::find_by_email(db, email).await.map_err(e)? else { return Ok(None) };
            let token = delivery::new_token();
            let now = db::now_ms();
            let expires = now + crate::accounts::service::RESET_LINK_MS;
            accounts::insert_password_reset(db, &delivery::hash(&token), &account.account_id, expires, now).await.map_err(e)?;
            Ok(Some(templates::password_reset(&state.settings.absolute_url(&format!("/password/reset/{token}")))))
        }
        Mail::ConfirmEmailChange { change_id } => {
            let token = delivery::new_token();
            if !accounts::set_email_change_token(db, change_id, &delivery::hash(&token)).await.map_err(e)? {
                return Ok(None);
            }
            Ok(Some(templates::confirm_email_change(&state.settings.absolute_url(&format!("/settings/email/confirm/{token}")))))
        }
        Mail::EmailChangeRequested { new_email } => Ok(Some(templates::email_change_requested(
            &crate::accounts::domain::mask_email(new_email),
            &state.settings.absolute_url("/password/forgot"),
        ))),
        Mail::EmailChanged { new_email } => Ok(Some(templates::email_changed(&crate::accounts::domain::mask_email(new_email)))),
        Mail::PayoutDestinationChanged { masked, hold_until } => Ok(Some(templates::payout_destination_changed(
            masked,
            &crate::ui::date_label(*hold_until),
            &state.settings.absolute_url("/password/forgot"),
        ))),
        Mail::TwoStepChanged { on } => Ok(Some(templates::two_step_changed(*on, &state.settings.absolute_url("/password/forgot")))),
        Mail::RecoveryCodeUsed { left } => {
            Ok(Some(templates::recovery_code_used(*left, &state.settings.absolute_url("/settings#two-step"))))
        }
        Mail::LoginLink { email, next } => {
            let token = delivery::new_token();
            let now = db::now_ms();
            accounts::insert_login_token(db, &delivery::hash(&token), email, next.as_deref(), now + EMAILED_LINK_MS, now)
                .await
                .map_err(e)?;
            Ok(Some(templates::login_link(&state.settings.absolute_url(&format!("/login/link/{token}")))))
        }
        Mail::ConfirmSignup { request_id } => {
            let token = delivery::new_token();
            if !accounts::set_signup_token(db, request_id, &delivery::hash(&token)).await.map_err(e)? {
                return Ok(None);
            }
            Ok(Some(templates::confirm_signup(&state.settings.absolute_url(&format!("/signup/confirm/{token}")))))
        }
        Mail::AccountExists { email } => {
            let token = delivery::new_token();
            let now = db::now_ms();
            accounts::insert_login_token(db, &delivery::hash(&token), email, Some("/dashboard"), now + EMAILED_LINK_MS, now)
                .await
                .map_err(e)?;
            Ok(Some(templates::account_exists(&state.settings.absolute_url(&format!("/login/link/{token}")))))
        }
        Mail::LibraryLink { email, account_id } => {
            let token = delivery::new_token();
            let now = db::now_ms();
            delivery_store::insert_library_token(db, &delivery::hash(&token), email, account_id.as_deref(), now + EMAILED_LINK_MS, now)
                .await
                .map_err(e)?;
            Ok(Some(templates::library_link(&state.settings.absolute_url(&format!("/library/access/{token}")))))
        }
    }
}

/// How long an emailed sign-in or library link works.
const EMAILED_LINK_MS: i64 = 30 * 60 * 1000;

/// Sends what is due once. Returns how many messages went out.
pub async fn send_due(state: &AppState) -> usize {
    let now = db::now_ms();
    let rows = match outbox::due(&state.db, now, 20).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "reading the mail outbox failed");
            return 0;
        }
    };
    let mut sent = 0;
    for row in rows {
        // Lease it first: another app server may be draining the same outbox.
        if !outbox::claim(&state.db, &row, now + 60_000).await.unwrap_or(false) {
            continue;
        }
        let result = match serde_json::from_str::<Mail>(&row.payload) {
            Ok(mail) => match compose(state, &mail).await {
                Ok(Some(message)) => state.mailer.send(&row.mail_id, &row.recipient, &message).await,
                Ok(None) => Ok(()), // nothing left to say (the order is gone)
                Err(err) => Err(err),
            },
            Err(err) => Err(format!("unreadable outbox payload: {err}")),
        };
        match result {
            Ok(()) => {
                let _ = outbox::mark_sent(&state.db, &row.mail_id, db::now_ms()).await;
                sent += 1;
            }
            Err(err) => {
                // 30 s, 1 min, 2 min ... capped at an hour.
                let backoff = 30_000i64.saturating_mul(1 << row.attempts.min(7)).min(3_600_000);
                tracing::warn!(mail.id = %row.mail_id, attempts = row.attempts + 1, error = %err, "sending mail failed; will retry");
                let _ = outbox::mark_failed(&state.db, &row.mail_id, &err, db::now_ms() + backoff).await;
            }
        }
    }
    sent
}

/// The background sender.
pub async fn run(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        send_due(&state).await;
    }
}

/// A digest's totals from the per-currency sums of its window.
fn digest_totals(sums: &[orders::WindowTotal]) -> templates::DigestTotals {
    templates::DigestTotals {
        count: sums.iter().map(|s| s.count).sum(),
        amounts: sums.iter().map(|s| Money::new(s.amount_minor, s.currency)).collect(),
        net: sums.iter().map(|s| Money::new(s.net_minor, s.currency)).collect(),
    }
}
