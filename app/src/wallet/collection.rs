//! Collecting unpaid tabs: a tab with a purchase unpaid for 30 days is paid with the buyer's
//! saved card if they agreed to that (`tab_autopay`); otherwise, or if the card is refused, the
//! buyer is asked by email, three times a week apart; the third reminder locks the tab (no
//! purchases on it until it is paid), and a tab still unpaid a week after that is written off.
//!
//! A buyer has a tab per currency, and each is collected on its own (`tab_collection`): paying
//! the euro tab doesn't stop the reminders of an unpaid dollar tab, nor unlock it.
//!
//! A write-off is one ledger transaction: the tab is cleared, each creator's pending share of
//! it is reversed (shown on their dashboard as "unpaid tabs"), and Clink's fee on it goes to
//! write-offs. The buyer's account never gets a new tab purchase again, in any currency, and
//! neither does their email address, from a new account (`tab_block`), nor the browsers they
//! used it from (`tab_device_block`, see `device`). Their other tabs, if any, are collected to
//! their own end.
//!
//! Paying a tab at any point before its write-off ends its collection (`end_tab_collection`,
//! in the transaction that books the settlement). Every step is a conditional update, so the
//! passes of several app servers send each reminder once and write a tab off once; `collect`
//! takes the time it runs at, which the tests move forward.

use std::collections::BTreeMap;

use super::{
    service::{self, SettleBy, WalletError},
    store::{self, CollectionRow},
};
use crate::{
    earnings::rollup::{self, SaleFigures},
    ledger::{
        domain::{AccountKind, AccountRef, Posting},
        service::{self as ledger, NewTxn},
    },
    mail::outbox::{self, Mail},
    money::Currency,
    state::AppState,
};

const DAY_MS: i64 = 86_400_000;

/// How long a tab purchase may stay unpaid before the first reminder.
pub const DUE_AFTER_MS: i64 = 30 * DAY_MS;

/// Between reminders, and from the last (which locks the tab) to the write-off.
pub const REMINDER_EVERY_MS: i64 = 7 * DAY_MS;

/// The reminder that locks the tab.
pub const FINAL_REMINDER: i64 = 3;

/// What to do next about a buyer's unpaid tab in one currency, from how far its collection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Wait,
    /// Send reminder n (1 to 3; the third locks the tab).
    Remind(i64),
    WriteOff,
}

/// The next step for a tab that has had a purchase unpaid for at least `DUE_AFTER_MS`.
pub fn next_step(collection: &CollectionRow, now: i64) -> Step {
    if collection.written_off_at.is_some() {
        return Step::Wait;
    }
    let week_since_last = collection.reminded_at.is_none_or(|at| now >= at + REMINDER_EVERY_MS);
    match collection.reminders {
        0 => Step::Remind(1),
        n if n < FINAL_REMINDER && week_since_last => Step::Remind(n + 1),
        n if n >= FINAL_REMINDER && week_since_last => Step::WriteOff,
        _ => Step::Wait,
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Paid with the buyer's saved card, as they agreed.
    pub settled: usize,
    pub reminded: usize,
    pub locked: usize,
    pub written_off: usize,
}

/// One collection pass at time `now`, over every tab (a buyer's, in one currency) with a
/// purchase unpaid for 30 days. A tab whose step fails is logged and tried again on the next
/// pass; the others go on.
pub async fn collect(state: &AppState, now: i64) -> Result<Collected, WalletError> {
    let mut collected = Collected::default();
    // A tab that owes nothing any more without a settlement (its purchases were refunded) is
    // out of collection: no reminder, no lock.
    store::end_collection_of_cleared_tabs(&state.db).await?;
    for (buyer_id, currency) in store::tabs_unpaid_since(&state.db, now - DUE_AFTER_MS).await? {
        if let Err(e) = collect_one(state, &buyer_id, currency, now, &mut collected).await {
            tracing::warn!(account.id = %buyer_id, currency = currency.code(), error = %e, "collecting an unpaid tab failed; trying again next time");
        }
    }
    Ok(collected)
}

async fn collect_one(state: &AppState, buyer_id: &str, currency: Currency, now: i64, collected: &mut Collected) -> Result<(), WalletError> {
    let collection = store::tab_collection(&state.db, buyer_id, currency).await?;
    match next_step(&collection, now) {
        Step::Wait => {}
        Step::Remind(n) => {
            // Due: the saved card pays, if the buyer agreed to that; else the reminders.
            if n == 1 && settled_with_saved_card(state, buyer_id, currency).await? {
                collected.settled += 1;
            } else if remind(state, buyer_id, currency, n, now).await? {
                collected.reminded += 1;
                collected.locked += usize::from(n == FINAL_REMINDER);
            }
        }
        Step::WriteOff => {
            if write_off(state, buyer_id, currency, now).await? {
                collected.written_off += 1;
            }
        }
    }
    Ok(())
}

/// Runs a pass every `every` (the first at once), for as long as the server runs.
pub async fn run_every(state: AppState, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match collect(&state, crate::db::now_ms()).await {
            Ok(done) if done != Collected::default() => tracing::info!(
                settled = done.settled,
                reminded = done.reminded,
                locked = done.locked,
                written_off = done.written_off,
                "tab collection"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "tab collection failed; trying again next time"),
        }
    }
}

