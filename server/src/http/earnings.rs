//! Creator analytics over plain HTTP: the sales CSV, the live sales feed (server-sent events),
//! and the sales and stats API.

use std::{convert::Infallible, time::Duration};

use app::{
    accounts::session,
    earnings::{
        service::{self, recent_sales},
        stats,
    },
    error::AppError,
    money::{Currency, Money},
    state::AppState,
};
use axum::{
    Json, Router,
    extract::{Query, State},
    http::header,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use super::api_v1::ApiCreator;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/sales.csv", get(sales_csv))
        .route("/dashboard/events", get(live_sales))
        .route("/api/v1/sales", get(sales_api))
        .route("/api/v1/stats", get(stats_api))
}

async fn timezone(state: &AppState, creator_id: &str) -> jiff::tz::TimeZone {
    service::creator_zone(&state.db, creator_id).await.unwrap_or(jiff::tz::TimeZone::UTC)
}

#[derive(Debug, Deserialize, Default)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    work_id: Option<String>,
    cursor: Option<String>,
    per_page: Option<i64>,
}

fn bounds(q: &RangeQuery, tz: &jiff::tz::TimeZone) -> Result<(i64, i64), AppError> {
    let parse = |raw: &Option<String>, field: &'static str, end: bool, default: i64| match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(raw) => stats::parse_bound(raw, tz, end)
            .ok_or_else(|| AppError::invalid(field, format!("`{raw}` is not a date (2026-11-23) or an RFC 3339 time"))),
    };
    let from = parse(&q.from, "from", false, 0)?;
    let to = parse(&q.to, "to", true, i64::MAX)?;
    if from > to {
        return Err(AppError::invalid("to", "`to` is before `from`."));
    }
    Ok((from, to))
}

fn money(minor: i64, currency: Currency) -> String {
    Money::new(minor, currency).decimal()
}

/// Every sale of a range as CSV: ISO 8601 dates, decimal amounts next to their currency.
async fn sales_csv(State(state): State<AppState>, session: Session, Query(q): Query<RangeQuery>) -> Response {
    let Some(creator_id) = session::signed_in_account_id(&session, &state.db).await else { return AppError::Unauthorized.into_response() };
    let tz = timezone(&state, &creator_id).await;
    let (from, to) = match bounds(&q, &tz) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match sales_csv_bytes(&state.db, &creator_id, from, to, q.work_id.as_deref()).await {
        Ok(body) => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"clink-sales.csv\"")],
            body,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// A creator's sales paid in `[from, to)` (of one work, or all) as CSV, read a page at a time.
pub async fn sales_csv_bytes(db: &app::db::Db, creator_id: &str, from: i64, to: i64, work_id: Option<&str>) -> Result<Vec<u8>, AppError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record([
        "order_id",
        "paid_at",
        "work_id",
        "work_title",
        "buyer_email",
        "amount",
        "fee",
        "net",
        "currency",
        "status",
        "refunded_at",
        "source",
        "provider",
        "written_off_at",
        "paid_with",
    ]);
    let mut cursor: Option<(i64, String)> = None;
    loop {
        let page = stats::sales_between(db, creator_id, from, to, work_id, cursor.as_ref().map(|(a, b)| (*a, b.as_str())), 1_000)
            .await
            .map_err(|e| app::error::internal("sales export", &e))?;
        for s in &page {
            let _ = out.write_record([
                s.order_id.clone(),
                stats::iso(s.paid_at),
                s.work_id.clone(),
                s.work_title.clone(),
                s.buyer_email.clone(),
                money(s.amount_minor, s.currency),
                money(s.fee_minor, s.currency),
                money(s.amount_minor - s.fee_minor, s.currency),
                s.currency.code().to_string(),
                s.status.to_string(),
                s.refunded_at.map(stats::iso).unwrap_or_default(),
                s.source.clone(),
                s.provider.to_string(),
                s.tab_written_off_at.map(stats::iso).unwrap_or_default(),
                s.paid_with().as_str().to_string(),
            ]);
        }
        match page.last() {
            Some(last) if page.len() == 1_000 => cursor = Some((last.paid_at, last.order_id.clone())),
            _ => break,
        }
    }
    Ok(out.into_inner().unwrap_or_default())
}

/// New sales as server-sent events while the dashboard is open. Each connection looks for
/// sales it hasn't sent every two seconds: simple, and right with several app servers.
async fn live_sales(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let creator_id = session::signed_in_account_id(&session, &state.db).await.ok_or(AppError::Unauthorized)?;
    let tz = timezone(&state, &creator_id).await;
    let numbers = service::number_style(&state.db, &creator_id, app::edge::accept_language_of(&headers))
        .await
        .map_err(|e| app::error::internal("live sales", &e))?;
    let mut seen: std::collections::HashSet<String> =
        recent_sales(&state.db, &creator_id, &tz, 50, &numbers).await?.into_iter().map(|s| s.order_id).collect();
    let stream = async_stream(state, creator_id, tz, numbers, move |sale| seen.insert(sale.order_id.clone()));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn async_stream(
    state: AppState,
    creator_id: String,
    tz: jiff::tz::TimeZone,
    numbers: app::money::NumberStyle,
    mut is_new: impl FnMut(&app::earnings::api::RecentSale) -> bool + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((), move |()| {
        let (state, creator_id, tz, numbers) = (state.clone(), creator_id.clone(), tz.clone(), numbers.clone());
        let fresh = async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            recent_sales(&state.db, &creator_id, &tz, 20, &numbers).await.unwrap_or_default()
        };
        async move { Some((fresh.await, ())) }
    })
    .flat_map(move |batch| {
        let events: Vec<Result<Event, Infallible>> = batch
            .into_iter()
            .rev()
            .filter(|s| is_new(s))
            .filter_map(|s| serde_json::to_string(&s).ok())
            .map(|data| Ok(Event::default().event("sale").data(data)))
            .collect();
        futures::stream::iter(events)
    })
}

