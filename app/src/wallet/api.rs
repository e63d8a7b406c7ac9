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
    /// The buyer's own tab limit, as typed ("" = Clink's).
    pub tab_limit: String,
    pub spent_week: String,
    pub spent_month: String,
    pub autoreload_enabled: bool,
    pub autoreload_currency: String,
    pub autoreload_below: String,
    pub autoreload_amount: String,
    pub autoreload_max: String,
    pub saved_card: Option<String>,
    /// The saved card pays the tab when it is due or reaches its limit.
    pub tab_autopay: bool,
    pub history: Vec<HistoryLine>,
    /// The buyer's tabs, one per currency they ever bought on a tab in.
    pub tabs: Vec<TabView>,
}

/// The tab part of the wallet page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabView {
    pub currency: String,
    pub owed: String,
    pub limit: String,
    pub owes: bool,
    /// Written off unpaid: never a tab again.
    pub closed: bool,
    /// Why the tab can't be bought on, or that it is overdue, if so.
    pub notice: Option<String>,
    /// Open purchases: date, title, amount.
    pub items: Vec<(String, String, String)>,
    /// Payments of the tab: date, amount, status, how many purchases it paid.
    pub settlements: Vec<(String, String, String, i64)>,
    /// What paying per purchase by card would have cost instead, e.g. "card minimums 1.50".
    pub savings: Option<String>,
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
    let tabs = tab_views(&state, &me.account_id, &settings).await?;
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
        tab_limit: opt_amount(settings.tab_limit_minor),
        spent_week: Money::new(spent_week, cur).to_string(),
        spent_month: Money::new(spent_month, cur).to_string(),
        autoreload_enabled: settings.autoreload_enabled,
        autoreload_currency: currency,
        autoreload_below: opt_amount(settings.autoreload_below_minor),
        autoreload_amount: opt_amount(settings.autoreload_amount_minor),
        autoreload_max: settings.autoreload_max_per_month.map(|n| n.to_string()).unwrap_or_default(),
        saved_card,
        tab_autopay: settings.tab_autopay,
        history,
        tabs,
    })
}

/// The buyer's tabs, one per currency they ever bought on a tab in: those with open purchases
/// first (newest purchase first), then by currency.
#[cfg(feature = "ssr")]
async fn tab_views(state: &crate::state::AppState, account_id: &str, settings: &store::SettingsRow) -> Result<Vec<TabView>, AppError> {
    let db_err = |e: sqlx::Error| crate::error::internal("tab", &e);
    let (tabs, items, settlements, settled, collections) = futures::try_join!(
        crate::ledger::store::balances_of(&state.db, account_id, "buyer_tab"),
        store::open_tab_items(&state.db, account_id),
        store::settlements(&state.db, account_id),
        store::settled_tab_items(&state.db, account_id),
        store::tab_collections(&state.db, account_id),
    )
    .map_err(db_err)?;
    // Every tab purchase books on the buyer's tab account in its currency: those accounts are
    // the buyer's tabs, and their balances what each owes.
    let mut owed: Vec<(Currency, i64)> = tabs.iter().filter_map(|(code, balance)| Some((Currency::from_code(code)?, -balance))).collect();
    let newest_item = |c: Currency| items.iter().position(|i| i.currency == c).unwrap_or(usize::MAX);
    owed.sort_by_key(|(c, _)| (newest_item(*c), *c));
    let not_in_collection = store::CollectionRow::default();
    let mut views = Vec::with_capacity(owed.len());
    for (currency, owed_minor) in owed {
        let collection = collections.iter().find(|(c, _)| *c == currency).map_or(&not_in_collection, |(_, row)| row);
        let standing = crate::wallet::tab::Standing::of_rows(&settlements, currency);
        let tab = crate::wallet::tab::tab_of(owed_minor, currency, &standing, collection, state.settings.tab_limit_minor, settings);
        views.push(tab_view(currency, &tab, &items, &settlements, &settled));
    }
    Ok(views)
}