/// Pays the buyer's tab in `currency` with their saved card, if they agreed to that: whether
/// it is paid. A refused card leaves its settlement for the buyer to pay by hand, and the
/// reminders go out.
async fn settled_with_saved_card(state: &AppState, buyer_id: &str, currency: Currency) -> Result<bool, WalletError> {
    let settings = store::settings(&state.db, buyer_id).await?;
    if service::autopay_card(state, &settings).is_none() {
        return Ok(false);
    }
    let Some(buyer) = crate::accounts::store::find_by_id(&state.db, buyer_id).await? else { return Ok(false) };
    match service::settle_tab(state, &buyer, currency, None, None, SettleBy::SavedCardIfAgreed).await {
        Ok(started) if started.done => {}
        Err(WalletError::NothingToSettle) => {}
        Ok(_) => return Ok(false),
        Err(e) => {
            tracing::warn!(account.id = %buyer_id, currency = currency.code(), error = %e, "paying a due tab with the saved card failed");
            return Ok(false);
        }
    }
    tracing::info!(account.id = %buyer_id, currency = currency.code(), "due tab paid with the saved card");
    Ok(true)
}

/// Sends reminder `n` of the buyer's tab in `currency`, once: whether this call did.
async fn remind(state: &AppState, buyer_id: &str, currency: Currency, n: i64, now: i64) -> Result<bool, WalletError> {
    let Some(buyer) = crate::accounts::store::find_by_id(&state.db, buyer_id).await? else { return Ok(false) };
    let mut tx = state.db.begin().await?;
    if !store::record_tab_reminder(&mut tx, buyer_id, currency, n, now).await? {
        return Ok(false);
    }
    let mail = Mail::TabReminder { account_id: buyer_id.to_string(), reminder: n, currency: Some(currency.code().to_string()) };
    outbox::enqueue(&mut tx, &buyer.email, &mail).await?;
    tx.commit().await?;
    tracing::info!(account.id = %buyer_id, currency = currency.code(), reminder = n, locked = n == FINAL_REMINDER, "unpaid tab: reminder sent");
    Ok(true)
}

/// The hash a blocked email is kept under: of the address as typed, trimmed and in lower case.
pub fn email_hash(email: &str) -> String {
    crate::accounts::tokens::hash(&email.trim().to_lowercase())
}

