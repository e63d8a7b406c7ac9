//! The tab: buy now, pay when it adds up.
//!
//! A buyer without enough in their wallet buys on their tab: the purchase is a sale like any
//! other, written by the wallet's group commit (`writer::Funding::WalletElseTab`), whose conditional
//! debit lets the tab account go down to minus the buyer's tab limit. The creator's share waits
//! in their pending earnings (`checkout::sale`). The ledger:
//! - a tab purchase: buyer tab → creator pending + Clink's fee;
//! - a settlement, one card payment for many purchases: provider clearing → buyer tab (what the
//!   purchases it covers cost) and, for each creator, pending → earnings; when the card
//!   minimum is more than the tab owed, the rest goes to the buyer's wallet.
//!
//! A settlement is a top-up that settles the tab (`wallet_topup.settles_tab`), so it is paid,
//! confirmed, retried and reconciled exactly like a top-up. It claims the open purchases when
//! it starts, and pays exactly those. A failed settlement locks the tab until it is paid.

use super::store::{self, CollectionRow, SettingsRow, TabItem, TopUpRow};
use crate::{
    db::Tx,
    ledger::{
        domain::{AccountRef, Posting},
        service::{self as ledger, LedgerError, NewTxn},
    },
    money::{Currency, Money},
    orders::TopUpStatus,
};

/// The most a buyer may owe on their first tab, until they have paid one: 1.00.
pub const FIRST_TAB_LIMIT: i64 = 100;

/// How far a buyer may go on their tab: Clink's limit (a first tab's until they have paid a
/// tab once, then the operator's), or the buyer's own if lower.
pub fn limit_for(operator_limit: i64, paid_a_tab: bool, own_limit: Option<i64>) -> i64 {
    let given = if paid_a_tab { operator_limit } else { FIRST_TAB_LIMIT.min(operator_limit) };
    own_limit.map_or(given, |own| own.clamp(0, given))
}

/// A buyer's tab in one currency, as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tab {
    pub owed: Money,
    pub limit: Money,
    /// A settlement was refused by the card, or the collection's third reminder locked it
    /// (`overdue`): no more purchases on the tab until it is paid.
    pub locked: bool,
    /// The collection has reminded the buyer to pay (`collection`).
    pub overdue: bool,
    /// Written off unpaid: never a tab again.
    pub closed: bool,
}

impl Tab {
    /// What is left to spend on the tab.
    pub fn room(&self) -> Money {
        Money::new((self.limit.minor - self.owed.minor).max(0), self.owed.currency)
    }
}

/// What a buyer's settlements say about their tab in one currency: whether they have ever paid
/// a tab (which lifts the first-tab limit), and the settlement started and not paid yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    pub paid_a_tab: bool,
    pub open: Option<OpenSettlement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSettlement {
    pub topup_id: String,
    /// The card refused it: the tab is locked until it is paid.
    pub failed: bool,
}

impl Standing {
    /// The standing in `currency` given the buyer's settlements (`(currency, status, id)`,
    /// newest first).
    pub fn of<'a>(settlements: impl IntoIterator<Item = (Currency, TopUpStatus, &'a str)>, currency: Currency) -> Standing {
        let mut standing = Standing::default();
        for (in_currency, status, topup_id) in settlements {
            standing.paid_a_tab |= status == TopUpStatus::Succeeded;
            if in_currency == currency && status != TopUpStatus::Succeeded && standing.open.is_none() {
                standing.open = Some(OpenSettlement { topup_id: topup_id.to_string(), failed: status == TopUpStatus::Failed });
            }
        }
        standing
    }

    /// The standing in `currency` given the buyer's settlement rows (newest first).
    pub fn of_rows(settlements: &[TopUpRow], currency: Currency) -> Standing {
        Standing::of(settlements.iter().map(|s| (s.currency, s.status, s.topup_id.as_str())), currency)
    }
}

/// The buyer's tab in `currency` from what it owes, its standing, its collection and the
/// buyer's settings (their own limit, whether a tab of theirs was written off).
pub fn tab_of(
    owed_minor: i64,
    currency: Currency,
    standing: &Standing,
    collection: &CollectionRow,
    operator_limit: i64,
    settings: &SettingsRow,
) -> Tab {
    Tab {
        owed: Money::new(owed_minor, currency),
        limit: Money::new(limit_for(operator_limit, standing.paid_a_tab, settings.tab_limit_minor), currency),
        locked: standing.open.as_ref().is_some_and(|s| s.failed) || collection.locked_at.is_some(),
        overdue: collection.reminders > 0,
        closed: settings.tab_written_off_at.is_some(),
    }
}

/// The settlement's amount for claimed purchases worth `owed_minor`: what they cost, and at
/// least the card minimum (the rest goes to the buyer's wallet).
pub fn settlement_amount(owed_minor: i64, currency: Currency) -> i64 {
    owed_minor.max(currency.card_minimum())
}

