//! Payments at a provider, and what they pay for.
//!
//! A provider (the test card, Stripe) confirms or refunds a payment that Clink started for
//! something payable: an order (checkout) or a wallet top-up (wallet). What a payment is for
//! was decided when it was started and is stored with it (the order's or the top-up's row
//! holds the provider's payment id; the provider echoes the reference Clink gave it). Here an
//! event finds its `Payable` from those rows, never from the shape of a string, and goes to
//! the area that owns it. An event for nothing Clink knows is logged and acknowledged, so the
//! provider stops retrying, and applied to nothing.
//!
//! This module sits above checkout and wallet (see the layering rule in the README): neither
//! of them imports the other's service, both are called from here.

use crate::{
    checkout::{
        provider::ProviderEvent,
        service::{self as checkout, Applied, CheckoutError},
        store as orders,
    },
    db::Db,
    error::AppError,
    orders::Provider,
    state::AppState,
    wallet::{
        service::{self as wallet, WalletError},
        store as topups,
    },
};

/// What a payment at a provider is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payable {
    Order(String),
    TopUp(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error(transparent)]
    Wallet(#[from] WalletError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<PaymentsError> for AppError {
    fn from(err: PaymentsError) -> Self {
        match err {
            PaymentsError::Checkout(e) => e.into(),
            PaymentsError::Wallet(e) => e.into(),
            PaymentsError::Database(e) => crate::error::internal("payments query failed", &e),
        }
    }
}

/// What `event` is about: the reference the provider echoes (an order or a top-up id), or
/// else its payment id, looked up among the orders and top-ups of that provider.
pub async fn payable_of(db: &Db, event: &ProviderEvent) -> Result<Option<Payable>, sqlx::Error> {
    if let Some(reference) = event.order_id.as_deref() {
        if let Some(order) = orders::order(db, reference).await? {
            // A provider's event can only be about an order paid at that provider.
            return Ok((order.provider == event.provider).then_some(Payable::Order(order.order_id)));
        }
        if let Some(topup) = topups::topup(db, reference).await? {
            return Ok((topup.provider == event.provider).then_some(Payable::TopUp(topup.topup_id)));
        }
        return Ok(None);
    }
    if let Some(order_id) = orders::order_id_by_payment(db, event.provider, &event.payment_id).await? {
        return Ok(Some(Payable::Order(order_id)));
    }
    Ok(topups::topup_id_by_payment(db, event.provider, &event.payment_id).await?.map(Payable::TopUp))
}

/// Applies a provider event exactly once, to what it pays for.
pub async fn apply_event(state: &AppState, event: &ProviderEvent) -> Result<Applied, PaymentsError> {
    match payable_of(&state.db, event).await? {
        Some(Payable::Order(order_id)) => Ok(checkout::apply_order_event(state, &order_id, event).await?),
        Some(Payable::TopUp(topup_id)) => Ok(wallet::apply_topup_event(state, &topup_id, event).await?),
        None => {
            tracing::warn!(event.id = %event.event_id, event.provider = %event.provider, payment.id = %event.payment_id,
                reference = ?event.order_id, "provider event for no known order or top-up: acknowledged, applied to nothing");
            Ok(Applied::Ignored)
        }
    }
}

/// A creator refunds one of their sales, however it was paid: the provider refund (card
/// sales), then in one transaction the sale's reversal (checkout, the same for every sale)
/// and, for a wallet or tab purchase, the buyer's spending counters given back (wallet).
pub async fn refund_sale(state: &AppState, creator_id: &str, order_id: &str) -> Result<(), PaymentsError> {
    let Some(order) = checkout::refund_at_provider(state, creator_id, order_id).await? else { return Ok(()) };
    let mut tx = state.db.begin().await?;
    if checkout::reverse_once(&mut tx, &order).await?
        && matches!(order.provider, Provider::Wallet | Provider::Tab)
        && let Some(buyer) = order.buyer_account_id.as_deref()
    {
        wallet::give_back_spent(&mut tx, buyer, order.currency, order.created_at, order.amount_minor).await?;
    }
    tx.commit().await?;
    Ok(())
}
