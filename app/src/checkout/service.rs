//! Checkout rules: from a Buy click to a fulfilled order, exactly once.
//!
//! - The amount is computed here from the database (only a pay-what-you-want offer comes from
//!   the buyer, checked against the minimum).
//! - One Buy click is one order: the form's nonce is a unique key, so a double click, a retry
//!   or ten concurrent posts find the same order, and the provider call carries the order as
//!   its idempotency key (one charge).
//! - Confirmations arrive from webhooks, the test provider, the buyer's redirect, in any order
//!   and any number of times. Each event is recorded once (`processed_event`), and the order
//!   moves pending → paid → fulfilled only through conditional updates, in the same
//!   transaction as its ledger entries, download grant and mails.

use super::{
    domain::klarna,
    domain::{PayMethod, PayStep, SavedCard},
    provider::{Charge, EventKind, KlarnaPayment, PaymentRequest, ProviderError, ProviderEvent, ReportedAmount, StartedPayment},
    sale,
    store::{self, OrderRow},
};
use crate::{
    accounts::domain::Email,
    catalog::service::{self as catalog, LinkRef},
    db::{self, Tx},
    delivery::{service as delivery, store as grants},
    earnings::{rollup, webhooks},
    error::{AppError, FieldError, internal},
    ledger::{
        domain::{AccountKind, AccountRef, Posting, platform_fee},
        service::{self as ledger, LedgerError, NewTxn},
    },
    money::{Currency, Money, parse_amount},
    orders::{OrderStatus, PaymentMethod, Provider},
    state::AppState,
};

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("not found")]
    NotFound,
    #[error("price below the card minimum: wallet only")]
    WalletRequired(Money),
    #[error("sale not refundable in state {0}")]
    NotRefundable(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Sale(#[from] super::sale::SaleError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<CheckoutError> for AppError {
    fn from(err: CheckoutError) -> Self {
        match err {
            CheckoutError::Invalid(f) => f.into(),
            CheckoutError::NotFound => AppError::NotFound,
            CheckoutError::WalletRequired(minimum) => {
                AppError::PaymentRequired(format!("Card payments start at {minimum}. This work is bought with a Clink wallet."))
            }
            CheckoutError::NotRefundable(status) => AppError::Conflict(format!("This sale can't be refunded (it is {status}).")),
            CheckoutError::Ledger(LedgerError::InsufficientFunds(_)) => {
                AppError::Conflict("Your balance doesn't cover this refund.".into())
            }
            CheckoutError::Provider(ProviderError::Rejected(e)) => {
                tracing::warn!(error = %e, "payment provider refused a request");
                AppError::BadRequest("The payment provider refused this request.".into())
            }
            CheckoutError::Provider(e) => internal("payment provider failed", &e),
            CheckoutError::Ledger(e) => internal("ledger failed", &e),
            CheckoutError::Sale(e) => internal("writing a sale failed", &e),
            CheckoutError::Database(e) => internal("checkout query failed", &e),
        }
    }
}

/// A Buy click.
#[derive(Debug, Clone, Default)]
pub struct BuyRequest {
    pub code: String,
    pub email: String,
    /// Pay-what-you-want offer, as typed.
    pub amount: Option<String>,
    /// The form's one-time nonce (one order per click).
    pub checkout_key: Option<String>,
    pub source: String,
    /// The buyer's visit was counted as a view (see `sale::Sale::counted_view`).
    pub counted_view: bool,
    pub remember_card: bool,
    /// Charge this remembered card now (one click).
    pub saved: Option<SavedCard>,
    pub buyer_account_id: Option<String>,
    /// Pay later with Klarna, from this country (as chosen on the link page).
    pub klarna_country: Option<String>,
}

/// Where a Buy click leads.
#[derive(Debug, Clone)]
pub struct BuyOutcome {
    pub order_id: String,
    pub work_code: String,
    /// The signed token that lets this browser follow the order.
    pub key: String,
    /// Paid and fulfilled already (free, or a one-click purchase that went through).
    pub done: bool,
    /// A one-click charge the bank declined: the buyer enters a card instead.
    pub declined: Option<String>,
    /// The provider's page the buyer approves the payment on (Klarna).
    pub redirect: Option<String>,
}

/// The key that lets a browser follow its order (`?order=…&k=…`).
pub fn order_key(state: &AppState, order_id: &str) -> String {
    state.secret.sign("order", order_id.as_bytes())
}

fn check_key(state: &AppState, order_id: &str, key: &str) -> Result<(), CheckoutError> {
    if state.secret.verify("order", order_id.as_bytes(), key) { Ok(()) } else { Err(CheckoutError::NotFound) }
}

/// The order's key: the page's nonce (fresh for every page served, cached or not) bound to
/// the buyer's email, so a double click is one order and a nonce seen by someone else finds
/// nobody else's order. Without a usable nonce every post is its own order.
fn checkout_key(raw: Option<&str>, email: &str) -> String {
    use sha2::{Digest, Sha256};
    match raw.map(str::trim) {
        Some(k) if (16..=64).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            hex::encode(Sha256::digest(format!("{k}:{email}").as_bytes()))
        }
        _ => db::new_id(),
    }
}

