//! Server functions for wallets: the overview, rules, auto-reload, history, and what a link
//! page offers a signed-in buyer.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{checkout::domain::PayStep, error::AppError};
#[cfg(feature = "ssr")]
use crate::{
    edge,
    money::{Currency, Money, amount_input},
    wallet::{domain, service, store},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub date: String,
    pub what: String,
    pub amount: String,
    pub balance: String,
    pub credit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletView {
    pub email: String,
    pub balances: Vec<(String, String)>,
    pub paused: bool,
    pub confirm_above: String,
    pub weekly_cap: String,
    pub monthly_cap: String,
    pub pin_above: String,
    pub has_pin: bool,
    pub spent_week: String,
    pub spent_month: String,
    pub autoreload_enabled: bool,
    pub autoreload_currency: String,
    pub autoreload_below: String,
    pub autoreload_amount: String,
    pub autoreload_max: String,
    pub saved_card: Option<String>,
    pub history: Vec<HistoryLine>,
}

#[cfg(feature = "ssr")]
fn opt_amount(v: Option<i64>) -> String {
    v.map(amount_input).unwrap_or_default()
}

#[server(endpoint = "wallet/overview")]
pub async fn wallet_overview() -> Result<WalletView, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let db_err = |e: sqlx::Error| crate::error::internal("wallet overview", &e);
    let settings = store::settings(&state.db, &me.account_id).await.map_err(db_err)?;
    let balances = crate::ledger::store::balances_of(&state.db, &me.account_id, "buyer_wallet").await.map_err(db_err)?;
    let currency = settings.autoreload_currency.clone().unwrap_or_else(|| "EUR".into());
    let (week, month) = domain::periods(crate::db::now_ms());
    let spent_week = store::spent_in_period(&state.db, &me.account_id, &currency, &week).await.map_err(db_err)?;
    let spent_month = store::spent_in_period(&state.db, &me.account_id, &currency, &month).await.map_err(db_err)?;
    let cur = Currency::parse(&currency).unwrap_or(Currency::Eur);
    let history = history_lines(&store::history(&state.db, &me.account_id).await.map_err(db_err)?);
    let saved_card =
        settings.saved_card.as_deref().and_then(|c| serde_json::from_str::<crate::checkout::domain::SavedCard>(c).ok()).map(|c| c.label());
    Ok(WalletView {
        email: me.email,
        balances: balances
            .into_iter()
            .map(|(c, minor)| (c.clone(), Money::new(minor, Currency::parse(&c).unwrap_or(Currency::Eur)).to_string()))
            .collect(),
        paused: settings.paused,
        confirm_above: opt_amount(settings.confirm_above_minor),
        weekly_cap: opt_amount(settings.weekly_cap_minor),
        monthly_cap: opt_amount(settings.monthly_cap_minor),
        pin_above: opt_amount(settings.pin_above_minor),
        has_pin: settings.pin_hash.is_some(),
        spent_week: Money::new(spent_week, cur).to_string(),
        spent_month: Money::new(spent_month, cur).to_string(),
        autoreload_enabled: settings.autoreload_enabled,
        autoreload_currency: currency,
        autoreload_below: opt_amount(settings.autoreload_below_minor),
        autoreload_amount: opt_amount(settings.autoreload_amount_minor),
        autoreload_max: settings.autoreload_max_per_month.map(|n| n.to_string()).unwrap_or_default(),
        saved_card,
        history,
    })
}

/// History lines, newest first, each with the balance after it (per currency).
#[cfg(feature = "ssr")]
pub fn history_lines(rows: &[store::HistoryRow]) -> Vec<HistoryLine> {
    let mut running: std::collections::HashMap<String, i64> = Default::default();
    let mut lines: Vec<HistoryLine> = rows
        .iter()
        .map(|r| {
            let currency = Currency::parse(&r.currency).unwrap_or(Currency::Eur);
            let balance = running.entry(r.currency.clone()).or_default();
            *balance += r.amount_minor;
            let what = match r.kind.as_str() {
                "topup" => "Top-up".to_string(),
                "sale" => format!("Bought {}", r.title.clone().unwrap_or_default()),
                "refund" => format!("Refund of {}", r.title.clone().unwrap_or_default()),
                other => other.to_string(),
            };
            HistoryLine {
                date: crate::ui::date_label(r.created_at),
                what,
                amount: Money::new(r.amount_minor, currency).to_string(),
                balance: Money::new(*balance, currency).to_string(),
                credit: r.amount_minor > 0,
            }
        })
        .collect();
    lines.reverse();
    lines
}

