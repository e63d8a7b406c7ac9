//! A seeded random walk over top-ups, wallet purchases (new and retried), refunds and
//! replayed payment confirmations, with every ledger invariant and a model of each wallet
//! checked after every step. `CLINK_TEST_SEED` picks another walk.

use crate::common;

use std::collections::HashMap;

use crate::common::TestApp;
use app::{
    accounts::store as accounts,
    checkout::{
        provider::{EventKind, Payments, ProviderEvent},
        service as checkout,
    },
    wallet::service::{self as wallet, TopUpRequest, WalletBuy, WalletError},
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};

struct Work {
    code: String,
    price: i64,
    currency: &'static str,
}

async fn walk(app: TestApp) {
    let seed: u64 = std::env::var("CLINK_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261123);
    let mut rng = StdRng::seed_from_u64(seed);
    let state = app.state.clone();

    app.creator("maker").await;
    let maker = accounts::find_by_handle(&state.db, "maker").await.unwrap().unwrap();
    let mut works = Vec::new();
    for (price, currency) in [("0.05", "EUR"), ("0.20", "EUR"), ("1.00", "EUR"), ("0.35", "USD")] {
        let body = common::Multipart::new()
            .text("title", &format!("Work {price} {currency}"))
            .text("price", price)
            .text("currency", currency)
            .file("files", "w.bin", "application/octet-stream", b"w")
            .build();
        let created: serde_json::Value = app.upload(body).await.json().await.unwrap();
        let minor = app::money::parse_amount(price, "p").unwrap();
        works.push(Work { code: created["code"].as_str().unwrap().to_string(), price: minor, currency });
    }
    let mut buyers = Vec::new();
    for name in ["ada", "bob", "cyd"] {
        let client = app.new_client();
        common::sign_up_on(&client, &app.base_url, &app.shared_dir, &format!("{name}@example.com"), name, name).await;
        buyers.push(accounts::find_by_handle(&state.db, name).await.unwrap().unwrap());
    }
    let Payments::Test(provider) = &state.payments else { panic!("test provider expected") };

    let mut model: HashMap<(String, &'static str), i64> = HashMap::new();
    let mut keys: Vec<(usize, usize, String, String)> = Vec::new(); // (buyer, work, key, order)
    let mut refundable: Vec<(usize, String, i64, &'static str)> = Vec::new();
    let mut events: Vec<ProviderEvent> = Vec::new();
    let steps = 120;
    let mut seen: HashMap<&'static str, usize> = HashMap::new();
    for step in 0..steps {
        let roll: f64 = rng.random();
        let b = rng.random_range(0..buyers.len());
        let buyer = &buyers[b];
        if roll < 0.25 {
            // Top-up through the test card, its confirmation sometimes delivered twice.
            let currency = *["EUR", "USD"].choose(&mut rng).unwrap();
            let amount = rng.random_range(50..=1500);
            let started = wallet::start_topup(
                &state,
                buyer,
                &TopUpRequest { amount: app::money::amount_input(amount), currency: currency.into(), ..Default::default() },
            )
            .await
            .unwrap();
            let topup = app::wallet::store::topup(&state.db, &started.topup_id).await.unwrap().unwrap();
            let payment_id = topup.provider_payment_id.unwrap();
            provider.pay(&state.db, &payment_id, "4242424242424242", "12/34", "123").await.unwrap();
            let event = ProviderEvent {
                provider: app::orders::Provider::Test,
                event_id: format!("evt_{payment_id}"),
                payment_id,
                order_id: Some(started.topup_id),
                kind: EventKind::Succeeded,
                amount: None,
            };
            app::payments::apply_event(&state, &event).await.unwrap();
            *seen.entry("top-up").or_default() += 1;
            *model.entry((buyer.account_id.clone(), currency)).or_default() += amount;
            events.push(event);
        } else if roll < 0.70 {
            // A purchase: a new key, or a retry of an old one (which must not pay again).
            let retry = !keys.is_empty() && rng.random_bool(0.25);
            let (w, key) = if retry {
                let (kb, kw, key, _) = keys.choose(&mut rng).unwrap().clone();
                if kb != b {
                    continue;
                }
                (kw, key)
            } else {
                (rng.random_range(0..works.len()), format!("walk-{seed}-{step:05}-key"))
            };
            let work = &works[w];
            let before = *model.get(&(buyer.account_id.clone(), work.currency)).unwrap_or(&0);
            match wallet::buy(&state, &buyer.account_id, &WalletBuy { code: work.code.clone(), key: key.clone(), ..Default::default() })
                .await
            {
                Ok(bought) if bought.repeated => {
                    let first = keys.iter().find(|(_, _, k, _)| *k == key).map(|(_, _, _, o)| o.clone());
                    assert_eq!(Some(bought.order_id), first, "step {step}: a retry returns the first purchase");
                    *seen.entry("retry").or_default() += 1;
                }
                Ok(bought) => {
                    assert!(before >= work.price, "step {step}: bought with {before} for {}", work.price);
                    *model.entry((buyer.account_id.clone(), work.currency)).or_default() -= work.price;
                    keys.push((b, w, key, bought.order_id.clone()));
                    refundable.push((b, bought.order_id, work.price, work.currency));
                    *seen.entry("purchase").or_default() += 1;
                }
                Err(WalletError::Insufficient { .. }) => {
                    assert!(before < work.price, "step {step}: refused with {before} for {}", work.price);
                    *seen.entry("refused").or_default() += 1;
                }
                Err(e) => panic!("step {step}: {e}"),
            }
        } else if roll < 0.85 && !refundable.is_empty() {
            // The creator refunds a purchase (sometimes twice): back to the wallet, once.
            let i = rng.random_range(0..refundable.len());
            let (rb, order_id, price, currency) = refundable.swap_remove(i);
            app::payments::refund_sale(&state, &maker.account_id, &order_id).await.unwrap();
            if rng.random_bool(0.3) {
                app::payments::refund_sale(&state, &maker.account_id, &order_id).await.unwrap();
            }
            *model.entry((buyers[rb].account_id.clone(), currency)).or_default() += price;
            *seen.entry("refund").or_default() += 1;
        } else if let Some(event) = events.choose(&mut rng) {
            // A provider confirmation replayed (a webhook retry): nothing changes.
            let applied = app::payments::apply_event(&state, event).await.unwrap();
            assert_eq!(applied, checkout::Applied::Duplicate, "step {step}");
            *seen.entry("replay").or_default() += 1;
        }

        let report = app::verify::verify(&state.db).await.unwrap();
        assert!(report.is_clean(), "seed {seed}, step {step}: {:?}", report.violations);
        for ((account, currency), expected) in &model {
            let actual = app::ledger::store::balance(&state.db, &format!("buyer_wallet:{account}:{currency}")).await.unwrap();
            assert_eq!(actual, *expected, "seed {seed}, step {step}: wallet {account} {currency}");
            assert!(actual >= 0);
        }
    }
    // The creator-level rollups (the dashboard's cards and chart) are the per-work ones summed.
    type Row = (String, i64, String, i64, i64, i64, i64, i64);
    let per_work: Vec<Row> = app::on_db!(&state.db, pool => sqlx::query_as::<_, Row>(
        "select creator_id, hour, currency, cast(sum(sales) as bigint), cast(sum(gross_minor) as bigint), cast(sum(net_minor) as bigint), \
         cast(sum(refunds) as bigint), cast(sum(refunded_net_minor) as bigint) from sale_hour group by creator_id, hour, currency \
         order by creator_id, hour, currency").fetch_all(pool).await)
    .unwrap();
    let per_creator: Vec<Row> = app::on_db!(&state.db, pool => sqlx::query_as::<_, Row>(
        "select creator_id, hour, currency, sales, gross_minor, net_minor, refunds, refunded_net_minor from creator_sale_hour \
         order by creator_id, hour, currency").fetch_all(pool).await)
    .unwrap();
    assert!(!per_work.is_empty());
    assert_eq!(per_creator, per_work, "seed {seed}: creator rollups match the per-work rollups");
    eprintln!("seed {seed}: {seen:?}");
    for kind in ["top-up", "purchase", "retry", "refused", "refund", "replay"] {
        assert!(seen.get(kind).copied().unwrap_or(0) >= 2, "seed {seed}: the walk exercised too few {kind} steps: {seen:?}");
    }
}

both_backends! {
    async fn a_seeded_random_walk_keeps_every_invariant(app) {
        walk(app).await;
    }
}
