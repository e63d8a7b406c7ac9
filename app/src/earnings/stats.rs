//! Dashboard figures from the hourly rollups: periods in the creator's time zone, totals and
//! changes, the daily chart, per-work and per-source tables. Money is summed per currency only.

use std::collections::BTreeMap;

use jiff::{Timestamp, ToSpan, Zoned, civil::Date, tz::TimeZone};

use super::rollup::{MS_PER_HOUR, SaleFigures};
use crate::{
    db::Db,
    money::Currency,
    on_db,
    orders::{OrderStatus, PaidWith, PaymentMethod, Provider},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SaleHourRow {
    pub hour: i64,
    pub currency: String,
    #[sqlx(flatten)]
    pub figures: SaleFigures,
}

/// A creator's whole history, hour by hour (a few thousand rows for a busy year).
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub views: Vec<(i64, i64)>,
    pub sales: Vec<SaleHourRow>,
}

pub async fn load_series(db: &Db, creator_id: &str) -> Result<Series, sqlx::Error> {
    let views = on_db!(db, pool => sqlx::query_as::<_, (i64, i64)>(
        "select hour, views from creator_view_hour where creator_id = $1 order by hour")
        .bind(creator_id).fetch_all(pool).await)?;
    let sales = on_db!(db, pool => sqlx::query_as::<_, SaleHourRow>(
        "select hour, currency, sales, viewed_sales, gross_minor as gross, net_minor as net, refunds, \
         refunded_gross_minor as refunded_gross, refunded_net_minor as refunded_net, written_off_net_minor as written_off_net \
         from creator_sale_hour where creator_id = $1 order by hour, currency")
        .bind(creator_id).fetch_all(pool).await)?;
    Ok(Series { views, sales })
}

/// Totals of a half-open range of hours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub views: i64,
    pub money: BTreeMap<Currency, SaleFigures>,
}

impl Totals {
    pub fn sales(&self) -> i64 {
        self.money.values().map(|m| m.sales).sum()
    }

    /// The sales whose visit was counted as a view.
    pub fn viewed_sales(&self) -> i64 {
        self.money.values().map(|m| m.viewed_sales).sum()
    }

    /// Sales per view, in basis points (1234 = 12.34%): see [`conversion_bps`].
    pub fn conversion_bps(&self) -> Option<i64> {
        conversion_bps(self.viewed_sales(), self.views)
    }
}

impl Series {
    pub fn totals(&self, from_hour: i64, to_hour: i64) -> Totals {
        // Both lists are sorted by hour: find the range, then add only what is in it (a year's
        // chart is 365 of these).
        let mut t = Totals::default();
        let views = &self.views[self.views.partition_point(|(h, _)| *h < from_hour)..];
        for (_, v) in views.iter().take_while(|(h, _)| *h < to_hour) {
            t.views += v;
        }
        let sales = &self.sales[self.sales.partition_point(|r| r.hour < from_hour)..];
        for row in sales.iter().take_while(|r| r.hour < to_hour) {
            let Ok(currency) = Currency::parse(&row.currency) else { continue };
            t.money.entry(currency).or_default().add(&row.figures);
        }
        t
    }
}

/// The creator's zone, falling back to UTC for an unknown name.
pub fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

/// The IANA zones a creator picks from: the bundled database's region/city names, and UTC.
pub fn zone_names() -> &'static [String] {
    // Read and sorted once: the list only changes with the binary's time-zone database.
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_string())
            .filter(|name| name.contains('/') && !name.starts_with("Etc/") && !name.starts_with("SystemV/") && !name.starts_with("posix"))
            .collect();
        names.push("UTC".into());
        names.sort();
        names.dedup();
        names
    })
}

/// The first hour of a local day (local midnight, as a UTC hour index). Zones with half-hour
/// offsets are approximated to the hour that contains their midnight.
pub fn day_start_hour(date: Date, tz: &TimeZone) -> i64 {
    let ms = date.to_zoned(tz.clone()).map(|z| z.timestamp().as_millisecond()).unwrap_or(0);
    ms.div_euclid(MS_PER_HOUR)
}

