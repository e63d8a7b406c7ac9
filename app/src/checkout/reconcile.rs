//! Reconciliation: the provider's record of payments and refunds against the ledger's. Webhooks
//! get lost, integrations have bugs, people click around in the provider's dashboard; this is
//! how the operator finds out. It reports and never fixes: every finding is a question a person
//! answers (apply the missing event, refund the stray payment, ...).
//!
//! The rules, for everything the provider holds since a date:
//! - a succeeded payment belongs to exactly one order or top-up, with exactly one ledger
//!   transaction for it (a sale, a credit) of the same amount and currency;
//! - a refunded payment also has its reversal in the ledger;
//! - and the other way: every card sale and top-up credit in the ledger since that date has a
//!   succeeded payment at the provider;
//! - every event held for another amount or currency is listed too.

use std::collections::HashMap;

use super::provider::{Payments, ProviderError, ProviderPayment};
use crate::{
    db::Db,
    money::{Currency, Money},
    on_db,
    orders::Provider,
};

/// One thing that doesn't add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A short stable name for the kind of problem.
    pub kind: &'static str,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What the ledger knows about one payable (an order or a top-up) paid by a provider payment.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Payable {
    reference: String,
    payment_id: Option<String>,
    amount_minor: i64,
    currency: String,
    /// Ledger transactions taking the money in (sale, top-up credit, tab settlement).
    credits: i64,
    /// Ledger transactions giving it back (refund, top-up refund).
    reversals: i64,
}

/// The orders and top-ups of `provider` since `since_ms`, with their ledger transactions.
async fn payables(db: &Db, provider: Provider, since_ms: i64) -> Result<Vec<Payable>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, Payable>(
        "select o.order_id as reference, o.provider_payment_id as payment_id, o.amount_minor, o.currency, \
             (select count(*) from ledger_txn t where t.order_id = o.order_id and t.kind = 'sale') as credits, \
             (select count(*) from ledger_txn t where t.order_id = o.order_id and t.kind = 'refund') as reversals \
         from buyer_order o where o.provider = $1 and o.created_at >= $2 \
         union all \
         select w.topup_id, w.provider_payment_id, w.amount_minor, w.currency, \
             (select count(*) from ledger_txn t where t.order_id = w.topup_id and t.kind in ('topup', 'tab_settlement')), \
             (select count(*) from ledger_txn t where t.order_id = w.topup_id and t.kind = 'topup_refund') \
         from wallet_topup w where w.provider = $1 and w.created_at >= $2")
        .bind(provider).bind(since_ms).fetch_all(pool).await)
}

/// The check `clink serve` keeps running: every `every` (the first one interval after start,
/// once startup's own work is done), over the last `window`, handing each run's outcome to
/// `report`. Runs for as long as its task lives.
pub async fn run_every(
    db: Db,
    payments: Payments,
    every: std::time::Duration,
    window: std::time::Duration,
    report: impl Fn(Result<Vec<Finding>, ReconcileError>),
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let since = crate::db::now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        report(reconcile(&db, &payments, since).await);
    }
}

/// A run's outcome in the operator's log (`clink reconcile` shows the same on demand).
pub fn log_findings(run: Result<Vec<Finding>, ReconcileError>) {
    match run {
        Ok(findings) if findings.is_empty() => tracing::info!("reconciliation: the provider and the ledger agree"),
        Ok(findings) => {
            for f in &findings {
                tracing::warn!(kind = f.kind, "reconciliation: {}", f.detail);
            }
        }
        Err(e) => tracing::warn!(error = %e, "reconciliation could not run"),
    }
}

/// Compares the provider's payments since `since_ms` with the ledger.
pub async fn reconcile(db: &Db, payments: &Payments, since_ms: i64) -> Result<Vec<Finding>, ReconcileError> {
    let at_provider = payments.list_since(db, since_ms).await?;
    let ours = payables(db, payments.provider(), since_ms).await?;
    let mut findings = compare(&at_provider, &ours);
    for d in super::store::discrepancies_since(db, since_ms).await? {
        findings.push(Finding {
            kind: "held_amount",
            detail: format!(
                "{} {} for {} reported {} {} where {} {} was asked (event {}); not applied",
                d.provider,
                d.payment_id,
                d.reference,
                d.reported_minor,
                d.reported_currency,
                d.expected_minor,
                d.expected_currency,
                d.event_id
            ),
        });
    }
    Ok(findings)
}

fn label(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(c) => Money::new(minor, c).to_string(),
        Err(_) => format!("{minor} {currency}"),
    }
}

