//! Several app servers on one PostgreSQL database, as a deployment with a load balancer runs
//! them: they may start at the same moment on an empty database, and what one changes, every
//! other serves within a second.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::common::{Backend, TestApp, pg, run_cli};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_started_together_on_an_empty_database_all_come_up() {
    if !pg::available().await {
        return;
    }
    let servers = TestApp::spawn_together(Backend::Postgres, 3).await;
    for server in &servers {
        let res = server.get("/healthz").await;
        assert_eq!(res.status(), StatusCode::OK, "{}", server.base_url);
    }
    // One schema, shared: an account made through one server signs in through another.
    servers[0].creator("first").await;
    let res = servers[2].log_in("first@example.com", "correct horse battery").await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_price_change_on_one_server_is_what_every_server_serves_within_a_second() {
    if !pg::available().await {
        return;
    }
    let one = TestApp::spawn(Backend::Postgres).await;
    let two = one.spawn_beside().await;
    one.creator("ann").await;
    let (work_id, code) = one.publish_work("Night Album", "3", b"album").await;
    // A visitor on the second server: its link page is now in that server's page cache.
    let visitor = two.new_client();
    let link = two.url(&format!("/l/{code}"));
    let html = visitor.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("€3.00"), "the first price");

    let res = one
        .call(
            "works/update",
            &[
                ("work_id", &work_id),
                ("title", "Night Album"),
                ("description", ""),
                ("currency", "EUR"),
                ("price_kind", "fixed"),
                ("price", "4.50"),
                ("slug", ""),
                ("max_downloads", ""),
                ("link_expiry_days", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    let changed = Instant::now();
    loop {
        let html = visitor.get(&link).send().await.unwrap().text().await.unwrap();
        if html.contains("€4.50") && !html.contains("€3.00") {
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(1), "the second server still serves the old price after a second");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `clink migrate` as a release step, and `clink serve --no-migrate` refusing a database that
/// lacks what it needs (instead of starting against a half-made schema).
async fn migrate_then_serve_without_migrating(database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(60), run_cli(&database_url, dir.path(), &["serve", "--no-migrate"], None))
        .await
        .expect("serve --no-migrate on an empty database exits");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("run `clink migrate` first"), "{stderr}");
    assert!(server::startup::connect_migrated(&database_url).await.is_err());

    let first = run_cli(&database_url, dir.path(), &["migrate"], None).await;
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{stdout} {}", String::from_utf8_lossy(&first.stderr));
    assert!(stdout.starts_with("ok: applied ") && stdout.contains(" migration(s): 1, 2, "), "{stdout}");
    let again = run_cli(&database_url, dir.path(), &["migrate"], None).await;
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "ok: the database is up to date");
    let db = server::startup::connect_migrated(&database_url).await.expect("a migrated database is accepted");
    assert!(db.pending_migrations().await.unwrap().is_empty());
    db.close().await;
}

mod migrate_command {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        migrate_then_serve_without_migrating(format!("sqlite://{}", dir.path().join("clink.db").display())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if !pg::available().await {
            return;
        }
        migrate_then_serve_without_migrating(pg::fresh_schema_url().await).await;
    }
}

/// Three servers' wallet writers debit the same buyers' wallets at the same time (a round-robin
/// balancer sends one buyer's purchases to every server). Their batches lock shared rows, and
/// PostgreSQL may break a deadlock between two of them by failing one: that batch is tried
/// again, and no buyer sees an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wallet_writers_on_three_servers_share_buyers_without_errors() {
    if !pg::available().await {
        return;
    }
    let servers = TestApp::spawn_together(Backend::Postgres, 3).await;
    servers[0].creator("maker").await;
    let (_, code) = servers[0].publish_work("Shared Sticker", "0.05", b"sticker").await;
    let mut buyers = Vec::new();
    for n in 0..4 {
        buyers.push(crate::common::buyer_with_balance(&servers[0], &format!("shared{n}"), "50").await);
    }
    // 24 clients, each on one server, each buyer on every server.
    let tasks: Vec<_> = (0..24)
        .map(|c| {
            let (buyer, origin, code) = (buyers[c % 4].clone(), servers[c % 3].base_url.clone(), code.clone());
            tokio::spawn(async move {
                let mut refused = Vec::new();
                for n in 0..40 {
                    let body = serde_json::json!({ "code": code, "idempotency_key": format!("shared-{c:02}-{n:03}-purchase") });
                    let res =
                        buyer.post(format!("{origin}/api/wallet/purchases")).header("origin", &origin).json(&body).send().await.unwrap();
                    if res.status() != StatusCode::CREATED {
                        refused.push(format!("{}: {}", res.status(), res.text().await.unwrap_or_default()));
                    }
                }
                refused
            })
        })
        .collect();
    let mut refused = Vec::new();
    for t in tasks {
        refused.extend(t.await.unwrap());
    }
    assert!(refused.is_empty(), "{} of 960 purchases failed: {:?}", refused.len(), &refused[..refused.len().min(5)]);
    assert_eq!(servers[0].count("select count(*) from buyer_order where provider = 'wallet'").await, 960);
    servers[0].ledger_is_clean().await;
}

