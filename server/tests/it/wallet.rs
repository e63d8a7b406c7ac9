//! Wallets over HTTP: top-ups, one-click purchases from 0.05, no overdraft and no double spend
//! under concurrency, idempotency keys, spending rules (caps, PIN, confirmation, pause),
//! refunds back to the wallet, auto-reload, history and magic-link sign-in.

use crate::common;

use crate::common::{TestApp, buyer_with_balance, wallet_balance, wallet_buy};
use reqwest::StatusCode;
use serde_json::json;

const DATA: &[u8] = b"a tiny zine";

async fn creator_with_work(app: &TestApp, price: &str) -> String {
    app.creator("maker").await;
    app.publish_work("Tiny Zine", price, DATA).await.1
}

/// A page's HTML without the comment markers server rendering leaves between text pieces.
fn without_markers(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<!") {
        out.push_str(&rest[..start]);
        let end = if rest[start..].starts_with("<!--") {
            rest[start..].find("-->").map(|e| start + e + 3)
        } else {
            rest[start..].find('>').map(|e| start + e + 1)
        };
        rest = &rest[end.unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

async fn sql_exec(app: &TestApp, sql: &str) -> Result<u64, sqlx::Error> {
    app::on_db!(&app.state.db, pool => sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()))
}

fn key(n: usize) -> String {
    format!("test-purchase-key-{n:06}")
}

/// 50 parallel 0.20 purchases against a balance of 2.00: exactly 10 go through.
async fn fifty_purchases_ten_paid(app: &TestApp) {
    let code = creator_with_work(app, "0.20").await;
    let buyer = buyer_with_balance(app, "racer", "2").await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (buyer, url, code) = (buyer.clone(), app.url("/api/wallet/purchases"), code.clone());
            tokio::spawn(
                async move { buyer.post(url).json(&json!({"code": code, "idempotency_key": key(i)})).send().await.unwrap().status() },
            )
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => ok += 1,
            StatusCode::PAYMENT_REQUIRED => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, refused), (10, 40));
    assert_eq!(wallet_balance(app, "racer").await, 0);
    assert_eq!(app.count("select count(*) from buyer_order where provider = 'wallet'").await, 10);
    app.ledger_is_clean().await;
}

/// The one-purchase-per-transaction writer (the benchmark's baseline; on SQLite its commits
/// fsync themselves instead of a syncer thread) keeps the same guarantees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_purchase_per_transaction_writer_on_sqlite() {
    let app = TestApp::spawn_with(common::Backend::Sqlite, &[("CLINK_WALLET_MAX_BATCH", "1")]).await;
    fifty_purchases_ten_paid(&app).await;
}