/// The comparison itself, on what was read.
fn compare(at_provider: &[ProviderPayment], ours: &[Payable]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let by_payment: HashMap<&str, &Payable> = ours.iter().filter_map(|p| p.payment_id.as_deref().map(|id| (id, p))).collect();
    let provider_ids: HashMap<&str, &ProviderPayment> = at_provider.iter().map(|p| (p.payment_id.as_str(), p)).collect();
    for payment in at_provider.iter().filter(|p| p.succeeded) {
        let Some(payable) = by_payment.get(payment.payment_id.as_str()) else {
            findings.push(Finding {
                kind: "stray_payment",
                detail: format!(
                    "{} ({}) succeeded at the provider but no order or top-up has it{}",
                    payment.payment_id,
                    label(payment.amount_minor, &payment.currency),
                    payment.reference.as_deref().map(|r| format!(" (it names {r})")).unwrap_or_default()
                ),
            });
            continue;
        };
        if payable.credits != 1 {
            findings.push(Finding {
                kind: if payable.credits == 0 { "missing_ledger_transaction" } else { "duplicate_ledger_transaction" },
                detail: format!(
                    "{} paid {} at the provider, and the ledger has {} transaction(s) for it, expected 1",
                    payable.reference,
                    label(payment.amount_minor, &payment.currency),
                    payable.credits
                ),
            });
        }
        if payment.amount_minor != payable.amount_minor || !payment.currency.eq_ignore_ascii_case(&payable.currency) {
            findings.push(Finding {
                kind: "amount_mismatch",
                detail: format!(
                    "{} is {} but its payment {} received {}",
                    payable.reference,
                    label(payable.amount_minor, &payable.currency),
                    payment.payment_id,
                    label(payment.amount_minor, &payment.currency)
                ),
            });
        }
        if payment.refunded && payable.reversals == 0 {
            findings.push(Finding {
                kind: "missing_refund",
                detail: format!("{} was refunded at the provider ({}) but not in the ledger", payable.reference, payment.payment_id),
            });
        }
    }
    for payable in ours.iter().filter(|p| p.credits > 0) {
        let paid = payable.payment_id.as_deref().and_then(|id| provider_ids.get(id)).is_some_and(|p| p.succeeded);
        if !paid {
            findings.push(Finding {
                kind: "ledger_without_payment",
                detail: format!(
                    "{} ({}) is in the ledger but the provider has no succeeded payment for it ({})",
                    payable.reference,
                    label(payable.amount_minor, &payable.currency),
                    payable.payment_id.as_deref().unwrap_or("no payment id")
                ),
            });
        }
        if payable.reversals > 0 && !payable.payment_id.as_deref().and_then(|id| provider_ids.get(id)).is_some_and(|p| p.refunded) {
            findings.push(Finding {
                kind: "refund_without_provider_refund",
                detail: format!("{} is refunded in the ledger but not at the provider", payable.reference),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(id: &str, minor: i64, succeeded: bool, refunded: bool) -> ProviderPayment {
        ProviderPayment { payment_id: id.into(), reference: None, amount_minor: minor, currency: "EUR".into(), succeeded, refunded }
    }

    fn payable(reference: &str, payment_id: &str, minor: i64, credits: i64, reversals: i64) -> Payable {
        Payable {
            reference: reference.into(),
            payment_id: Some(payment_id.into()),
            amount_minor: minor,
            currency: "EUR".into(),
            credits,
            reversals,
        }
    }

    #[test]
    fn everything_that_does_not_add_up_is_named() {
        let at_provider = [
            payment("pi_ok", 500, true, false),
            payment("pi_lost_webhook", 300, true, false),
            payment("pi_stray", 900, true, false),
            payment("pi_refunded", 200, true, true),
            payment("pi_other_amount", 100, true, false),
            payment("pi_failed", 700, false, false),
        ];
        let ours = [
            payable("ok", "pi_ok", 500, 1, 0),
            payable("lost", "pi_lost_webhook", 300, 0, 0),
            payable("refunded_there", "pi_refunded", 200, 1, 0),
            payable("mismatch", "pi_other_amount", 1000, 1, 0),
            payable("ghost", "pi_failed", 700, 1, 0),
        ];
        let kinds: Vec<&str> = compare(&at_provider, &ours).iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["missing_ledger_transaction", "stray_payment", "missing_refund", "amount_mismatch", "ledger_without_payment"]);
        assert!(compare(&at_provider[..1], &ours[..1]).is_empty(), "a clean pair has nothing to say");
    }
}
