//! The creator dashboard and its integrations over HTTP: figures that move after a purchase
//! from a tagged link, per-currency separation, day boundaries in the creator's zone, CSV and
//! API agreeing with each other and with the ledger, payouts, signed and retried webhooks, and
//! no creator ever seeing another's data.

use crate::common;

use crate::common::{BROWSER_UA, TestApp, buy_with_test_card, call_with};
use axum::{Router, routing::post};
use reqwest::StatusCode;
use serde_json::Value;

/// Posts the payout destination form: these fields over a blank IBAN form with the right password
/// and the code the authenticator app holding `secret` shows now.
async fn save_destination(app: &TestApp, secret: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    crate::two_step::forget_used_codes(app).await;
    let code = crate::two_step::code_at(secret, 0);
    let mut form = vec![
        ("kind", "iban"),
        ("iban", ""),
        ("holder_name", ""),
        ("paypal_email", ""),
        ("current_password", common::PASSWORD),
        ("two_step_code", code.as_str()),
    ];
    for (name, value) in fields {
        form.retain(|(n, _)| n != name);
        form.push((name, value));
    }
    app.call("settings/payouts/save", &form).await
}

async fn dashboard(app: &TestApp, client: &reqwest::Client) -> Value {
    common::call_with(client, &app.base_url, "dashboard", &[]).await.json().await.unwrap()
}

fn card<'a>(d: &'a Value, label: &str) -> &'a Value {
    d["cards"].as_array().unwrap().iter().find(|c| c["label"] == label).unwrap()
}