both_backends! {
    async fn a_second_app_server_never_decides_on_stale_copies(app) {
        // Each server keeps the work and the buyer's rules in memory for one-click purchases;
        // what one server changes, the other must not act on stale copies of.
        app.creator("maker").await;
        let (work_id, code) = app.publish_work("Tiny Zine", "0.20", DATA).await;
        let other = app.spawn_beside().await;
        let buyer = buyer_with_balance(&app, "roamer", "5").await;
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(1), json!({})).await;
        assert_eq!((status, body["price"].as_str()), (StatusCode::CREATED, Some("0.20")), "{body}");

        // The creator raises the price on the other server: the first one charges the new price.
        let update = |price: &'static str| {
            let fields = [("work_id", work_id.clone()), ("title", "Tiny Zine".to_string()), ("description", String::new()),
                ("currency", "EUR".to_string()), ("price_kind", "fixed".to_string()), ("price", price.to_string())];
            let (client, base) = (app.client.clone(), other.base_url.clone());
            async move {
                let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                common::call_with(&client, &base, "works/update", &fields).await
            }
        };
        assert_eq!(update("0.50").await.status(), StatusCode::OK);
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(2), json!({})).await;
        assert_eq!((status, body["price"].as_str(), body["balance"].as_str()), (StatusCode::CREATED, Some("0.50"), Some("4.30")), "{body}");

        // The buyer pauses the wallet on the other server: the first one refuses at once.
        let res = common::call_with(&buyer, &other.base_url, "wallet/rules", &[("paused", "1"), ("confirm_above", ""), ("weekly_cap", ""),
            ("monthly_cap", ""), ("pin_above", "")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(3), json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("paused"), "{body}");
        common::call_with(&buyer, &other.base_url, "wallet/rules", &[("confirm_above", ""), ("weekly_cap", "0.40"), ("monthly_cap", ""),
            ("pin_above", "")]).await;
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(4), json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "0.50 is over a 0.40 weekly cap set elsewhere: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("weekly spending cap"), "{body}");

        // The work is deleted on the other server: gone on the first one too.
        common::call_with(&buyer, &other.base_url, "wallet/rules", &[("confirm_above", ""), ("weekly_cap", ""), ("monthly_cap", ""),
            ("pin_above", "")]).await;
        let res = common::call_with(&app.client, &other.base_url, "works/delete", &[("work_id", work_id.as_str())]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(5), json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(wallet_balance(&app, "roamer").await, 430, "only the two purchases above were charged");
        app.ledger_is_clean().await;

    }

    async fn top_up_then_buy_for_twenty_cents_in_one_click(app) {
        let code = creator_with_work(&app, "0.20").await;
        let buyer = buyer_with_balance(&app, "wally", "5").await;
        assert_eq!(wallet_balance(&app, "wally").await, 500);

        // The link page offers the wallet, in one click.
        let page = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Buy for €0.20</span> with your wallet"));
        let nonce = common::hidden_input(&page, "key").unwrap();
        let res = buyer.post(app.url(&format!("/wallet/buy/{code}"))).form(&[("key", nonce.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let back = res.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(back, format!("/l/{code}?bought=1"), "back on the link page");
        let html = buyer.get(app.url(&back)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Paid €0.20 · your download is starting"), "{html}");
        let refresh = html.split("http-equiv=\"refresh\" content=\"0;url=").nth(1).expect("the download starts at once");
        let file_url = refresh.split('"').next().unwrap().to_string();
        assert!(file_url.starts_with("/d/") && file_url.contains("/files/"), "{file_url}");
        assert!(html.contains("€4.80"), "the page shows what's left");
        assert!(!html.contains("with your wallet"), "no Buy button in its place");
        // The address carries no token: a copy of it, opened by someone else, is the plain page.
        let other = app.new_client().get(app.url(&back)).send().await.unwrap().text().await.unwrap();
        assert!(!other.contains("http-equiv=\"refresh\"") && !other.contains("/files/"), "{other}");
        // The file itself, as the browser fetches it.
        let file = buyer.get(app.url(&file_url)).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(wallet_balance(&app, "wally").await, 480);
        // The same button again (a double click): the same purchase, not a second one.
        let again = buyer.post(app.url(&format!("/wallet/buy/{code}"))).form(&[("key", nonce.as_str())]).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        assert_eq!(wallet_balance(&app, "wally").await, 480);
        app.ledger_is_clean().await;
        // 0.20 at 5%: 0.01 to Clink, 0.19 to the creator.
        assert_eq!(app::ledger::store::balance(&app.state.db, "platform_fees:-:EUR").await.unwrap(), 1);
        // Another account signing in on this browser doesn't see it.
        let res = common::sign_up_on(&buyer, &app.base_url, &app.shared_dir, "next.person@example.com", "next_person", "Next").await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = buyer.get(app.url(&back)).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("Paid €0.20") && !html.contains("/files/"), "{html}");
    }

    async fn fifty_parallel_purchases_against_ten_purchases_of_balance(app) {
        fifty_purchases_ten_paid(&app).await;
    }

    async fn one_idempotency_key_sent_twenty_times_debits_once(app) {
        let code = creator_with_work(&app, "0.35").await;
        let buyer = buyer_with_balance(&app, "twice", "5").await;
        let tasks: Vec<_> = (0..20).map(|_| {
            let (buyer, url, code) = (buyer.clone(), app.url("/api/wallet/purchases"), code.clone());
            tokio::spawn(async move {
                let res = buyer.post(url).json(&json!({"code": code, "idempotency_key": "same-key-for-all-20"})).send().await.unwrap();
                (res.status(), res.json::<serde_json::Value>().await.unwrap())
            })
        }).collect();
        let mut orders = std::collections::HashSet::new();
        let mut created = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert!(status.is_success(), "{status} {body}");
            created += usize::from(status == StatusCode::CREATED);
            orders.insert(body["order_id"].as_str().unwrap().to_string());
        }
        assert_eq!(created, 1, "one purchase made, nineteen answered with it");
        assert_eq!(orders.len(), 1, "every answer names the same order");
        assert_eq!(wallet_balance(&app, "twice").await, 465);
        app.ledger_is_clean().await;
    }

    async fn spending_caps_and_pin_hold_under_concurrency(app) {
        let code = creator_with_work(&app, "0.20").await;
        let buyer = buyer_with_balance(&app, "careful", "10").await;
        let res = common::call_with(&buyer, &app.base_url, "wallet/rules", &[("confirm_above", ""), ("weekly_cap", "1.00"),
            ("monthly_cap", ""), ("pin_above", "")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let tasks: Vec<_> = (0..20).map(|i| {
            let (buyer, url, code) = (buyer.clone(), app.url("/api/wallet/purchases"), code.clone());
            tokio::spawn(async move { buyer.post(url).json(&json!({"code": code, "idempotency_key": key(i)})).send().await.unwrap() })
        }).collect();
        let mut ok = 0;
        let mut capped = 0;
        for t in tasks {
            let res = t.await.unwrap();
            match res.status() {
                StatusCode::CREATED => ok += 1,
                StatusCode::CONFLICT => {
                    let body: serde_json::Value = res.json().await.unwrap();
                    assert!(body["error"]["message"].as_str().unwrap().contains("weekly spending cap"));
                    capped += 1;
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!((ok, capped), (5, 15), "1.00 a week buys exactly five 0.20 works");
        assert_eq!(wallet_balance(&app, "careful").await, 900);

        // A PIN above 0.10: required, checked, throttled.
        common::call_with(&buyer, &app.base_url, "wallet/rules", &[("confirm_above", ""), ("weekly_cap", ""), ("monthly_cap", ""),
            ("pin_above", "0.10"), ("new_pin", "4321")]).await;
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(100), json!({})).await;
        assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("pin")));
        let (status, _) = wallet_buy(&app, &buyer, &code, &key(101), json!({"pin": "0000"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let attempts: Vec<_> = (0..8).map(|i| {
            let (buyer, url, code) = (buyer.clone(), app.url("/api/wallet/purchases"), code.clone());
            tokio::spawn(async move { buyer.post(url).json(&json!({"code": code, "idempotency_key": key(200 + i), "pin": "1111"})).send().await.unwrap().status() })
        }).collect();
        let mut limited = 0;
        for a in attempts {
            limited += usize::from(a.await.unwrap() == StatusCode::TOO_MANY_REQUESTS);
        }
        assert!(limited >= 1, "guessing the PIN is throttled");
        assert_eq!(wallet_balance(&app, "careful").await, 900, "no wrong PIN ever paid");
    }

    async fn caps_count_purchases_made_before_the_cap_and_refunds_give_room_back(app) {
        let code = creator_with_work(&app, "0.20").await;
        let buyer = buyer_with_balance(&app, "spender", "5").await;
        let rules = |weekly: &'static str, monthly: &'static str| {
            let (buyer, base) = (buyer.clone(), app.base_url.clone());
            async move {
                let res = common::call_with(&buyer, &base, "wallet/rules", &[("confirm_above", ""), ("weekly_cap", weekly),
                    ("monthly_cap", monthly), ("pin_above", "")]).await;
                assert_eq!(res.status(), StatusCode::OK);
            }
        };
        // Three purchases without any cap...
        let mut orders = Vec::new();
        for i in 0..3 {
            let (status, body) = wallet_buy(&app, &buyer, &code, &key(i), json!({})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            orders.push(body["order_id"].as_str().unwrap().to_string());
        }
        let page = buyer.get(app.url("/wallet")).send().await.unwrap().text().await.unwrap();
        assert!(without_markers(&page).contains("Spent this week €0.60 · this month €0.60"), "the wallet page counts uncapped purchases");
        // ...count against a weekly cap of 1.00 set afterwards: two more fit, not three.
        rules("1.00", "").await;
        let mut results = Vec::new();
        for i in 3..6 {
            results.push(wallet_buy(&app, &buyer, &code, &key(i), json!({})).await);
        }
        assert_eq!(results.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [StatusCode::CREATED, StatusCode::CREATED, StatusCode::CONFLICT]);
        assert!(results[2].1["error"]["message"].as_str().unwrap().contains("weekly spending cap"), "{}", results[2].1);

        // A refunded purchase no longer counts: room for exactly one more.
        let res = app.call("sales/refund", &[("order_id", &orders[0])]).await; // the creator's session
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(wallet_buy(&app, &buyer, &code, &key(6), json!({})).await.0, StatusCode::CREATED);
        assert_eq!(wallet_buy(&app, &buyer, &code, &key(7), json!({})).await.0, StatusCode::CONFLICT);

        // The month counted the capped purchases too: 1.00 spent, so a monthly cap of 1.00 is reached.
        rules("", "1.00").await;
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(8), json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("monthly spending cap"), "{body}");
        assert_eq!(wallet_balance(&app, "spender").await, 400, "five purchases standing, one refunded");
        app.ledger_is_clean().await; // the checker recomputes every spending counter from the purchases
    }

    async fn ledger_verify_names_every_broken_invariant_and_entries_never_change(app) {
        let code = creator_with_work(&app, "0.20").await;
        let buyer = buyer_with_balance(&app, "audited", "5").await;
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(1), json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let clean = app.run_cli(&["ledger", "verify"], None).await;
        assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stdout));

        // The triggers: entries and transactions are never updated or deleted.
        for sql in ["update ledger_entry set amount_minor = amount_minor + 1", "delete from ledger_entry",
            "update ledger_txn set memo = 'changed'", "delete from ledger_txn"] {
            let err = sql_exec(&app, sql).await.expect_err(sql);
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }

        // What can still go wrong, each reported by name.
        for sql in [
            // a cached balance that drifts from its entries
            "update ledger_account set balance_minor = balance_minor + 1 where kind = 'buyer_wallet'",
            // a transaction that doesn't balance
            "insert into ledger_txn (txn_id, kind, order_id, idempotency_key, memo, created_at) values ('tampered', 'adjustment', null, 'tampered', 'x', 0)",
            "insert into ledger_entry (entry_id, txn_id, account_id, currency, amount_minor, created_at) values ('tampered', 'tampered', 'platform_fees:-:EUR', 'EUR', 5, 0)",
            // a spending counter that isn't the sum of the purchases
            "update wallet_spend set spent_minor = spent_minor + 7",
            // a purchase marked refunded with no refund in the ledger
            "update buyer_order set status = 'refunded' where provider = 'wallet'",
        ] {
            sql_exec(&app, sql).await.expect(sql);
        }
        let out = app.run_cli(&["ledger", "verify"], None).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "violations exit non-zero:\n{stdout}");
        for needle in ["cached balance", "transaction tampered does not balance in EUR: off by 5", "spent in w",
            "spent in m", "refunded order", "has 0 refund transactions, expected 1"] {
            assert!(stdout.contains(needle), "{needle:?} missing from:\n{stdout}");
        }
    }

    async fn confirmation_and_pause_rules(app) {
        let code = creator_with_work(&app, "2.50").await;
        let buyer = buyer_with_balance(&app, "ruled", "5").await;
        common::call_with(&buyer, &app.base_url, "wallet/rules", &[("confirm_above", "1"), ("weekly_cap", ""), ("monthly_cap", ""), ("pin_above", "")]).await;
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(1), json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let page = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("with your wallet…"), "the page asks first");
        let confirm = buyer.get(app.url(&format!("/l/{code}?confirm_wallet=1"))).send().await.unwrap().text().await.unwrap();
        assert!(confirm.contains("Confirm — pay €2.50"));
        let (status, _) = wallet_buy(&app, &buyer, &code, &key(2), json!({"confirm": true})).await;
        assert_eq!(status, StatusCode::CREATED);

        common::call_with(&buyer, &app.base_url, "wallet/rules", &[("paused", "1"), ("confirm_above", ""), ("weekly_cap", ""), ("monthly_cap", ""), ("pin_above", "")]).await;
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(3), json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body["error"]["message"].as_str().unwrap().contains("paused"));
        assert_eq!(wallet_balance(&app, "ruled").await, 250);
    }

    async fn a_refund_of_a_wallet_purchase_goes_back_to_the_wallet(app) {
        let code = creator_with_work(&app, "0.75").await;
        let buyer = buyer_with_balance(&app, "refundee", "2").await;
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(1), json!({})).await;
        assert_eq!(status, StatusCode::CREATED);
        let order_id = body["order_id"].as_str().unwrap().to_string();
        let download = body["download_url"].as_str().unwrap().to_string();
        assert_eq!(wallet_balance(&app, "refundee").await, 125);
        let res = app.call("sales/refund", &[("order_id", &order_id)]).await; // the creator's session
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(wallet_balance(&app, "refundee").await, 200);
        assert_eq!(app.order_status(&order_id).await, "refunded");
        assert_eq!(buyer.get(&download).send().await.unwrap().status(), StatusCode::GONE);
        app.ledger_is_clean().await;
        // The history shows the top-up, the purchase and the refund with a running balance.
        let csv = buyer.get(app.url("/wallet/history.csv")).send().await.unwrap().text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "date,description,amount,currency,balance,order_or_topup");
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(lines[1].contains("Top-up,2.00,EUR,2.00"), "{csv}");
        assert!(lines[2].contains("Bought Tiny Zine,-0.75,EUR,1.25"), "{csv}");
        assert!(lines[3].contains("Refund of Tiny Zine,0.75,EUR,2.00"), "{csv}");
        assert!(lines[1].starts_with("20"), "ISO 8601 dates: {csv}");
    }

    async fn topping_up_returns_to_the_purchase(app) {
        let code = creator_with_work(&app, "0.20").await;
        let buyer = buyer_with_balance(&app, "short", "0.50").await;
        for i in 0..2 {
            assert_eq!(wallet_buy(&app, &buyer, &code, &key(i), json!({})).await.0, StatusCode::CREATED);
        }
        let page = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("You own this"), "an owner sees their purchase, not Buy");
        let page = buyer.get(app.url(&format!("/l/{code}?again=1"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Your wallet has") && page.contains("and buy"), "not enough left for a third: top up and buy");
        assert_eq!(wallet_buy(&app, &buyer, &code, &key(3), json!({})).await.0, StatusCode::PAYMENT_REQUIRED);
        let back = common::top_up(&app, &buyer, "2", Some(&format!("/l/{code}"))).await;
        assert_eq!(back, format!("/l/{code}"), "back to the purchase after paying");
        assert_eq!(wallet_balance(&app, "short").await, 210);
        // Bad amounts are refused before any payment.
        for (amount, field) in [("0.49", "amount"), ("500.01", "amount"), ("abc", "amount")] {
            let res = buyer.post(app.url("/wallet/topup")).header("accept", "application/json")
                .form(&[("amount", amount), ("currency", "EUR")]).send().await.unwrap();
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"]["field"], field, "{amount}");
        }
    }

    async fn auto_reload_charges_the_saved_card_at_most_n_times(app) {
        let code = creator_with_work(&app, "1.00").await;
        let buyer = buyer_with_balance(&app, "reloader", "3").await; // remembers the card
        let res = common::call_with(&buyer, &app.base_url, "wallet/autoreload", &[("enabled", "1"), ("currency", "EUR"), ("below", "1.50"), ("amount", "2"), ("max_per_month", "1")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(wallet_buy(&app, &buyer, &code, &key(1), json!({})).await.0, StatusCode::CREATED); // 2.00 left
        assert_eq!(wallet_buy(&app, &buyer, &code, &key(2), json!({})).await.0, StatusCode::CREATED); // 1.00: reload
        common::eventually("the auto-reload", || async { (wallet_balance(&app, "reloader").await == 300).then_some(()) }).await;
        assert_eq!(wallet_buy(&app, &buyer, &code, &key(3), json!({})).await.0, StatusCode::CREATED);
        assert_eq!(wallet_buy(&app, &buyer, &code, &key(4), json!({})).await.0, StatusCode::CREATED); // 1.00 again
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(wallet_balance(&app, "reloader").await, 100, "only one reload a month");
        assert_eq!(app.count("select count(*) from wallet_topup where automatic = true").await, 1);
        app.ledger_is_clean().await;
    }

    async fn wallet_purchases_get_a_receipt_and_creators_a_notice_one_email_per_window(app) {
        // A creator who turned the new-sale email off, and one who has it on (the default).
        app.creator("quiet").await;
        assert_eq!(app.call("settings/notify-sales", &[("enabled", "false")]).await.status(), StatusCode::OK);
        let (_, quiet_work) = app.publish_work("Quiet poem", "0.10", DATA).await;
        app.creator("maker").await;
        let (_, zine) = app.publish_work("First zine", "0.20", DATA).await;
        let (_, comic) = app.publish_work("Second comic", "0.30", DATA).await;
        let (_, print) = app.publish_work("Third print", "0.40", DATA).await;
        let reader = buyer_with_balance(&app, "digest", "5").await;
        let mut bought = Vec::new();
        for (i, code) in [&quiet_work, &zine, &comic, &print].into_iter().enumerate() {
            let (status, body) = wallet_buy(&app, &reader, code, &key(i), json!({})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            bought.push(body);
        }
        // Ten-minute windows: the four purchases normally fall in one (a boundary between
        // them gives two of everything, which the counts below allow for).
        let windows = app
            .count(&format!(
                "select count(distinct created_at - (created_at % {})) from buyer_order where provider = 'wallet'",
                app::mail::outbox::DIGEST_WINDOW_MS
            ))
            .await;
        assert_eq!(app.count("select count(*) from mail_outbox where kind = 'wallet_receipts'").await, windows, "one receipt per window");
        assert_eq!(
            app.count("select count(*) from mail_outbox where kind = 'sales_digest' and recipient = 'maker@example.com'").await,
            windows,
            "one notice per window for the creator who wants them"
        );
        assert_eq!(
            app.count("select count(*) from mail_outbox where recipient = 'quiet@example.com' and kind in ('sales_digest', 'new_sale')").await,
            0,
            "none for the creator who turned them off"
        );
        let now = app::db::now_ms();
        assert_eq!(app.count(&format!("select count(*) from mail_outbox where digest_key is not null and next_attempt_at <= {now}")).await, 0);

        // The download page says when the receipt comes, not that it came.
        let page = without_markers(&reader.get(bought[1]["download_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap());
        assert!(page.contains("comes by email within ten minutes"), "{page}");
        assert!(!page.contains("We emailed you this link"), "{page}");
        // Nothing is sent before the window closes.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert!(!app.outbox().iter().any(|m| m.contains("To: digest@example.com") && common::decoded_body(m).contains("/d/")));

        // A refund before the receipt goes out: the receipt leaves that purchase out.
        let comic_order = bought[2]["order_id"].as_str().unwrap();
        assert_eq!(app.call("sales/refund", &[("order_id", comic_order)]).await.status(), StatusCode::OK);

        // The window closes.
        sql_exec(&app, "update mail_outbox set next_attempt_at = 0 where digest_key is not null").await.unwrap();
        let receipt = common::decoded_body(&app.email_to("digest@example.com", "with your Clink wallet").await);
        let links: std::collections::BTreeSet<String> = receipt
            .match_indices(&app.url("/d/"))
            .map(|(i, _)| receipt[i..].split(|c: char| c.is_whitespace() || c == '"' || c == '<').next().unwrap().to_string())
            .collect();
        if windows == 1 {
            assert_eq!(links.len(), 3, "one link per purchase kept: {receipt}");
            for title in ["Quiet poem", "First zine", "Third print"] {
                assert!(receipt.contains(title), "{title} missing: {receipt}");
            }
            assert!(!receipt.contains("Second comic"), "the refunded purchase is left out: {receipt}");
            let notice = common::decoded_body(&app.email_to("maker@example.com", "You made").await);
            assert!(notice.contains("You made 2 sales for €0.60"), "{notice}");
        }
        for link in &links {
            let res = app.new_client().get(link).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{link}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert!(!app.outbox().iter().any(|m| m.contains("To: quiet@example.com") && common::decoded_body(m).contains("You made")));
        assert_eq!(app.count("select count(*) from mail_outbox where sent_at is null").await, 0, "every queued mail went out once");
        app.ledger_is_clean().await;
    }

    async fn a_busy_window_lists_the_first_purchases_and_counts_the_rest(app) {
        // A fan buys 30 postcards within one window: the receipt and the creator's notice list
        // the first 25 and say how many more there were, with totals over all 30. Before, both
        // listed every purchase: a viral link's notice loaded and mailed every sale of its window.
        app.creator("viral").await;
        let mut codes = Vec::new();
        for i in 0..30 {
            codes.push(app.publish_work(&format!("Postcard {i:02}"), "0.05", DATA).await.1);
        }
        let fan = buyer_with_balance(&app, "fan", "5").await;
        for (i, code) in codes.iter().enumerate() {
            let (status, body) = wallet_buy(&app, &fan, code, &key(i), json!({})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let windows = app
            .count(&format!(
                "select count(distinct created_at - (created_at % {})) from buyer_order where provider = 'wallet'",
                app::mail::outbox::DIGEST_WINDOW_MS
            ))
            .await;
        sql_exec(&app, "update mail_outbox set next_attempt_at = 0 where digest_key is not null").await.unwrap();
        let receipt = common::decoded_body(&app.email_to("fan@example.com", "with your Clink wallet").await);
        let notice = common::decoded_body(&app.email_to("viral@example.com", "You made").await);
        if windows == 1 {
            let links: std::collections::BTreeSet<String> = receipt
                .match_indices(&app.url("/d/"))
                .map(|(i, _)| receipt[i..].split(|c: char| c.is_whitespace() || c == '"' || c == '<').next().unwrap().to_string())
                .collect();
            assert_eq!(links.len(), app::mail::templates::DIGEST_LISTS, "the first 25 purchases, each with its link: {receipt}");
            assert!(receipt.contains("Postcard 00") && receipt.contains("Postcard 24") && !receipt.contains("Postcard 25"), "{receipt}");
            assert!(receipt.contains("…and 5 more, each in your library."), "{receipt}");
            assert!(receipt.contains("Thanks for your purchases with your Clink wallet (€1.50 in all)."), "{receipt}");
            assert!(notice.contains("You made 30 sales for €1.50"), "{notice}");
            assert!(notice.contains("…and 5 more."), "{notice}");
            assert!(!notice.contains("Postcard 25"), "{notice}");
            for link in &links {
                assert_eq!(app.new_client().get(link).send().await.unwrap().status(), StatusCode::OK, "{link}");
            }
        }
        assert_eq!(app.count("select count(*) from mail_outbox where sent_at is null").await, 0, "every queued mail went out once");
    }

    async fn card_and_wallet_refunds_take_the_same_reversal(app) {
        app.creator("maker").await;
        let (_, zine) = app.publish_work("Wallet zine", "0.50", DATA).await;
        let (_, book) = app.publish_work("Card book", "3", DATA).await;
        let reader = buyer_with_balance(&app, "twoways", "5").await;
        let (status, body) = wallet_buy(&app, &reader, &zine, &key(1), json!({})).await;
        assert_eq!(status, StatusCode::CREATED);
        let wallet_order = body["order_id"].as_str().unwrap().to_string();
        let card_order = common::buy_with_test_card(&app, &app.new_client(), &book, "twoways@example.com", "").await;
        for order in [&wallet_order, &card_order] {
            assert_eq!(app.call("sales/refund", &[("order_id", order)]).await.status(), StatusCode::OK);
        }
        for (order, back_to) in [(&wallet_order, "buyer_wallet:"), (&card_order, "refunds:")] {
            assert_eq!(app.order_status(order).await, "refunded");
            // One reversal transaction, the sale's entries mirrored, the money back where it
            // came from (the wallet) or out to the provider's refunds.
            let q = |sql: &str| sql.replace("{order}", order);
            assert_eq!(app.count(&q("select count(*) from ledger_txn where kind = 'refund' and idempotency_key = 'refund:{order}'")).await, 1);
            assert_eq!(
                app.count(&q("select count(*) from ledger_entry e join ledger_txn t on t.txn_id = e.txn_id \
                              where t.order_id = '{order}' and t.kind = 'refund'"))
                .await,
                app.count(&q("select count(*) from ledger_entry e join ledger_txn t on t.txn_id = e.txn_id \
                              where t.order_id = '{order}' and t.kind = 'sale'"))
                .await
            );
            assert_eq!(
                app.count(&q(&format!("select count(*) from ledger_entry e join ledger_txn t on t.txn_id = e.txn_id \
                                       where t.order_id = '{{order}}' and t.kind = 'refund' and e.amount_minor > 0 and e.account_id like '{back_to}%'")))
                .await,
                1,
                "{order} goes back to {back_to}"
            );
            assert_eq!(app.count(&q("select count(*) from download_grant where order_id = '{order}' and revoked_at is not null")).await, 1);
        }
        assert_eq!(app.count("select cast(sum(refunds) as bigint) from sale_hour").await, 2, "both in the dashboard's refunds");
        assert_eq!(wallet_balance(&app, "twoways").await, 500);
        app.ledger_is_clean().await;
    }

    async fn the_library_lists_wallet_purchases_beside_card_purchases(app) {
        app.creator("maker").await;
        let (_, zine) = app.publish_work("Wallet zine", "0.20", DATA).await;
        let (_, refunded) = app.publish_work("Refunded zine", "0.30", DATA).await;
        let (_, book) = app.publish_work("Card book", "3", DATA).await;
        let (_, elsewhere) = app.publish_work("Stranger zine", "0.25", DATA).await;
        let reader = buyer_with_balance(&app, "reader", "5").await;
        let stranger = buyer_with_balance(&app, "stranger", "5").await;
        assert_eq!(wallet_buy(&app, &reader, &zine, &key(1), json!({})).await.0, StatusCode::CREATED);
        let (status, body) = wallet_buy(&app, &reader, &refunded, &key(2), json!({})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(app.call("sales/refund", &[("order_id", body["order_id"].as_str().unwrap())]).await.status(), StatusCode::OK);
        assert_eq!(wallet_buy(&app, &stranger, &elsewhere, &key(3), json!({})).await.0, StatusCode::CREATED);
        // The same email as a guest with a card, on another device.
        common::buy_with_test_card(&app, &app.new_client(), &book, "reader@example.com", "").await;

        let device = app.new_client();
        let res = common::call_with(&device, &app.base_url, "library/link", &[("email", "reader@example.com")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let mail = app.email_to("reader@example.com", "/library/access/").await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/library/access/")).unwrap();
        assert_eq!(device.get(&link).send().await.unwrap().headers()["location"], "/library");
        let page = without_markers(&device.get(app.url("/library")).send().await.unwrap().text().await.unwrap());
        for title in ["Wallet zine", "Refunded zine", "Card book"] {
            assert!(page.contains(title), "{title} missing from the library: {page}");
        }
        assert!(!page.contains("Stranger zine"), "another buyer's wallet purchase is not in this library");
        // Newest first: the card purchase came last.
        let at = |title: &str| page.find(title).unwrap();
        assert!(at("Card book") < at("Refunded zine") && at("Refunded zine") < at("Wallet zine"), "{page}");
    }

    async fn buyers_sign_in_with_a_magic_link(app) {
        let browser = app.new_client();
        let res = common::call_with(&browser, &app.base_url, "login-link", &[("email", "magic@example.com"), ("next", "/wallet")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let mail = app.email_to("magic@example.com", "/login/link/").await;
        let link = common::link_in(&common::decoded_body(&mail), &app.url("/login/link/")).unwrap();
        let res = browser.get(&link).send().await.unwrap();
        assert_eq!(res.headers()["location"], "/wallet");
        let me: serde_json::Value = common::call_with(&browser, &app.base_url, "me", &[]).await.json().await.unwrap();
        assert_eq!(me["email"], "magic@example.com");
        assert!(me["handle"].as_str().unwrap().starts_with("buyer_"));
        // Used once only.
        let again = app.new_client().get(&link).send().await.unwrap();
        assert_eq!(again.headers()["location"], "/login?expired=1");
    }
}