/// The tab in `currency` for the wallet page, from the buyer's open purchases, settlements and
/// settled purchases (`(settlement, amount)`), in every currency.
#[cfg(feature = "ssr")]
fn tab_view(
    currency: Currency,
    tab: &crate::wallet::tab::Tab,
    items: &[store::OpenTabItem],
    settlements: &[store::TopUpRow],
    settled: &[(String, i64)],
) -> TabView {
    let settlements: Vec<&store::TopUpRow> = settlements.iter().filter(|s| s.currency == currency).collect();
    let settled: Vec<&(String, i64)> = settled.iter().filter(|(id, _)| settlements.iter().any(|s| &s.topup_id == id)).collect();
    let mut counts: std::collections::HashMap<&str, i64> = Default::default();
    for (settlement, _) in &settled {
        *counts.entry(settlement.as_str()).or_default() += 1;
    }
    let payments = settlements.iter().filter(|s| s.status == crate::orders::TopUpStatus::Succeeded).count();
    // What the settled purchases would have cost as card payments of their own.
    let savings = (settled.len() > payments).then(|| {
        let amounts: Vec<i64> = settled.iter().map(|(_, amount)| *amount).collect();
        let (minimums, fees) = crate::wallet::tab::card_savings(&amounts, currency);
        let saved = if minimums.minor > 0 {
            format!("{minimums} in card minimums and about {fees} in per-sale card fees")
        } else {
            format!("about {fees} in per-sale card fees")
        };
        format!("{} purchases paid in {payments} card payment(s): {saved} saved.", settled.len())
    });
    TabView {
        currency: currency.code().to_string(),
        owed: tab.owed.to_string(),
        limit: tab.limit.to_string(),
        owes: tab.owed.minor > 0,
        closed: tab.closed,
        notice: match (tab.closed, tab.overdue, tab.locked) {
            // Closed: a tab of the buyer's was written off. This one may still owe (another
            // currency's): it can be paid, and is collected to its own end.
            (true, ..) if tab.owed.minor > 0 => Some(
                "Your tabs are closed to new purchases because one went unpaid. Please pay what this one owes, or it will be written off too."
                    .into(),
            ),
            (true, ..) => Some("Your tab was closed because it went unpaid. You can still buy with your wallet or a card.".into()),
            (false, true, true) => Some("Your tab is overdue and locked. Pay it to buy on it again.".into()),
            (false, true, false) => Some("Your tab is overdue. Please pay it soon: after the third reminder it is locked.".into()),
            (false, false, true) => Some("Your last tab payment didn't go through. Pay your tab to buy on it again.".into()),
            (false, false, false) => None,
        },
        items: items
            .iter()
            .filter(|i| i.currency == currency)
            .map(|i| (crate::ui::date_label(i.created_at), i.title.clone(), Money::new(i.amount_minor, i.currency).to_string()))
            .collect(),
        settlements: settlements
            .iter()
            .map(|s| {
                let status = match s.status {
                    crate::orders::TopUpStatus::Succeeded => "paid",
                    crate::orders::TopUpStatus::Failed => "card refused",
                    crate::orders::TopUpStatus::Pending => "waiting for the card",
                };
                let n = counts.get(s.topup_id.as_str()).copied().unwrap_or(0);
                (crate::ui::date_label(s.created_at), Money::new(s.amount_minor, s.currency).to_string(), status.to_string(), n)
            })
            .collect(),
        savings,
    }
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
    /// Older forms don't send it: then the saved one stays.
    tab_limit: Option<String>,
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
        tab_limit: match tab_limit {
            Some(raw) => domain::optional_amount(&raw, "tab_limit")?,
            None => {
                store::settings(&state.db, &me.account_id).await.map_err(|e| crate::error::internal("wallet rules", &e))?.tab_limit_minor
            }
        },
    };
    service::save_rules(&state, &me.account_id, &rules, new_pin.as_deref(), clear_pin.is_some()).await?;
    leptos_axum::redirect("/wallet/settings?saved=1#rules");
    Ok(())
}

/// Lets the saved card pay the tab when it is due or reaches its limit (or stops it).
#[server(endpoint = "wallet/tab-autopay")]
pub async fn save_tab_autopay(enabled: Option<String>) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let on = enabled.is_some_and(|e| e == "1" || e == "on" || e == "true");
    service::set_tab_autopay(&state, &me.account_id, on).await?;
    leptos_axum::redirect("/wallet/settings?saved=1#tab-autopay");
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

/// What a link page offers on the tab: to a visitor, a first tab; to a signed-in buyer, their
/// tab as it stands. None where the tab can't pay: a free work, a creator who doesn't sell on
/// tabs, a price above the buyer's whole limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabOffer {
    /// What the signed-in buyer's tab owes (none for a visitor).
    pub owed: Option<String>,
    pub limit: String,
    /// The price fits in what is left of the limit (else buying asks to pay the tab first).
    pub fits: bool,
    /// The tab's last payment was refused: it takes nothing more until paid.
    pub locked: bool,
    /// The signed-in buyer's rules ask for their PIN, or a confirmation, at this price.
    pub needs_pin: bool,
    pub needs_confirmation: bool,
}

#[server(endpoint = "wallet/tab-offer")]
pub async fn load_tab_offer(code: String) -> Result<Option<TabOffer>, AppError> {
    let state = edge::app_state()?;
    let Ok(row) = crate::catalog::service::storefront(&state.db, &crate::catalog::service::LinkRef::Code(code)).await else {
        return Ok(None);
    };
    let price = row.work.price().floor();
    let price = row.work.price().suggested().filter(|s| s.minor > price.minor).unwrap_or(price);
    let db_err = |e: sqlx::Error| crate::error::internal("tab offer", &e);
    if price.is_zero() || !crate::accounts::store::sells_on_tab(&state.db, &row.work.creator_id).await.map_err(db_err)? {
        return Ok(None);
    }
    let (tab, rules) = match edge::signed_in_account().await? {
        Some(me) => {
            let settings = store::settings(&state.db, &me.account_id).await.map_err(db_err)?;
            (service::tab_state(&state, &me.account_id, price.currency, &settings).await?, Some(service::rules_of(&settings)))
        }
        None => {
            let (standing, collection) = (Default::default(), Default::default());
            (
                crate::wallet::tab::tab_of(0, price.currency, &standing, &collection, state.settings.tab_limit_minor, &Default::default()),
                None,
            )
        }
    };
    if rules.as_ref().is_some_and(|r| r.paused) || tab.closed {
        return Ok(None);
    }
    if price.minor > tab.limit.minor {
        return Ok(None);
    }
    Ok(Some(TabOffer {
        owed: rules.is_some().then(|| tab.owed.to_string()),
        limit: tab.limit.to_string(),
        fits: price.minor <= tab.room().minor,
        locked: tab.locked,
        needs_pin: rules.as_ref().is_some_and(|r| r.needs_pin(price.minor)),
        needs_confirmation: rules.as_ref().is_some_and(|r| r.needs_confirmation(price.minor)),
    }))
}

#[server(endpoint = "wallet/topup-step")]
pub async fn load_topup_step(topup_id: String, key: String) -> Result<PayStep, AppError> {
    let state = edge::app_state()?;
    edge::require_account().await?;
    Ok(service::topup_pay_step(&state, &topup_id, &key).await?)
}
