//! Earnings: what the creator's pages show, computed from the rollups, the ledger and the
//! orders. Server functions and the HTTP API call these and only map errors.

use std::cmp::Reverse;

use std::collections::HashMap;

use jiff::tz::TimeZone;

use super::{
    api::{
        BalanceView, CurrencyMetrics, DashboardView, DeliveryView, IntegrationSettings, Metric, PayoutDestinationView, PayoutView,
        PeriodCard, RANGES, RecentSale, SourceView, WorkRowView,
    },
    destination::{self, Destination},
    payouts, rollup, sources, stats, store, webhooks,
};
use crate::accounts::two_step::StepUp;
use crate::{
    accounts::domain::mask_email,
    db::{self, Db},
    error::{AppError, FieldError, internal},
    money::{Currency, Money, NUMBER_FORMATS, NumberStyle},
    orders::OrderStatus,
    outbound::OutboundPolicy,
};

#[derive(Debug, thiserror::Error)]
pub enum EarningsError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("nothing available to pay out")]
    NothingToPayOut,
    #[error("the email is not confirmed")]
    EmailNotConfirmed,
    #[error("two-step sign-in is off")]
    TwoStepOff,
    #[error("no payout destination")]
    NoDestination,
    #[error("the payout destination is new")]
    DestinationHeld { until: i64 },
    #[error("the payout destination was set before a password change")]
    DestinationStale,
    #[error(transparent)]
    Account(#[from] crate::accounts::service::AccountError),
    #[error("below the minimum payout")]
    BelowMinimum { available: Money, minimum: Money },
    #[error(transparent)]
    Payout(#[from] payouts::PayoutError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<EarningsError> for AppError {
    fn from(err: EarningsError) -> Self {
        match err {
            EarningsError::Invalid(e) => e.into(),
            EarningsError::NothingToPayOut => AppError::Conflict("There is nothing to pay out in this currency yet.".into()),
            EarningsError::BelowMinimum { available, minimum } => {
                AppError::Conflict(format!("Payouts start at {minimum}. You have {available} available so far."))
            }
            EarningsError::EmailNotConfirmed => {
                AppError::Conflict("Confirm your email before your first payout: Settings → Email sends you the link.".into())
            }
            EarningsError::TwoStepOff => AppError::Conflict(TWO_STEP_FIRST.into()),
            EarningsError::NoDestination => AppError::Conflict("Add where to send your money first: Settings → Payouts.".into()),
            EarningsError::DestinationHeld { until } => AppError::Conflict(held_note(until)),
            EarningsError::DestinationStale => AppError::Conflict(STALE_DESTINATION.into()),
            EarningsError::Account(e) => e.into(),
            EarningsError::Payout(e) => internal("payout request", &e),
            EarningsError::Database(e) => internal("earnings query", &e),
        }
    }
}

/// The creator's time zone (UTC when unset or unknown): every figure by day or hour is local.
pub async fn creator_zone(db: &Db, creator_id: &str) -> Result<TimeZone, sqlx::Error> {
    Ok(stats::zone(&store::timezone_name(db, creator_id).await?.unwrap_or_default()))
}

/// How the creator reads numbers: as they chose in Settings, else as their browser's
/// `Accept-Language` says.
pub async fn number_style(db: &Db, creator_id: &str, accept_language: &str) -> Result<NumberStyle, sqlx::Error> {
    Ok(store::number_format(db, creator_id)
        .await?
        .and_then(|tag| NumberStyle::for_language(&tag))
        .unwrap_or_else(|| NumberStyle::from_accept_language(accept_language)))
}

fn pct(bps: Option<i64>, numbers: &NumberStyle) -> String {
    bps.map(|b| numbers.percent(b)).unwrap_or_else(|| "—".into())
}

fn metric(value: String, current: i64, previous: Option<i64>) -> Metric {
    let change = previous.and_then(|p| stats::change(current, p));
    Metric { value, up: change.as_ref().is_none_or(|(_, up)| *up), change: change.map(|(c, _)| c) }
}

/// The headline cards on their own: what the open dashboard fetches again when a sale comes in.
pub async fn live_cards(db: &Db, creator_id: &str, numbers: &NumberStyle) -> Result<Vec<PeriodCard>, EarningsError> {
    let tz = creator_zone(db, creator_id).await?;
    let now = jiff::Timestamp::now().to_zoned(tz);
    let series = stats::load_series(db, creator_id).await?;
    Ok(period_cards(&series, &now, numbers))
}

/// The cards of `stats::periods`: today so far, the last 7 and 30 days (each against the same
/// span just before it), and all time.
fn period_cards(series: &stats::Series, now: &jiff::Zoned, numbers: &NumberStyle) -> Vec<PeriodCard> {
    stats::periods(now)
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
                views: metric(numbers.count(t.views), t.views, prev.as_ref().map(|p| p.views)),
                sales: metric(numbers.count(t.sales()), t.sales(), prev.as_ref().map(|p| p.sales())),
                conversion: metric(
                    pct(t.conversion_bps(), numbers),
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
                            earnings: metric(numbers.money(Money::new(m.earnings(), c)), m.earnings(), pm.as_ref().map(|p| p.earnings())),
                            average_price: metric(
                                m.average_price().map(|a| numbers.money(Money::new(a, c))).unwrap_or_else(|| "—".into()),
                                m.average_price().unwrap_or(0),
                                pm.as_ref().map(|p| p.average_price().unwrap_or(0)),
                            ),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The creator's dashboard: the period cards, the chart, per-work and per-source tables, the
/// recent sales, balances and payouts, in the creator's time zone.
pub async fn dashboard(
    db: &Db,
    me: &crate::accounts::store::AccountRow,
    range: Option<i64>,
    sort: Option<String>,
    min_payout: i64,
    numbers: &NumberStyle,
) -> Result<DashboardView, EarningsError> {
    let (creator_id, display_name) = (me.account_id.as_str(), me.display_name.as_str());
    let email_confirmed = me.email_verified_at.is_some();
    let tz = creator_zone(db, creator_id).await?;
    let now = jiff::Timestamp::now().to_zoned(tz.clone());
    let range_days = range.filter(|r| RANGES.contains(r)).unwrap_or(30);
    let sort = sort
        .filter(|s| ["views", "sales", "conversion", "earnings", "refunds", "title"].contains(&s.as_str()))
        .unwrap_or_else(|| "earnings".into());

    let series = stats::load_series(db, creator_id).await?;
    let cards = period_cards(&series, &now, numbers);

    let days = stats::days(&series, &now, range_days);
    let main_currency = series.totals(i64::MIN, i64::MAX).money.iter().max_by_key(|(_, m)| m.sales).map(|(c, _)| *c);
    let chart_rows = days
        .iter()
        .map(|d| {
            let earnings = d.totals.money.iter().map(|(c, m)| numbers.money(Money::new(m.earnings(), *c))).collect::<Vec<_>>().join(" + ");
            (d.date.to_string(), d.totals.views, d.totals.sales(), if earnings.is_empty() { "—".into() } else { earnings })
        })
        .collect();
    let chart_svg = stats::chart_svg(&days, main_currency);

    let range_from = days.first().map(|d| stats::day_start_hour(d.date, &tz)).unwrap_or(0);
    let range_to = now.timestamp().as_millisecond().div_euclid(rollup::MS_PER_HOUR) + 1;
    let per_work = stats::per_work(db, creator_id, range_from, range_to).await?;
    let owned = crate::catalog::store::list_owned(db, creator_id).await?;
    let live: HashMap<&str, &str> = owned.iter().map(|w| (w.work_id.as_str(), w.title.as_str())).collect();
    // Works deleted since they sold: their titles in one query, not one per work.
    let gone: Vec<&str> = per_work.keys().map(String::as_str).filter(|id| !live.contains_key(id)).collect();
    let deleted: HashMap<String, String> = crate::catalog::store::titles_of(db, &gone).await?;
    let mut works: Vec<(WorkRowView, i64, i64)> = Vec::new();
    let mut ids: Vec<String> = owned.iter().map(|w| w.work_id.clone()).collect();
    ids.extend(gone.iter().map(|id| id.to_string()));
    for id in ids {
        let t = per_work.get(&id).cloned().unwrap_or_default();
        let title = match live.get(id.as_str()) {
            Some(title) => title.to_string(),
            None => deleted.get(&id).map(|title| format!("{title} (deleted)")).unwrap_or_default(),
        };
        let earnings_sort = main_currency.and_then(|c| t.money.get(&c)).map(|m| m.earnings()).unwrap_or(0);
        let earnings = t.money.iter().map(|(c, m)| numbers.money(Money::new(m.earnings(), *c))).collect::<Vec<_>>().join(" + ");
        works.push((
            WorkRowView {
                id,
                title,
                views: t.views,
                sales: t.sales(),
                conversion: pct(t.conversion_bps(), numbers),
                earnings: if earnings.is_empty() { "—".into() } else { earnings },
                refunds: t.money.values().map(|m| m.refunds).sum(),
            },
            earnings_sort,
            t.conversion_bps().unwrap_or(-1),
        ));
    }
    match sort.as_str() {
        "views" => works.sort_by_key(|w| Reverse(w.0.views)),
        "sales" => works.sort_by_key(|w| Reverse(w.0.sales)),
        "conversion" => works.sort_by_key(|w| Reverse(w.2)),
        "refunds" => works.sort_by_key(|w| Reverse(w.0.refunds)),
        "title" => works.sort_by_key(|w| w.0.title.to_lowercase()),
        _ => works.sort_by_key(|w| Reverse(w.1)),
    }

    let mut source_rows = stats::per_source(db, creator_id, range_from, range_to).await?;
    source_rows.sort_by_key(|s| Reverse((s.1, s.2)));
    let total_views: i64 = source_rows.iter().map(|s| s.1).sum::<i64>().max(1);
    let sources = source_rows
        .into_iter()
        .map(|(key, views, sales, viewed_sales)| SourceView {
            label: sources::label(&key),
            key,
            share: (views * 100 / total_views) as u32,
            conversion: pct(stats::conversion_bps(viewed_sales, views), numbers),
            views,
            sales,
        })
        .collect();

    let recent = recent_sales(db, creator_id, &tz, 20, numbers).await?;
    let mut balances = Vec::new();
    let earnings = crate::ledger::store::balances_of(db, creator_id, "creator_earnings").await?;
    let pending = crate::ledger::store::balances_of(db, creator_id, "payouts_pending").await?;
    let on_tabs = crate::ledger::store::balances_of(db, creator_id, "creator_pending").await?;
    let written_off = crate::ledger::store::written_off_pending(db, creator_id).await?;
    // A creator whose only sales are on unpaid tabs has shares waiting and nothing available yet.
    let mut earnings = earnings;
    for (code, _) in &on_tabs {
        if !earnings.iter().any(|(c, _)| c == code) {
            earnings.push((code.clone(), 0));
        }
    }
    // What stands between an amount over the minimum and a payout.
    let two_step_on = crate::accounts::two_step::is_on(db, creator_id).await?;
    let blocker = match destination::load(db, creator_id).await? {
        _ if !two_step_on => Some(TWO_STEP_FIRST.to_string()),
        None => Some("Add where to send your money in Settings → Payouts.".to_string()),
        Some(saved) if saved.session_epoch != me.session_epoch => Some(STALE_DESTINATION.to_string()),
        Some(saved) if saved.hold_until > db::now_ms() => Some(held_note(saved.hold_until)),
        Some(_) => None,
    };
    for (code, minor) in &earnings {
        let c = Currency::parse(code).unwrap_or(Currency::Eur);
        let p = pending.iter().find(|(pc, _)| pc == code).map(|(_, m)| *m).unwrap_or(0);
        let t = on_tabs.iter().find(|(tc, _)| tc == code).map(|(_, m)| *m).unwrap_or(0);
        let w = written_off.iter().find(|(wc, _)| wc == code).map(|(_, m)| *m).unwrap_or(0);
        balances.push(BalanceView {
            currency: code.clone(),
            available: numbers.money(Money::new(*minor, c)),
            pending: numbers.money(Money::new(p, c)),
            on_tabs: numbers.money(Money::new(t, c)),
            has_on_tabs: t != 0,
            unpaid_tabs: (w != 0).then(|| numbers.money(Money::new(w, c))),
            payable: email_confirmed && blocker.is_none() && *minor >= min_payout && *minor > 0,
            payout_note: if !email_confirmed {
                "Confirm your email in Settings to get paid.".into()
            } else if *minor < min_payout {
                format!("Payouts start at {}.", numbers.money(Money::new(min_payout, c)))
            } else if let Some(blocker) = &blocker {
                blocker.clone()
            } else {
                "The whole available balance is sent; the operator pays requests within a few business days.".into()
            },
        });
    }
    let payouts = payouts::of_creator(db, creator_id)
        .await?
        .into_iter()
        .map(|p| PayoutView {
            amount: numbers.money(Money::new(p.amount_minor, Currency::parse(&p.currency).unwrap_or(Currency::Eur))),
            status: p.status,
            requested: stats::local_time(p.created_at, &tz),
            id: p.payout_id,
        })
        .collect();
    let all = series.totals(i64::MIN, i64::MAX);
    Ok(DashboardView {
        display_name: display_name.to_string(),
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
        numbers: numbers.clone(),
    })
}

/// The creator's newest `limit` sales, for the dashboard and the live feed.
pub async fn recent_sales(
    db: &Db,
    creator_id: &str,
    tz: &TimeZone,
    limit: i64,
    numbers: &NumberStyle,
) -> Result<Vec<RecentSale>, EarningsError> {
    Ok(store::recent_sales(db, creator_id, limit)
        .await?
        .into_iter()
        .map(|s| RecentSale {
            at: stats::local_time(s.paid_at, tz),
            work: s.title,
            buyer: mask_email(&s.buyer_email),
            amount: numbers.money(Money::new(s.amount_minor, s.currency)),
            source: sources::label(&s.source),
            paid_with: crate::orders::PaidWith::of(s.provider, s.payment_method).label().to_string(),
            refunded: s.status == OrderStatus::Refunded,
            written_off: s.tab_written_off_at.is_some(),
            order_id: s.order_id,
        })
        .collect())
}

/// Why an account without two-step sign-in gets no payout: a password alone shouldn't be
/// enough to move money out.
pub const TWO_STEP_FIRST: &str = "Turn on two-step sign-in before your first payout: Settings → Two-step sign-in.";

/// Why payouts wait when the destination was set before the password last changed (or was
/// reset, or every other device signed out): it may be a taker's, so its owner looks again.
pub const STALE_DESTINATION: &str =
    "Your password changed after your payout destination was set. Check it in Settings → Payouts and save it again.";

/// Why payouts wait after a destination change, and until when.
pub fn held_note(until: i64) -> String {
    format!(
        "Payouts to a new destination start {}, 72 hours after it was set: time for you to stop it if it wasn't you.",
        crate::ui::date_label(until)
    )
}

/// Sets where payouts go, once the current password is given again. Payouts then wait
/// [`destination::HOLD_MS`], and the account's address hears of it at once (queued in the
/// same transaction). Returns when the hold ends.
pub async fn set_payout_destination(
    db: &Db,
    account: &crate::accounts::store::AccountRow,
    current_password: &str,
    step_up: &StepUp<'_>,
    new: &Destination,
) -> Result<i64, EarningsError> {
    crate::accounts::service::confirm_password(step_up.limits, account, current_password).await?;
    step_up.check(db, account).await?;
    let now = db::now_ms();
    let hold_until = now + destination::HOLD_MS;
    let mut tx = db.begin().await?;
    destination::save(&mut tx, &account.account_id, new, account.session_epoch, hold_until, now).await?;
    let notice = crate::mail::outbox::Mail::PayoutDestinationChanged { masked: new.masked(), hold_until };
    crate::mail::outbox::enqueue(&mut tx, &account.email, &notice).await?;
    tx.commit().await?;
    tracing::info!(account.id = %account.account_id, "payout destination changed; payouts held for 72 hours");
    Ok(hold_until)
}

/// The destination as the creator's Settings show it.
pub async fn payout_destination(db: &Db, me: &crate::accounts::store::AccountRow) -> Result<PayoutDestinationView, EarningsError> {
    let saved = destination::load(db, &me.account_id).await?;
    let now = db::now_ms();
    Ok(PayoutDestinationView {
        current: saved.as_ref().map(|s| s.destination.masked()),
        held: saved.as_ref().and_then(|s| match s {
            s if s.session_epoch != me.session_epoch => Some(STALE_DESTINATION.to_string()),
            s if s.hold_until > now => Some(held_note(s.hold_until)),
            _ => None,
        }),
        paypal: matches!(saved.as_ref().map(|s| &s.destination), Some(Destination::PayPal { .. })),
        holder_name: match saved.map(|s| s.destination) {
            Some(Destination::Iban { holder, .. }) => holder,
            _ => String::new(),
        },
        two_step_on: crate::accounts::two_step::is_on(db, &me.account_id).await?,
    })
}

/// A payout of everything available in `currency`, for a creator whose email is proven: money
/// leaves only for an account whose owner is known to read its address.
pub async fn request_payout(db: &Db, creator_id: &str, currency: &str, minimum: i64) -> Result<(), EarningsError> {
    let currency = Currency::parse(currency)?;
    let account = crate::accounts::store::find_by_id(db, creator_id).await?;
    let Some(account) = account.filter(|a| a.email_verified_at.is_some()) else {
        return Err(EarningsError::EmailNotConfirmed);
    };
    let two_step_on = crate::accounts::two_step::is_on(db, creator_id).await?;
    let ready = match destination::load(db, creator_id).await? {
        _ if !two_step_on => Err(EarningsError::TwoStepOff),
        None => Err(EarningsError::NoDestination),
        Some(saved) if saved.session_epoch != account.session_epoch => Err(EarningsError::DestinationStale),
        Some(saved) if saved.hold_until > db::now_ms() => Err(EarningsError::DestinationHeld { until: saved.hold_until }),
        Some(saved) => Ok(saved.destination.full()),
    };
    let destination = match ready {
        Ok(destination) => destination,
        Err(blocker) => {
            // With too little to pay out, that is the answer: no destination would change it.
            let account = crate::ledger::domain::AccountRef::creator_earnings(creator_id, currency).id();
            let available = crate::ledger::store::balance(db, &account).await?;
            return Err(match available {
                ..=0 => EarningsError::NothingToPayOut,
                a if a < minimum => {
                    EarningsError::BelowMinimum { available: Money::new(a, currency), minimum: Money::new(minimum, currency) }
                }
                _ => blocker,
            });
        }
    };
    match payouts::request(db, creator_id, currency, minimum, &destination).await {
        Ok(_) => Ok(()),
        Err(payouts::PayoutError::NothingAvailable) => Err(EarningsError::NothingToPayOut),
        Err(payouts::PayoutError::BelowMinimum { available, minimum }) => {
            Err(EarningsError::BelowMinimum { available: Money::new(available, currency), minimum: Money::new(minimum, currency) })
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn integration_settings(db: &Db, creator_id: &str) -> Result<IntegrationSettings, EarningsError> {
    let settings = store::integrations(db, creator_id).await?;
    let tz = stats::zone(&settings.timezone);
    let deliveries = webhooks::log(db, creator_id, 50)
        .await?
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
    Ok(IntegrationSettings {
        timezone: settings.timezone,
        zones: stats::zone_names().to_vec(),
        number_format: settings.number_format.unwrap_or_default(),
        webhook_url: settings.webhook_url.unwrap_or_default(),
        webhook_secret: settings.webhook_secret,
        deliveries,
        two_step_on: crate::accounts::two_step::is_on(db, creator_id).await?,
    })
}

/// Saves the creator's time zone, number format ("" for the browser's) and sale webhook URL
/// (checked public, see `outbound`); a
/// secret is made with the first URL. A new URL is where every sale is announced, so changing
/// it asks for the two-step code again (`two_step_code`) when the account has one.
pub async fn save_integrations(
    db: &Db,
    outbound: OutboundPolicy,
    creator: &crate::accounts::store::AccountRow,
    timezone: &str,
    number_format: &str,
    webhook_url: &str,
    step_up: &StepUp<'_>,
) -> Result<(), EarningsError> {
    let creator_id = creator.account_id.as_str();
    let timezone = timezone.trim();
    if TimeZone::get(timezone).is_err() {
        return Err(FieldError::new("timezone", "Pick a time zone from the list, like Europe/Paris or America/New_York.").into());
    }
    let number_format = match number_format.trim() {
        "" => None,
        tag if NUMBER_FORMATS.iter().any(|(t, _)| *t == tag) => Some(tag),
        _ => return Err(FieldError::new("number_format", "Pick a number format from the list.").into()),
    };
    let url = webhook_url.trim();
    let url = if url.is_empty() {
        None
    } else {
        Some(crate::outbound::check_url(url, outbound).map_err(|e| FieldError::new("webhook_url", e.to_string()))?.to_string())
    };
    let current_url = store::integrations(db, creator_id).await?.webhook_url;
    if url.is_some() && url != current_url {
        step_up.check(db, creator).await?;
    }
    let secret = format!("whsec_{}", crate::delivery::service::new_token());
    store::save_integrations(db, creator_id, timezone, number_format, url.as_deref(), &secret).await?;
    Ok(())
}