pub async fn buy(state: &AppState, req: BuyRequest) -> Result<BuyOutcome, CheckoutError> {
    let row = catalog::storefront(&state.db, &LinkRef::Code(req.code.clone())).await.map_err(|e| match e {
        catalog::CatalogError::Database(e) => CheckoutError::Database(e),
        _ => CheckoutError::NotFound,
    })?;
    let work = row.work;
    let price = work.price();
    let offer = match req.amount.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => Some(parse_amount(raw, "amount")?),
        _ => None,
    };
    let amount = price.charge_for(offer)?;
    let email = match &req.saved {
        Some(saved) => Email::parse(&saved.email)?,
        None => Email::parse(&req.email)?,
    };
    if amount.below_card_minimum() {
        return Err(CheckoutError::WalletRequired(Money::new(amount.currency.card_minimum(), amount.currency)));
    }
    let klarna_country = match req.klarna_country.as_deref().filter(|_| req.saved.is_none()) {
        None => None,
        Some(_) if !state.payments.offers_klarna() || klarna::offer(price).is_none() => {
            return Err(FieldError::new("pay_later", "Klarna isn't available for this work. Pay by card.").into());
        }
        Some(_) if !klarna::fits(amount) => return Err(FieldError::new("amount", klarna::range_message(amount.currency)).into()),
        Some(chosen) => Some(
            klarna::country(amount.currency, chosen)
                .ok_or_else(|| FieldError::new("klarna_country", "Choose the country you live in, for Klarna."))?,
        ),
    };
    let provider = if amount.is_zero() { Provider::Free } else { state.payments.provider() };
    let now = db::now_ms();
    let candidate = OrderRow {
        order_id: db::new_id(),
        work_id: work.work_id.clone(),
        creator_id: work.creator_id.clone(),
        buyer_email: email.as_str().to_string(),
        buyer_account_id: req.buyer_account_id.clone(),
        currency: amount.currency,
        amount_minor: amount.minor,
        fee_minor: platform_fee(amount.minor, state.settings.fee_bps),
        status: OrderStatus::Pending,
        provider,
        provider_payment_id: None,
        payment_method: provider.is_card().then_some(if klarna_country.is_some() { PaymentMethod::Klarna } else { PaymentMethod::Card }),
        // Klarna from the same form is its own order (one per country): a card attempt stays
        // a card attempt, and a country changed after Back is a new Klarna payment.
        checkout_key: match klarna_country {
            Some(country) => checkout_key(req.checkout_key.as_deref(), &format!("{}:klarna:{country}", email.as_str())),
            None => checkout_key(req.checkout_key.as_deref(), email.as_str()),
        },
        source: req.source.clone(),
        counted_view: req.counted_view,
        save_card: klarna_country.is_none() && (req.remember_card || req.saved.is_some()),
        failure_reason: None,
        created_at: now,
        updated_at: now,
        paid_at: None,
        refunded_at: None,
    };
    let mut order = order_for_click(state, &candidate).await?;
    // What the provider said of the order's Klarna payment, if it was asked already.
    let mut klarna_charge = None;
    if klarna_country.is_some() {
        // A Klarna attempt that ended (declined) can't be paid again. The same form (Back, then
        // Klarna again) goes on with the order chained to it: one per ended attempt, and a
        // double click still finds one.
        let mut attempts = 0;
        loop {
            match klarna_attempt(state, &order).await? {
                KlarnaAttempt::Open(charge) => {
                    klarna_charge = charge;
                    break;
                }
                KlarnaAttempt::Over => {}
            }
            attempts += 1;
            if attempts > 5 {
                return Err(FieldError::new("pay_later", "Reload the page to try Klarna again.").into());
            }
            let next_key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("{}:next", order.checkout_key)));
            order = order_for_click(state, &OrderRow { order_id: db::new_id(), checkout_key: next_key, ..candidate.clone() }).await?;
        }
    }
    let mut outcome = BuyOutcome {
        key: order_key(state, &order.order_id),
        order_id: order.order_id.clone(),
        work_code: work.code.clone(),
        done: false,
        declined: None,
        redirect: None,
    };
    if order.status != OrderStatus::Pending {
        outcome.done = order.status.is_sold();
        return Ok(outcome);
    }
    if order.provider == Provider::Free {
        confirm(state, &order.order_id, &format!("free:{}", order.order_id), None).await?;
        outcome.done = true;
        return Ok(outcome);
    }
    let request = PaymentRequest {
        order_id: &order.order_id,
        amount: Money::new(order.amount_minor, order.currency),
        email: &order.buyer_email,
        description: &work.title,
        save_card: order.save_card,
        saved: req.saved.as_ref().filter(|s| s.provider == state.payments.provider()),
        klarna: klarna_country
            .map(|country| KlarnaPayment { country, return_url: state.settings.absolute_url(&return_path(&order.order_id, &outcome.key)) }),
    };
    let started = match (&order.provider_payment_id, &request.klarna) {
        // Klarna already answered for this order: where it stands now, not its first answer
        // again (a replayed request would send the buyer to a page Klarna has moved on from).
        (Some(payment_id), Some(_)) => {
            let charge = match klarna_charge {
                Some(charge) => charge,
                None => state.payments.resume(&state.db, payment_id).await?,
            };
            StartedPayment { payment_id: payment_id.clone(), charge }
        }
        _ => state.payments.start(&state.db, &request).await?,
    };
    if !started.payment_id.is_empty() {
        store::set_payment_id(&state.db, &order.order_id, &started.payment_id, db::now_ms()).await?;
    }
    match started.charge {
        Charge::Succeeded => {
            let event = ProviderEvent {
                provider: state.payments.provider(),
                event_id: format!("charge:{}", order.order_id),
                payment_id: started.payment_id,
                order_id: Some(order.order_id.clone()),
                kind: EventKind::Succeeded,
                amount: None,
            };
            apply_order_event(state, &order.order_id, &event).await?;
            outcome.done = true;
        }
        Charge::Declined(reason) if request.klarna.is_some() => return Err(FieldError::new("pay_later", reason).into()),
        Charge::Declined(reason) => outcome.declined = Some(reason),
        Charge::Redirect(url) => outcome.redirect = Some(url),
        Charge::NeedsCard(_) | Charge::NeedsAuth(_) => {}
    }
    Ok(outcome)
}