/// The named periods of the headline cards, as half-open hour ranges, each with the range
/// just before it (for the change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: &'static str,
    pub range: (i64, i64),
    pub previous: Option<(i64, i64)>,
}

/// Each period ends now; "Today" is compared with yesterday up to the same time of day (not
/// with all of yesterday, which made every morning look like a collapse), and the longer
/// periods with the same span just before them, also ending at this time of day.
pub fn periods(now: &Zoned) -> Vec<Period> {
    let tz = now.time_zone().clone();
    let today = now.date();
    // The hours that have begun: the current one counts from its first millisecond.
    let end = (now.timestamp().as_millisecond() + MS_PER_HOUR - 1).div_euclid(MS_PER_HOUR);
    let start = |days_back: i64| day_start_hour(today.checked_sub(days_back.days()).unwrap_or(today), &tz);
    let elapsed_today = end - start(0);
    // The `days` days ending now, and the `days` days before them ending at this time of day.
    let span = |label: &'static str, days: i64| Period {
        label,
        range: (start(days - 1), end),
        previous: Some((start(2 * days - 1), start(days) + elapsed_today)),
    };
    vec![
        span("Today so far", 1),
        span("Last 7 days", 7),
        span("Last 30 days", 30),
        Period { label: "All time", range: (i64::MIN, end), previous: None },
    ]
}

/// One day of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: Date,
    pub totals: Totals,
}

pub fn days(series: &Series, now: &Zoned, count: i64) -> Vec<Day> {
    let tz = now.time_zone().clone();
    let today = now.date();
    (0..count)
        .rev()
        .filter_map(|back| today.checked_sub(back.days()).ok())
        .map(|date| {
            let from = day_start_hour(date, &tz);
            let to = date.tomorrow().map(|d| day_start_hour(d, &tz)).unwrap_or(from + 24);
            Day { date, totals: series.totals(from, to) }
        })
        .collect()
}

/// One work's money in one currency over a range.
#[derive(sqlx::FromRow)]
struct WorkSaleRow {
    work_id: String,
    currency: String,
    #[sqlx(flatten)]
    figures: SaleFigures,
}

/// Per-work views and money over a range, straight from the rollups.
pub async fn per_work(db: &Db, creator_id: &str, from_hour: i64, to_hour: i64) -> Result<BTreeMap<String, Totals>, sqlx::Error> {
    let views = on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(
        "select work_id, cast(sum(views) as bigint) from view_hour where creator_id = $1 and hour >= $2 and hour < $3 group by work_id")
        .bind(creator_id).bind(from_hour).bind(to_hour).fetch_all(pool).await)?;
    let money = on_db!(db, pool => sqlx::query_as::<_, WorkSaleRow>(
        "select work_id, currency, cast(sum(sales) as bigint) as sales, cast(sum(viewed_sales) as bigint) as viewed_sales, \
         cast(sum(gross_minor) as bigint) as gross, cast(sum(net_minor) as bigint) as net, cast(sum(refunds) as bigint) as refunds, \
         cast(sum(refunded_gross_minor) as bigint) as refunded_gross, cast(sum(refunded_net_minor) as bigint) as refunded_net, \
         cast(sum(written_off_net_minor) as bigint) as written_off_net \
         from sale_hour where creator_id = $1 and hour >= $2 and hour < $3 group by work_id, currency")
        .bind(creator_id).bind(from_hour).bind(to_hour).fetch_all(pool).await)?;
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    for (work, v) in views {
        out.entry(work).or_default().views += v;
    }
    for row in money {
        let Ok(currency) = Currency::parse(&row.currency) else { continue };
        out.entry(row.work_id).or_default().money.entry(currency).or_default().add(&row.figures);
    }
    Ok(out)
}

