//! Hourly rollups behind the dashboard, kept up to date incrementally: a sale or refund adds
//! to them in the same transaction that records it; views arrive with the view counter's
//! flush. Each is kept twice: per work (the works table) and per creator (the headline cards
//! and the chart, one row per hour however many works). The dashboard then reads a few
//! thousand rollup rows, never the raw orders.

use crate::{
    db::{Statements, Tx},
    on_tx,
};

pub const MS_PER_HOUR: i64 = 3_600_000;

pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_HOUR)
}

/// Sales and refunds in one currency, in minor units: what a sale or a refund adds to its
/// hour, what an hour's rollup row holds, and what a range of hours adds up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct SaleFigures {
    pub sales: i64,
    /// The sales whose visit was counted as a view (not the API's, not a bot's): conversion's
    /// numerator, so that conversion never mixes sales that had no view into its ratio.
    pub viewed_sales: i64,
    pub gross: i64,
    pub net: i64,
    pub refunds: i64,
    pub refunded_gross: i64,
    pub refunded_net: i64,
    /// The creator's shares of tab purchases whose buyers never paid, counted in the hour the
    /// tab was written off (see `wallet::collection`).
    pub written_off_net: i64,
}

impl SaleFigures {
    pub fn add(&mut self, o: &SaleFigures) {
        self.sales += o.sales;
        self.viewed_sales += o.viewed_sales;
        self.gross += o.gross;
        self.net += o.net;
        self.refunds += o.refunds;
        self.refunded_gross += o.refunded_gross;
        self.refunded_net += o.refunded_net;
        self.written_off_net += o.written_off_net;
    }

    /// Earnings net of fees, refunds and unpaid tabs.
    pub fn earnings(&self) -> i64 {
        self.net - self.refunded_net - self.written_off_net
    }

    /// Average price paid per sale (gross), if any sale.
    pub fn average_price(&self) -> Option<i64> {
        (self.sales > 0).then(|| (self.gross + self.sales / 2) / self.sales)
    }
}

/// Adds to the work's hour and to the creator's.
pub async fn add_sale(tx: &mut Tx, creator_id: &str, work_id: &str, hour: i64, currency: &str, d: &SaleFigures) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        let mut statements = Statements::new();
        push_sale(&mut statements, creator_id, work_id, hour, currency, d);
        statements.run(conn).await
    })
}

/// `add_sale` as two statements of `statements`, for a caller that sends several together.
pub fn push_sale<'a, DB>(
    statements: &mut Statements<'a, DB>,
    creator_id: &'a str,
    work_id: &'a str,
    hour: i64,
    currency: &'a str,
    d: &SaleFigures,
) where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let figures = [d.sales, d.viewed_sales, d.gross, d.net, d.refunds, d.refunded_gross, d.refunded_net, d.written_off_net];
    let q = statements.next(
        "insert into sale_hour (creator_id, work_id, hour, currency, sales, viewed_sales, gross_minor, net_minor, refunds, \
         refunded_gross_minor, refunded_net_minor, written_off_net_minor) ",
    );
    q.push_values([()], |mut row, ()| {
        row.push_bind(creator_id).push_bind(work_id).push_bind(hour).push_bind(currency);
        for figure in figures {
            row.push_bind(figure);
        }
    });
    q.push(
        " on conflict (creator_id, work_id, hour, currency) do update set sales = sale_hour.sales + excluded.sales, \
         viewed_sales = sale_hour.viewed_sales + excluded.viewed_sales, gross_minor = sale_hour.gross_minor + excluded.gross_minor, net_minor = sale_hour.net_minor + excluded.net_minor, \
         refunds = sale_hour.refunds + excluded.refunds, \
         refunded_gross_minor = sale_hour.refunded_gross_minor + excluded.refunded_gross_minor, \
         refunded_net_minor = sale_hour.refunded_net_minor + excluded.refunded_net_minor, \
         written_off_net_minor = sale_hour.written_off_net_minor + excluded.written_off_net_minor",
    );
    let q = statements.next(
        "insert into creator_sale_hour (creator_id, hour, currency, sales, viewed_sales, gross_minor, net_minor, refunds, \
         refunded_gross_minor, refunded_net_minor, written_off_net_minor) ",
    );
    q.push_values([()], |mut row, ()| {
        row.push_bind(creator_id).push_bind(hour).push_bind(currency);
        for figure in figures {
            row.push_bind(figure);
        }
    });
    q.push(
        " on conflict (creator_id, hour, currency) do update set sales = creator_sale_hour.sales + excluded.sales, \
         viewed_sales = creator_sale_hour.viewed_sales + excluded.viewed_sales, gross_minor = creator_sale_hour.gross_minor + excluded.gross_minor, net_minor = creator_sale_hour.net_minor + excluded.net_minor, \
         refunds = creator_sale_hour.refunds + excluded.refunds, \
         refunded_gross_minor = creator_sale_hour.refunded_gross_minor + excluded.refunded_gross_minor, \
         refunded_net_minor = creator_sale_hour.refunded_net_minor + excluded.refunded_net_minor, \
         written_off_net_minor = creator_sale_hour.written_off_net_minor + excluded.written_off_net_minor",
    );
}

/// Adds sales to a traffic source's hour (its views come from the view counter's flush).
pub fn push_source<'a, DB>(
    statements: &mut Statements<'a, DB>,
    creator_id: &'a str,
    hour: i64,
    source: &'a str,
    sales: i64,
    viewed_sales: i64,
) where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let q = statements.next("insert into source_hour (creator_id, hour, source, views, sales, viewed_sales) ");
    q.push_values([()], |mut row, ()| {
        row.push_bind(creator_id).push_bind(hour).push_bind(source).push_bind(0_i64).push_bind(sales).push_bind(viewed_sales);
    });
    q.push(
        " on conflict (creator_id, hour, source) do update set sales = source_hour.sales + excluded.sales, \
         viewed_sales = source_hour.viewed_sales + excluded.viewed_sales",
    );
}

/// One sale added to its hour, on its own (a sale's write adds a whole set at once, see
/// `checkout::sale`; this is for history written by hand, as tests do).
#[expect(clippy::too_many_arguments, reason = "one row's columns, each named at the call site")]
pub async fn record_sale(
    tx: &mut Tx,
    creator_id: &str,
    work_id: &str,
    at_ms: i64,
    currency: &str,
    gross: i64,
    net: i64,
    source: &str,
) -> Result<(), sqlx::Error> {
    let hour = hour_of(at_ms);
    let figures = SaleFigures { sales: 1, viewed_sales: 1, gross, net, ..Default::default() };
    on_tx!(tx, conn => {
        let mut statements = Statements::new();
        push_sale(&mut statements, creator_id, work_id, hour, currency, &figures);
        push_source(&mut statements, creator_id, hour, source, 1, 1);
        statements.run(conn).await
    })
}

/// A refund, counted in the hour it happens. `net` is what it takes from the creator: nothing
/// for a written-off tab purchase, whose share the write-off already took.
pub async fn record_refund(
    tx: &mut Tx,
    creator_id: &str,
    work_id: &str,
    at_ms: i64,
    currency: &str,
    gross: i64,
    net: i64,
) -> Result<(), sqlx::Error> {
    let delta = SaleFigures { refunds: 1, refunded_gross: gross, refunded_net: net, ..Default::default() };
    add_sale(tx, creator_id, work_id, hour_of(at_ms), currency, &delta).await
}