/// The order of a Buy click: new, or the one the same click (form nonce and email) made before.
async fn order_for_click(state: &AppState, candidate: &OrderRow) -> Result<OrderRow, CheckoutError> {
    if store::insert_order(&state.db, candidate).await? {
        tracing::info!(order.id = %candidate.order_id, work.id = %candidate.work_id, amount = candidate.amount_minor, "order created");
        return Ok(candidate.clone());
    }
    // The same click again: continue that order, whatever this request says.
    let existing = store::order_by_checkout_key(&state.db, &candidate.checkout_key).await?.ok_or(CheckoutError::NotFound)?;
    if existing.work_id != candidate.work_id {
        return Err(FieldError::new("form", "This form was already used for another purchase. Reload the page.").into());
    }
    Ok(existing)
}

/// Where a Klarna order's payment stands.
enum KlarnaAttempt {
    /// Over without having gone through (declined): it can't be paid again.
    Over,
    /// Not over, with what the provider said of it if it was asked (an order that has a
    /// payment already).
    Open(Option<Charge>),
}

async fn klarna_attempt(state: &AppState, order: &OrderRow) -> Result<KlarnaAttempt, CheckoutError> {
    Ok(match (order.status, &order.provider_payment_id) {
        (OrderStatus::Failed, _) => KlarnaAttempt::Over,
        (OrderStatus::Pending, Some(payment_id)) => match state.payments.resume(&state.db, payment_id).await? {
            Charge::Declined(_) => KlarnaAttempt::Over,
            charge => KlarnaAttempt::Open(Some(charge)),
        },
        _ => KlarnaAttempt::Open(None),
    })
}