/// Views, sales and the sales of counted views per traffic source over a range.
pub async fn per_source(db: &Db, creator_id: &str, from_hour: i64, to_hour: i64) -> Result<Vec<(String, i64, i64, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, i64, i64, i64)>(
        "select source, cast(sum(views) as bigint), cast(sum(sales) as bigint), cast(sum(viewed_sales) as bigint) from source_hour \
         where creator_id = $1 and hour >= $2 and hour < $3 group by source")
        .bind(creator_id).bind(from_hour).bind(to_hour).fetch_all(pool).await)
}

/// Conversion in basis points: the sales whose visit was counted as a view, over the views.
/// Sales without a counted view (through the API, by a bot's user agent) aren't in it, so it
/// can't pass 100 % because of them; the few that still could (a page a browser kept and showed
/// again without asking, a view counted in the hour before its sale's) are capped at 100 %.
pub fn conversion_bps(viewed_sales: i64, views: i64) -> Option<i64> {
    (views > 0).then(|| viewed_sales.min(views) * 10_000 / views)
}

/// "+12%", "−5%", "new" or nothing, comparing two values.
pub fn change(current: i64, previous: i64) -> Option<(String, bool)> {
    if current == previous {
        return (current != 0).then(|| ("±0%".to_string(), true));
    }
    if previous == 0 {
        return Some(("new".to_string(), true));
    }
    let pct = (current - previous) as f64 / previous.abs() as f64 * 100.0;
    Some((format!("{}{:.0}%", if pct >= 0.0 { "+" } else { "−" }, pct.abs()), pct >= 0.0))
}

