//! Server functions for the dashboard, payouts and the creator's webhook and time zone
//! settings.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::{
    checkout::domain::mask_email,
    earnings::{payouts, sources, stats, webhooks},
    edge,
    money::{Currency, Money},
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
    pub refunded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    pub currency: String,
    pub available: String,
    pub available_minor: i64,
    pub pending: String,
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
}

#[cfg(feature = "ssr")]
fn pct(bps: Option<i64>) -> String {
    bps.map(|b| format!("{}.{}%", b / 100, (b % 100) / 10)).unwrap_or_else(|| "—".into())
}

#[cfg(feature = "ssr")]
fn metric(value: String, current: i64, previous: Option<i64>) -> Metric {
    let change = previous.and_then(|p| stats::change(current, p));
    Metric { value, up: change.as_ref().is_none_or(|(_, up)| *up), change: change.map(|(c, _)| c) }
}

pub const RANGES: [i64; 4] = [7, 30, 90, 365];

#[server(endpoint = "dashboard")]
pub async fn load_dashboard(range: Option<i64>, sort: Option<String>) -> Result<DashboardView, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let db_err = |e: sqlx::Error| crate::error::internal("dashboard", &e);
    let timezone: String =
        crate::on_db!(&state.db, pool => sqlx::query_scalar::<_, String>("select timezone from account where account_id = $1")
        .bind(&me.account_id).fetch_one(pool).await)
        .map_err(db_err)?;
    let tz = stats::zone(&timezone);
    let now = jiff::Timestamp::now().to_zoned(tz.clone());
    let range_days = range.filter(|r| RANGES.contains(r)).unwrap_or(30);
    let sort = sort
        .filter(|s| ["views", "sales", "conversion", "earnings", "refunds", "title"].contains(&s.as_str()))
        .unwrap_or_else(|| "earnings".into());

    let series = stats::load_series(&state.db, &me.account_id).await.map_err(db_err)?;
    let cards = stats::periods(&now)
        .into_iter()
        .map(|p| {
            let t = series.totals(p.range.0, p.range.1);
            let prev = p.previous.map(|(a, b)| series.totals(a, b));
            let mut currencies: Vec<Currency> = t.money.keys().copied().collect();
            if let Some(prev) = &prev {
                currencies.extend(prev.money.keys().copied().filter(|c| !t.money.contains_key(c)));
            }
            PeriodCard {
                label: p.label.to_string(),
                views: metric(t.views.to_string(), t.views, prev.as_ref().map(|p| p.views)),
                sales: metric(t.sales().to_string(), t.sales(), prev.as_ref().map(|p| p.sales())),
                conversion: metric(
                    pct(t.conversion_bps()),
                    t.conversion_bps().unwrap_or(0),
                    prev.as_ref().map(|p| p.conversion_bps().unwrap_or(0)),
                ),
                money: currencies
                    .into_iter()
                    .map(|c| {
                        let m = t.money.get(&c).cloned().unwrap_or_default();
                        let pm = prev.as_ref().map(|p| p.money.get(&c).cloned().unwrap_or_default());
                        CurrencyMetrics {
                            currency: c.code().into(),
                            earnings: metric(Money::new(m.earnings(), c).to_string(), m.earnings(), pm.as_ref().map(|p| p.earnings())),
                            average_price: metric(
                                m.average_price().map(|a| Money::new(a, c).to_string()).unwrap_or_else(|| "—".into()),
                                m.average_price().unwrap_or(0),
                                pm.as_ref().map(|p| p.average_price().unwrap_or(0)),
                            ),
                        }
                    })
                    .collect(),
            }
        })
        .collect();

    let days = stats::days(&series, &now, range_days);
    let main_currency = series.totals(i64::MIN, i64::MAX).money.iter().max_by_key(|(_, m)| m.sales).map(|(c, _)| *c);
    let chart_rows = days
        .iter()
        .map(|d| {
            let earnings = d.totals.money.iter().map(|(c, m)| Money::new(m.earnings(), *c).to_string()).collect::<Vec<_>>().join(" + ");
            (d.date.to_string(), d.totals.views, d.totals.sales(), if earnings.is_empty() { "—".into() } else { earnings })
        })
        .collect();
    let chart_svg = stats::chart_svg(&days, main_currency);

    let range_from = days.first().map(|d| stats::day_start_hour(d.date, &tz)).unwrap_or(0);
    let range_to = now.timestamp().as_millisecond().div_euclid(super::rollup::MS_PER_HOUR) + 1;
    let per_work = stats::per_work(&state.db, &me.account_id, range_from, range_to).await.map_err(db_err)?;
    let owned = crate::catalog::store::list_owned(&state.db, &me.account_id).await.map_err(db_err)?;
    let mut works: Vec<(WorkRowView, i64, i64)> = Vec::new();
    let mut ids: Vec<String> = owned.iter().map(|w| w.work_id.clone()).collect();
    ids.extend(per_work.keys().filter(|k| !owned.iter().any(|w| &w.work_id == *k)).cloned());
    for id in ids {
        let t = per_work.get(&id).cloned().unwrap_or_default();
        let title = match owned.iter().find(|w| w.work_id == id) {
            Some(w) => w.title.clone(),
            None => crate::catalog::store::find_any(&state.db, &id)
                .await
                .ok()
                .flatten()
                .map(|w| format!("{} (deleted)", w.title))
                .unwrap_or_default(),
        };
        let earnings_sort = main_currency.and_then(|c| t.money.get(&c)).map(|m| m.earnings()).unwrap_or(0);
        let earnings = t.money.iter().map(|(c, m)| Money::new(m.earnings(), *c).to_string()).collect::<Vec<_>>().join(" + ");
        works.push((
            WorkRowView {
                id,
                title,
                views: t.views,
                sales: t.sales(),
                conversion: pct(t.conversion_bps()),
                earnings: if earnings.is_empty() { "—".into() } else { earnings },
                refunds: t.money.values().map(|m| m.refunds).sum(),
            },
            earnings_sort,
            t.conversion_bps().unwrap_or(-1),
        ));
    }
    match sort.as_str() {
        "views" => works.sort_by(|a, b| b.0.views.cmp(&a.0.views)),
        "sales" => works.sort_by(|a, b| b.0.sales.cmp(&a.0.sales)),
        "conversion" => works.sort_by(|a, b| b.2.cmp(&a.2)),
        "refunds" => works.sort_by(|a, b| b.0.refunds.cmp(&a.0.refunds)),
        "title" => works.sort_by(|a, b| a.0.title.to_lowercase().cmp(&b.0.title.to_lowercase())),
        _ => works.sort_by(|a, b| b.1.cmp(&a.1)),
    }

    let mut source_rows = stats::per_source(&state.db, &me.account_id, range_from, range_to).await.map_err(db_err)?;
    source_rows.sort_by(|a, b| (b.1, b.2).cmp(&(a.1, a.2)));
    let total_views: i64 = source_rows.iter().map(|s| s.1).sum::<i64>().max(1);
    let sources = source_rows
        .into_iter()
        .map(|(key, views, sales)| SourceView {
            label: sources::label(&key),
            key,
            share: (views * 100 / total_views) as u32,
            conversion: pct((views > 0).then(|| sales * 10_000 / views)),
            views,
            sales,
        })
        .collect();

    let recent = recent_sales(&state, &me.account_id, &tz, 20).await?;
    let mut balances = Vec::new();
    let earnings = crate::ledger::store::balances_of(&state.db, &me.account_id, "creator_earnings").await.map_err(db_err)?;
    let pending = crate::ledger::store::balances_of(&state.db, &me.account_id, "payouts_pending").await.map_err(db_err)?;
    for (code, minor) in &earnings {
        let c = Currency::parse(code).unwrap_or(Currency::Eur);
        let p = pending.iter().find(|(pc, _)| pc == code).map(|(_, m)| *m).unwrap_or(0);
        balances.push(BalanceView {
            currency: code.clone(),
            available: Money::new(*minor, c).to_string(),
            available_minor: *minor,
            pending: Money::new(p, c).to_string(),
        });
    }
    let payouts = payouts::of_creator(&state.db, &me.account_id)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|p| PayoutView {
            amount: Money::new(p.amount_minor, Currency::parse(&p.currency).unwrap_or(Currency::Eur)).to_string(),
            status: p.status,
            requested: stats::local_time(p.created_at, &tz),
            id: p.payout_id,
        })
        .collect();
    let all = series.totals(i64::MIN, i64::MAX);
    Ok(DashboardView {
        display_name: me.display_name,
        timezone: tz.iana_name().unwrap_or("UTC").to_string(),
        range_days,
        sort,
        cards,
        chart_svg,
        chart_rows,
        works: works.into_iter().map(|w| w.0).collect(),
        sources,
        newest_sale: recent.first().map(|r| r.order_id.clone()),
        recent,
        balances,
        payouts,
        has_works: !owned.is_empty(),
        has_activity: all.views > 0 || all.sales() > 0,
    })
}