/// The link page of the work with `code` at the payment step of an order, whose key lets the
/// browser follow it.
pub fn pay_step_path(code: &str, order_id: &str, key: &str) -> String {
    format!("/l/{}?order={}&k={}", enc(code), enc(order_id), enc(key))
}

/// Where the buyer's browser comes back to after paying on another page (3-D Secure, Klarna).
pub fn return_path(order_id: &str, key: &str) -> String {
    format!("/checkout/return/{}?k={}", enc(order_id), enc(key))
}

/// The payment step of an order, for the link page.
pub async fn pay_step(state: &AppState, order_id: &str, key: &str) -> Result<PayStep, CheckoutError> {
    check_key(state, order_id, key)?;
    let order = store::order(&state.db, order_id).await?.ok_or(CheckoutError::NotFound)?;
    let currency = order.currency;
    let status = order.status;
    let (method, authenticate) = match (&order.provider_payment_id, status) {
        (Some(payment_id), OrderStatus::Pending | OrderStatus::Failed) => match state.payments.resume(&state.db, payment_id).await? {
            Charge::NeedsCard(m) => (m, false),
            Charge::NeedsAuth(m) => (m, true),
            Charge::Redirect(url) => (PayMethod::Redirect { url }, false),
            Charge::Succeeded | Charge::Declined(_) => (PayMethod::None, false),
        },
        _ => (PayMethod::None, false),
    };
    let code = crate::catalog::store::find_any(&state.db, &order.work_id).await?.map(|w| w.code).unwrap_or_default();
    Ok(PayStep {
        page_url: pay_step_path(&code, &order.order_id, key),
        return_url: return_path(&order.order_id, key),
        cancel_url: format!("/l/{code}"),
        heading: format!("Pay {}", Money::new(order.amount_minor, currency)),
        order_id: order.order_id,
        key: key.to_string(),
        amount_label: Money::new(order.amount_minor, currency).to_string(),
        email: order.buyer_email,
        status,
        method,
        authenticate,
        error: order.failure_reason,
    })
}