/// The chart, drawn on the server as SVG (so it shows without JavaScript); each bar has a
/// `<title>`, which browsers show on hover.
pub fn chart_svg(days: &[Day], currency: Option<Currency>) -> String {
    const W: f64 = 720.0;
    const PANEL: f64 = 90.0;
    const GAP: f64 = 34.0;
    let n = days.len().max(1) as f64;
    let bar = (W - 40.0) / n;
    type Figure<'a> = Box<dyn Fn(&Totals) -> i64 + 'a>;
    let panels: [(&str, Figure, &str); 3] = [
        ("Views", Box::new(|t: &Totals| t.views), "#6366f1"),
        ("Sales", Box::new(|t: &Totals| t.sales()), "#0ea5e9"),
        ("Earnings", Box::new(move |t: &Totals| currency.and_then(|c| t.money.get(&c)).map(SaleFigures::earnings).unwrap_or(0)), "#059669"),
    ];
    let height = 3.0 * (PANEL + GAP) + 20.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" role=\"img\" aria-label=\"Views, sales and earnings by day\">"
    );
    for (i, (name, value, color)) in panels.iter().enumerate() {
        let top = 20.0 + i as f64 * (PANEL + GAP);
        let max = days.iter().map(|d| value(&d.totals)).max().unwrap_or(0).max(1);
        let label = match (*name, currency) {
            ("Earnings", Some(c)) => format!("Earnings ({})", c.code()),
            _ => name.to_string(),
        };
        let peak = if *name == "Earnings" {
            currency.map(|c| crate::money::Money::new(max, c).to_string()).unwrap_or_default()
        } else {
            max.to_string()
        };
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\" font-weight=\"600\" fill=\"#374151\">{label}</text>\
             <text x=\"{W}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7280\">max {peak}</text>\
             <line x1=\"30\" y1=\"{}\" x2=\"{W}\" y2=\"{}\" stroke=\"#e5e7eb\"/>",
            top - 4.0,
            top - 4.0,
            top + PANEL,
            top + PANEL
        ));
        for (j, day) in days.iter().enumerate() {
            let v = value(&day.totals);
            let h = (v as f64 / max as f64 * PANEL).max(if v > 0 { 1.5 } else { 0.0 });
            let shown = if *name == "Earnings" {
                currency.map(|c| crate::money::Money::new(v, c).to_string()).unwrap_or_default()
            } else {
                v.to_string()
            };
            svg.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"1.5\" fill=\"{color}\"><title>{}: {shown} {}</title></rect>",
                32.0 + j as f64 * bar,
                top + PANEL - h,
                (bar - 2.0).max(1.0),
                h,
                day.date,
                name.to_lowercase()
            ));
        }
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let y = height - 4.0;
        svg.push_str(&format!(
            "<text x=\"32\" y=\"{y}\" font-size=\"11\" fill=\"#6b7280\">{}</text><text x=\"{W}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7280\">{}</text>",
            first.date, last.date
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// "2026-11-23 14:05" in the creator's zone.
pub fn local_time(ms: i64, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn periods_follow_the_creators_midnight() {
        // 2026-11-23 09:00 in New York is 14:00 UTC; its midnight is 05:00 UTC.
        let now = "2026-11-23T14:00:00Z".parse::<Timestamp>().unwrap().to_zoned(zone("America/New_York"));
        let p = periods(&now);
        assert_eq!(p[0].range, (ms("2026-11-23T05:00:00Z") / MS_PER_HOUR, ms("2026-11-23T14:00:00Z") / MS_PER_HOUR));
        // At 09:00 "today so far" is 00:00–09:00, compared with yesterday 00:00–09:00, not all of it.
        assert_eq!(p[0].previous, Some((ms("2026-11-22T05:00:00Z") / MS_PER_HOUR, ms("2026-11-22T14:00:00Z") / MS_PER_HOUR)));
        assert_eq!(p[0].label, "Today so far");
        // A minute later the current hour has begun and counts on both sides.
        let later = "2026-11-23T14:01:00Z".parse::<Timestamp>().unwrap().to_zoned(zone("America/New_York"));
        assert_eq!(periods(&later)[0].previous.unwrap().1, ms("2026-11-22T15:00:00Z") / MS_PER_HOUR);
        // The week before ends at the same time of day, seven days earlier.
        assert_eq!(p[1].previous, Some((ms("2026-11-10T05:00:00Z") / MS_PER_HOUR, ms("2026-11-16T14:00:00Z") / MS_PER_HOUR)));
        // Seven days back crosses no DST change here; thirty days back crosses 1 November.
        assert_eq!(p[1].range.0, ms("2026-11-17T05:00:00Z") / MS_PER_HOUR);
        assert_eq!(p[2].range.0, ms("2026-10-25T04:00:00Z") / MS_PER_HOUR, "EDT before 1 November");
    }

    #[test]
    fn days_split_at_local_midnight() {
        let tz = "Europe/Paris";
        let series = Series {
            views: vec![
                (ms("2026-11-22T22:30:00Z") / MS_PER_HOUR, 5), // 23:30 in Paris: the 22nd
                (ms("2026-11-22T23:10:00Z") / MS_PER_HOUR, 7), // 00:10 in Paris: the 23rd
            ],
            sales: vec![SaleHourRow {
                hour: ms("2026-11-22T23:10:00Z") / MS_PER_HOUR,
                currency: "EUR".into(),
                figures: SaleFigures {
                    sales: 1,
                    viewed_sales: 1,
                    gross: 500,
                    net: 475,
                    refunds: 0,
                    refunded_gross: 0,
                    refunded_net: 0,
                    written_off_net: 0,
                },
            }],
        };
        let now = "2026-11-23T10:00:00Z".parse::<Timestamp>().unwrap().to_zoned(zone(tz));
        let d = days(&series, &now, 2);
        assert_eq!(d[0].date.to_string(), "2026-11-22");
        assert_eq!(d[0].totals.views, 5);
        assert_eq!(d[1].totals.views, 7);
        assert_eq!(d[1].totals.money[&Currency::Eur].earnings(), 475);
        assert_eq!(d[0].totals.sales(), 0);
    }

    #[test]
    fn currencies_are_never_summed() {
        let series = Series {
            views: vec![(10, 100)],
            sales: vec![
                SaleHourRow {
                    hour: 10,
                    currency: "EUR".into(),
                    figures: SaleFigures {
                        sales: 2,
                        viewed_sales: 2,
                        gross: 1000,
                        net: 950,
                        refunds: 1,
                        refunded_gross: 500,
                        refunded_net: 475,
                        written_off_net: 0,
                    },
                },
                SaleHourRow {
                    hour: 10,
                    currency: "USD".into(),
                    figures: SaleFigures {
                        sales: 1,
                        viewed_sales: 1,
                        gross: 300,
                        net: 285,
                        refunds: 0,
                        refunded_gross: 0,
                        refunded_net: 0,
                        // A third of the dollars were on a tab written off unpaid.
                        written_off_net: 95,
                    },
                },
            ],
        };
        let t = series.totals(0, 20);
        assert_eq!(t.money.len(), 2);
        assert_eq!(t.money[&Currency::Eur].earnings(), 475);
        assert_eq!(t.money[&Currency::Usd].earnings(), 190);
        assert_eq!(t.sales(), 3);
        assert_eq!(t.conversion_bps(), Some(300));
        assert_eq!(t.money[&Currency::Eur].average_price(), Some(500));
    }

    #[test]
    fn changes() {
        assert_eq!(change(120, 100), Some(("+20%".into(), true)));
        assert_eq!(change(50, 100), Some(("−50%".into(), false)));
        assert_eq!(change(5, 0), Some(("new".into(), true)));
        assert_eq!(change(0, 0), None);
    }

    #[test]
    fn the_chart_is_svg_with_hover_titles() {
        let now = "2026-11-23T10:00:00Z".parse::<Timestamp>().unwrap().to_zoned(TimeZone::UTC);
        let svg = chart_svg(&days(&Series::default(), &now, 7), Some(Currency::Eur));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<title>").count(), 21);
        assert!(svg.contains("Earnings (EUR)"));
    }
}

/// One sale as the CSV export and the sales API give it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SaleRecord {
    pub order_id: String,
    pub paid_at: i64,
    pub work_id: String,
    pub work_title: String,
    pub buyer_email: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub status: OrderStatus,
    pub refunded_at: Option<i64>,
    pub source: String,
    pub provider: Provider,
    pub payment_method: Option<PaymentMethod>,
    /// When the buyer's unpaid tab, this purchase on it, was written off.
    pub tab_written_off_at: Option<i64>,
}

impl SaleRecord {
    pub fn paid_with(&self) -> PaidWith {
        PaidWith::of(self.provider, self.payment_method)
    }
}

/// A creator's sales paid in `[from_ms, to_ms)`, oldest first, after a keyset cursor.
pub async fn sales_between(
    db: &Db,
    creator_id: &str,
    from_ms: i64,
    to_ms: i64,
    work_id: Option<&str>,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<SaleRecord>, sqlx::Error> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, ""));
    on_db!(db, pool => sqlx::query_as::<_, SaleRecord>(
        "select o.order_id, o.paid_at, o.work_id, w.title as work_title, o.buyer_email, o.currency, o.amount_minor, o.fee_minor, \
         o.status, o.refunded_at, o.source, o.provider, o.payment_method, o.tab_written_off_at from buyer_order o join work w on w.work_id = o.work_id \
         where o.creator_id = $1 and o.status in ('paid', 'fulfilled', 'refunded') and o.paid_at >= $2 and o.paid_at < $3 \
         and ($4 = '' or o.work_id = $4) and (o.paid_at > $5 or (o.paid_at = $5 and o.order_id > $6)) \
         order by o.paid_at, o.order_id limit $7")
        .bind(creator_id).bind(from_ms).bind(to_ms).bind(work_id.unwrap_or("")).bind(after_at).bind(after_id).bind(limit)
        .fetch_all(pool).await)
}

/// Parses an API/CSV bound: a date (`2026-11-23`, midnight in the creator's zone) or an RFC
/// 3339 timestamp. `end` makes a date inclusive (the next midnight).
pub fn parse_bound(raw: &str, tz: &TimeZone, end: bool) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let date: Date = raw.parse().ok()?;
    let date = if end { date.tomorrow().ok()? } else { date };
    date.to_zoned(tz.clone()).ok().map(|z| z.timestamp().as_millisecond())
}

pub fn iso(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}