/// A card payment's fulfilment that loses a deadlock to another transaction writing the same
/// ledger accounts (another server's sale, on PostgreSQL) is tried again and applied, instead
/// of failing the provider's webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_payment_that_loses_a_deadlock_is_applied_when_tried_again() {
    use app::{
        checkout::{
            provider::{EventKind, Payments, ProviderEvent},
            service::{self as checkout, Applied, BuyRequest},
            store as orders,
        },
        ledger::domain::AccountRef,
        money::Currency,
        orders::Provider,
    };
    if !pg::available().await {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    app.creator("dee").await;
    let (_, code) = app.publish_work("Deadlock Zine", "3", b"zine").await;
    // A first sale, so that every account a sale writes exists.
    crate::common::buy_with_test_card(&app, &app.new_client(), &code, "first@example.com", "").await;
    let state = app.state.clone();
    let request = BuyRequest {
        code: code.clone(),
        email: "second@example.com".into(),
        amount: None,
        checkout_key: None,
        source: String::new(),
        counted_view: false,
        remember_card: false,
        saved: None,
        buyer_account_id: None,
        klarna_country: None,
    };
    let order_id = checkout::buy(&state, request).await.unwrap().order_id;
    let payment_id = orders::order(&state.db, &order_id).await.unwrap().unwrap().provider_payment_id.unwrap();
    let Payments::Test(provider) = &state.payments else { panic!("the test provider") };
    provider.pay(&state.db, &payment_id, "4242424242424242", "12/34", "123").await.unwrap();

    // Another transaction holds the platform's fee account, as another server's sale would.
    let app::db::Db::Postgres(pool) = &state.db else { panic!("PostgreSQL") };
    let mut other = pool.begin().await.unwrap();
    sqlx::query("select balance_minor from ledger_account where account_id = $1 for update")
        .bind(AccountRef::platform_fees(Currency::Eur).id())
        .fetch_one(&mut *other)
        .await
        .unwrap();
    let event = ProviderEvent {
        provider: Provider::Test,
        event_id: format!("evt_{payment_id}"),
        payment_id,
        order_id: Some(order_id.clone()),
        kind: EventKind::Succeeded,
        amount: None,
    };
    let applying = tokio::spawn({
        let state = state.clone();
        async move { app::payments::apply_event(&state, &event).await }
    });
    // The event's transaction now holds the order and waits for the fee account; this one
    // then waits for the order: a deadlock, which PostgreSQL breaks by failing the transaction
    // that waited first, the event's.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("update buyer_order set updated_at = updated_at where order_id = $1").bind(&order_id).execute(&mut *other).await.unwrap();
    other.rollback().await.unwrap();

    let applied = applying.await.unwrap().expect("the event applied on its second try");
    assert_eq!(applied, Applied::Done);
    assert_eq!(app.order_status(&order_id).await, "fulfilled");
    app.ledger_is_clean().await;
}