/// What the buyer's return (after paying) leads to.
#[derive(Debug, Clone)]
pub enum Returned {
    /// Fulfilled: a fresh download token, and the card to remember if the buyer asked.
    Ready { token: String, saved_card: Option<SavedCard> },
    /// Not confirmed yet (a webhook may still be on its way).
    Waiting,
    /// The payment didn't go through (Klarna declined, say): back to the link page of the
    /// work with `code`, to choose again.
    Failed { code: String, reason: String },
    /// The buyer came back without deciding on Klarna's page: the order's payment step, which
    /// leads back there.
    Unfinished { page_url: String },
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The buyer's browser is back from paying. Asks the provider directly rather than waiting for
/// the webhook; both paths meet in the same idempotent fulfilment.
pub async fn returned(state: &AppState, order_id: &str, key: &str) -> Result<Returned, CheckoutError> {
    check_key(state, order_id, key)?;
    let order = store::order(&state.db, order_id).await?.ok_or(CheckoutError::NotFound)?;
    let mut saved_card = None;
    let mut failure = None;
    let mut left_provider_page = false;
    if let (Some(payment_id), true) = (&order.provider_payment_id, order.provider != Provider::Free) {
        let check = state.payments.check(&state.db, payment_id).await?;
        failure = check.failure.clone().filter(|_| !check.succeeded);
        left_provider_page = check.provider_page.is_some();
        if check.succeeded && order.status.awaits_payment() {
            let event = ProviderEvent {
                provider: state.payments.provider(),
                event_id: format!("return:{order_id}"),
                payment_id: payment_id.clone(),
                order_id: Some(order_id.to_string()),
                kind: EventKind::Succeeded,
                amount: check.received.map(ReportedAmount::of),
            };
            apply_order_event(state, order_id, &event).await?;
        }
        // The card is remembered with the email this order was bought with.
        saved_card = check.saved_card.map(|mut card| {
            card.email = order.buyer_email.clone();
            card
        });
    }
    let order = store::order(&state.db, order_id).await?.ok_or(CheckoutError::NotFound)?;
    if order.status == OrderStatus::Fulfilled {
        let token = delivery::mint(&state.db, order_id).await?;
        return Ok(Returned::Ready { token, saved_card });
    }
    if !order.status.awaits_payment() {
        return Ok(Returned::Waiting);
    }
    let code = || async { crate::catalog::store::find_any(&state.db, &order.work_id).await.map(|w| w.map(|w| w.code).unwrap_or_default()) };
    if let Some(reason) = failure {
        return Ok(Returned::Failed { code: code().await?, reason });
    }
    if left_provider_page {
        return Ok(Returned::Unfinished { page_url: pay_step_path(&code().await?, order_id, key) });
    }
    Ok(Returned::Waiting)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// This event was handled before.
    Duplicate,
    /// Not a payment of ours.
    Ignored,
    /// The provider's amount or currency differs from ours, or the payment is for a deleted
    /// account: recorded or logged for the operator, not applied.
    Held,
}

impl CheckoutError {
    /// The transaction lost a lock conflict (see `db::is_lock_conflict`): nothing was written.
    fn is_lock_conflict(&self) -> bool {
        match self {
            CheckoutError::Database(e)
            | CheckoutError::Sale(super::sale::SaleError::Database(e))
            | CheckoutError::Ledger(LedgerError::Database(e)) => db::is_lock_conflict(e),
            _ => false,
        }
    }
}

/// Applies a provider event about order `order_id` exactly once (`payments::apply_event`
/// decides that the event is this order's). A transaction that loses a deadlock to another
/// server's sale writing the same accounts is tried again: the provider's webhook should not
/// have to come back for it.
pub async fn apply_order_event(state: &AppState, order_id: &str, event: &ProviderEvent) -> Result<Applied, CheckoutError> {
    let mut retries = 0;
    loop {
        match apply_order_event_once(state, order_id, event).await {
            Err(err) if retries < db::LOCK_CONFLICT_RETRIES && err.is_lock_conflict() => {
                retries += 1;
                tracing::warn!(error = %err, order.id = %order_id, event.id = %event.event_id, retries, "payment event lost a lock conflict; trying it again");
            }
            applied => return applied,
        }
    }
}

async fn apply_order_event_once(state: &AppState, order_id: &str, event: &ProviderEvent) -> Result<Applied, CheckoutError> {
    let mut tx = state.db.begin().await?;
    let Some(order) = store::order_in(&mut tx, order_id).await? else {
        tracing::info!(event.id = %event.event_id, order.id = %order_id, "event for an unknown order ignored");
        return Ok(Applied::Ignored);
    };
    if !store::mark_processed(&mut tx, &format!("{}:{}", event.provider, event.event_id), db::now_ms()).await? {
        return Ok(Applied::Duplicate);
    }
    // Only the amount and currency Clink asked for count: a payment of another amount (a
    // provider's bug, a tampered integration) is held for the operator, and the ledger never
    // records the order's own figure for money that didn't move.
    let expected = Money::new(order.amount_minor, order.currency);
    if let (EventKind::Succeeded | EventKind::Refunded, Some(reported)) = (&event.kind, &event.amount)
        && !reported.is(expected)
    {
        store::record_discrepancy(&mut tx, event, &order.order_id, expected, reported, db::now_ms()).await?;
        tx.commit().await?;
        tracing::error!(order.id = %order.order_id, event.id = %event.event_id, reported.minor = reported.minor,
                reported.currency = %reported.currency, expected = %expected, "payment amount differs from the order: held");
        return Ok(Applied::Held);
    }
    // A payment for a work whose creator has deleted their account sells nothing: nobody could
    // be paid its earnings. It stays unfulfilled, and the hourly reconciliation reports it
    // (a provider payment with no sale) for the operator to refund.
    if matches!(event.kind, EventKind::Succeeded) && crate::accounts::store::deleted_in(&mut tx, &order.creator_id).await? {
        tx.commit().await?;
        tracing::error!(order.id = %order.order_id, event.id = %event.event_id, "a payment arrived for a deleted creator's work: not sold, refund it");
        return Ok(Applied::Held);
    }
    match &event.kind {
        EventKind::Succeeded => fulfil(&mut tx, &order, Some(&event.payment_id)).await?,
        EventKind::Failed(reason) => {
            store::transition(&mut tx, &order.order_id, &[OrderStatus::Pending], OrderStatus::Failed, db::now_ms()).await?;
            tracing::info!(order.id = %order.order_id, reason, "payment failed");
        }
        EventKind::Refunded => {
            // A refund proves the payment went through: an order whose own payment event hasn't
            // arrived yet is fulfilled first, so the refund reverses a recorded sale. Events
            // then end where the provider ended (refunded, no access), in whatever order and
            // however often they come.
            if order.status.awaits_payment() {
                fulfil(&mut tx, &order, Some(&event.payment_id)).await?;
            }
            reverse(&mut tx, &order).await?;
        }
    }
    tx.commit().await?;
    Ok(Applied::Done)
}

/// Confirms a payment the app itself observed (free orders, wallet purchases).
pub async fn confirm(state: &AppState, order_id: &str, event_key: &str, payment_id: Option<&str>) -> Result<(), CheckoutError> {
    let mut tx = state.db.begin().await?;
    if store::mark_processed(&mut tx, event_key, db::now_ms()).await? {
        let order = store::order_in(&mut tx, order_id).await?.ok_or(CheckoutError::NotFound)?;
        fulfil(&mut tx, &order, payment_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// pending → paid → fulfilled: the sale, written by the sale core (`sale::write`) like every
/// other (the ledger, the grant, rollups, webhook, receipt and notice). A second confirmation
/// finds the order already past `pending` and changes nothing.
async fn fulfil(tx: &mut Tx, order: &OrderRow, payment_id: Option<&str>) -> Result<(), CheckoutError> {
    let now = db::now_ms();
    if !store::transition(tx, &order.order_id, &[OrderStatus::Pending, OrderStatus::Failed], OrderStatus::Paid, now).await? {
        return Ok(());
    }
    let currency = order.currency;
    let work = crate::catalog::store::find_any_in(tx, &order.work_id).await?.ok_or(CheckoutError::NotFound)?;
    let creator = crate::accounts::store::seller_contact_in(tx, &order.creator_id).await?.unwrap_or_default();
    let paid_from = match order.provider {
        Provider::Wallet => AccountRef::buyer_wallet(order.buyer_account_id.as_deref().unwrap_or("-"), currency),
        provider => AccountRef::provider_clearing(provider.as_str(), currency),
    };
    let one = sale::Sale {
        order_id: order.order_id.clone(),
        order: sale::OrderState::Paid,
        work: &work,
        creator: &creator,
        amount: Money::new(order.amount_minor, currency),
        fee_minor: order.fee_minor,
        buyer_email: &order.buyer_email,
        buyer_account_id: order.buyer_account_id.as_deref(),
        provider: order.provider,
        payment_method: order.payment_method,
        payment_id,
        source: &order.source,
        counted_view: order.counted_view,
        paid_from,
        paid_from_debited: false,
        ledger_key: format!("sale:{}", order.order_id),
        memo: format!("sale of work {} ({})", order.work_id, payment_id.unwrap_or(order.provider.as_str())),
        token: None,
    };
    sale::write(tx, std::slice::from_ref(&one), sale::Mails::Now, &mut Default::default(), now, |_| {}).await?;
    tracing::info!(order.id = %order.order_id, amount = order.amount_minor, "order fulfilled");
    Ok(())
}

/// fulfilled → refunded: the ledger reversal and the end of download access, together, the
/// same for every sale however it was paid. Returns whether this call reversed it.
async fn reverse(tx: &mut Tx, order: &OrderRow) -> Result<bool, CheckoutError> {
    let now = db::now_ms();
    if !store::transition(tx, &order.order_id, &[OrderStatus::Fulfilled, OrderStatus::Paid], OrderStatus::Refunded, now).await? {
        return Ok(false);
    }
    let currency = order.currency;
    let tab = match order.provider {
        Provider::Tab => store::tab_purchase(tx, &order.order_id).await?,
        _ => store::TabPurchase::Unpaid,
    };
    if order.amount_minor > 0 {
        let buyer = order.buyer_account_id.as_deref().unwrap_or("-");
        // Where the creator's share is now: pending for a tab purchase whose tab isn't paid yet.
        let mut share = AccountRef::creator_earnings(&order.creator_id, currency);
        let destination = match (order.provider, tab) {
            // A wallet purchase goes back to the wallet it came from.
            (Provider::Wallet, _) => AccountRef::buyer_wallet(buyer, currency),
            // A tab purchase not paid yet comes off the tab; one paid with its tab goes to the
            // buyer's wallet, like a wallet purchase.
            (Provider::Tab, store::TabPurchase::Unpaid) => {
                share = AccountRef::creator_pending(&order.creator_id, currency);
                AccountRef::buyer_tab(buyer, currency)
            }
            (Provider::Tab, store::TabPurchase::Settled) => AccountRef::buyer_wallet(buyer, currency),
            // Written off unpaid: the write-off already cleared the tab and the creator's share,
            // so only Clink's fee, which went to write-offs, comes back from them.
            (Provider::Tab, store::TabPurchase::WrittenOff) => AccountRef::new(AccountKind::WriteOffs, None, currency),
            _ => AccountRef::refunds(currency),
        };
        let postings = if tab == store::TabPurchase::WrittenOff {
            vec![Posting::new(AccountRef::platform_fees(currency), -order.fee_minor), Posting::new(destination, order.fee_minor)]
        } else {
            vec![
                Posting::new(share, -(order.amount_minor - order.fee_minor)),
                Posting::new(AccountRef::platform_fees(currency), -order.fee_minor),
                Posting::new(destination, order.amount_minor),
            ]
        };
        ledger::post(
            tx,
            &NewTxn {
                kind: "refund",
                order_id: Some(order.order_id.clone()),
                idempotency_key: format!("refund:{}", order.order_id),
                memo: format!("refund of order {}", order.order_id),
                postings,
            },
        )
        .await?;
    }
    grants::revoke_grant(tx, &order.order_id, now).await?;
    let title: String = crate::on_tx!(tx, conn => sqlx::query_scalar("select title from work where work_id = $1")
        .bind(&order.work_id).fetch_one(conn).await)?;
    // The write-off already took the creator's share of a written-off purchase from their
    // earnings; the refund takes nothing more.
    let creator_loses = if tab == store::TabPurchase::WrittenOff { 0 } else { order.amount_minor - order.fee_minor };
    rollup::record_refund(tx, &order.creator_id, &order.work_id, now, order.currency.code(), order.amount_minor, creator_loses).await?;
    webhooks::enqueue(tx, &order.creator_id, "refund", &sale_event(order, &title, currency)).await?;
    tracing::info!(order.id = %order.order_id, "order refunded");
    Ok(true)
}

fn sale_event<'a>(order: &'a OrderRow, title: &'a str, currency: Currency) -> webhooks::SaleEvent<'a> {
    webhooks::SaleEvent {
        order_id: &order.order_id,
        work_id: &order.work_id,
        work_title: title,
        amount: Money::new(order.amount_minor, currency).decimal(),
        fee: Money::new(order.fee_minor, currency).decimal(),
        net: Money::new(order.amount_minor - order.fee_minor, currency).decimal(),
        currency: order.currency,
        buyer_email: &order.buyer_email,
        source: &order.source,
        provider: order.provider,
        paid_with: crate::orders::PaidWith::of(order.provider, order.payment_method),
    }
}

/// The first half of a creator's refund (`payments::refund_sale` is the whole): their order,
/// checked refundable, refunded at its provider if a provider took the money (idempotent per
/// order). None when it is refunded already. Another creator's order is simply not found.
pub async fn refund_at_provider(state: &AppState, creator_id: &str, order_id: &str) -> Result<Option<OrderRow>, CheckoutError> {
    let order = store::order(&state.db, order_id).await?.filter(|o| o.creator_id == creator_id).ok_or(CheckoutError::NotFound)?;
    match order.status {
        OrderStatus::Refunded => return Ok(None),
        status if status.is_sold() => {}
        other => return Err(CheckoutError::NotRefundable(other.to_string())),
    }
    if order.amount_minor > 0 && order.provider.is_card() {
        let payment_id = order.provider_payment_id.as_deref().ok_or(CheckoutError::NotRefundable("unpaid".into()))?;
        let amount = Money::new(order.amount_minor, order.currency);
        state.payments.refund(&state.db, payment_id, amount, &order.order_id).await?;
    }
    Ok(Some(order))
}

/// The second half: the reversal, once per order (a refund clicked twice, or the provider's
/// refund event arriving too, reverses once). Returns whether this call reversed it.
pub async fn reverse_once(tx: &mut Tx, order: &OrderRow) -> Result<bool, CheckoutError> {
    if !store::mark_processed(tx, &format!("refund:{}", order.order_id), db::now_ms()).await? {
        return Ok(false);
    }
    reverse(tx, order).await
}