#[cfg(feature = "ssr")]
pub async fn recent_sales(
    state: &crate::state::AppState,
    creator_id: &str,
    tz: &jiff::tz::TimeZone,
    limit: i64,
) -> Result<Vec<RecentSale>, AppError> {
    let rows = crate::on_db!(&state.db, pool => sqlx::query_as::<_, (String, i64, String, String, i64, String, String, String)>(
        "select o.order_id, o.paid_at, w.title, o.buyer_email, o.amount_minor, o.currency, o.source, o.status \
         from buyer_order o join work w on w.work_id = o.work_id \
         where o.creator_id = $1 and o.paid_at is not null and o.status in ('paid', 'fulfilled', 'refunded') \
         order by o.paid_at desc, o.order_id desc limit $2")
        .bind(creator_id).bind(limit).fetch_all(pool).await)
    .map_err(|e| crate::error::internal("recent sales", &e))?;
    Ok(rows
        .into_iter()
        .map(|(order_id, at, title, email, amount, currency, source, status)| RecentSale {
            order_id,
            at: stats::local_time(at, tz),
            work: title,
            buyer: mask_email(&email),
            amount: Money::new(amount, Currency::parse(&currency).unwrap_or(Currency::Eur)).to_string(),
            source: sources::label(&source),
            refunded: status == "refunded",
        })
        .collect())
}