/// `GET /api/v1/sales?from=&to=&work_id=&cursor=&per_page=`: the same rows as the CSV.
async fn sales_api(
    State(state): State<AppState>,
    ApiCreator(me): ApiCreator,
    Query(q): Query<RangeQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let tz = timezone(&state, &me.account_id).await;
    let (from, to) = bounds(&q, &tz)?;
    let per_page = q.per_page.unwrap_or(100).clamp(1, 500);
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => {
            let (at, id) = c.split_once('.').ok_or_else(|| AppError::invalid("cursor", "That cursor is not one of ours."))?;
            Some((at.parse::<i64>().map_err(|_| AppError::invalid("cursor", "That cursor is not one of ours."))?, id.to_string()))
        }
    };
    let rows = stats::sales_between(
        &state.db,
        &me.account_id,
        from,
        to,
        q.work_id.as_deref(),
        after.as_ref().map(|(a, b)| (*a, b.as_str())),
        per_page,
    )
    .await
    .map_err(|e| app::error::internal("sales api", &e))?;
    let next = (rows.len() as i64 == per_page).then(|| rows.last().map(|r| format!("{}.{}", r.paid_at, r.order_id))).flatten();
    let sales: Vec<_> = rows
        .iter()
        .map(|s| {
            json!({
                "order_id": s.order_id, "paid_at": stats::iso(s.paid_at), "work_id": s.work_id, "work_title": s.work_title,
                "buyer_email": s.buyer_email, "amount": money(s.amount_minor, s.currency), "fee": money(s.fee_minor, s.currency),
                "net": money(s.amount_minor - s.fee_minor, s.currency), "currency": s.currency, "status": s.status,
                "refunded_at": s.refunded_at.map(stats::iso), "source": s.source, "provider": s.provider,
                "written_off_at": s.tab_written_off_at.map(stats::iso), "paid_with": s.paid_with(),
            })
        })
        .collect();
    Ok(Json(json!({ "sales": sales, "next_cursor": next })))
}

/// `GET /api/v1/stats?from=&to=`: totals from the hourly rollups, per currency.
async fn stats_api(
    State(state): State<AppState>,
    ApiCreator(me): ApiCreator,
    Query(q): Query<RangeQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let tz = timezone(&state, &me.account_id).await;
    let (from, to) = bounds(&q, &tz)?;
    let hour = |ms: i64| if ms == i64::MAX { i64::MAX } else { ms.div_euclid(app::earnings::rollup::MS_PER_HOUR) };
    let series = stats::load_series(&state.db, &me.account_id).await.map_err(|e| app::error::internal("stats api", &e))?;
    let t = series.totals(hour(from), hour(to));
    let currencies: Vec<_> = t
        .money
        .iter()
        .map(|(c, m)| {
            json!({
                "currency": c.code(), "sales": m.sales, "gross": Money::new(m.gross, *c).decimal(), "net": Money::new(m.net, *c).decimal(),
                "refunds": m.refunds, "refunded": Money::new(m.refunded_gross, *c).decimal(),
                "written_off": Money::new(m.written_off_net, *c).decimal(), "earnings": Money::new(m.earnings(), *c).decimal(),
                "average_price": m.average_price().map(|a| Money::new(a, *c).decimal()),
            })
        })
        .collect();
    // What the creator can be paid now, and what waits for buyers to pay their tabs.
    let (db, me_id) = (&state.db, me.account_id.as_str());
    let balances = |kind: &'static str| async move {
        app::ledger::store::balances_of(db, me_id, kind).await.map_err(|e| app::error::internal("stats api", &e))
    };
    let (available, on_tabs) = tokio::try_join!(balances("creator_earnings"), balances("creator_pending"))?;
    let mut codes: Vec<&String> = available.iter().chain(&on_tabs).map(|(c, _)| c).collect();
    codes.sort();
    codes.dedup();
    let balances: Vec<_> = codes
        .into_iter()
        .filter_map(|code| {
            let currency = app::money::Currency::parse(code).ok()?;
            let of = |list: &[(String, i64)]| list.iter().find(|(c, _)| c == code).map_or(0, |(_, m)| *m);
            Some(json!({
                "currency": code,
                "available": Money::new(of(&available), currency).decimal(),
                "pending_on_tabs": Money::new(of(&on_tabs), currency).decimal(),
            }))
        })
        .collect();
    Ok(Json(json!({
        "balances": balances,
        "views": t.views,
        "sales": t.sales(),
        "conversion": t.conversion_bps().map(|b| b as f64 / 10_000.0),
        "currencies": currencies,
        "timezone": tz.iana_name().unwrap_or("UTC"),
    })))
}
