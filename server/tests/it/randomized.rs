//! A seeded random walk over top-ups, wallet and tab purchases (new and retried), tab
//! settlements, refunds and replayed payment confirmations, with every ledger invariant and a
//! model of each wallet and tab checked after every step. `CLINK_TEST_SEED` picks another walk.

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

/// Pays the top-up (or tab settlement) `topup_id` with the test card and applies the provider's
/// confirmation; returns the top-up and that confirmation, for replaying it later.
async fn pay_by_test_card(
    state: &app::state::AppState,
    provider: &app::checkout::provider::TestProvider,
    topup_id: &str,
) -> (app::wallet::store::TopUpRow, ProviderEvent) {
    let topup = app::wallet::store::topup(&state.db, topup_id).await.unwrap().unwrap();
    let payment_id = topup.provider_payment_id.clone().unwrap();
    provider.pay(&state.db, &payment_id, "4242424242424242", "12/34", "123").await.unwrap();
    let event = ProviderEvent {
        provider: app::orders::Provider::Test,
        event_id: format!("evt_{payment_id}"),
        payment_id,
        order_id: Some(topup_id.to_string()),
        kind: EventKind::Succeeded,
        amount: None,
    };
    app::payments::apply_event(state, &event).await.unwrap();
    (topup, event)
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
    // The last buyer never tops up: they buy on their tab (and with what a settlement leaves).
    for name in ["ada", "bob", "cyd", "dee"] {
        let client = app.new_client();
        common::sign_up_on(&client, &app.base_url, &app.shared_dir, &format!("{name}@example.com"), name, name).await;
        buyers.push(accounts::find_by_handle(&state.db, name).await.unwrap().unwrap());
    }
    let Payments::Test(provider) = &state.payments else { panic!("test provider expected") };

    let mut model: HashMap<(String, &'static str), i64> = HashMap::new();
    // What each buyer owes on their tab, per currency, as open purchases (order, price).
    let mut tabs: HashMap<(String, &'static str), Vec<(String, i64)>> = HashMap::new();
    // Buyers who have paid a tab (their limit is the operator's, 5.00, from then on).
    let mut paid_a_tab: std::collections::HashSet<String> = Default::default();
    let mut keys: Vec<(usize, usize, String, String)> = Vec::new(); // (buyer, work, key, order)
    // (buyer, order, price, currency, on the tab)
    let mut refundable: Vec<(usize, String, i64, &'static str, bool)> = Vec::new();
    let mut events: Vec<ProviderEvent> = Vec::new();
    let steps = 300;
    let mut seen: HashMap<&'static str, usize> = HashMap::new();
    for step in 0..steps {
        let roll: f64 = rng.random();
        let topping_up = roll < 0.14;
        let b = rng.random_range(0..buyers.len() - usize::from(topping_up));
        let buyer = &buyers[b];
        if topping_up {
            // Top-up through the test card, its confirmation sometimes delivered twice.
            let currency = *["EUR", "USD"].choose(&mut rng).unwrap();
            let amount = rng.random_range(50..=800);
            let started = wallet::start_topup(
                &state,
                buyer,
                &TopUpRequest { amount: app::money::amount_input(amount), currency: currency.into(), ..Default::default() },
            )
            .await
            .unwrap();
            let (_, event) = pay_by_test_card(&state, provider, &started.topup_id).await;
            *seen.entry("top-up").or_default() += 1;
            *model.entry((buyer.account_id.clone(), currency)).or_default() += amount;
            events.push(event);
        } else if roll < 0.66 {
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
            let use_tab = rng.random_bool(0.6);
            let tab_key = (buyer.account_id.clone(), work.currency);
            let owed: i64 = tabs.get(&tab_key).map_or(0, |items| items.iter().map(|(_, p)| p).sum());
            let limit = if paid_a_tab.contains(&buyer.account_id) { 500 } else { 100 };
            let request = WalletBuy { code: work.code.clone(), key: key.clone(), use_tab, ..Default::default() };
            match wallet::buy(&state, &buyer.account_id, &request).await {
                Ok(bought) if bought.repeated => {
                    let first = keys.iter().find(|(_, _, k, _)| *k == key).map(|(_, _, _, o)| o.clone());
                    assert_eq!(Some(bought.order_id), first, "step {step}: a retry returns the first purchase");
                    *seen.entry("retry").or_default() += 1;
                }
                Ok(bought) if bought.on_tab => {
                    assert!(use_tab && before < work.price, "step {step}: on the tab although the wallet had {before}");
                    assert!(owed + work.price <= limit, "step {step}: tab of {owed} took {} over {limit}", work.price);
                    tabs.entry(tab_key).or_default().push((bought.order_id.clone(), work.price));
                    keys.push((b, w, key, bought.order_id.clone()));
                    refundable.push((b, bought.order_id, work.price, work.currency, true));
                    *seen.entry("tab purchase").or_default() += 1;
                }
                Ok(bought) => {
                    assert!(before >= work.price, "step {step}: bought with {before} for {}", work.price);
                    *model.entry((buyer.account_id.clone(), work.currency)).or_default() -= work.price;
                    keys.push((b, w, key, bought.order_id.clone()));
                    refundable.push((b, bought.order_id, work.price, work.currency, false));
                    *seen.entry("purchase").or_default() += 1;
                }
                Err(WalletError::OverTabLimit { .. }) => {
                    assert!(use_tab && owed + work.price > limit, "step {step}: refused a tab of {owed} for {} under {limit}", work.price);
                    *seen.entry("over the tab limit").or_default() += 1;
                }
                Err(WalletError::Insufficient { .. }) => {
                    assert!(before < work.price, "step {step}: refused with {before} for {}", work.price);
                    *seen.entry("refused").or_default() += 1;
                }
                Err(e) => panic!("step {step}: {e}"),
            }
        } else if roll < 0.70 {
            // The buyer pays their tab by card: what its open purchases cost, at least the card
            // minimum (the rest to the wallet).
            // Mostly a currency they owe in; sometimes one they may not (nothing to settle).
            let owing: Vec<&'static str> =
                ["EUR", "USD"].into_iter().filter(|c| tabs.get(&(buyer.account_id.clone(), *c)).is_some_and(|t| !t.is_empty())).collect();
            let currency = match owing.choose(&mut rng) {
                Some(c) if rng.random_bool(0.8) => *c,
                _ => *["EUR", "USD"].choose(&mut rng).unwrap(),
            };
            let tab_key = (buyer.account_id.clone(), currency);
            let open = tabs.remove(&tab_key).unwrap_or_default();
            let owed: i64 = open.iter().map(|(_, p)| p).sum();
            let c = app::money::Currency::parse(currency).unwrap();
            match wallet::settle_tab(&state, buyer, c, None, None, wallet::SettleBy::CardStep).await {
                Ok(started) => {
                    assert!(owed > 0, "step {step}: a settlement of an empty tab");
                    let (topup, event) = pay_by_test_card(&state, provider, &started.topup_id).await;
                    assert_eq!(topup.amount_minor, owed.max(c.card_minimum()), "step {step}: the settlement's amount");
                    *model.entry((buyer.account_id.clone(), currency)).or_default() += topup.amount_minor - owed;
                    for (order, _) in &open {
                        if let Some(r) = refundable.iter_mut().find(|r| &r.1 == order) {
                            r.4 = false; // settled: a refund now goes to the wallet
                        }
                    }
                    paid_a_tab.insert(buyer.account_id.clone());
                    events.push(event);
                    *seen.entry("settlement").or_default() += 1;
                }
                Err(WalletError::NothingToSettle) => assert_eq!(owed, 0, "step {step}: nothing to settle on a tab of {owed}"),
                Err(e) => panic!("step {step}: {e}"),
            }
        } else if roll < 0.82 && !refundable.is_empty() {
            // The creator refunds a purchase (sometimes twice), once: a wallet purchase or a
            // settled tab purchase back to the wallet, an unsettled one off the tab.
            let i = rng.random_range(0..refundable.len());
            let (rb, order_id, price, currency, on_open_tab) = refundable.swap_remove(i);
            app::payments::refund_sale(&state, &maker.account_id, &order_id).await.unwrap();
            if rng.random_bool(0.3) {
                app::payments::refund_sale(&state, &maker.account_id, &order_id).await.unwrap();
            }
            let key = (buyers[rb].account_id.clone(), currency);
            if on_open_tab {
                tabs.entry(key).or_default().retain(|(o, _)| *o != order_id);
                *seen.entry("tab refund").or_default() += 1;
            } else {
                *model.entry(key).or_default() += price;
            }
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
        for buyer in &buyers {
            for currency in ["EUR", "USD"] {
                let owed: i64 = tabs.get(&(buyer.account_id.clone(), currency)).map_or(0, |items| items.iter().map(|(_, p)| p).sum());
                let c = app::money::Currency::parse(currency).unwrap();
                let actual = app::wallet::store::tab_owed(&state.db, &buyer.account_id, c).await.unwrap();
                assert_eq!(actual, owed, "seed {seed}, step {step}: tab of {} in {currency}", buyer.account_id);
            }
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
    for kind in ["top-up", "purchase", "retry", "refused", "refund", "replay", "tab purchase", "over the tab limit", "settlement"] {
        assert!(seen.get(kind).copied().unwrap_or(0) >= 2, "seed {seed}: the walk exercised too few {kind} steps: {seen:?}");
    }
}

both_backends! {
    async fn a_seeded_random_walk_keeps_every_invariant(app) {
        walk(app).await;
    }
}