#[server(endpoint = "payouts/request")]
pub async fn request_payout(currency: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let currency = Currency::parse(&currency)?;
    match payouts::request(&state.db, &me.account_id, currency).await {
        Ok(_) => {
            leptos_axum::redirect("/dashboard?payout=requested#balance");
            Ok(())
        }
        Err(payouts::PayoutError::NothingAvailable) => Err(AppError::Conflict("There is nothing to pay out in this currency yet.".into())),
        Err(e) => Err(crate::error::internal("payout request", &e)),
    }
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
    pub webhook_url: String,
    pub webhook_secret: Option<String>,
    pub deliveries: Vec<DeliveryView>,
}

#[server(endpoint = "settings/integrations")]
pub async fn load_integration_settings() -> Result<IntegrationSettings, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let db_err = |e: sqlx::Error| crate::error::internal("integration settings", &e);
    let (timezone, url, secret) = crate::on_db!(&state.db, pool => sqlx::query_as::<_, (String, Option<String>, Option<String>)>(
        "select timezone, webhook_url, webhook_secret from account where account_id = $1")
        .bind(&me.account_id).fetch_one(pool).await)
    .map_err(db_err)?;
    let tz = stats::zone(&timezone);
    let deliveries = webhooks::log(&state.db, &me.account_id, 50)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|d| DeliveryView {
            status: match (d.delivered_at, d.gave_up_at) {
                (Some(_), _) => format!("delivered ({})", d.last_status.unwrap_or(200)),
                (None, Some(_)) => format!("gave up ({})", d.last_error.clone().unwrap_or_default()),
                (None, None) if d.attempts == 0 => "queued".into(),
                (None, None) => format!("retrying ({})", d.last_error.clone().unwrap_or_default()),
            },
            id: d.delivery_id,
            event: d.event_type,
            at: stats::local_time(d.created_at, &tz),
            attempts: d.attempts,
        })
        .collect();
    Ok(IntegrationSettings { timezone, webhook_url: url.unwrap_or_default(), webhook_secret: secret, deliveries })
}

/// Saves the creator's time zone and sale webhook URL (a secret is made with the first URL).
#[server(endpoint = "settings/integrations/save")]
pub async fn save_integrations(timezone: String, webhook_url: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let timezone = timezone.trim();
    if jiff::tz::TimeZone::get(timezone).is_err() {
        return Err(AppError::invalid("timezone", "Use a time zone name like Europe/Paris or America/New_York."));
    }
    let url = webhook_url.trim();
    let url = if url.is_empty() {
        None
    } else {
        let parsed =
            crate::outbound::check_url(url, state.settings.outbound).map_err(|e| AppError::invalid("webhook_url", e.to_string()))?;
        Some(parsed.to_string())
    };
    let secret = format!("whsec_{}", crate::delivery::service::new_token());
    crate::on_db!(&state.db, pool => sqlx::query(
        "update account set timezone = $1, webhook_url = $2, webhook_secret = coalesce(webhook_secret, $3) where account_id = $4")
        .bind(timezone).bind(&url).bind(&secret).bind(&me.account_id).execute(pool).await.map(|_| ()))
    .map_err(|e| crate::error::internal("saving integrations", &e))?;
    leptos_axum::redirect("/settings?saved=1#integrations");
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
