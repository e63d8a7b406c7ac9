//! `clink dev seed`: a creator with many sales and views, for trying the dashboard and for its
//! benchmark. Writes what real traffic would: orders, balanced ledger transactions (so
//! `clink ledger verify` still passes), download grants, and the hourly rollups — views go
//! straight into the rollups, which is all that is ever stored of them.

use std::collections::HashMap;

use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use sqlx::QueryBuilder;

use crate::{
    accounts::{
        service::{self as accounts, NewAccount},
        store as account_store,
    },
    catalog::{
        domain::Price,
        service::{self as catalog, UploadedFile, WorkDraft},
    },
    db::{self, Db},
    ledger::domain::{AccountRef, platform_fee},
    on_tx,
    storage::Storage,
};

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub email: String,
    pub sales: usize,
    pub views: u64,
    pub days: i64,
    pub works: usize,
    pub rng_seed: u64,
}

#[derive(Debug, Default)]
pub struct SeedReport {
    pub creator_id: String,
    pub email: String,
    pub password: String,
    pub works: usize,
    pub sales: usize,
    pub refunds: usize,
    pub views: u64,
}

const SOURCES: &[(&str, u32)] =
    &[("x", 30), ("mastodon", 15), ("instagram", 15), ("direct", 15), ("search", 8), ("reddit", 6), ("bluesky", 5), ("newsletter", 6)];
pub const SEED_PASSWORD: &str = "seed-password-123";

fn pick_source(rng: &mut StdRng) -> &'static str {
    let total: u32 = SOURCES.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (s, w) in SOURCES {
        if roll < *w {
            return s;
        }
        roll -= w;
    }
    "direct"
}

