//! Server functions for the dashboard, payouts and the creator's webhook and time zone
//! settings.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::{
    earnings::{service, webhooks},
    edge,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    pub value: String,
    pub change: Option<String>,
    pub up: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyMetrics {
    pub currency: String,
    pub earnings: Metric,
    pub average_price: Metric,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodCard {
    pub label: String,
    pub views: Metric,
    pub sales: Metric,
    pub conversion: Metric,
    pub money: Vec<CurrencyMetrics>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkRowView {
    pub id: String,
    pub title: String,
    pub views: i64,
    pub sales: i64,
    pub conversion: String,
    pub earnings: String,
    pub refunds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceView {
    pub key: String,
    pub label: String,
    pub views: i64,
    pub sales: i64,
    pub conversion: String,
    pub share: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentSale {
    pub order_id: String,
    pub at: String,
    pub work: String,
    pub buyer: String,
    pub amount: String,
    pub source: String,
    /// "Card", "Klarna", "Wallet", "Tab" or "Free" (`orders::PaidWith::label`).
    pub paid_with: String,
    pub refunded: bool,
    /// On a buyer's tab that was never paid: the creator's share was written off.
    pub written_off: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    pub currency: String,
    pub available: String,
    pub pending: String,
    /// Shares of sales on buyers' tabs that aren't paid yet: available once they are.
    pub on_tabs: String,
    pub has_on_tabs: bool,
    /// Shares of tab sales whose buyers never paid: written off, so never available.
    pub unpaid_tabs: Option<String>,
    /// Enough is available to ask for a payout, and the email is confirmed.
    pub payable: bool,
    /// What a payout request does now, or what stands in its way.
    pub payout_note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutView {
    pub id: String,
    pub amount: String,
    pub status: String,
    pub requested: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    pub display_name: String,
    pub timezone: String,
    pub range_days: i64,
    pub sort: String,
    pub cards: Vec<PeriodCard>,
    pub chart_svg: String,
    pub chart_rows: Vec<(String, i64, i64, String)>,
    pub works: Vec<WorkRowView>,
    pub sources: Vec<SourceView>,
    pub recent: Vec<RecentSale>,
    pub balances: Vec<BalanceView>,
    pub payouts: Vec<PayoutView>,
    pub has_works: bool,
    pub has_activity: bool,
    pub newest_sale: Option<String>,
    /// How this reader writes numbers (the counts in the tables are formatted by the page).
    pub numbers: crate::money::NumberStyle,
}

pub const RANGES: [i64; 4] = [7, 30, 90, 365];

#[server(endpoint = "dashboard")]
pub async fn load_dashboard(range: Option<i64>, sort: Option<String>) -> Result<DashboardView, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let numbers = reader_numbers(&state, &me.account_id).await?;
    Ok(service::dashboard(&state.db, &me, range, sort, state.settings.min_payout_minor, &numbers).await?)
}

/// The headline cards again, for the open dashboard after a sale (see `LiveCards`).
#[server(endpoint = "dashboard/cards")]
pub async fn load_dashboard_cards() -> Result<Vec<PeriodCard>, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let numbers = reader_numbers(&state, &me.account_id).await?;
    Ok(service::live_cards(&state.db, &me.account_id, &numbers).await?)
}

/// How the signed-in creator reads numbers, for this request.
#[cfg(feature = "ssr")]
async fn reader_numbers(state: &crate::state::AppState, creator_id: &str) -> Result<crate::money::NumberStyle, AppError> {
    service::number_style(&state.db, creator_id, &edge::accept_language()).await.map_err(|e| crate::error::internal("dashboard", &e))
}

#[server(endpoint = "payouts/request")]
pub async fn request_payout(currency: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    service::request_payout(&state.db, &me.account_id, &currency, state.settings.min_payout_minor).await?;
    leptos_axum::redirect("/dashboard?payout=requested#balance");
    Ok(())
}

/// Where payouts go, as Settings shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutDestinationView {
    /// The saved destination, masked ("IBAN DE89 •••• 3000 · Ann Maker"); None before one is set.
    pub current: Option<String>,
    /// While payouts wait after a change: why, and until when.
    pub held: Option<String>,
    pub paypal: bool,
    pub holder_name: String,
    /// A change asks for the two-step code too.
    pub two_step_on: bool,
}

/// The seller's payout destination; None for an account that doesn't sell.
#[server(endpoint = "settings/payouts")]
pub async fn load_payout_destination() -> Result<Option<PayoutDestinationView>, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    if !me.sells {
        return Ok(None);
    }
    Ok(Some(service::payout_destination(&state.db, &me).await?))
}

/// Sets where payouts go (the current password again); payouts then wait 72 hours.
#[server(endpoint = "settings/payouts/save")]
pub async fn save_payout_destination(
    kind: String,
    iban: String,
    holder_name: String,
    paypal_email: String,
    current_password: String,
    #[server(default)] two_step_code: String,
) -> Result<(), AppError> {
    use super::destination::Destination;
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    if !me.sells {
        return Err(AppError::Conflict("Start selling first: Settings → Sell on Clink.".into()));
    }
    let new = match kind.as_str() {
        "iban" => Destination::iban(&iban, &holder_name)?,
        "paypal" => Destination::paypal(&paypal_email)?,
        _ => return Err(crate::error::FieldError::new("kind", "Choose a bank transfer or PayPal.").into()),
    };
    let step_up = edge::step_up(&state, &two_step_code);
    service::set_payout_destination(&state.db, &me, &current_password, &step_up, &new).await?;
    leptos_axum::redirect("/settings?saved=payouts#payouts");
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: String,
    pub event: String,
    pub at: String,
    pub status: String,
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationSettings {
    pub timezone: String,
    /// A language tag of `money::NUMBER_FORMATS`, or "" for the browser's language.
    pub number_format: String,
    /// The zones to pick from (IANA names).
    pub zones: Vec<String>,
    pub webhook_url: String,
    pub webhook_secret: Option<String>,
    pub deliveries: Vec<DeliveryView>,
    /// A new webhook URL asks for the two-step code.
    pub two_step_on: bool,
}

#[server(endpoint = "settings/integrations")]
pub async fn load_integration_settings() -> Result<IntegrationSettings, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    Ok(service::integration_settings(&state.db, &me.account_id).await?)
}

/// Saves the creator's time zone and sale webhook URL (a secret is made with the first URL).
#[server(endpoint = "settings/integrations/save")]
pub async fn save_integrations(
    timezone: String,
    #[server(default)] number_format: String,
    webhook_url: String,
    #[server(default)] two_step_code: String,
) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let step_up = edge::step_up(&state, &two_step_code);
    service::save_integrations(&state.db, state.settings.outbound, &me, &timezone, &number_format, &webhook_url, &step_up).await?;
    leptos_axum::redirect("/settings?saved=integrations#integrations");
    Ok(())
}

#[server(endpoint = "settings/webhooks/resend")]
pub async fn resend_webhook(delivery_id: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    if !webhooks::resend(&state.db, &me.account_id, &delivery_id, crate::db::now_ms())
        .await
        .map_err(|e| crate::error::internal("resend", &e))?
    {
        return Err(AppError::NotFound);
    }
    leptos_axum::redirect("/settings?resent=1#integrations");
    Ok(())
}
