//! Server functions for checkout: the pay step on a link page, the remembered card, and the
//! creator's sales and refunds.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::domain::PayStep;
#[cfg(feature = "ssr")]
use crate::{
    accounts::domain::mask_email,
    checkout::{cookie, service, store},
    edge,
    money::Money,
};
use crate::{
    error::AppError,
    orders::{OrderStatus, Provider},
};

#[server(endpoint = "checkout/step")]
pub async fn load_pay_step(order_id: String, key: String) -> Result<PayStep, AppError> {
    let state = edge::app_state()?;
    Ok(service::pay_step(&state, &order_id, &key).await?)
}

/// The card a returning buyer's browser remembers, as the link page offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedBuyer {
    pub email: String,
    pub card: String,
}

/// The card the request's browser remembers (signed cookie) for the current provider.
#[cfg(feature = "ssr")]
pub async fn remembered_card(state: &crate::state::AppState) -> Option<super::domain::SavedCard> {
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    headers
        .get(axum::http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| cookie::from_header(&state.secret, h))
        .filter(|c| c.provider == state.payments.provider())
}

#[server(endpoint = "checkout/remembered")]
pub async fn load_remembered_buyer() -> Result<Option<RememberedBuyer>, AppError> {
    let state = edge::app_state()?;
    Ok(remembered_card(&state).await.map(|c| RememberedBuyer { card: c.label(), email: c.email }))
}

/// A sale in the creator's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleView {
    pub order_id: String,
    pub work_title: String,
    pub buyer: String,
    pub amount: String,
    pub net: String,
    pub status: OrderStatus,
    pub provider: Provider,
    pub paid_with: crate::orders::PaidWith,
    pub source: String,
    pub date: String,
}

#[server(endpoint = "sales/list")]
pub async fn my_sales() -> Result<Vec<SaleView>, AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    let orders =
        store::orders_of_creator(&state.db, &account.account_id, 500).await.map_err(|e| crate::error::internal("listing sales", &e))?;
    let titles =
        crate::catalog::store::list_owned(&state.db, &account.account_id).await.map_err(|e| crate::error::internal("listing sales", &e))?;
    let mut out = Vec::with_capacity(orders.len());
    for o in orders {
        let currency = o.currency;
        let title = match titles.iter().find(|w| w.work_id == o.work_id) {
            Some(w) => w.title.clone(),
            None => crate::catalog::store::find_any(&state.db, &o.work_id).await.ok().flatten().map(|w| w.title).unwrap_or_default(),
        };
        out.push(SaleView {
            work_title: title,
            buyer: mask_email(&o.buyer_email),
            amount: Money::new(o.amount_minor, currency).to_string(),
            net: Money::new(o.amount_minor - o.fee_minor, currency).to_string(),
            status: o.status,
            provider: o.provider,
            paid_with: crate::orders::PaidWith::of(o.provider, o.payment_method),
            source: crate::earnings::sources::label(&o.source),
            date: crate::ui::date_label(o.created_at),
            order_id: o.order_id,
        });
    }
    Ok(out)
}

#[server(endpoint = "sales/refund")]
pub async fn refund_sale(order_id: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    crate::payments::refund_sale(&state, &account.account_id, &order_id).await?;
    tracing::info!(order.id = %order_id, creator.id = %account.account_id, "sale refunded by creator");
    leptos_axum::redirect("/dashboard/sales?refunded=1");
    Ok(())
}