#[server(endpoint = "wallet/rules")]
#[allow(clippy::too_many_arguments)]
pub async fn save_spending_rules(
    paused: Option<String>,
    confirm_above: String,
    weekly_cap: String,
    monthly_cap: String,
    pin_above: String,
    new_pin: Option<String>,
    clear_pin: Option<String>,
) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let rules = domain::SpendingRules {
        paused: paused.is_some_and(|p| p == "1" || p == "on" || p == "true"),
        confirm_above: domain::optional_amount(&confirm_above, "confirm_above")?,
        weekly_cap: domain::optional_amount(&weekly_cap, "weekly_cap")?,
        monthly_cap: domain::optional_amount(&monthly_cap, "monthly_cap")?,
        pin_above: domain::optional_amount(&pin_above, "pin_above")?,
        has_pin: false,
    };
    service::save_rules(&state, &me.account_id, &rules, new_pin.as_deref(), clear_pin.is_some()).await?;
    leptos_axum::redirect("/wallet/settings?saved=1#rules");
    Ok(())
}

#[server(endpoint = "wallet/autoreload")]
pub async fn save_autoreload(
    enabled: Option<String>,
    currency: String,
    below: String,
    amount: String,
    max_per_month: String,
) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let mut settings = store::settings(&state.db, &me.account_id).await.map_err(|e| crate::error::internal("autoreload", &e))?;
    let enabled = enabled.is_some_and(|e| e == "1" || e == "on" || e == "true");
    let currency = Currency::parse(&currency)?;
    let below = domain::optional_amount(&below, "below")?;
    let amount = match domain::optional_amount(&amount, "reload_amount")? {
        Some(a) => Some(
            domain::parse_topup(&amount_input(a), currency.card_minimum())
                .map_err(|e| crate::error::FieldError::new("reload_amount", e.message))?,
        ),
        None => None,
    };
    let max = match max_per_month.trim() {
        "" => None,
        raw => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| (1..=31).contains(n))
                .ok_or_else(|| crate::error::FieldError::new("max_per_month", "Enter a number of reloads from 1 to 31."))?,
        ),
    };
    if enabled && (below.is_none() || amount.is_none() || max.is_none()) {
        return Err(
            crate::error::FieldError::new("below", "Set the threshold, the amount and the monthly limit to turn auto-reload on.").into()
        );
    }
    if enabled && settings.saved_card.is_none() {
        return Err(
            crate::error::FieldError::new("below", "Top up once with “remember my card” first: auto-reload charges that card.").into()
        );
    }
    settings.autoreload_enabled = enabled;
    settings.autoreload_currency = Some(currency.code().into());
    settings.autoreload_below_minor = below;
    settings.autoreload_amount_minor = amount;
    settings.autoreload_max_per_month = max;
    settings.updated_at = crate::db::now_ms();
    store::save_settings(&state.db, &settings).await.map_err(|e| crate::error::internal("autoreload", &e))?;
    state.purchase_cache.forget_settings(&settings.account_id);
    leptos_axum::redirect("/wallet/settings?saved=1#autoreload");
    Ok(())
}

/// What a link page offers a signed-in buyer with a wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletOffer {
    pub balance: String,
    pub price: String,
    pub enough: bool,
    pub paused: bool,
    pub needs_confirmation: bool,
    pub needs_pin: bool,
}

#[server(endpoint = "wallet/offer")]
pub async fn load_wallet_offer(code: String) -> Result<Option<WalletOffer>, AppError> {
    let state = edge::app_state()?;
    let Some(me) = edge::signed_in_account().await? else { return Ok(None) };
    let Ok(row) = crate::catalog::service::storefront(&state.db, &crate::catalog::service::LinkRef::Code(code)).await else {
        return Ok(None);
    };
    let price = row.work.price().floor();
    let price = row.work.price().suggested().filter(|s| s.minor > price.minor).unwrap_or(price);
    let settings = store::settings(&state.db, &me.account_id).await.map_err(|e| crate::error::internal("wallet offer", &e))?;
    let rules = service::rules_of(&settings);
    let balance = service::balance(&state, &me.account_id, price.currency).await?;
    Ok(Some(WalletOffer {
        balance: balance.to_string(),
        price: price.to_string(),
        enough: balance.minor >= price.minor,
        paused: rules.paused,
        needs_confirmation: rules.needs_confirmation(price.minor),
        needs_pin: rules.needs_pin(price.minor),
    }))
}

#[server(endpoint = "wallet/topup-step")]
pub async fn load_topup_step(topup_id: String, key: String) -> Result<PayStep, AppError> {
    let state = edge::app_state()?;
    edge::require_account().await?;
    Ok(service::topup_pay_step(&state, &topup_id, &key).await?)
}
