//! The tab over HTTP: "Get it now · pay later" for a new buyer with only an email, the first
//! tab's limit under 50 parallel purchases, settling by card when a purchase would go over the
//! limit (and the purchase completing), settlement exactly once, a declined settlement locking
//! the tab, refunds before and after settlement, and the ledger's tab invariants.

use crate::common::{self, TestApp, hidden_input, unescape, wallet_buy};
use reqwest::{Client, StatusCode};
use serde_json::json;

const DATA: &[u8] = b"a tiny zine";

const DAY_MS: i64 = 86_400_000;

fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default()
}

fn key(n: usize) -> String {
    format!("tab-purchase-key-{n:06}")
}

async fn scalar_i64(app: &TestApp, sql: &str) -> i64 {
    app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_optional(pool).await).unwrap().unwrap_or(0)
}

/// What the buyer with `email` owes on their tab (minor units).
async fn owed(app: &TestApp, email: &str) -> i64 {
    -scalar_i64(
        app,
        &format!(
            "select l.balance_minor from ledger_account l join account a on a.account_id = l.owner_id \
             where l.kind = 'buyer_tab' and a.email = '{email}'"
        ),
    )
    .await
}

/// The card of the wallet page's tab in `currency` (lower case).
fn tab_card(wallet_page: &str, currency: &str) -> String {
    let at = wallet_page.find(&format!("id=\"tab-{currency}\"")).unwrap_or_else(|| panic!("no {currency} tab: {wallet_page}"));
    wallet_page[at..at + wallet_page[at..].find("</section>").expect("the card ends")].to_string()
}

async fn creator_balance(app: &TestApp, kind: &str) -> i64 {
    scalar_i64(
        app,
        &format!(
            "select cast(coalesce(sum(l.balance_minor), 0) as bigint) from ledger_account l join account a on a.account_id = l.owner_id \
             where l.kind = '{kind}' and a.handle = 'maker'"
        ),
    )
    .await
}

/// A visitor's "Get it now · pay later" on the link page of `code`: the form as the page
/// renders it, with the email typed. Returns where the server sent the browser.
async fn pay_later(app: &TestApp, visitor: &Client, code: &str, email: Option<&str>) -> String {
    let page = visitor.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    let form_at = page.find(&format!("action=\"/tab/buy/{code}\"")).expect("the link page offers the tab");
    let form = &page[form_at..page[form_at..].find("</form>").map_or(page.len(), |e| form_at + e)];
    let mut fields: Vec<(String, String)> =
        ["key", "source"].iter().filter_map(|name| hidden_input(form, name).map(|v| (name.to_string(), unescape(&v)))).collect();
    if let Some(email) = email {
        fields.push(("email".into(), email.into()));
    }
    let res = visitor.post(app.url(&format!("/tab/buy/{code}"))).form(&fields).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    location(&res)
}