/// Claims the buyer's open tab purchases for the settlement `topup_id`: how much they cost
/// (0: nothing to settle).
pub async fn claim(tx: &mut Tx, account_id: &str, currency: Currency, topup_id: &str) -> Result<i64, sqlx::Error> {
    let items = store::claim_tab_items(tx, account_id, currency, topup_id).await?;
    Ok(items.iter().map(|i| i.amount_minor).sum())
}

/// Books a paid settlement, in the transaction that marks it succeeded: the purchases it
/// claimed (those still standing) are settled, the tab gets what they cost, their creators'
/// shares become available, and whatever the card paid beyond them goes to the wallet.
pub async fn book_settlement(tx: &mut Tx, topup: &TopUpRow, now: i64) -> Result<(), LedgerError> {
    let currency = topup.currency;
    let items: Vec<TabItem> = store::settle_tab_items(tx, &topup.topup_id, now).await?;
    // Paid: no more reminders, and a tab locked by them is open again.
    store::end_tab_collection(tx, &topup.account_id, currency).await?;
    let owed: i64 = items.iter().map(|i| i.amount_minor).sum();
    // Claimed purchases only ever leave a settlement (refunds), so it always covers them.
    let covered = owed.min(topup.amount_minor);
    let mut postings = vec![
        Posting::new(AccountRef::provider_clearing(topup.provider.as_str(), currency), -topup.amount_minor),
        Posting::new(AccountRef::buyer_tab(&topup.account_id, currency), covered),
    ];
    if topup.amount_minor > covered {
        postings.push(Posting::new(AccountRef::buyer_wallet(&topup.account_id, currency), topup.amount_minor - covered));
    }
    let mut shares: std::collections::BTreeMap<&str, i64> = Default::default();
    for item in &items {
        *shares.entry(item.creator_id.as_str()).or_default() += item.amount_minor - item.fee_minor;
    }
    for (creator, share) in shares {
        postings.push(Posting::new(AccountRef::creator_pending(creator, currency), -share));
        postings.push(Posting::new(AccountRef::creator_earnings(creator, currency), share));
    }
    ledger::post(
        tx,
        &NewTxn {
            kind: "tab_settlement",
            order_id: Some(topup.topup_id.clone()),
            idempotency_key: format!("tab_settlement:{}", topup.topup_id),
            memo: format!("tab settled: {} purchase(s)", items.len()),
            postings,
        },
    )
    .await?;
    // The buyer's receipt: what the payment paid for (composed when it is sent).
    if let Some(email) = crate::accounts::store::email_in(tx, &topup.account_id).await? {
        crate::mail::outbox::enqueue(tx, &email, &crate::mail::outbox::Mail::TabReceipt { topup_id: topup.topup_id.clone() }).await?;
    }
    tracing::info!(topup.id = %topup.topup_id, purchases = items.len(), owed, paid = topup.amount_minor, "tab settled");
    Ok(())
}

/// What a card payment per purchase would have cost instead of one for the tab: the card
/// minimum the buyer would have paid for each purchase below it, and the fixed fee per card
/// sale the creators would have lost (Stripe's 0.25 in Europe, as an illustration).
pub fn card_savings(amounts: &[i64], currency: Currency) -> (Money, Money) {
    const FIXED_CARD_FEE: i64 = 25;
    let minimum = currency.card_minimum();
    let overpaid: i64 = amounts.iter().map(|&a| (minimum - a).max(0)).sum();
    let fees = FIXED_CARD_FEE * amounts.len().saturating_sub(1) as i64;
    (Money::new(overpaid, currency), Money::new(fees, currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_tab_is_capped_until_one_is_paid() {
        assert_eq!(limit_for(500, false, None), 100);
        assert_eq!(limit_for(500, true, None), 500);
        // An operator limit below the first-tab limit is the limit.
        assert_eq!(limit_for(50, false, None), 50);
        // The buyer's own limit only ever lowers it.
        assert_eq!(limit_for(500, true, Some(200)), 200);
        assert_eq!(limit_for(500, false, Some(300)), 100);
        assert_eq!(limit_for(500, true, Some(-5)), 0);
    }

    #[test]
    fn a_settlement_is_at_least_the_card_minimum() {
        assert_eq!(settlement_amount(20, Currency::Eur), 50);
        assert_eq!(settlement_amount(100, Currency::Eur), 100);
        assert_eq!(settlement_amount(10, Currency::Gbp), 30);
    }

    #[test]
    fn savings_count_the_minimums_and_the_fees_not_paid() {
        let (overpaid, fees) = card_savings(&[20, 20, 20, 20, 20], Currency::Eur);
        assert_eq!(overpaid.minor, 5 * 30);
        assert_eq!(fees.minor, 4 * 25);
        assert_eq!(card_savings(&[], Currency::Eur).1.minor, 0);
    }
}
