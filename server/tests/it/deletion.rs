//! Deleting an account over HTTP: what must happen first, the password and code it asks for,
//! and what is left afterwards, read back from every text column of every table.

use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::common::{self, PASSWORD, TestApp, error_of};

/// Every `(table, column)` holding `needle` (case-insensitive) anywhere in the database: every
/// column of every table on SQLite (blobs read as text), every text, JSON and byte column on
/// PostgreSQL (bytes read with their printable characters as they are).
async fn columns_holding(app: &TestApp, needle: &str) -> Vec<String> {
    let db = &app.state.db;
    let columns: Vec<(String, String, String)> = match db {
        app::db::Db::Sqlite(pool) => {
            let tables: Vec<String> =
                sqlx::query_scalar("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")
                    .fetch_all(pool)
                    .await
                    .unwrap();
            let mut columns = Vec::new();
            for table in tables {
                let names: Vec<String> =
                    sqlx::query_scalar(&format!("select name from pragma_table_info('{table}')")).fetch_all(pool).await.unwrap();
                columns.extend(names.into_iter().map(|c| (table.clone(), c, String::new())));
            }
            columns
        }
        app::db::Db::Postgres(pool) => sqlx::query_as(
            "select table_name::text, column_name::text, data_type::text from information_schema.columns \
             where table_schema = current_schema() and data_type in ('text', 'character varying', 'jsonb', 'json', 'bytea')",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    assert!(columns.len() > 100, "every table's columns: {}", columns.len());
    let pattern = format!("%{}%", needle.to_lowercase());
    let mut found = Vec::new();
    for (table, column, data_type) in columns {
        let text = if data_type == "bytea" { format!("encode(\"{column}\", 'escape')") } else { format!("cast(\"{column}\" as text)") };
        let sql = format!("select count(*) from \"{table}\" where lower({text}) like $1");
        let n: i64 = app::on_db!(db, pool => sqlx::query_scalar(&sql).bind(&pattern).fetch_one(pool).await).unwrap();
        if n > 0 {
            found.push(format!("{table}.{column} ({n} rows)"));
        }
    }
    found
}

async fn deletion_check(app: &TestApp, client: &Client) -> Value {
    common::call_with(client, &app.base_url, "settings/delete/check", &[]).await.json().await.unwrap()
}

both_backends! {
    async fn a_deleted_creator_leaves_no_personal_data_and_buyers_keep_their_downloads(app) {
        // The password is confirmed more often here than a person would within a minute.
        let app = TestApp::spawn_with(app.backend, &[("CLINK_RATE_LIMIT_SCALE", "3"), ("CLINK_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
        let res = app.sign_up("delia@example.com", "delia", "Delia Markerfield").await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.call("settings/profile/save", &[
            ("display_name", "Delia Markerfield"), ("bio", "Zines by delia"), ("links", "https://delia-zines.example.com"), ("accent_color", ""),
        ]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(app.call("tokens/create", &[("name", "delia laptop")]).await.status(), StatusCode::OK);
        let (sold_id, sold) = app.publish_work("Sold zine", "12", b"bytes a buyer keeps").await;
        let (unsold_id, unsold) = app.publish_work("Unsold zine", "3", b"bytes nobody bought").await;
        let sold_keys: Vec<String> = app::catalog::store::file_keys(&app.state.db, &sold_id).await.unwrap();
        let unsold_keys: Vec<String> = app::catalog::store::file_keys(&app.state.db, &unsold_id).await.unwrap();
        let fan = app.new_client();
        common::buy_with_test_card(&app, &fan, &sold, "fan@example.com", "").await;
        // Delia buys from another creator too, with her own address.
        let otto = app.new_client();
        assert_eq!(common::sign_up_on(&otto, &app.base_url, &app.shared_dir, "otto@example.com", "otto", "Otto").await.status(), StatusCode::OK);
        let res = otto.post(app.url("/dashboard/works")).header("accept", "application/json")
            .header("content-type", common::Multipart::content_type())
            .body(common::work_form("Otto's notes", "2").file("files", "notes.pdf", "application/pdf", b"otto").build()).send().await.unwrap();
        let otto_code = res.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
        // Otto's sale webhook will carry Delia's address (nothing listens there; it is queued).
        let res = common::call_with(&otto, &app.base_url, "settings/integrations/save", &[("timezone", "UTC"), ("webhook_url", "http://127.0.0.1:9/hook")]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        common::buy_with_test_card(&app, &app.client, &otto_code, "delia@example.com", "").await;
        // Two-step on, a payout destination, an email change waiting at a new address.
        let (secret, _) = crate::two_step::turn_on(&app, &app.client).await;
        let code_now = || async {
            crate::two_step::forget_used_codes(&app).await;
            crate::two_step::code_at(&secret, 0)
        };
        let code = code_now().await;
        let res = app.call("settings/payouts/save", &[
            ("kind", "iban"), ("iban", "DE89 3704 0044 0532 0130 00"), ("holder_name", "Delia Holder"), ("paypal_email", ""),
            ("current_password", PASSWORD), ("two_step_code", &code),
        ]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let code = code_now().await;
        let res = app.call("settings/email", &[("new_email", "delia.new@example.com"), ("current_password", PASSWORD), ("two_step_code", &code)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        // She proves the new address: the first one is now only in her history.
        let confirm = common::decoded_body(&app.email_to("delia.new@example.com", "/settings/email/confirm/").await);
        let link = common::link_in(&confirm, &app.url("/settings/email/confirm/")).unwrap();
        assert!(app.client.get(&link).send().await.unwrap().status().is_redirection());
        assert_eq!(app.count("select count(*) from account where email = 'delia.new@example.com'").await, 1);
        // And asks to move once more, to an address she never proves.
        let code = code_now().await;
        let res = app.call("settings/email", &[("new_email", "delia.third@example.com"), ("current_password", PASSWORD), ("two_step_code", &code)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());

        // Earnings first: the page says so and shows no form; the call is refused.
        let check = deletion_check(&app, &app.client).await;
        assert!(check["blockers"][0].as_str().unwrap().contains("You have €11.40 in earnings: request a payout first"), "{check}");
        let settings = app.get("/settings").await.text().await.unwrap();
        assert!(settings.contains("Before you can delete your account") && !settings.contains("Delete my account"));
        let code = code_now().await;
        let res = app.call("settings/delete", &[("current_password", PASSWORD), ("two_step_code", &code)]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("request a payout first"));
        // A payout asked for is on its way: still not yet. Paid: now it can go.
        app::on_db!(&app.state.db, pool => sqlx::query("update payout_destination set hold_until = 0").execute(pool).await.map(|_| ())).unwrap();
        assert_eq!(app.call("payouts/request", &[("currency", "EUR")]).await.status(), StatusCode::OK);
        let check = deletion_check(&app, &app.client).await;
        assert!(check["blockers"][0].as_str().unwrap().contains("Your payout of €11.40 is on its way"), "{check}");
        let list = String::from_utf8_lossy(&app.run_cli(&["payout", "list"], None).await.stdout).to_string();
        let payout_id = list.lines().find(|l| l.starts_with("po_")).unwrap().split_whitespace().next().unwrap().to_string();
        assert!(app.run_cli(&["payout", "mark-paid", &payout_id], None).await.status.success());
        let check = deletion_check(&app, &app.client).await;
        assert_eq!(check["blockers"], serde_json::json!([]), "{check}");
        assert_eq!(check["two_step_on"], true);
        assert!(app.get("/settings").await.text().await.unwrap().contains("Delete my account"));

        // A wrong password or a missing code: said, and nothing is deleted.
        let res = app.call("settings/delete", &[("current_password", "not my password"), ("two_step_code", &code_now().await)]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("current_password"));
        let res = app.call("settings/delete", &[("current_password", PASSWORD)]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("two_step_code"));
        assert_eq!(app.count("select count(*) from account where deleted_at is not null").await, 0);
        assert_eq!(app.get(&format!("/l/{sold}")).await.status(), StatusCode::OK);

        // The search below finds what it looks for: before, Delia is all over the database.
        let before = columns_holding(&app, "delia").await.join(" ");
        for place in [
            "account.email", "account.display_name", "buyer_order.buyer_email", "payout_destination.holder_name", "api_token.name",
            "mail_outbox.recipient", "email_change.new_email", "webhook_delivery.payload", "test_payment.email", "signup_request.email",
        ] {
            assert!(before.contains(place), "{place} in {before}");
        }
        assert!(!columns_holding(&app, "0532013000").await.is_empty() || !columns_holding(&app, "0532 0130 00").await.is_empty(), "the IBAN");

        let res = app.call("settings/delete", &[("current_password", PASSWORD), ("two_step_code", &code_now().await)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        assert_eq!(app.get("/account-deleted").await.status(), StatusCode::OK);

        // Signed out, and no way back in; the links and the profile are gone.
        let me: Value = app.call("me", &[]).await.json().await.unwrap();
        assert_eq!(me, Value::Null);
        let res = app.log_in("delia.new@example.com", PASSWORD).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("password"));
        for path in [format!("/l/{sold}"), format!("/l/{unsold}"), "/@delia".to_string()] {
            assert_eq!(app.new_client().get(app.url(&path)).send().await.unwrap().status(), StatusCode::NOT_FOUND, "{path}");
        }
        // The fan's link still downloads the file; the unsold work's file is gone already.
        let stored = app.stored_keys().await;
        assert!(sold_keys.iter().all(|k| stored.iter().any(|s| s.ends_with(k.as_str()))), "{stored:?}");
        common::eventually("the unsold work's file deleted", || async {
            let stored = app.stored_keys().await;
            unsold_keys.iter().all(|k| !stored.iter().any(|s| s.ends_with(k.as_str()))).then_some(())
        })
        .await;
        let receipt = common::decoded_body(&app.email_to("fan@example.com", "/d/").await);
        let link = common::link_in(&receipt, &app.url("/d/")).unwrap();
        let page = fan.get(&link).send().await.unwrap().text().await.unwrap();
        let download = link.trim_start_matches(&app.base_url).to_string();
        let href = page.split("href=\"").find(|s| s.starts_with(&format!("{download}/files/"))).unwrap().split('"').next().unwrap().to_string();
        let bytes = fan.get(app.url(&common::unescape(&href))).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(&bytes[..], b"bytes a buyer keeps");
        let expires = app.count("select max(g.expires_at) from download_grant g join buyer_order o on o.order_id = g.order_id where o.work_id = (select work_id from work where title = 'Sold zine')").await;
        assert!(expires <= app::db::now_ms() + app::delivery::store::AFTER_CREATOR_DELETED_MS, "links end within 30 days");

        // Nothing of Delia is left in any table: her addresses, name, handle, bio, links, IBAN,
        // account holder, token name.
        for needle in ["delia", "markerfield", "0532013000", "0532 0130 00"] {
            assert_eq!(columns_holding(&app, needle).await, Vec::<String>::new(), "{needle}");
        }
        // The books still balance, through the CLI as an operator checks them.
        let verify = app.run_cli(&["ledger", "verify"], None).await;
        assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
        assert!(app.count("select count(*) from ledger_entry").await > 0);

        // Once the fan's link has expired, the sweep deletes the file too.
        app::on_db!(&app.state.db, pool => sqlx::query("update download_grant set expires_at = 1").execute(pool).await.map(|_| ())).unwrap();
        assert_eq!(app::account_deletion::purge_files(&app.state.db, &app.state.storage).await.unwrap(), 1);
        let stored = app.stored_keys().await;
        assert!(sold_keys.iter().all(|k| !stored.iter().any(|s| s.ends_with(k.as_str()))), "{stored:?}");
        assert_eq!(app::account_deletion::purge_files(&app.state.db, &app.state.storage).await.unwrap(), 0, "once");
        // The address is free for a new account; the handle is not, for 90 days, so that links
        // still posted can't lead to someone else (the table holds only keyed hashes).
        assert!(app::accounts::store::find_by_email(&app.state.db, "delia@example.com").await.unwrap().is_none());
        let newcomer = app.new_client();
        assert_eq!(common::sign_up_on(&newcomer, &app.base_url, &app.shared_dir, "newcomer@example.com", "newcomer", "New").await.status(), StatusCode::OK);
        let res = common::call_with(&newcomer, &app.base_url, "settings/handle", &[("handle", "delia")]).await;
        assert_eq!(error_of(res).await.1.as_deref(), Some("handle"));
        assert_eq!(app.count("select count(*) from retired_handle").await, 1);
        app::on_db!(&app.state.db, pool => sqlx::query("update retired_handle set retired_at = 0").execute(pool).await.map(|_| ())).unwrap();
        let res = common::call_with(&newcomer, &app.base_url, "settings/handle", &[("handle", "delia")]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "free after 90 days: {}", res.status());
    }

    async fn a_buyer_spends_their_wallet_before_deleting(app) {
        app.creator("ann").await;
        let (_, code) = app.publish_work("Five", "5", b"five").await;
        let buyer = common::buyer_with_balance(&app, "walt", "5").await;
        let check = deletion_check(&app, &buyer).await;
        assert_eq!(check["blockers"], serde_json::json!(["Your wallet still holds €5.00: spend it first, or write to us for a refund."]));
        assert_eq!(check["sells"], true);
        let res = common::call_with(&buyer, &app.base_url, "settings/delete", &[("current_password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let (status, body) = common::wallet_buy(&app, &buyer, &code, "deletion-test-key-0001", serde_json::json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(deletion_check(&app, &buyer).await["blockers"], serde_json::json!([]));
        let res = common::call_with(&buyer, &app.base_url, "settings/delete", &[("current_password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        // The sale stays in Ann's books, under a pseudonym for the buyer.
        let emails: Vec<String> = app::on_db!(&app.state.db, pool => sqlx::query_scalar("select buyer_email from buyer_order").fetch_all(pool).await).unwrap();
        assert_eq!(emails.len(), 1);
        assert!(emails[0].starts_with("deleted-") && emails[0].ends_with("@deleted.invalid"), "{emails:?}");
        assert_eq!(columns_holding(&app, "walt").await, Vec::<String>::new());
        app.ledger_is_clean().await;
        // Ann's own page still works.
        assert_eq!(app.get(&format!("/l/{code}")).await.status(), StatusCode::OK);
    }

    async fn a_payment_that_arrives_after_the_creator_left_sells_nothing(app) {
        app.creator("cleo").await;
        let (_, code) = app.publish_work("Last one", "4", b"late").await;
        // A buyer is on the card page when Cleo deletes her account.
        let buyer = app.new_client();
        let html = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
        let key = common::hidden_input(&html, "checkout_key").unwrap();
        let res = buyer.post(app.url(&format!("/checkout/{code}"))).form(&[("checkout_key", key.as_str()), ("source", ""), ("email", "late@example.com")])
            .send().await.unwrap();
        let pay = res.headers()["location"].to_str().unwrap().to_string();
        let page = buyer.get(app.url(&pay)).send().await.unwrap().text().await.unwrap();
        let res = app.call("settings/delete", &[("current_password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        let action = common::unescape(page.split("action=\"").find(|s| s.starts_with("/pay/test/")).unwrap().split('"').next().unwrap());
        let (order_id, k) = (common::hidden_input(&page, "order_id").unwrap(), common::unescape(&common::hidden_input(&page, "k").unwrap()));
        let res = buyer.post(app.url(&action))
            .form(&[("order_id", order_id.as_str()), ("k", k.as_str()), ("card_number", "4242424242424242"), ("card_expiry", "12/34"), ("card_cvc", "123")])
            .send().await.unwrap();
        if let Some(back) = res.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string) {
            let res = buyer.get(app.url(&back)).send().await.unwrap();
            let to = res.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_string();
            assert!(!to.starts_with("/d/"), "no download for a sale that didn't happen: {to}");
        }
        // Not sold: no grant, no earnings on the deleted account, the order failed.
        assert_eq!(app.order_status(&order_id).await, "failed");
        assert_eq!(app.count("select count(*) from download_grant").await, 0);
        assert_eq!(app.count("select count(*) from ledger_txn where kind = 'sale'").await, 0);
    }
}