/// Pays the card step at `pay` (a `/wallet?topup=…` page) with `card`; returns where the
/// card form sent the browser.
async fn pay_card_step(app: &TestApp, buyer: &Client, pay: &str, card: &str) -> String {
    let page = buyer.get(app.url(pay)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Pay your tab"), "the card step says what it pays: {page}");
    let action =
        unescape(page.split("action=\"").find(|s| s.starts_with("/pay/test/")).expect("test card form").split('"').next().unwrap());
    let (id, k) = (hidden_input(&page, "order_id").unwrap(), unescape(&hidden_input(&page, "k").unwrap()));
    let res = buyer
        .post(app.url(&action))
        .form(&[("order_id", id.as_str()), ("k", k.as_str()), ("card_number", card), ("card_expiry", "12/34"), ("card_cvc", "123")])
        .send()
        .await
        .unwrap();
    location(&res)
}

/// A new visitor whose browser already has the device id `device` (`clink_device`), and the
/// cookie jar to read what the server set.
fn on_device(app: &TestApp, device: Option<&str>) -> (Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let base: reqwest::Url = app.base_url.parse().unwrap();
    if let Some(device) = device {
        jar.add_cookie_str(&format!("clink_device={device}; Path=/"), &base);
    }
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", app.base_url.parse().unwrap());
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    (client, jar)
}

/// The creator's figures in `GET /api/v1/stats`, up to far in the future (the collection runs at
/// injected times weeks ahead), for their one currency.
async fn euro_figures(app: &TestApp, api_token: &str) -> serde_json::Value {
    let res = Client::new().get(app.url("/api/v1/stats?to=2099-12-31")).bearer_auth(api_token).send().await.unwrap();
    let stats: serde_json::Value = res.json().await.unwrap();
    assert_eq!(stats["currencies"][0]["currency"], "EUR", "{stats}");
    stats["currencies"][0].clone()
}

async fn publish(app: &TestApp, title: &str, price: &str) -> String {
    app.publish_work(title, price, DATA).await.1
}

both_backends! {
    async fn a_new_buyer_gets_the_file_with_only_an_email(app) {
        app.creator("maker").await;
        let code = publish(&app, "Tiny Zine", "0.20").await;
        let visitor = app.new_client();
        let to = pay_later(&app, &visitor, &code, Some("newbie@example.com")).await;
        assert_eq!(to, format!("/l/{code}?bought=1"), "back on the link page, whose download starts");
        let page = visitor.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
        let download = page.split("href=\"").find(|s| s.starts_with("/d/")).expect("a download link").split('"').next().unwrap();
        let res = visitor.get(app.url(download)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(owed(&app, "newbie@example.com").await, 20);
        assert_eq!(creator_balance(&app, "creator_pending").await, 19, "the creator's share waits for the tab");
        assert_eq!(creator_balance(&app, "creator_earnings").await, 0);
        // The wallet page shows the tab.
        let wallet = visitor.get(app.url("/wallet")).send().await.unwrap().text().await.unwrap();
        assert!(wallet.contains("Your tab") && wallet.contains("Tiny Zine"), "{wallet}");
        // Back on the link page later, the buyer owns it (no second charge), and the library
        // lists it: both find tab purchases through the tab's ledger entries.
        let again = visitor.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
        assert!(again.contains("You own this") && !again.contains(&format!("action=\"/tab/buy/{code}\"")), "{again}");
        let library = visitor.get(app.url("/library")).send().await.unwrap().text().await.unwrap();
        assert!(library.contains("Tiny Zine") && library.contains("/library/download/"), "{library}");
        app.ledger_is_clean().await;
    }

    async fn fifty_parallel_purchases_stop_at_the_first_tab_limit(app) {
        app.creator("maker").await;
        let code = publish(&app, "Tiny Zine", "0.20").await;
        let buyer = app.new_client();
        let res = common::sign_up_on(&buyer, &app.base_url, &app.shared_dir, "racer@example.com", "racer", "Racer").await;
        assert_eq!(res.status(), StatusCode::OK);
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let (buyer, url, code) = (buyer.clone(), app.url("/api/wallet/purchases"), code.clone());
                tokio::spawn(async move {
                    let res = buyer.post(url).json(&json!({"code": code, "idempotency_key": key(i), "pay_later": true})).send().await.unwrap();
                    (res.status(), res.json::<serde_json::Value>().await.unwrap_or_default())
                })
            })
            .collect();
        let (mut bought, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                (StatusCode::CREATED, body) => {
                    assert_eq!(body["paid_from"], "tab");
                    bought += 1;
                }
                (StatusCode::PAYMENT_REQUIRED, body) => {
                    assert!(body.to_string().contains("Settle your tab"), "{body}");
                    refused += 1;
                }
                other => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!((bought, refused), (5, 45), "a first tab holds 1.00: five 0.20 purchases");
        assert_eq!(owed(&app, "racer@example.com").await, 100);
        assert_eq!(creator_balance(&app, "creator_pending").await, 5 * 19);
        // The same key again is the same purchase, not a sixth.
        let (status, body) = wallet_buy(&app, &buyer, &code, &key(0), json!({"pay_later": true})).await;
        assert!(status == StatusCode::OK || status == StatusCode::PAYMENT_REQUIRED, "{status} {body}");
        assert_eq!(owed(&app, "racer@example.com").await, 100);
        app.ledger_is_clean().await;
    }

    async fn reaching_the_limit_settles_by_card_and_completes_the_purchase(app) {
        app.creator("maker").await;
        let first = publish(&app, "First Zine", "0.60").await;
        let second = publish(&app, "Second Zine", "0.60").await;
        let buyer = app.new_client();
        assert_eq!(pay_later(&app, &buyer, &first, Some("settler@example.com")).await, format!("/l/{first}?bought=1"));
        // 0.60 + 0.60 is over the first tab's 1.00: the tab is paid by card first.
        let pay = pay_later(&app, &buyer, &second, None).await;
        assert!(pay.starts_with("/wallet?topup="), "{pay}");
        let back = pay_card_step(&app, &buyer, &pay, "4242424242424242").await;
        assert!(back.starts_with("/wallet/topup/"), "{back}");
        let res = buyer.get(app.url(&back)).send().await.unwrap();
        assert_eq!(location(&res), format!("/l/{second}?bought=1"), "the purchase completes after the tab is paid");
        // Coming back again (a reload, a second tab) settles nothing twice and buys nothing twice.
        let again = buyer.get(app.url(&back)).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.count("select count(*) from ledger_txn where kind = 'tab_settlement'").await, 1);
        assert_eq!(app.count("select count(*) from buyer_order where provider = 'tab'").await, 2);
        assert_eq!(owed(&app, "settler@example.com").await, 60, "the second purchase is on the tab now");
        assert_eq!(creator_balance(&app, "creator_earnings").await, 57, "the first purchase's share is available");
        assert_eq!(creator_balance(&app, "creator_pending").await, 57, "the second's waits");

        // The provider's confirmation, replayed, duplicated and late (a failure after the
        // success): the settlement stays booked once.
        let topup_id: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>(
            "select topup_id from wallet_topup where settles_tab = true").fetch_one(pool).await).unwrap();
        let payment_id: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>(
            "select provider_payment_id from wallet_topup where topup_id = $1").bind(&topup_id).fetch_one(pool).await).unwrap();
        use app::checkout::provider::{EventKind, ProviderEvent};
        let event = |id: &str, kind: EventKind| ProviderEvent {
            provider: app::orders::Provider::Test,
            event_id: id.to_string(),
            payment_id: payment_id.clone(),
            order_id: Some(topup_id.clone()),
            kind,
            amount: None,
        };
        for e in [event("evt_late_failure", EventKind::Failed("declined".into())), event("evt_dup", EventKind::Succeeded),
                  event("evt_dup", EventKind::Succeeded)] {
            app::wallet::service::apply_topup_event(&app.state, &topup_id, &e).await.unwrap();
        }
        assert_eq!(app.count("select count(*) from ledger_txn where kind = 'tab_settlement'").await, 1);
        assert_eq!(app.count("select count(*) from wallet_topup where settles_tab = true and status = 'succeeded'").await, 1);

        // Having paid a tab, the buyer gets the operator's limit (5.00): three more 0.60 fit.
        for (i, title) in ["Third", "Fourth", "Fifth"].iter().enumerate() {
            let code = publish(&app, title, "0.60").await;
            let (status, body) = wallet_buy(&app, &buyer, &code, &key(i), json!({"pay_later": true})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        assert_eq!(owed(&app, "settler@example.com").await, 240);
        app.ledger_is_clean().await;
    }

    async fn a_declined_settlement_locks_the_tab_until_it_is_paid(app) {
        app.creator("maker").await;
        let mut codes = Vec::new();
        for title in ["A", "B", "C"] {
            codes.push(publish(&app, title, "0.50").await);
        }
        let buyer = app.new_client();
        pay_later(&app, &buyer, &codes[0], Some("declined@example.com")).await;
        pay_later(&app, &buyer, &codes[1], None).await;
        // A third purchase would pass 1.00: the tab's card step, declined.
        let pay = pay_later(&app, &buyer, &codes[2], None).await;
        assert!(pay.starts_with("/wallet?topup="), "{pay}");
        let declined = pay_card_step(&app, &buyer, &pay, "4000000000000002").await;
        assert!(declined.contains("card_error="), "{declined}");
        common::eventually("the settlement is marked failed", || async {
            (app.count("select count(*) from wallet_topup where settles_tab = true and status = 'failed'").await == 1).then_some(())
        })
        .await;
        // Locked: even a purchase that fits nothing new goes to the same settlement's card step.
        let (status, body) = wallet_buy(&app, &buyer, &codes[2], &key(9), json!({"pay_later": true})).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert!(body.to_string().contains("didn't go through"), "{body}");
        let retry = pay_later(&app, &buyer, &codes[2], None).await;
        assert_eq!(retry.split("&k=").next(), pay.split("&k=").next(), "the same settlement, not a second charge");
        // Paid with another card: unlocked, and the purchase completes.
        let back = pay_card_step(&app, &buyer, &retry, "4242424242424242").await;
        let res = buyer.get(app.url(&back)).send().await.unwrap();
        assert_eq!(location(&res), format!("/l/{}?bought=1", codes[2]));
        assert_eq!(app.count("select count(*) from wallet_topup where settles_tab = true").await, 1);
        assert_eq!(owed(&app, "declined@example.com").await, 50);
        app.ledger_is_clean().await;
    }

    async fn refunds_come_off_an_unpaid_tab_and_go_to_the_wallet_once_paid(app) {
        app.creator("maker").await;
        let first = publish(&app, "First Zine", "0.40").await;
        let second = publish(&app, "Second Zine", "0.40").await;
        let buyer = app.new_client();
        pay_later(&app, &buyer, &first, Some("refunded@example.com")).await;
        pay_later(&app, &buyer, &second, None).await;
        let orders: Vec<String> = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>(
            "select order_id from buyer_order where provider = 'tab' order by created_at, order_id").fetch_all(pool).await).unwrap();
        // Before settlement: the refund comes off the tab and out of the creator's pending share.
        let res = app.call("sales/refund", &[("order_id", &orders[0])]).await;
        assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
        assert_eq!(owed(&app, "refunded@example.com").await, 40);
        assert_eq!(creator_balance(&app, "creator_pending").await, 38);
        app.ledger_is_clean().await;
        // "Pay now": 0.40 is below the card minimum, so the card pays 0.50 and 0.10 goes to the wallet.
        let res = buyer.post(app.url("/wallet/tab/pay")).form(&[("currency", "EUR")]).send().await.unwrap();
        let pay = location(&res);
        let back = pay_card_step(&app, &buyer, &pay, "4242424242424242").await;
        let res = buyer.get(app.url(&back)).send().await.unwrap();
        assert_eq!(location(&res), "/wallet?tab_paid=1");
        assert_eq!(owed(&app, "refunded@example.com").await, 0);
        let wallet = scalar_i64(&app, "select l.balance_minor from ledger_account l join account a on a.account_id = l.owner_id \
             where l.kind = 'buyer_wallet' and a.email = 'refunded@example.com'").await;
        assert_eq!(wallet, 10, "what the card minimum paid beyond the tab");
        assert_eq!(creator_balance(&app, "creator_earnings").await, 38);
        // After settlement: the refund goes to the buyer's wallet.
        let res = app.call("sales/refund", &[("order_id", &orders[1])]).await;
        assert!(res.status().is_success());
        let wallet = scalar_i64(&app, "select l.balance_minor from ledger_account l join account a on a.account_id = l.owner_id \
             where l.kind = 'buyer_wallet' and a.email = 'refunded@example.com'").await;
        assert_eq!(wallet, 50);
        assert_eq!(creator_balance(&app, "creator_earnings").await, 0);
        assert_eq!(owed(&app, "refunded@example.com").await, 0);
        app.ledger_is_clean().await;
    }

    async fn new_tabs_are_limited_per_address_without_saying_why(app) {
        app.creator("maker").await;
        let code = publish(&app, "Tiny Zine", "0.20").await;
        // Five new tabs at once from one address, then none until the allowance recovers.
        for i in 0..5 {
            let to = pay_later(&app, &app.new_client(), &code, Some(&format!("visitor{i}@example.com"))).await;
            assert_eq!(to, format!("/l/{code}?bought=1"), "visitor {i}");
        }
        let refused = pay_later(&app, &app.new_client(), &code, Some("visitor5@example.com")).await;
        assert!(refused.contains("error=The%20tab%20isn%27t%20available%20right%20now"), "{refused}");
        assert!(!refused.contains("address"), "the reason stays in the operator's log");
        assert_eq!(app.count("select count(*) from account where email = 'visitor5@example.com'").await, 0);
        // A buyer already signed in keeps buying on their tab.
        let regular = app.new_client();
        let res = common::sign_up_on(&regular, &app.base_url, &app.shared_dir, "regular@example.com", "regular", "Regular").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(pay_later(&app, &regular, &code, None).await, format!("/l/{code}?bought=1"));
        app.ledger_is_clean().await;
    }

    async fn new_tabs_are_limited_per_device(app) {
        use reqwest::cookie::CookieStore;
        app.creator("maker").await;
        let code = publish(&app, "Tiny Zine", "0.20").await;
        let bought = format!("/l/{code}?bought=1");
        // A browser asking for its first tab is given a device id, kept for a year.
        let (first, jar) = on_device(&app, None);
        assert_eq!(pay_later(&app, &first, &code, Some("one@example.com")).await, bought);
        let base: reqwest::Url = app.base_url.parse().unwrap();
        let cookies = jar.cookies(&base).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let device = cookies.split("; ").find_map(|c| c.strip_prefix("clink_device=")).expect("a device id").to_string();
        assert_eq!(device.len(), 32, "{cookies}");
        // Two more new tabs from that browser (other people, other emails), then none: the
        // address alone would allow five.
        for email in ["two@example.com", "three@example.com"] {
            assert_eq!(pay_later(&app, &on_device(&app, Some(&device)).0, &code, Some(email)).await, bought, "{email}");
        }
        let refused = pay_later(&app, &on_device(&app, Some(&device)).0, &code, Some("four@example.com")).await;
        assert!(refused.contains("error=The%20tab%20isn%27t%20available%20right%20now"), "{refused}");
        assert!(!refused.contains("device"), "the reason stays in the operator's log");
        assert_eq!(app.count("select count(*) from account where email = 'four@example.com'").await, 0);
        // Another browser from the same address still gets one.
        assert_eq!(pay_later(&app, &on_device(&app, None).0, &code, Some("five@example.com")).await, bought);
        // A cookie that isn't one of ours is replaced, not trusted, even when the tab is refused
        // (here by the address's limit: its five are used up, the refused one included).
        let (odd, jar) = on_device(&app, Some("not-a-device-id"));
        assert!(pay_later(&app, &odd, &code, Some("six@example.com")).await.contains("error="));
        let cookies = jar.cookies(&base).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(cookies.split("; ").any(|c| c.strip_prefix("clink_device=").is_some_and(|d| d.len() == 32)), "{cookies}");
        assert_eq!(app.count("select count(*) from tab_device").await, 4, "one row per buyer and device");
        app.ledger_is_clean().await;
    }

    async fn a_buyer_can_lower_their_tab_limit(app) {
        app.creator("maker").await;
        let code = publish(&app, "Tiny Zine", "0.20").await;
        let buyer = app.new_client();
        let res = common::sign_up_on(&buyer, &app.base_url, &app.shared_dir, "careful@example.com", "careful", "Careful").await;
        assert_eq!(res.status(), StatusCode::OK);
        let rules = [("confirm_above", ""), ("weekly_cap", ""), ("monthly_cap", ""), ("pin_above", ""), ("tab_limit", "0.40")];
        let res = common::call_with(&buyer, &app.base_url, "wallet/rules", &rules).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        let statuses: Vec<StatusCode> = {
            let mut out = Vec::new();
            for i in 0..3 {
                out.push(wallet_buy(&app, &buyer, &code, &key(i), json!({"pay_later": true})).await.0);
            }
            out
        };
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CREATED, StatusCode::PAYMENT_REQUIRED]);
        // A limit above Clink's is Clink's.
        let rules = [("confirm_above", ""), ("weekly_cap", ""), ("monthly_cap", ""), ("pin_above", ""), ("tab_limit", "50")];
        common::call_with(&buyer, &app.base_url, "wallet/rules", &rules).await;
        let bought = (3..10).map(key).collect::<Vec<_>>();
        let mut created = 0;
        for k in &bought {
            if wallet_buy(&app, &buyer, &code, k, json!({"pay_later": true})).await.0 == StatusCode::CREATED {
                created += 1;
            }
        }
        assert_eq!(created, 3, "up to the first tab's 1.00");
        app.ledger_is_clean().await;
    }
    async fn an_unpaid_tab_is_reminded_then_locked_then_written_off(app) {
        use app::wallet::collection::{Collected, collect};
        app.creator("maker").await;
        let first = publish(&app, "First Zine", "0.30").await;
        let second = publish(&app, "Second Zine", "0.30").await;
        let third = publish(&app, "Third Zine", "0.30").await;
        const DEVICE: &str = "0123456789abcdef0123456789abcdef";
        let (buyer, _) = on_device(&app, Some(DEVICE));
        pay_later(&app, &buyer, &first, Some("dee@example.org")).await;
        pay_later(&app, &buyer, &second, None).await;
        // The collection runs at an injected time: so many days after the purchases.
        let bought = app::db::now_ms();
        let at = |days: i64| bought + days * DAY_MS + 60_000;
        let reminded = |n: usize, locked: usize| Collected { reminded: n, locked, ..Collected::default() };
        assert_eq!(collect(&app.state, at(29)).await.unwrap(), Collected::default(), "not due before 30 days");
        assert_eq!(collect(&app.state, at(30)).await.unwrap(), reminded(1, 0));
        // Each step once, however often the pass runs (every server runs it).
        assert_eq!(collect(&app.state, at(30)).await.unwrap(), Collected::default());
        assert_eq!(collect(&app.state, at(36)).await.unwrap(), Collected::default(), "a week between reminders");
        let mail = app.email_to("dee@example.org", "waiting for payment for 30 days").await;
        assert!(common::decoded_body(&mail).contains("/wallet#tab-h"), "{mail}");
        let wallet = buyer.get(app.url("/wallet")).send().await.unwrap().text().await.unwrap();
        assert!(wallet.contains("Your tab is overdue"), "{wallet}");
        assert_eq!(collect(&app.state, at(37)).await.unwrap(), reminded(1, 0));
        assert_eq!(collect(&app.state, at(44)).await.unwrap(), reminded(1, 1), "the third reminder locks the tab");
        app.email_to("dee@example.org", "Your tab is now locked").await;
        let (status, body) = wallet_buy(&app, &buyer, &third, &key(1), json!({"pay_later": true})).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert!(body.to_string().contains("overdue"), "{body}");
        assert_eq!(owed(&app, "dee@example.org").await, 60);
        assert_eq!(creator_balance(&app, "creator_pending").await, 56, "two shares of 0.28 wait");

        // A week after the lock, still unpaid: written off.
        assert_eq!(collect(&app.state, at(50)).await.unwrap(), Collected::default());
        assert_eq!(collect(&app.state, at(51)).await.unwrap(), Collected { written_off: 1, ..Collected::default() });
        assert_eq!(collect(&app.state, at(60)).await.unwrap(), Collected::default(), "once");
        assert_eq!(owed(&app, "dee@example.org").await, 0, "the tab is cleared");
        assert_eq!(creator_balance(&app, "creator_pending").await, 0, "the creator's pending shares are reversed");
        assert_eq!(creator_balance(&app, "creator_earnings").await, 0);
        assert_eq!(scalar_i64(&app, "select balance_minor from ledger_account where kind = 'write_offs'").await, -4, "Clink's fees");
        app.email_to("dee@example.org", "has been closed").await;
        let dashboard = app.get("/dashboard").await.text().await.unwrap();
        assert!(dashboard.contains("Unpaid tabs, written off") && dashboard.contains("unpaid-tabs"), "{dashboard}");
        assert!(dashboard.contains("0.56"), "{dashboard}");
        assert!(dashboard.contains("(unpaid tab, written off)"), "recent sales mark it: {dashboard}");
        app.ledger_is_clean().await;
        // The earnings figures lose the shares too, in the hour of the write-off (51 days on).
        let api = app.run_cli(&["token", "create", "--email", "maker@example.com"], None).await;
        let api = String::from_utf8(api.stdout).unwrap().trim().to_string();
        let figures = euro_figures(&app, &api).await;
        assert_eq!((figures["sales"].as_i64(), figures["net"].as_str()), (Some(2), Some("0.56")), "{figures}");
        assert_eq!((figures["written_off"].as_str(), figures["earnings"].as_str()), (Some("0.56"), Some("0.00")), "{figures}");
        let sales: serde_json::Value = Client::new().get(app.url("/api/v1/sales")).bearer_auth(&api).send().await.unwrap().json().await.unwrap();
        let sales = sales["sales"].as_array().unwrap();
        assert!(sales.len() == 2 && sales.iter().all(|s| s["written_off_at"].is_string()), "{sales:?}");
        assert!(sales.iter().all(|s| s["paid_with"] == "tab" && s["provider"] == "tab"), "{sales:?}");

        // Never a tab again: not for the account, not for its email from a new visitor.
        let (status, body) = wallet_buy(&app, &buyer, &third, &key(2), json!({"pay_later": true})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let wallet = buyer.get(app.url("/wallet")).send().await.unwrap().text().await.unwrap();
        assert!(wallet.contains("Your tab was closed"), "{wallet}");
        let refused = pay_later(&app, &app.new_client(), &third, Some(" DEE@example.org")).await;
        assert!(refused.contains("error=The%20tab%20isn%27t%20available%20right%20now"), "{refused}");
        let page = buyer.get(app.url(&format!("/l/{third}"))).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains(&format!("action=\"/tab/buy/{third}\"")), "no tab offered to a written-off buyer");
        // Nor to anyone else, with another email, from the browser the tab was used from.
        let refused = pay_later(&app, &on_device(&app, Some(DEVICE)).0, &third, Some("dee.two@example.net")).await;
        assert!(refused.contains("error=The%20tab%20isn%27t%20available%20right%20now"), "{refused}");
        assert_eq!(app.count("select count(*) from tab_device_block").await, 1);

        // A refund of a written-off purchase gives back Clink's written-off fee, and moves
        // nothing else.
        let order: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>(
            "select order_id from buyer_order where provider = 'tab' order by created_at, order_id").fetch_one(pool).await).unwrap();
        let res = app.call("sales/refund", &[("order_id", &order)]).await;
        assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
        assert_eq!(scalar_i64(&app, "select balance_minor from ledger_account where kind = 'write_offs'").await, -2);
        assert_eq!(creator_balance(&app, "creator_pending").await, 0);
        assert_eq!(owed(&app, "dee@example.org").await, 0);
        app.ledger_is_clean().await;
        let figures = euro_figures(&app, &api).await;
        assert_eq!((figures["refunds"].as_i64(), figures["earnings"].as_str()), (Some(1), Some("0.00")), "the share isn't taken twice: {figures}");

        // The tab's statement says what became of each purchase.
        let csv = buyer.get(app.url("/wallet/tab.csv")).send().await.unwrap().text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "date,kind,description,amount,currency,status,reference");
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines.iter().any(|l| l.contains("First Zine") && l.contains(",refunded,")), "{csv}");
        assert!(lines.iter().any(|l| l.contains("Second Zine") && l.contains(",0.30,EUR,written off,")), "{csv}");
    }

    async fn paying_an_overdue_tab_ends_its_collection(app) {
        use app::wallet::collection::{Collected, collect};
        app.creator("maker").await;
        let first = publish(&app, "First Zine", "0.30").await;
        let second = publish(&app, "Second Zine", "0.30").await;
        let buyer = app.new_client();
        pay_later(&app, &buyer, &first, Some("late@example.org")).await;
        let bought = app::db::now_ms();
        let at = |days: i64| bought + days * DAY_MS + 60_000;
        for days in [30, 37, 44] {
            assert_eq!(collect(&app.state, at(days)).await.unwrap().reminded, 1, "day {days}");
        }
        // Locked: buying on the tab goes through paying it, and then the purchase completes.
        let pay = pay_later(&app, &buyer, &second, None).await;
        assert!(pay.starts_with("/wallet?topup="), "{pay}");
        let back = pay_card_step(&app, &buyer, &pay, "4242424242424242").await;
        let res = buyer.get(app.url(&back)).send().await.unwrap();
        assert_eq!(location(&res), format!("/l/{second}?bought=1"));
        assert_eq!(owed(&app, "late@example.org").await, 30, "the second purchase is on the reopened tab");
        let receipt = app.email_to("late@example.org", "It paid for 1 purchase(s)").await;
        let receipt = common::decoded_body(&receipt);
        assert!(receipt.contains("First Zine") && receipt.contains("beyond the tab went to your wallet"), "{receipt}");
        assert_eq!(creator_balance(&app, "creator_earnings").await, 28, "the first one's share is available");
        assert_eq!(app.count("select count(*) from tab_collection").await, 0, "paying ended the collection");
        // A pass on another server that read the tab before it was paid sends nothing, and
        // doesn't put the paid tab back in collection (or lock it).
        let late: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>(
            "select account_id from account where email = 'late@example.org'").fetch_one(pool).await).unwrap();
        for reminder in [2, 3] {
            let mut tx = app.state.db.begin().await.unwrap();
            let recorded = app::wallet::store::record_tab_reminder(&mut tx, &late, app::money::Currency::Eur, reminder, at(45)).await.unwrap();
            tx.commit().await.unwrap();
            assert!(!recorded, "reminder {reminder} of a paid tab");
        }
        assert_eq!(app.count("select count(*) from tab_collection").await, 0);
        // No write-off for a paid tab; the new purchase, unpaid 30 days later, starts from the
        // first reminder.
        assert_eq!(collect(&app.state, at(51)).await.unwrap(), Collected { reminded: 1, ..Collected::default() });
        assert_eq!(app.count("select count(*) from tab_collection where reminders = 1 and locked_at is null and written_off_at is null").await, 1);
        app.ledger_is_clean().await;
        let csv = buyer.get(app.url("/wallet/tab.csv")).send().await.unwrap().text().await.unwrap();
        assert!(csv.lines().any(|l| l.contains("First Zine") && l.contains(",paid,")), "{csv}");
        assert!(csv.lines().any(|l| l.contains("Second Zine") && l.contains(",open,")), "{csv}");
        assert!(csv.lines().any(|l| l.contains(",payment,Tab payment by card,0.50,EUR,paid,")), "{csv}");
    }
    async fn each_currency_tab_is_collected_on_its_own(app) {
        use app::wallet::collection::{Collected, collect};
        app.creator("maker").await;
        let euro = publish(&app, "Euro Zine", "0.30").await;
        let euro_two = publish(&app, "Euro Zine Two", "0.30").await;
        let mut dollars = Vec::new();
        for title in ["Dollar Zine", "Dollar Zine Two"] {
            let body = common::Multipart::new().text("title", title).text("price", "0.30").text("currency", "USD")
                .file("files", "zine.pdf", "application/pdf", DATA).build();
            let res = app.upload(body).await;
            assert_eq!(res.status(), StatusCode::CREATED);
            dollars.push(res.json::<serde_json::Value>().await.unwrap()["code"].as_str().unwrap().to_string());
        }
        let buyer = app.new_client();
        pay_later(&app, &buyer, &euro, Some("two@example.org")).await;
        pay_later(&app, &buyer, &dollars[0], None).await;
        let owed_in = |currency: &'static str| {
            let sql = format!(
                "select l.balance_minor from ledger_account l join account a on a.account_id = l.owner_id \
                 where l.kind = 'buyer_tab' and l.currency = '{currency}' and a.email = 'two@example.org'"
            );
            let app = &app;
            async move { -scalar_i64(app, &sql).await }
        };
        assert_eq!((owed_in("EUR").await, owed_in("USD").await), (30, 30));
        let bought = app::db::now_ms();
        let at = |days: i64| bought + days * DAY_MS + 60_000;
        // Two tabs due: each is reminded, each with what it owes.
        assert_eq!(collect(&app.state, at(30)).await.unwrap(), Collected { reminded: 2, ..Collected::default() });
        app.email_to("two@example.org", "You owe €0.30.").await;
        app.email_to("two@example.org", "You owe $0.30.").await;
        assert_eq!(collect(&app.state, at(37)).await.unwrap(), Collected { reminded: 2, ..Collected::default() });
        assert_eq!(collect(&app.state, at(44)).await.unwrap(), Collected { reminded: 2, locked: 2, ..Collected::default() });

        // Paying the euro tab ends its collection only: the dollar tab stays locked.
        let res = buyer.post(app.url("/wallet/tab/pay")).form(&[("currency", "EUR")]).send().await.unwrap();
        let back = pay_card_step(&app, &buyer, &location(&res), "4242424242424242").await;
        assert_eq!(location(&buyer.get(app.url(&back)).send().await.unwrap()), "/wallet?tab_paid=1");
        assert_eq!((owed_in("EUR").await, owed_in("USD").await), (0, 30));
        assert_eq!(app.count("select count(*) from tab_collection where currency = 'USD' and reminders = 3 and locked_at is not null").await, 1);
        assert_eq!(app.count("select count(*) from tab_collection where currency = 'EUR'").await, 0);
        // The wallet page shows both tabs, each as it stands, the unpaid one first.
        let wallet = buyer.get(app.url("/wallet")).send().await.unwrap().text().await.unwrap();
        let (usd, eur) = (tab_card(&wallet, "usd"), tab_card(&wallet, "eur"));
        assert!(wallet.find("id=\"tab-usd\"") < wallet.find("id=\"tab-eur\""), "the tab that owes comes first");
        assert!(usd.contains("Your tab in USD") && usd.contains("overdue and locked") && usd.contains("Pay now ($0.30)"), "{usd}");
        assert!(eur.contains("Your tab in EUR") && !eur.contains("overdue") && eur.contains("Nothing on your tab"), "{eur}");
        let (status, body) = wallet_buy(&app, &buyer, &dollars[1], &key(1), json!({"pay_later": true})).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "the dollar tab is locked: {body}");
        assert!(body.to_string().contains("overdue"), "{body}");
        let (status, body) = wallet_buy(&app, &buyer, &euro_two, &key(2), json!({"pay_later": true})).await;
        assert_eq!((status, body["paid_from"].as_str()), (StatusCode::CREATED, Some("tab")), "the euro tab is open again: {body}");

        // A week after the lock the dollar tab is written off, alone; the euro purchase since,
        // unpaid for 30 days by then, gets its own first reminder.
        assert_eq!(collect(&app.state, at(51)).await.unwrap(), Collected { reminded: 1, written_off: 1, ..Collected::default() });
        assert_eq!((owed_in("EUR").await, owed_in("USD").await), (30, 0));
        app.email_to("two@example.org", "has been closed").await;
        assert_eq!(app.count("select count(*) from buyer_order where tab_written_off_at is not null and currency = 'USD'").await, 1);
        assert_eq!(app.count("select count(*) from buyer_order where tab_written_off_at is not null and currency = 'EUR'").await, 0);
        assert_eq!(scalar_i64(&app, "select balance_minor from ledger_account where kind = 'write_offs' and currency = 'USD'").await, -2);
        assert_eq!(creator_balance(&app, "creator_pending").await, 28, "the open euro purchase's share still waits");
        // Written off: no new tab purchase in any currency; the euro tab can still be paid.
        let (status, body) = wallet_buy(&app, &buyer, &euro, &key(3), json!({"pay_later": true})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let wallet = buyer.get(app.url("/wallet")).send().await.unwrap().text().await.unwrap();
        let (usd, eur) = (tab_card(&wallet, "usd"), tab_card(&wallet, "eur"));
        assert!(usd.contains("Your tab was closed because it went unpaid"), "{usd}");
        assert!(eur.contains("closed to new purchases") && eur.contains("Pay now (€0.30)"), "{eur}");
        let res = buyer.post(app.url("/wallet/tab/pay")).form(&[("currency", "EUR")]).send().await.unwrap();
        let back = pay_card_step(&app, &buyer, &location(&res), "4242424242424242").await;
        assert_eq!(location(&buyer.get(app.url(&back)).send().await.unwrap()), "/wallet?tab_paid=1");
        assert_eq!(owed_in("EUR").await, 0);
        assert_eq!(collect(&app.state, at(58)).await.unwrap(), Collected::default(), "nothing left to collect");
        app.ledger_is_clean().await;
    }

    async fn a_tab_refunded_to_nothing_leaves_collection(app) {
        use app::wallet::collection::{Collected, collect};
        app.creator("maker").await;
        let first = publish(&app, "First Zine", "0.30").await;
        let second = publish(&app, "Second Zine", "0.30").await;
        let buyer = app.new_client();
        pay_later(&app, &buyer, &first, Some("undone@example.org")).await;
        let bought = app::db::now_ms();
        let at = |days: i64| bought + days * DAY_MS + 60_000;
        for days in [30, 37, 44] {
            assert_eq!(collect(&app.state, at(days)).await.unwrap().reminded, 1, "day {days}");
        }
        let (status, _) = wallet_buy(&app, &buyer, &second, &key(1), json!({"pay_later": true})).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "locked");
        // The creator refunds the one purchase: the tab owes nothing, and is open again.
        let order: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>(
            "select order_id from buyer_order where provider = 'tab'").fetch_one(pool).await).unwrap();
        let res = app.call("sales/refund", &[("order_id", &order)]).await;
        assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
        assert_eq!(app.count("select count(*) from tab_collection where locked_at is not null").await, 1, "locked until the next pass");
        assert_eq!(collect(&app.state, at(51)).await.unwrap(), Collected::default(), "nothing to write off");
        assert_eq!(app.count("select count(*) from tab_collection").await, 0);
        let (status, body) = wallet_buy(&app, &buyer, &second, &key(2), json!({"pay_later": true})).await;
        assert_eq!((status, body["paid_from"].as_str()), (StatusCode::CREATED, Some("tab")), "{body}");
        app.ledger_is_clean().await;
    }

    async fn an_agreed_saved_card_pays_the_tab_by_itself(app) {
        use app::wallet::collection::{Collected, collect};
        app.creator("maker").await;
        let big = publish(&app, "Big Zine", "2.00").await;
        let mut codes = Vec::new();
        for title in ["A", "B", "C"] {
            codes.push(publish(&app, title, "0.40").await);
        }
        let buyer = common::buyer_with_balance(&app, "autopayer", "2").await; // remembers the card
        assert_eq!(wallet_buy(&app, &buyer, &big, &key(0), json!({})).await.0, StatusCode::CREATED, "the wallet is spent");
        for (i, code) in codes[..2].iter().enumerate() {
            let (status, body) = wallet_buy(&app, &buyer, code, &key(i + 1), json!({"pay_later": true})).await;
            assert_eq!((status, body["paid_from"].as_str()), (StatusCode::CREATED, Some("tab")), "{body}");
        }
        // Without the buyer's agreement their card is never charged by itself.
        let bought = app::db::now_ms();
        let at = |days: i64| bought + days * DAY_MS + 60_000;
        assert_eq!(collect(&app.state, at(30)).await.unwrap(), Collected { reminded: 1, ..Collected::default() });
        let res = common::call_with(&buyer, &app.base_url, "wallet/tab-autopay", &[("enabled", "1")]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
        let settings = buyer.get(app.url("/wallet/settings")).send().await.unwrap().text().await.unwrap();
        assert!(settings.contains("Pay my tab with my saved card"), "{settings}");

        // Reaching the limit: the saved card pays the tab at once, and the purchase completes
        // with no card step.
        let to = pay_later(&app, &buyer, &codes[2], None).await;
        assert!(to.starts_with("/wallet/topup/"), "straight back from the payment: {to}");
        let res = buyer.get(app.url(&to)).send().await.unwrap();
        assert_eq!(location(&res), format!("/l/{}?bought=1", codes[2]));
        assert_eq!(owed(&app, "autopayer@example.com").await, 40);
        assert_eq!(creator_balance(&app, "creator_earnings").await, 2 * 38 + 190, "the big zine and the paid tab");
        assert_eq!(app.count("select count(*) from tab_collection").await, 0, "paying ended the reminders");

        // The next tab, due 30 days on, is paid with the same card: no reminder.
        let later = app::db::now_ms() + 30 * DAY_MS + 60_000;
        assert_eq!(collect(&app.state, later).await.unwrap(), Collected { settled: 1, ..Collected::default() });
        assert_eq!(owed(&app, "autopayer@example.com").await, 0);
        assert_eq!(app.count("select count(*) from wallet_topup where settles_tab = true and status = 'succeeded'").await, 2);
        app.ledger_is_clean().await;
    }
}