async fn token(app: &TestApp, email: &str) -> String {
    let out = app.run_cli(&["token", "create", "--email", email], None).await;
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

both_backends! {
    async fn amounts_and_counts_are_written_in_the_readers_number_format(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Big one", "1200", b"x").await;
        buy_with_test_card(&app, &app.new_client(), &code, "rich@example.com", "").await;
        let app = &app;
        let read = |language: &'static str| {
            let req = app.client.post(app.url("/api/dashboard")).header("origin", &app.base_url).header("accept", "application/json")
                .header("accept-language", language);
            async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let all_time = |d: &Value| card(d, "All time")["money"][0]["earnings"]["value"].as_str().unwrap().to_string();
        // No preference: English. A German browser: German.
        let en = read("").await;
        assert_eq!(all_time(&en), "€1,140.00");
        assert_eq!(en["balances"][0]["available"], "€1,140.00");
        assert_eq!(en["recent"][0]["amount"], "€1,200.00");
        let de = read("de-DE,de;q=0.9,en;q=0.5").await;
        assert_eq!(all_time(&de), "1.140,00\u{a0}€");
        assert_eq!(de["recent"][0]["amount"], "1.200,00\u{a0}€");
        assert_eq!(de["numbers"]["group"], ".");
        // The live cards read the same way.
        let req = app.client.post(app.url("/api/dashboard/cards")).header("origin", &app.base_url).header("accept-language", "de");
        let cards: Value = req.send().await.unwrap().json().await.unwrap();
        assert_eq!(cards[3]["money"][0]["earnings"]["value"], "1.140,00\u{a0}€", "{cards}");
        // A format chosen in Settings wins over the browser's; a made-up one is refused.
        let save = |format: &'static str| {
            let form = [("timezone", "UTC"), ("number_format", format), ("webhook_url", "")];
            async move { app.call("settings/integrations/save", &form).await }
        };
        let res = save("xx").await;
        assert_eq!(common::error_of(res).await.1.as_deref(), Some("number_format"));
        assert_eq!(save("en-IN").await.status(), StatusCode::OK);
        assert_eq!(all_time(&read("de").await), "€1,140.00");
        let settings: Value = app.call("settings/integrations", &[]).await.json().await.unwrap();
        assert_eq!(settings["number_format"], "en-IN");
        assert_eq!(save("").await.status(), StatusCode::OK);
        assert_eq!(all_time(&read("de").await), "1.140,00\u{a0}€");
    }

    async fn the_dashboard_moves_after_a_purchase_through_a_tagged_link(app) {
        app.creator("ann").await;
        let before = dashboard(&app, &app.client).await;
        assert_eq!(card(&before, "Today so far")["sales"]["value"], "0");
        assert_eq!(before["has_activity"], false);
        let (_, code) = app.publish_work("Tagged", "5", b"x").await;

        let buyer = app.new_client();
        // Two views from the tagged link, one of which buys.
        buyer.get(app.url(&format!("/l/{code}?ref=x"))).header("user-agent", BROWSER_UA).send().await.unwrap();
        buy_with_test_card(&app, &buyer, &code, "fan@example.com", "?ref=x").await;
        app.state.views.flush(&app.state.db).await.unwrap();

        let d = dashboard(&app, &app.client).await;
        let today = card(&d, "Today so far");
        assert_eq!(today["sales"]["value"], "1");
        assert_eq!(today["views"]["value"], "2");
        assert_eq!(today["conversion"]["value"], "50.0%");
        assert_eq!(today["money"][0]["currency"], "EUR");
        assert_eq!(today["money"][0]["earnings"]["value"], "€4.75");
        assert_eq!(today["money"][0]["average_price"]["value"], "€5.00");
        assert_eq!(today["sales"]["change"], "new");
        let x = d["sources"].as_array().unwrap().iter().find(|s| s["key"] == "x").expect("source x");
        assert_eq!((x["views"].as_i64(), x["sales"].as_i64()), (Some(2), Some(1)));
        assert!(d["chart_svg"].as_str().unwrap().contains("1 sales"), "the chart shows the sale");
        assert_eq!(d["recent"][0]["buyer"], "fa•••@example.com");
        assert_eq!(d["recent"][0]["source"], "X (Twitter)");
        assert_eq!(d["balances"][0]["available"], "€4.75");
        assert_eq!(d["works"][0]["sales"], 1);
        let html = app.get("/dashboard").await.text().await.unwrap();
        assert!(html.contains("<svg") && html.contains("Where buyers come from"));
    }

    async fn conversion_counts_only_sales_whose_visit_was_a_view(app) {
        app.creator("ann").await;
        let (_, card_work) = app.publish_work("By card", "5", b"x").await;
        let (_, wallet_work) = app.publish_work("By program", "0.20", b"y").await;
        // A person views the link page and buys: a view and a sale that counts.
        buy_with_test_card(&app, &app.new_client(), &card_work, "fan@example.com", "?ref=x").await;
        // A crawler's user agent buys: a sale, but its visit was no view.
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        common::buy_with_test_card_as(&app, &app.new_client(), bot, &card_work, "crawler@example.com", "").await;
        // A program buys through the API, with no page at all.
        let buyer = common::buyer_with_balance(&app, "prog", "5").await;
        let (status, body) = common::wallet_buy(&app, &buyer, &wallet_work, "conversion-api-1", serde_json::json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        app.state.views.flush(&app.state.db).await.unwrap();

        let d = dashboard(&app, &app.client).await;
        let today = card(&d, "Today so far");
        assert_eq!(today["sales"]["value"], "3", "every sale is a sale");
        assert_eq!(today["views"]["value"], "1");
        assert_eq!(today["conversion"]["value"], "100.0%", "one view, one sale from it: not 300%");
        for work in d["works"].as_array().unwrap() {
            let pct: f64 = work["conversion"].as_str().unwrap().trim_end_matches('%').parse().unwrap_or(0.0);
            assert!(pct <= 100.0, "{work}");
        }
        let by_card = d["works"].as_array().unwrap().iter().find(|w| w["title"] == "By card").unwrap();
        assert_eq!((by_card["sales"].as_i64(), by_card["views"].as_i64(), by_card["conversion"].as_str()), (Some(2), Some(1), Some("100.0%")));
        for source in d["sources"].as_array().unwrap() {
            assert!(source["sales"].as_i64() >= Some(0));
            let pct: f64 = source["conversion"].as_str().unwrap().trim_end_matches('%').parse().unwrap_or(0.0);
            assert!(pct <= 100.0, "{source}");
        }
        assert_eq!(app.count("select count(*) from buyer_order where counted_view").await, 1);
        // The tooltip says so wherever conversion is shown.
        let html = app.client.get(app.url("/dashboard")).header("user-agent", BROWSER_UA).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("isn&#x27;t in conversion") || html.contains("isn't in conversion"), "the tooltip");

        // A second view without a sale halves it.
        app.new_client().get(app.url(&format!("/l/{card_work}"))).header("user-agent", BROWSER_UA).send().await.unwrap();
        app.state.views.flush(&app.state.db).await.unwrap();
        let d = dashboard(&app, &app.client).await;
        assert_eq!(card(&d, "Today so far")["conversion"]["value"], "50.0%");
        app.ledger_is_clean().await;
    }

    async fn currencies_are_never_summed(app) {
        app.creator("ann").await;
        let (_, eur) = app.publish_work("In euros", "2", b"x").await;
        let body = common::Multipart::new().text("title", "In dollars").text("price", "3").text("currency", "USD")
            .file("files", "a.bin", "application/octet-stream", b"x").build();
        let usd = app.upload(body).await.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
        let buyer = app.new_client();
        buy_with_test_card(&app, &buyer, &eur, "b@example.com", "").await;
        buy_with_test_card(&app, &buyer, &usd, "b@example.com", "").await;
        let d = dashboard(&app, &app.client).await;
        let money = card(&d, "All time")["money"].as_array().unwrap();
        assert_eq!(money.len(), 2);
        assert_eq!(money[0]["earnings"]["value"], "€1.90");
        assert_eq!(money[1]["earnings"]["value"], "$2.85");
        assert_eq!(card(&d, "All time")["sales"]["value"], "2");
        let stats: Value = reqwest::Client::new().get(app.url("/api/v1/stats")).bearer_auth(token(&app, "ann@example.com").await)
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(stats["currencies"].as_array().unwrap().len(), 2);
        assert_eq!(stats["currencies"][0]["earnings"], "1.90");
        assert_eq!(stats["currencies"][1]["earnings"], "2.85");
    }

    async fn day_boundaries_follow_the_creators_time_zone(app) {
        app.creator("ann").await;
        let (work_id, _) = app.publish_work("Zoned", "1", b"x").await;
        let res = app.call("settings/integrations/save", &[("timezone", "America/New_York"), ("webhook_url", "")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let bad = app.call("settings/integrations/save", &[("timezone", "Mars/Olympus"), ("webhook_url", "")]).await;
        assert_eq!(common::error_of(bad).await.1.as_deref(), Some("timezone"));
        // The zone is picked from a list of the IANA zones, with the saved one filled in.
        let settings = app.get("/settings").await.text().await.unwrap();
        assert!(settings.contains(r#"list="f-timezone-list""#) && settings.contains(r#"value="America/New_York""#));
        for zone in ["Europe/Paris", "Asia/Kolkata", "America/Argentina/Buenos_Aires", "UTC"] {
            assert!(settings.contains(&format!(r#"<option value="{zone}">"#)), "{zone} is offered");
        }
        assert!(!settings.contains(r#"<option value="posixrules">"#));
        // Two sales either side of midnight in New York on 2026-11-20 (05:00 UTC).
        let creator: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("select account_id from account where handle = 'ann'").fetch_one(pool).await).unwrap();
        for (id, at) in [("late-on-the-19th", "2026-11-20T04:59:00Z"), ("early-on-the-20th", "2026-11-20T05:01:00Z")] {
            let ms = at.parse::<jiff::Timestamp>().unwrap().as_millisecond();
            app::on_db!(&app.state.db, pool => sqlx::query(
                "insert into buyer_order (order_id, work_id, creator_id, buyer_email, currency, amount_minor, fee_minor, status, provider, \
                 provider_payment_id, checkout_key, source, save_card, created_at, updated_at, paid_at) \
                 values ($1, $2, $3, 'z@example.com', 'EUR', 100, 5, 'fulfilled', 'test', $1, $1, 'direct', $4, $5, $5, $5)")
                .bind(id).bind(&work_id).bind(&creator).bind(false).bind(ms).execute(pool).await.map(|_| ())).unwrap();
            let mut tx = app.state.db.begin().await.unwrap();
            app::earnings::rollup::record_sale(&mut tx, &creator, &work_id, ms, "EUR", 100, 95, "direct").await.unwrap();
            tx.commit().await.unwrap();
        }
        let api = reqwest::Client::new();
        let t = token(&app, "ann@example.com").await;
        let sales: Value = api.get(app.url("/api/v1/sales?from=2026-11-20&to=2026-11-20")).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        let ids: Vec<&str> = sales["sales"].as_array().unwrap().iter().map(|s| s["order_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["early-on-the-20th"]);
        let sales: Value = api.get(app.url("/api/v1/sales?from=2026-11-19&to=2026-11-19")).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert_eq!(sales["sales"][0]["order_id"], "late-on-the-19th");
        // A card order from before the payment method was stored reads as paid by card.
        assert_eq!(sales["sales"][0]["paid_with"], "card");
        let stats: Value = api.get(app.url("/api/v1/stats?from=2026-11-20&to=2026-11-20")).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert_eq!(stats["sales"], 1);
        let csv = app.get("/dashboard/sales.csv?from=2026-11-19&to=2026-11-19").await.text().await.unwrap();
        assert!(csv.contains("late-on-the-19th") && !csv.contains("early-on-the-20th"), "{csv}");
        let bad = api.get(app.url("/api/v1/sales?from=yesterday")).bearer_auth(&t).send().await.unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    }

    async fn the_csv_matches_the_api_and_both_match_the_ledger(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Counted", "3.33", b"x").await;
        let buyer = app.new_client();
        let mut orders = Vec::new();
        for i in 0..5 {
            orders.push(buy_with_test_card(&app, &buyer, &code, &format!("b{i}@example.com"), "").await);
        }
        assert_eq!(app.call("sales/refund", &[("order_id", &orders[0])]).await.status(), StatusCode::OK);
        let csv = app.get("/dashboard/sales.csv").await.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 5);
        let t = token(&app, "ann@example.com").await;
        let page1: Value = reqwest::Client::new().get(app.url("/api/v1/sales?per_page=3")).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        let cursor = page1["next_cursor"].as_str().unwrap().to_string();
        let page2: Value = reqwest::Client::new().get(app.url(&format!("/api/v1/sales?per_page=3&cursor={cursor}"))).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert!(page2["next_cursor"].is_null());
        let api: Vec<Value> = page1["sales"].as_array().unwrap().iter().chain(page2["sales"].as_array().unwrap()).cloned().collect();
        assert_eq!(api.len(), 5);
        for (row, sale) in rows.iter().zip(&api) {
            assert_eq!(&row[0], sale["order_id"].as_str().unwrap());
            assert_eq!(&row[1], sale["paid_at"].as_str().unwrap());
            assert_eq!(&row[5], sale["amount"].as_str().unwrap());
            assert_eq!(&row[7], sale["net"].as_str().unwrap());
            assert_eq!(&row[9], sale["status"].as_str().unwrap());
        }
        // Net of the sales not refunded = the creator's earnings in the ledger.
        let net: i64 = api.iter().filter(|s| s["status"] != "refunded")
            .map(|s| app::money::parse_amount(s["net"].as_str().unwrap(), "net").unwrap()).sum();
        let creator: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("select account_id from account where handle = 'ann'").fetch_one(pool).await).unwrap();
        let ledger = app::ledger::store::balance(&app.state.db, &format!("creator_earnings:{creator}:EUR")).await.unwrap();
        assert_eq!(net, ledger);
        assert_eq!(net, 4 * (333 - 17));
        app.ledger_is_clean().await;
    }

    async fn payouts_move_the_balance_through_the_ledger(app) {
        // This test confirms the password six times within a minute (more than a person would,
        // and than the per-account quota lets through): twice the quota.
        let app = TestApp::spawn_with(app.backend, &[("CLINK_RATE_LIMIT_SCALE", "2")]).await;
        app.creator("ann").await;
        let (_, code) = app.publish_work("Paid out", "6", b"x").await;
        buy_with_test_card(&app, &app.new_client(), &code, "p@example.com", "").await;
        // 5.70 is below the minimum payout (10.00 by default): said, and nothing moves.
        let d = dashboard(&app, &app.client).await;
        assert_eq!(d["balances"][0]["payable"], false);
        assert_eq!(d["balances"][0]["payout_note"], "Payouts start at €10.00.");
        let res = app.call("payouts/request", &[("currency", "EUR")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("Payouts start at €10.00. You have €5.70 available"));
        assert_eq!(app.count("select count(*) from payout").await, 0);
        buy_with_test_card(&app, &app.new_client(), &code, "q@example.com", "").await;
        // Enough now, but nowhere to send it.
        let d = dashboard(&app, &app.client).await;
        // The cards the open dashboard fetches again after a sale are the page's own; only for
        // the signed-in creator.
        let cards: Value = app.call("dashboard/cards", &[]).await.json().await.unwrap();
        // (Views may be flushed between the two reads: compare what only a sale moves.)
        for i in 0..4 {
            assert_eq!((&cards[i]["label"], &cards[i]["sales"], &cards[i]["money"]), (&d["cards"][i]["label"], &d["cards"][i]["sales"], &d["cards"][i]["money"]));
        }
        assert_eq!(cards[0]["sales"]["value"], "2", "{cards}");
        assert_eq!(call_with(&app.new_client(), &app.base_url, "dashboard/cards", &[]).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(d["balances"][0]["payable"], false);
        // A password alone moves no money: two-step sign-in comes first.
        assert_eq!(d["balances"][0]["payout_note"], app::earnings::service::TWO_STEP_FIRST);
        let res = app.call("payouts/request", &[("currency", "EUR")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("Turn on two-step sign-in before your first payout"));
        let (secret, _) = crate::two_step::turn_on(&app, &app.client).await;
        let d = dashboard(&app, &app.client).await;
        assert_eq!(d["balances"][0]["payout_note"], "Add where to send your money in Settings → Payouts.");
        let res = app.call("payouts/request", &[("currency", "EUR")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("Add where to send your money first"));

        // Bad input gets a clear message and stores nothing.
        for (fields, field, message) in [
            (vec![("iban", "DE88 3704 0044 0532 0130 00"), ("holder_name", "Ann Maker")], "iban", "has a typo"),
            (vec![("iban", "not an iban"), ("holder_name", "Ann Maker")], "iban", "isn't an IBAN"),
            (vec![("iban", "DE89 3704 0044 0532 0130 00"), ("holder_name", " ")], "holder_name", "account holder's name"),
            (vec![("kind", "paypal"), ("paypal_email", "nope")], "paypal_email", ""),
            (vec![("kind", "cash")], "kind", "Choose a bank transfer or PayPal"),
            (vec![("iban", "DE89 3704 0044 0532 0130 00"), ("holder_name", "Ann Maker"), ("current_password", "wrong-password")], "current_password", "isn't your current password"),
        ] {
            let res = save_destination(&app, &secret, &fields).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{fields:?}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["Invalid"]["field"], field, "{fields:?}: {body}");
            assert!(body["Invalid"]["message"].as_str().unwrap().contains(message), "{fields:?}: {body}");
        }
        assert_eq!(app.count("select count(*) from payout_destination").await, 0);

        // A valid IBAN: saved, shown masked, emailed to the account's address, and held 72 hours.
        let res = save_destination(&app, &secret, &[("iban", "de89 3704 0044 0532 0130 00"), ("holder_name", "Ann Maker")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
        let shown: Value = app.call("settings/payouts", &[]).await.json().await.unwrap();
        assert_eq!(shown["current"], "IBAN DE89 •••• 3000 · Ann Maker");
        assert!(shown["held"].as_str().unwrap().contains("72 hours"), "{shown}");
        let notice = common::decoded_body(&app.email_to("ann@example.com", "payouts now go to").await);
        assert!(notice.contains("DE89 •••• 3000") && !notice.contains("DE89370400440532013000"), "masked in the email: {notice}");
        let settings = app.client.get(app.url("/settings")).header("user-agent", common::BROWSER_UA).send().await.unwrap().text().await.unwrap();
        assert!(settings.contains("IBAN DE89 •••• 3000 · Ann Maker"), "Settings shows it");
        let d = dashboard(&app, &app.client).await;
        assert_eq!(d["balances"][0]["payable"], false);
        assert!(d["balances"][0]["payout_note"].as_str().unwrap().starts_with("Payouts to a new destination start"));
        let res = app.call("payouts/request", &[("currency", "EUR")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("72 hours after it was set"));
        assert_eq!(app.count("select count(*) from payout").await, 0);

        // 72 hours later (the hold moved into the past): the payout goes to that account.
        app::on_db!(&app.state.db, pool => sqlx::query("update payout_destination set hold_until = 0").execute(pool).await.map(|_| ())).unwrap();
        let d = dashboard(&app, &app.client).await;
        assert_eq!(d["balances"][0]["payable"], true);
        let res = app.call("payouts/request", &[("currency", "EUR")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let d = dashboard(&app, &app.client).await;
        assert_eq!(d["balances"][0]["available"], "€0.00");
        assert_eq!(d["balances"][0]["pending"], "€11.40");
        let again = app.call("payouts/request", &[("currency", "EUR")]).await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        // An account that has asked for a payout keeps two-step sign-in on.
        crate::two_step::forget_used_codes(&app).await;
        let res = app.call("settings/two-step/off", &[("code", &crate::two_step::code_at(&secret, 0)), ("current_password", common::PASSWORD)]).await;
        assert!(common::error_of(res).await.2.contains("keep two-step sign-in on"));
        assert_eq!(app.count("select count(*) from two_step where enabled_at is not null").await, 1);
        let list = app.run_cli(&["payout", "list"], None).await;
        let stdout = String::from_utf8_lossy(&list.stdout).to_string();
        let id = stdout.lines().find(|l| l.starts_with("po_")).unwrap().split_whitespace().next().unwrap().to_string();
        assert!(stdout.contains("€11.40"));
        assert!(stdout.contains("IBAN DE89 3704 0044 0532 0130 00 (Ann Maker)"), "whoever pays sees where: {stdout}");
        // Changing it holds the next payouts again, and says so.
        let res = save_destination(&app, &secret, &[("kind", "paypal"), ("paypal_email", "ann.paypal@example.com")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let shown: Value = app.call("settings/payouts", &[]).await.json().await.unwrap();
        assert!(shown["current"].as_str().unwrap().starts_with("PayPal "), "{shown}");
        assert!(shown["held"].is_string());
        assert_eq!(app.count("select count(*) from mail_outbox where kind = 'payout_destination_changed'").await, 2);

        // The owner takes the account back (a password change or reset): a destination set
        // before it is not paid to until it is looked at and saved again.
        app::on_db!(&app.state.db, pool => sqlx::query("update payout_destination set hold_until = 0").execute(pool).await.map(|_| ())).unwrap();
        buy_with_test_card(&app, &app.new_client(), &code, "r@example.com", "").await;
        buy_with_test_card(&app, &app.new_client(), &code, "s@example.com", "").await;
        let res = app.call("password/change", &[("current_password", common::PASSWORD), ("new_password", "a brand new password")]).await;
        assert!(res.status().is_success(), "{}", res.status());
        let stale = "Your password changed after your payout destination was set";
        let shown: Value = app.call("settings/payouts", &[]).await.json().await.unwrap();
        assert!(shown["held"].as_str().unwrap().starts_with(stale), "{shown}");
        let d = dashboard(&app, &app.client).await;
        assert!(d["balances"][0]["payout_note"].as_str().unwrap().starts_with(stale), "{d}");
        let res = app.call("payouts/request", &[("currency", "EUR")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains(stale));
        let res = save_destination(&app, &secret, &[("kind", "paypal"), ("paypal_email", "ann.paypal@example.com"), ("current_password", "a brand new password")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let shown: Value = app.call("settings/payouts", &[]).await.json().await.unwrap();
        assert!(shown["held"].as_str().unwrap().contains("72 hours after it was set"), "saved again: a new hold, {shown}");
        let paid = app.run_cli(&["payout", "mark-paid", &id], None).await;
        assert!(paid.status.success(), "{}", String::from_utf8_lossy(&paid.stderr));
        assert!(!app.run_cli(&["payout", "mark-paid", &id], None).await.status.success(), "only once");
        let d = dashboard(&app, &app.client).await;
        assert_eq!(d["balances"][0]["pending"], "€0.00");
        assert_eq!(d["payouts"][0]["status"], "paid");
        app.ledger_is_clean().await;
        let verify = app.run_cli(&["ledger", "verify"], None).await;
        assert!(verify.status.success());
    }

    async fn a_webhook_redirect_is_not_followed(app) {
        // A public URL that answers with a redirect must not become a way to reach another
        // address (an internal one, say): the sender follows no redirect at all.
        let app = TestApp::spawn_with(app.backend, &[("CLINK_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
        let (target, reached) = common::webhook_receiver(0).await;
        let redirect = Router::new().route("/hook", post(move || { let target = target.clone(); async move { axum::response::Redirect::temporary(&target) } }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, redirect).await });
        app.creator("rex").await;
        assert_eq!(app.call("settings/integrations/save", &[("timezone", "UTC"), ("webhook_url", &url)]).await.status(), StatusCode::OK);
        let (_, code) = app.publish_work("Redirected", "0.20", b"x").await;
        let buyer = common::buyer_with_balance(&app, "redir", "5").await;
        let (status, body) = common::wallet_buy(&app, &buyer, &code, "webhook-redirect-1", serde_json::json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let delivery = common::eventually("the first attempt in the delivery log", || async {
            let log: Value = app.call("settings/integrations", &[]).await.json().await.unwrap();
            let delivery = log["deliveries"][0].clone();
            (delivery["attempts"].as_i64().unwrap_or(0) >= 1).then_some(delivery)
        })
        .await;
        assert!(!delivery["status"].as_str().unwrap().starts_with("delivered"), "{delivery}");
        assert!(reached.lock().unwrap().is_empty(), "the redirect's target was reached");
    }

    async fn sale_webhooks_are_signed_retried_and_resendable(app) {
        // Retries start after 200 ms here instead of 10 s; the receiver is on this machine.
        let app = TestApp::spawn_with(app.backend, &[("CLINK_WEBHOOK_BACKOFF_MS", "200"), ("CLINK_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
        let (url, seen) = common::webhook_receiver(1).await;
        app.creator("ann").await;
        let res = app.call("settings/integrations/save", &[("timezone", "UTC"), ("webhook_url", &url)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let settings: Value = app.call("settings/integrations", &[]).await.json().await.unwrap();
        let secret = settings["webhook_secret"].as_str().unwrap().to_string();
        let (_, code) = app.publish_work("Pinged", "4", b"x").await;
        let order = buy_with_test_card(&app, &app.new_client(), &code, "hook@example.com", "").await;
        common::eventually("a delivered ping after one failure", || async {
            (seen.lock().unwrap().len() >= 2).then_some(())
        }).await;
        let (headers, body) = seen.lock().unwrap()[1].clone();
        let signature = headers["clink-signature"].to_str().unwrap().to_string();
        let t: i64 = signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        assert_eq!(signature, app::earnings::webhooks::signature(&secret, t, &body), "valid HMAC over the raw body");
        assert_eq!(seen.lock().unwrap()[0].1, body, "the retry is the same delivery");
        let ping: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ping["type"], "sale");
        assert_eq!(ping["sale"]["order_id"], order.as_str());
        assert_eq!(ping["sale"]["amount"], "4.00");
        assert_eq!((ping["sale"]["provider"].as_str(), ping["sale"]["paid_with"].as_str()), (Some("test"), Some("card")));
        assert_eq!(headers["clink-event"], "sale");
        let log: Value = app.call("settings/integrations", &[]).await.json().await.unwrap();
        let delivery = &log["deliveries"][0];
        assert_eq!(delivery["attempts"], 2);
        assert!(delivery["status"].as_str().unwrap().starts_with("delivered"), "{delivery}");
        // Resend from the log.
        assert_eq!(app.call("settings/webhooks/resend", &[("delivery_id", delivery["id"].as_str().unwrap())]).await.status(), StatusCode::OK);
        common::eventually("the resent ping", || async { (seen.lock().unwrap().len() >= 3).then_some(()) }).await;
        // A refund pings too.
        app.call("sales/refund", &[("order_id", &order)]).await;
        common::eventually("the refund ping", || async {
            seen.lock().unwrap().iter().any(|(_, b)| b.contains("\"type\":\"refund\"")).then_some(())
        }).await;
        let refund = seen.lock().unwrap().iter().find(|(_, b)| b.contains("\"type\":\"refund\"")).unwrap().1.clone();
        let refund: Value = serde_json::from_str(&refund).unwrap();
        assert_eq!((refund["sale"]["order_id"].as_str(), refund["sale"]["paid_with"].as_str()), (Some(order.as_str()), Some("card")));
    }

    async fn webhooks_never_reach_private_addresses(app) {
        app.creator("ann").await;
        // Saving: every private target, IPv4-mapped and database ports included, is refused
        // with a message, and plain http too.
        for url in ["https://169.254.169.254/latest/meta-data", "https://10.1.2.3/hook", "https://[::ffff:127.0.0.1]/hook",
            "https://127.0.0.1:5432/", "https://localhost/hook", "https://[fd12::1]/", "http://hooks.example.com/hook",
            "https://hooks.example.com:6379/"] {
            let bad = app.call("settings/integrations/save", &[("timezone", "UTC"), ("webhook_url", url)]).await;
            assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{url}");
            assert_eq!(common::error_of(bad).await.1.as_deref(), Some("webhook_url"), "{url}");
        }
        // Sending: a URL already stored (saved under a permissive operator setting, say) is
        // checked again, and nothing reaches the receiver.
        let (url, seen) = common::webhook_receiver(0).await;
        let creator_id: String = app::on_db!(&app.state.db, pool => sqlx::query_scalar("select account_id from account where handle = 'ann'").fetch_one(pool).await).unwrap();
        app::on_db!(&app.state.db, pool => sqlx::query("update account set webhook_url = $1, webhook_secret = 'whsec_x' where account_id = $2")
            .bind(&url).bind(&creator_id).execute(pool).await.map(|_| ())).unwrap();
        let (_, code) = app.publish_work("Never pinged", "4", b"x").await;
        buy_with_test_card(&app, &app.new_client(), &code, "hook@example.com", "").await;
        let error: String = common::eventually("the refused delivery", || async {
            app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, Option<String>>("select last_error from webhook_delivery where gave_up_at is not null")
                .fetch_optional(pool).await).unwrap().flatten()
        }).await;
        assert_eq!(error, "refused: not a public web address");
        assert!(seen.lock().unwrap().is_empty(), "no request reached the private address");
        // A name that resolves to a private address is refused when the connection is made
        // (so a name re-pointed after it was saved gets nowhere either), and the reason shown
        // is a category, not the raw error.
        let hostname_url = url.replace("127.0.0.1", "localhost");
        let err = app::outbound::client(app::outbound::OutboundPolicy::default()).post(&hostname_url).body("{}").send().await.unwrap_err();
        assert_eq!(app::outbound::describe(&err), "refused: private address");
        assert!(seen.lock().unwrap().is_empty());
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let err = app::outbound::client(app::outbound::OutboundPolicy { allow_private: true })
            .post(format!("http://127.0.0.1:{closed}/hook")).send().await.unwrap_err();
        assert_eq!(app::outbound::describe(&err), "connection refused");
    }

    async fn a_wallet_purchase_pings_the_creators_webhook(app) {
        let app = TestApp::spawn_with(app.backend, &[("CLINK_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
        // The wallet writer reads its batch's creators' webhook URLs with the rest of its reads.
        let (url, seen) = common::webhook_receiver(0).await;
        app.creator("wally").await;
        assert_eq!(app.call("settings/integrations/save", &[("timezone", "UTC"), ("webhook_url", &url)]).await.status(), StatusCode::OK);
        let (_, code) = app.publish_work("Pinged from a wallet", "0.20", b"x").await;
        let buyer = common::buyer_with_balance(&app, "hooked", "5").await;
        let (status, body) = common::wallet_buy(&app, &buyer, &code, "webhook-wallet-purchase-1", serde_json::json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        common::eventually("the wallet sale's ping", || async { (!seen.lock().unwrap().is_empty()).then_some(()) }).await;
        let ping: Value = serde_json::from_str(&seen.lock().unwrap()[0].1).unwrap();
        assert_eq!(ping["type"], "sale");
        assert_eq!(ping["sale"]["order_id"], body["order_id"]);
        assert_eq!(ping["sale"]["provider"], "wallet");
        assert_eq!(ping["sale"]["paid_with"], "wallet");
        assert_eq!(ping["sale"]["amount"], "0.20");
        assert_eq!(ping["sale"]["buyer_email"], "hooked@example.com");
    }

    async fn another_creators_data_never_appears(app) {
        let app = TestApp::spawn_with(app.backend, &[("CLINK_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
        let (url, seen) = common::webhook_receiver(0).await;
        app.creator("ann").await;
        let (_, ann_code) = app.publish_work("Ann secret title", "6", b"x").await;
        let ann_order = buy_with_test_card(&app, &app.new_client(), &ann_code, "ann.fan@example.com", "").await;

        let bob = app.new_client();
        common::sign_up_on(&bob, &app.base_url, &app.shared_dir, "bob@example.com", "bob", "Bob").await;
        common::call_with(&bob, &app.base_url, "settings/integrations/save", &[("timezone", "UTC"), ("webhook_url", &url)]).await;
        let d: Value = common::call_with(&bob, &app.base_url, "dashboard", &[]).await.json().await.unwrap();
        let text = d.to_string();
        assert!(!text.contains("Ann secret title") && !text.contains(&ann_order) && !text.contains("ann.fan"), "{text}");
        assert_eq!(card(&d, "All time")["sales"]["value"], "0");
        let html = bob.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("Ann secret title"));
        let csv = bob.get(app.url("/dashboard/sales.csv")).send().await.unwrap().text().await.unwrap();
        assert_eq!(csv.lines().count(), 1, "only the header: {csv}");
        let t = token(&app, "bob@example.com").await;
        let sales: Value = reqwest::Client::new().get(app.url("/api/v1/sales")).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert_eq!(sales["sales"].as_array().unwrap().len(), 0);
        let stats: Value = reqwest::Client::new().get(app.url("/api/v1/stats")).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert_eq!(stats["sales"], 0);
        let sales: Value = common::call_with(&bob, &app.base_url, "sales/list", &[]).await.json().await.unwrap();
        assert_eq!(sales.as_array().unwrap().len(), 0);
        // Ann's next sale pings nobody but Ann (who has no webhook): Bob's receiver stays empty.
        buy_with_test_card(&app, &app.new_client(), &ann_code, "ann.fan2@example.com", "").await;
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert!(seen.lock().unwrap().is_empty());
        // Resending another creator's delivery is not found.
        let ann_delivery: Option<String> = app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("select delivery_id from webhook_delivery limit 1").fetch_optional(pool).await).unwrap();
        if let Some(id) = ann_delivery {
            let res = common::call_with(&bob, &app.base_url, "settings/webhooks/resend", &[("delivery_id", &id)]).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND);
        }
    }

    async fn seeded_history_renders_and_verifies(app) {
        let out = app.run_cli(&["dev", "seed", "--sales", "3000", "--views", "200000", "--days", "60", "--works", "6"], None).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let verify = app.run_cli(&["ledger", "verify"], None).await;
        assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
        let client = app.new_client();
        assert_eq!(app::on_db!(&app.state.db, pool => sqlx::query_scalar::<_, i64>("select count(*) from buyer_order").fetch_one(pool).await).unwrap(), 3000);
        // Written by the sale core and the refund path: one sale transaction per order, one
        // refund transaction per refunded order, and no mail to the made-up buyers.
        let db = &app.state.db;
        let count = |sql: &'static str| async move { app::on_db!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap() };
        assert_eq!(count("select count(*) from ledger_txn where kind = 'sale'").await, 3000);
        let refunded = count("select count(*) from buyer_order where status = 'refunded'").await;
        assert!(refunded > 0, "about one in fifty seeded sales is refunded");
        assert_eq!(count("select count(*) from ledger_txn where kind = 'refund'").await, refunded);
        assert_eq!(count("select count(*) from download_grant where revoked_at is not null").await, refunded);
        assert_eq!(count("select count(*) from mail_outbox").await, 0);
        let res = common::call_with(&client, &app.base_url, "login", &[("email", "seed@example.com"), ("password", app::seed::SEED_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let d = dashboard(&app, &client).await;
        // With thousands separators, as an English reader writes them.
        assert_eq!(card(&d, "All time")["views"]["value"], "200,000");
        assert_eq!(card(&d, "All time")["sales"]["value"], "3,000");
    }
}
