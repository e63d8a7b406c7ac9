//! `clink dev seed`: a creator with many sales and views, for trying the dashboard and for its
//! benchmark. It composes the areas as real traffic would, through their own paths: each sale
//! is written by the sale core (`checkout::sale::write`, the one path that writes a sale: its
//! order, balanced ledger transaction, download grant and rollups), dated in the past; the
//! refunded ones are reversed by the refund path (`checkout::service::reverse_once`), so they
//! are dated now. Only views are written in bulk (`earnings::views::write_history`): a view is
//! a counter in the hourly rollups, which is all that is ever stored of it, and millions of
//! them one by one would take minutes. `clink ledger verify` passes on a seeded database.

use std::collections::HashMap;

use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};

use crate::{
    accounts::{
        service::{self as accounts, NewAccount},
        store::{self as account_store, SellerContact},
    },
    catalog::{
        domain::Price,
        service::{self as catalog, UploadedFile, WorkDraft},
    },
    checkout::{
        sale::{self, Mails, OrderState, Sale},
        service as checkout, store as orders,
    },
    db::{self, Db},
    earnings::{rollup, views},
    ledger::domain::{AccountRef, platform_fee},
    money::Money,
    orders::Provider,
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

pub async fn seed(
    db: &Db,
    storage: &Storage,
    key: &crate::secret::AppSecret,
    fee_bps: u32,
    opts: &SeedOptions,
) -> Result<SeedReport, String> {
    let e = |e: sqlx::Error| e.to_string();
    let mut rng = StdRng::seed_from_u64(opts.rng_seed);
    let handle = format!("seed{}", rng.random_range(1000..9999));
    let new = NewAccount::parse(&opts.email, SEED_PASSWORD, "Seeded Creator", &handle).map_err(|e| e.message)?;
    let creator = match accounts::sign_up(db, key, new).await {
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

    // Sales, each written by the sale core at its own (past) time, 400 to a transaction. The
    // seeded buyers are made up, so nothing is mailed and no webhook is set.
    let seller = SellerContact {
        account_id: creator.account_id.clone(),
        email: creator.email.clone(),
        notify_sales: false,
        webhook_url: None,
        tab_sales_off: false,
    };
    let now = db::now_ms();
    let span_ms = opts.days.max(1) * 86_400_000;
    let mut written = sale::Written::default();
    let mut refunded_orders = Vec::new();
    let batch_size = 400;
    let mut done = 0;
    while done < opts.sales {
        let n = batch_size.min(opts.sales - done);
        let mut tx = db.begin().await.map_err(e)?;
        for i in 0..n {
            let work = works.choose(&mut rng).expect("works");
            let amount = match work.price() {
                Price::Fixed(m) => m,
                Price::PayWhatYouWant { minimum, .. } => Money::new(minimum.minor + rng.random_range(0..500), minimum.currency),
            };
            // Recent days a little busier than old ones.
            let age = (rng.random::<f64>().powf(1.3) * span_ms as f64) as i64;
            let at = now - age.min(span_ms - 1);
            let order_id = db::new_id();
            let payment_id = format!("seed_{order_id}");
            let buyer_email = format!("buyer{}@example.com", (done + i) % 20_000);
            let one = Sale {
                order_id: order_id.clone(),
                order: OrderState::New,
                work,
                creator: &seller,
                amount,
                fee_minor: platform_fee(amount.minor, fee_bps),
                buyer_email: &buyer_email,
                buyer_account_id: None,
                provider: Provider::Test,
                payment_method: None,
                payment_id: Some(&payment_id),
                source: pick_source(&mut rng),
                // Seeded buyers came through the link page, as most do.
                counted_view: true,
                paid_from: AccountRef::provider_clearing("test", amount.currency),
                paid_from_debited: false,
                ledger_key: format!("sale:{order_id}"),
                memo: format!("seeded sale of work {}", work.work_id),
                token: None,
            };
            sale::write(&mut tx, std::slice::from_ref(&one), Mails::None, &mut written, at, |_| {}).await.map_err(|e| e.to_string())?;
            if rng.random_ratio(1, 50) {
                refunded_orders.push(order_id);
            }
        }
        tx.commit().await.map_err(e)?;
        done += n;
    }
    // Refunds, by the refund path (the ledger reversal, the revoked grant, the rollups).
    for chunk in refunded_orders.chunks(batch_size) {
        let mut tx = db.begin().await.map_err(e)?;
        for order_id in chunk {
            let order = orders::order_in(&mut tx, order_id).await.map_err(e)?.ok_or("seeded order vanished")?;
            checkout::reverse_once(&mut tx, &order).await.map_err(|e| e.to_string())?;
        }
        tx.commit().await.map_err(e)?;
    }
    let refunds = refunded_orders.len();

    // Views: spread over every hour of the period and every work, summing exactly to the total.
    let hours = opts.days.max(1) * 24;
    let first_hour = rollup::hour_of(now) - hours + 1;
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
    let source_views: Vec<(i64, &str, i64)> = source_views.into_iter().map(|((hour, source), n)| (hour, source, n)).collect();
    views::write_history(db, &creator.account_id, &view_rows, &source_views).await.map_err(e)?;

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