/// Writes the buyer's tab in `currency` off, once: whether this call did.
async fn write_off(state: &AppState, buyer_id: &str, currency: Currency, now: i64) -> Result<bool, WalletError> {
    let Some(buyer) = crate::accounts::store::find_by_id(&state.db, buyer_id).await? else { return Ok(false) };
    let mut tx = state.db.begin().await?;
    if !store::mark_tab_written_off(&mut tx, buyer_id, currency, now).await? {
        return Ok(false);
    }
    let items = store::write_off_tab_items(&mut tx, buyer_id, currency, now).await?;
    if items.is_empty() {
        // Paid or refunded since the pass looked: nothing to write off (the transaction rolls
        // back), and the next pass ends the collection.
        return Ok(false);
    }
    let total: i64 = items.iter().map(|i| i.amount_minor).sum();
    // Each creator's share of what the tab owed.
    let mut shares: BTreeMap<&str, i64> = BTreeMap::new();
    for item in &items {
        *shares.entry(item.creator_id.as_str()).or_default() += item.amount_minor - item.fee_minor;
    }
    let mut postings = vec![Posting::new(AccountRef::buyer_tab(buyer_id, currency), total)];
    for (creator, share) in &shares {
        postings.push(Posting::new(AccountRef::creator_pending(creator, currency), -share));
    }
    postings.push(Posting::new(AccountRef::new(AccountKind::WriteOffs, None, currency), -(total - shares.values().sum::<i64>())));
    ledger::post(
        &mut tx,
        &NewTxn {
            kind: "tab_write_off",
            order_id: None,
            idempotency_key: format!("tab_write_off:{buyer_id}:{}", currency.code()),
            memo: format!("unpaid tab written off: {} purchase(s)", items.len()),
            postings,
        },
    )
    .await?;
    // The creators' earnings, on the dashboard, lose the shares in the hour of the write-off.
    for item in &items {
        let lost = SaleFigures { written_off_net: item.amount_minor - item.fee_minor, ..SaleFigures::default() };
        rollup::add_sale(&mut tx, &item.creator_id, &item.work_id, rollup::hour_of(now), item.currency.code(), &lost).await?;
    }
    store::block_tab_email(&mut tx, &email_hash(&buyer.email), now).await?;
    store::block_tab_devices(&mut tx, buyer_id, now).await?;
    outbox::enqueue(&mut tx, &buyer.email, &Mail::TabWrittenOff { amounts: vec![(currency.code().to_string(), total)] }).await?;
    tx.commit().await?;
    // The buyer's settings now say "never a tab again": the purchase path reads them cached.
    state.purchase_cache.forget_settings(buyer_id);
    tracing::warn!(account.id = %buyer_id, currency = currency.code(), purchases = items.len(), "unpaid tab written off; the buyer's email is blocked from new tabs");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(reminders: i64, reminded_at: Option<i64>) -> CollectionRow {
        CollectionRow { reminders, reminded_at, ..Default::default() }
    }

    #[test]
    fn reminders_go_a_week_apart_then_the_tab_is_written_off() {
        let t = 1_000 * DAY_MS;
        assert_eq!(next_step(&at(0, None), t), Step::Remind(1));
        assert_eq!(next_step(&at(1, Some(t)), t + REMINDER_EVERY_MS - 1), Step::Wait);
        assert_eq!(next_step(&at(1, Some(t)), t + REMINDER_EVERY_MS), Step::Remind(2));
        assert_eq!(next_step(&at(2, Some(t)), t + REMINDER_EVERY_MS), Step::Remind(3));
        assert_eq!(next_step(&at(3, Some(t)), t + 1), Step::Wait);
        assert_eq!(next_step(&at(3, Some(t)), t + REMINDER_EVERY_MS), Step::WriteOff);
        let written_off = CollectionRow { written_off_at: Some(t), ..at(3, Some(t)) };
        assert_eq!(next_step(&written_off, t + 100 * DAY_MS), Step::Wait);
    }

    #[test]
    fn blocked_emails_match_whatever_the_case() {
        assert_eq!(email_hash(" Dee@Example.org "), email_hash("dee@example.org"));
        assert_ne!(email_hash("dee@example.org"), email_hash("dee@example.com"));
    }
}