pub async fn seed(db: &Db, storage: &Storage, fee_bps: u32, opts: &SeedOptions) -> Result<SeedReport, String> {
    let e = |e: sqlx::Error| e.to_string();
    let mut rng = StdRng::seed_from_u64(opts.rng_seed);
    let handle = format!("seed{}", rng.random_range(1000..9999));
    let new = NewAccount::parse(&opts.email, SEED_PASSWORD, "Seeded Creator", &handle).map_err(|e| e.message)?;
    let creator = match accounts::sign_up(db, new).await {
        Ok(row) => row,
        Err(accounts::AccountError::EmailTaken) => {
            account_store::find_by_email(db, &opts.email.to_lowercase()).await.map_err(e)?.ok_or("creator vanished")?
        }
        Err(err) => return Err(err.to_string()),
    };

    // Works, each with a small real file.
    let prices: [(&str, &str, &str); 6] = [
        ("0.20", "fixed", "EUR"),
        ("1.00", "fixed", "EUR"),
        ("4.99", "fixed", "EUR"),
        ("3", "pwyw", "EUR"),
        ("9.99", "fixed", "USD"),
        ("2.50", "fixed", "GBP"),
    ];
    let mut works = Vec::new();
    for i in 0..opts.works.max(1) {
        let (price, kind, currency) = prices[i % prices.len()];
        let draft = WorkDraft {
            title: format!("Seeded work #{}", i + 1),
            description_md: "Seeded for the dashboard.".into(),
            price: Price::parse(currency, kind, price, "").map_err(|e| e.message)?,
            slug: None,
            max_downloads: None,
            link_expiry_days: None,
        };
        let work_id = db::new_id();
        let key = format!("works/{work_id}/{}", db::new_id());
        let mut upload = storage.upload(&key).await.map_err(|e| e.to_string())?;
        upload.write(bytes::Bytes::from(format!("seeded file {i}"))).await.map_err(|e| e.to_string())?;
        let stored = upload.finish().await.map_err(|e| e.to_string())?;
        let file = UploadedFile { stored, filename: format!("work-{}.txt", i + 1) };
        works.push(catalog::create_work(db, &creator.account_id, &work_id, &draft, &[file], None).await.map_err(|e| e.to_string())?);
    }

    let now = db::now_ms();
    let span_ms = opts.days.max(1) * 86_400_000;
    let mut sale_hour: HashMap<(String, i64, String), [i64; 6]> = HashMap::new();
    let mut source_sales: HashMap<(i64, &'static str), i64> = HashMap::new();
    let mut balances: HashMap<String, (AccountRef, i64)> = HashMap::new();
    let mut refunds = 0;
    let batch_size = 400;
    let mut written = 0;
    while written < opts.sales {
        let n = batch_size.min(opts.sales - written);
        let mut orders = Vec::with_capacity(n);
        for i in 0..n {
            let work = works.choose(&mut rng).expect("works");
            let currency = work.currency();
            let amount = match work.price() {
                Price::Fixed(m) => m.minor,
                Price::PayWhatYouWant { minimum, .. } => minimum.minor + rng.random_range(0..500),
            };
            // Recent days a little busier than old ones.
            let age = (rng.random::<f64>().powf(1.3) * span_ms as f64) as i64;
            let at = now - age.min(span_ms - 1);
            let refunded = rng.random_ratio(1, 50);
            refunds += usize::from(refunded);
            let fee = platform_fee(amount, fee_bps);
            orders.push((db::new_id(), work.work_id.clone(), currency, amount, fee, at, refunded, pick_source(&mut rng), written + i));
        }
        let mut tx = db.begin().await.map_err(e)?;
        on_tx!(&mut tx, conn => async {
            let mut q = QueryBuilder::new(
                "insert into buyer_order (order_id, work_id, creator_id, buyer_email, buyer_account_id, currency, amount_minor, \
                 fee_minor, status, provider, provider_payment_id, checkout_key, source, save_card, failure_reason, created_at, \
                 updated_at, paid_at, refunded_at) ",
            );
            q.push_values(&orders, |mut row, (id, work, currency, amount, fee, at, refunded, source, n)| {
                row.push_bind(id).push_bind(work).push_bind(&creator.account_id).push_bind(format!("buyer{}@example.com", n % 20_000))
                    .push_bind(None::<String>).push_bind(currency.code()).push_bind(*amount).push_bind(*fee)
                    .push_bind(if *refunded { "refunded" } else { "fulfilled" }).push_bind("test").push_bind(format!("seed_{id}"))
                    .push_bind(format!("seed:{id}")).push_bind(*source).push_bind(false).push_bind(None::<String>)
                    .push_bind(*at).push_bind(*at).push_bind(Some(*at)).push_bind(refunded.then_some(*at + 3_600_000));
            });
            q.build().execute(&mut *conn).await?;

            let mut txns = Vec::new();
            let mut entries = Vec::new();
            for (id, _, currency, amount, fee, at, refunded, _, _) in &orders {
                let c = *currency;
                let sale = db::new_id();
                txns.push((sale.clone(), "sale", id.clone(), format!("sale:{id}"), *at));
                entries.push((sale.clone(), AccountRef::provider_clearing("test", c), -amount, *at));
                entries.push((sale.clone(), AccountRef::creator_earnings(&creator.account_id, c), amount - fee, *at));
                entries.push((sale, AccountRef::platform_fees(c), *fee, *at));
                if *refunded {
                    let refund = db::new_id();
                    let when = at + 3_600_000;
                    txns.push((refund.clone(), "refund", id.clone(), format!("refund:{id}"), when));
                    entries.push((refund.clone(), AccountRef::creator_earnings(&creator.account_id, c), -(amount - fee), when));
                    entries.push((refund.clone(), AccountRef::platform_fees(c), -fee, when));
                    entries.push((refund, AccountRef::refunds(c), *amount, when));
                }
            }
            let mut q = QueryBuilder::new("insert into ledger_txn (txn_id, kind, order_id, idempotency_key, memo, created_at) ");
            q.push_values(&txns, |mut row, (txn, kind, order, key, at)| {
                row.push_bind(txn).push_bind(*kind).push_bind(order).push_bind(key).push_bind("seeded").push_bind(*at);
            });
            q.build().execute(&mut *conn).await?;
            for (_, account, amount, _) in &entries {
                balances.entry(account.id()).or_insert((account.clone(), 0)).1 += amount;
            }
            // Accounts must exist before their entries reference them.
            for (id, (account, _)) in &balances {
                sqlx::query("insert into ledger_account (account_id, kind, owner_id, currency, balance_minor, created_at) \
                             values ($1, $2, $3, $4, 0, $5) on conflict (account_id) do nothing")
                    .bind(id).bind(account.kind.as_str()).bind(&account.owner).bind(account.currency.code()).bind(now)
                    .execute(&mut *conn).await?;
            }
            let mut q = QueryBuilder::new("insert into ledger_entry (entry_id, txn_id, account_id, currency, amount_minor, created_at) ");
            q.push_values(entries.iter().filter(|(_, _, amount, _)| *amount != 0), |mut row, (txn, account, amount, at)| {
                row.push_bind(db::new_id()).push_bind(txn).push_bind(account.id()).push_bind(account.currency.code()).push_bind(*amount).push_bind(*at);
            });
            q.build().execute(&mut *conn).await?;

            let mut q = QueryBuilder::new("insert into download_grant (order_id, downloads_used, max_downloads, expires_at, revoked_at, created_at) ");
            q.push_values(&orders, |mut row, (id, _, _, _, _, at, refunded, _, _)| {
                row.push_bind(id).push_bind(0i64).push_bind(None::<i64>).push_bind(None::<i64>)
                    .push_bind(refunded.then_some(*at + 3_600_000)).push_bind(*at);
            });
            q.build().execute(&mut *conn).await?;
            Ok::<(), sqlx::Error>(())
        }.await)
        .map_err(e)?;
        tx.commit().await.map_err(e)?;
        for (_, work, currency, amount, fee, at, refunded, source, _) in &orders {
            let hour = super::rollup::hour_of(*at);
            let r = sale_hour.entry((work.clone(), hour, currency.code().to_string())).or_default();
            r[0] += 1;
            r[1] += amount;
            r[2] += amount - fee;
            if *refunded {
                let r = sale_hour.entry((work.clone(), super::rollup::hour_of(at + 3_600_000), currency.code().to_string())).or_default();
                r[3] += 1;
                r[4] += amount;
                r[5] += amount - fee;
            }
            *source_sales.entry((hour, *source)).or_default() += 1;
        }
        written += n;
    }

    // Views: spread over every hour of the period and every work, summing exactly to the total.
    let hours = opts.days.max(1) * 24;
    let first_hour = super::rollup::hour_of(now) - hours + 1;
    let slots = hours as u64 * works.len() as u64;
    let mut view_rows: Vec<(String, i64, i64)> = Vec::with_capacity(slots as usize);
    let mut source_views: HashMap<(i64, &'static str), i64> = HashMap::new();
    let mut remaining = opts.views;
    for (k, (h, w)) in (0..hours).flat_map(|h| (0..works.len()).map(move |w| (h, w))).enumerate() {
        let left_slots = slots - k as u64;
        let share = remaining / left_slots;
        let v = if left_slots == 1 { remaining } else { (share as f64 * rng.random_range(0.5..1.5)) as u64 }.min(remaining);
        remaining -= v;
        if v == 0 {
            continue;
        }
        let hour = first_hour + h;
        view_rows.push((works[w].work_id.clone(), hour, v as i64));
        let mut left = v as i64;
        for (i, (source, weight)) in SOURCES.iter().enumerate() {
            let part = if i + 1 == SOURCES.len() { left } else { v as i64 * *weight as i64 / 100 };
            let part = part.min(left);
            left -= part;
            *source_views.entry((hour, source)).or_default() += part;
        }
    }

    let mut tx = db.begin().await.map_err(e)?;
    on_tx!(&mut tx, conn => async {
        for chunk in view_rows.chunks(2_000) {
            let mut q = QueryBuilder::new("insert into view_hour (creator_id, work_id, hour, views) ");
            q.push_values(chunk, |mut row, (work, hour, views)| {
                row.push_bind(&creator.account_id).push_bind(work).push_bind(*hour).push_bind(*views);
            });
            q.push(" on conflict (creator_id, work_id, hour) do update set views = view_hour.views + excluded.views");
            q.build().execute(&mut *conn).await?;
        }
        let mut sources: HashMap<(i64, &str), (i64, i64)> = HashMap::new();
        for ((hour, s), v) in &source_views {
            sources.entry((*hour, s)).or_default().0 += v;
        }
        for ((hour, s), n) in &source_sales {
            sources.entry((*hour, s)).or_default().1 += n;
        }
        let sources: Vec<_> = sources.into_iter().collect();
        for chunk in sources.chunks(2_000) {
            let mut q = QueryBuilder::new("insert into source_hour (creator_id, hour, source, views, sales) ");
            q.push_values(chunk, |mut row, ((hour, source), (views, sales))| {
                row.push_bind(&creator.account_id).push_bind(*hour).push_bind(*source).push_bind(*views).push_bind(*sales);
            });
            q.push(" on conflict (creator_id, hour, source) do update set views = source_hour.views + excluded.views, sales = source_hour.sales + excluded.sales");
            q.build().execute(&mut *conn).await?;
        }
        let sales: Vec<_> = sale_hour.iter().collect();
        for chunk in sales.chunks(1_000) {
            let mut q = QueryBuilder::new("insert into sale_hour (creator_id, work_id, hour, currency, sales, gross_minor, net_minor, refunds, refunded_gross_minor, refunded_net_minor) ");
            q.push_values(chunk, |mut row, ((work, hour, currency), v)| {
                row.push_bind(&creator.account_id).push_bind(work).push_bind(*hour).push_bind(currency)
                    .push_bind(v[0]).push_bind(v[1]).push_bind(v[2]).push_bind(v[3]).push_bind(v[4]).push_bind(v[5]);
            });
            q.push(" on conflict (creator_id, work_id, hour, currency) do update set sales = sale_hour.sales + excluded.sales, \
                     gross_minor = sale_hour.gross_minor + excluded.gross_minor, net_minor = sale_hour.net_minor + excluded.net_minor, \
                     refunds = sale_hour.refunds + excluded.refunds, refunded_gross_minor = sale_hour.refunded_gross_minor + excluded.refunded_gross_minor, \
                     refunded_net_minor = sale_hour.refunded_net_minor + excluded.refunded_net_minor");
            q.build().execute(&mut *conn).await?;
        }
        // The creator-level rollups, from the per-work ones just written.
        sqlx::query("insert into creator_view_hour (creator_id, hour, views) \
                     select creator_id, hour, cast(sum(views) as bigint) from view_hour where creator_id = $1 group by creator_id, hour \
                     on conflict (creator_id, hour) do update set views = excluded.views")
            .bind(&creator.account_id).execute(&mut *conn).await?;
        sqlx::query("insert into creator_sale_hour (creator_id, hour, currency, sales, gross_minor, net_minor, refunds, refunded_gross_minor, refunded_net_minor) \
                     select creator_id, hour, currency, cast(sum(sales) as bigint), cast(sum(gross_minor) as bigint), cast(sum(net_minor) as bigint), \
                     cast(sum(refunds) as bigint), cast(sum(refunded_gross_minor) as bigint), cast(sum(refunded_net_minor) as bigint) \
                     from sale_hour where creator_id = $1 group by creator_id, hour, currency \
                     on conflict (creator_id, hour, currency) do update set sales = excluded.sales, gross_minor = excluded.gross_minor, \
                     net_minor = excluded.net_minor, refunds = excluded.refunds, refunded_gross_minor = excluded.refunded_gross_minor, \
                     refunded_net_minor = excluded.refunded_net_minor")
            .bind(&creator.account_id).execute(&mut *conn).await?;
        for (id, (_, delta)) in &balances {
            sqlx::query("update ledger_account set balance_minor = balance_minor + $1 where account_id = $2")
                .bind(*delta).bind(id).execute(&mut *conn).await?;
        }
        Ok::<(), sqlx::Error>(())
    }.await)
    .map_err(e)?;
    tx.commit().await.map_err(e)?;

    Ok(SeedReport {
        creator_id: creator.account_id,
        email: creator.email,
        password: SEED_PASSWORD.into(),
        works: works.len(),
        sales: opts.sales,
        refunds,
        views: opts.views,
    })
}
