//! Buying through Stripe (against the Stripe simulator): Elements confirmation, signed
//! webhooks, one-click repeat purchases off-session with the 3-D Secure fallback, refunds, and
//! hostile webhooks (forged, tampered, replayed, stale, duplicated, out of order).

use crate::common;

use std::time::Duration;

use crate::common::{Backend, TestApp, hidden_input, unescape};
use reqwest::{Client, StatusCode};
use stripe_sim::{SimConfig, SimHandle, TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY};

const WEBHOOK_SECRET: &str = "whsec_clink_tests";
const DATA: &[u8] = b"bytes sold through stripe";

async fn stripe_app(backend: Backend) -> Option<(TestApp, SimHandle)> {
    if backend == Backend::Postgres && !common::pg::available().await {
        return None;
    }
    let sim = stripe_sim::spawn(SimConfig {
        webhook_url: None,
        webhook_secret: WEBHOOK_SECRET.into(),
        retry_delays: vec![Duration::from_millis(100), Duration::from_millis(200), Duration::from_millis(400)],
    })
    .await;
    let js = sim.js_url();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("CLINK_STRIPE_SECRET_KEY", TEST_SECRET_KEY),
            ("CLINK_STRIPE_PUBLISHABLE_KEY", TEST_PUBLISHABLE_KEY),
            ("CLINK_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("CLINK_STRIPE_API_BASE", &sim.base_url),
            ("CLINK_STRIPE_JS_URL", &js),
        ],
    )
    .await;
    sim.set_webhook_url(&app.url("/webhooks/stripe"));
    Some((app, sim))
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default()
}

/// Clicks Buy and returns the pay page's Stripe parameters: (order id, return url, client secret).
async fn buy(app: &TestApp, buyer: &Client, code: &str, extra: &[(&str, &str)]) -> (String, String, String) {
    let html = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    let key = hidden_input(&html, "checkout_key").unwrap();
    let mut form = vec![("checkout_key", key.as_str()), ("email", "sb@example.com"), ("remember", "1")];
    form.extend_from_slice(extra);
    let res = buyer.post(app.url(&format!("/checkout/{code}"))).form(&form).send().await.unwrap();
    let pay = location(&res);
    let page = buyer.get(app.url(&pay)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"stripe-pay\""), "Stripe Elements on the link page: {pay}");
    assert!(page.contains("/js/v3"), "loads Stripe.js from the configured URL");
    let attr = |name: &str| {
        let i = page.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        unescape(&page[i..i + page[i..].find('"').unwrap()])
    };
    let order_id = pay.split("order=").nth(1).unwrap().split('&').next().unwrap().to_string();
    (order_id, attr("data-return-url"), attr("data-client-secret"))
}

/// What Stripe.js does when the buyer presses Pay: confirm the PaymentIntent with the card,
/// using only the publishable key and the client secret.
async fn confirm_in_browser(sim: &SimHandle, client_secret: &str, card: &str) -> serde_json::Value {
    let pi = client_secret.split("_secret_").next().unwrap();
    Client::new()
        .post(format!("{}/v1/payment_intents/{pi}/confirm", sim.base_url))
        .bearer_auth(TEST_PUBLISHABLE_KEY)
        .form(&[
            ("client_secret", client_secret),
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][number]", card),
            ("payment_method_data[card][exp_month]", "12"),
            ("payment_method_data[card][exp_year]", "2034"),
            ("payment_method_data[card][cvc]", "123"),
            ("payment_method_data[billing_details][email]", "sb@example.com"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_status(app: &TestApp, order_id: &str, status: &str) {
    common::eventually(&format!("order {order_id} to be {status}"), || async { (app.order_status(order_id).await == status).then_some(()) })
        .await
}

async fn stripe_journey(backend: Backend) {
    let Some((app, sim)) = stripe_app(backend).await else { return };
    app.creator("ann").await;
    let (_, code) = app.publish_work("Via Stripe", "12", DATA).await;
    let buyer = app.new_client();
    let (order_id, return_url, secret) = buy(&app, &buyer, &code, &[]).await;
    let pi = confirm_in_browser(&sim, &secret, "4242424242424242").await;
    assert_eq!(pi["status"], "succeeded");
    // The signed webhook fulfils the order, even before the browser comes back.
    wait_status(&app, &order_id, "fulfilled").await;
    let res = buyer.get(app.url(&return_url)).send().await.unwrap();
    let download = location(&res);
    assert!(download.starts_with("/d/"), "{download}");
    let cookie = res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).any(|c| c.starts_with("clink_buyer="));
    assert!(cookie, "card remembered");
    let page = buyer.get(app.url(&download)).send().await.unwrap().text().await.unwrap();
    let href = page.split("href=\"").find(|s| s.starts_with(&format!("{download}/files/"))).unwrap().split('"').next().unwrap();
    assert_eq!(&buyer.get(app.url(href)).send().await.unwrap().bytes().await.unwrap()[..], DATA);
    app.ledger_is_clean().await;
    assert_eq!(app::ledger::store::balance(&app.state.db, "provider_clearing:stripe:EUR").await.unwrap(), -1200);

    // One click the second time: charged off-session, straight to the download.
    let (_, second) = app.publish_work("Second", "8", DATA).await;
    let html = buyer.get(app.url(&format!("/l/{second}"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("with Visa •••• 4242"));
    let key = hidden_input(&html, "checkout_key").unwrap();
    let res = buyer
        .post(app.url(&format!("/checkout/{second}")))
        .form(&[("checkout_key", format!("{key}-1").as_str()), ("one_click", "1")])
        .send()
        .await
        .unwrap();
    let back = location(&res);
    assert!(back.starts_with("/checkout/return/"), "{back}");
    assert!(location(&buyer.get(app.url(&back)).send().await.unwrap()).starts_with("/d/"));

    // The creator refunds: Stripe refunds, the ledger reverses once even when Stripe's
    // charge.refunded webhook arrives afterwards.
    let res = app.call("sales/refund", &[("order_id", &order_id)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    common::eventually("the charge.refunded webhook", || async {
        sim.events().await.iter().any(|e| e["type"] == "charge.refunded").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.order_status(&order_id).await, "refunded");
    assert_eq!(app.count("select count(*) from ledger_txn where kind = 'refund'").await, 1);
    app.ledger_is_clean().await;
    let attempts = sim.webhook_attempts().await;
    assert!(attempts.iter().all(|(_, status)| *status == 200), "every webhook accepted: {attempts:?}");
}

async fn closed_tab_and_3d_secure(backend: Backend) {
    let Some((app, sim)) = stripe_app(backend).await else { return };
    app.creator("ann").await;
    let (_, code) = app.publish_work("Secure", "20", DATA).await;
    let buyer = app.new_client();
    let (order_id, _return_url, secret) = buy(&app, &buyer, &code, &[]).await;
    let pi = confirm_in_browser(&sim, &secret, "4000002760003184").await;
    assert_eq!(pi["status"], "requires_action");
    assert_eq!(app.order_status(&order_id).await, "pending");
    // The buyer authenticates, then closes the tab: no return, only the webhook.
    sim.complete_3ds(pi["id"].as_str().unwrap(), true).await;
    wait_status(&app, &order_id, "fulfilled").await;
    app.email_to("sb@example.com", "/d/").await;

    // A declined card: the order fails, then succeeds with another card on the same intent.
    let (order2, _, secret2) = buy(&app, &app.new_client(), &code, &[]).await;
    let declined = confirm_in_browser(&sim, &secret2, "4000000000000002").await;
    assert_eq!(declined["error"]["code"], "card_declined");
    wait_status(&app, &order2, "failed").await;
    let ok = confirm_in_browser(&sim, &secret2, "4242424242424242").await;
    assert_eq!(ok["status"], "succeeded");
    wait_status(&app, &order2, "fulfilled").await;
    app.ledger_is_clean().await;
}

async fn one_click_needing_authentication_falls_back_to_3ds(backend: Backend) {
    let Some((app, sim)) = stripe_app(backend).await else { return };
    app.creator("ann").await;
    let (_, first) = app.publish_work("First", "5", DATA).await;
    let buyer = app.new_client();
    let (order_id, return_url, secret) = buy(&app, &buyer, &first, &[]).await;
    let pi = confirm_in_browser(&sim, &secret, "4000002760003184").await;
    sim.complete_3ds(pi["id"].as_str().unwrap(), true).await;
    wait_status(&app, &order_id, "fulfilled").await;
    buyer.get(app.url(&return_url)).send().await.unwrap(); // remembers the card

    let (_, second) = app.publish_work("Second", "5", DATA).await;
    let html = buyer.get(app.url(&format!("/l/{second}"))).send().await.unwrap().text().await.unwrap();
    let key = hidden_input(&html, "checkout_key").unwrap();
    let res = buyer
        .post(app.url(&format!("/checkout/{second}")))
        .form(&[("checkout_key", format!("{key}-1").as_str()), ("one_click", "1")])
        .send()
        .await
        .unwrap();
    let pay = location(&res);
    assert!(pay.contains("order="), "the bank wants the buyer: back to the page to authenticate: {pay}");
    let page = buyer.get(app.url(&pay)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data-payment-method=\"pm_"), "confirms the saved card, no new card form");
}

async fn hostile_webhooks(backend: Backend) {
    let Some((app, sim)) = stripe_app(backend).await else { return };
    app.creator("ann").await;
    let (_, code) = app.publish_work("Target", "10", DATA).await;
    let buyer = app.new_client();
    let (order_id, _, secret) = buy(&app, &buyer, &code, &[]).await;
    let pi_id = secret.split("_secret_").next().unwrap().to_string();
    let post = |body: String, sig: String| {
        let url = app.url("/webhooks/stripe");
        async move {
            Client::new()
                .post(url)
                .header("stripe-signature", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;

    // A forged "payment succeeded" for an unpaid order.
    let pi_json = Client::new()
        .get(format!("{}/v1/payment_intents/{pi_id}", sim.base_url))
        .bearer_auth(TEST_SECRET_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut pi: serde_json::Value = serde_json::from_str(&pi_json).unwrap();
    pi["status"] = "succeeded".into();
    pi["amount_received"] = pi["amount"].clone();
    let event = serde_json::json!({
        "id": "evt_forged_1", "object": "event", "api_version": stripe_sim::API_VERSION, "created": now(),
        "data": {"object": pi}, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": "payment_intent.succeeded"
    })
    .to_string();
    let t = now();
    assert_eq!(
        post(event.clone(), stripe_sim::signature_header("whsec_wrong", t, &event)).await.status(),
        StatusCode::BAD_REQUEST,
        "wrong secret"
    );
    assert_eq!(post(event.clone(), format!("t={t},v1=deadbeef")).await.status(), StatusCode::BAD_REQUEST, "bad signature");
    assert_eq!(post(event.clone(), String::new()).await.status(), StatusCode::BAD_REQUEST, "no signature");
    let signed = stripe_sim::signature_header(WEBHOOK_SECRET, t, &event);
    let tampered = event.replace("\"amount\": 1000", "\"amount\": 1").replace("\"amount\":1000", "\"amount\":1") + " ";
    assert_eq!(post(tampered, signed.clone()).await.status(), StatusCode::BAD_REQUEST, "tampered body");
    let stale = t - 600;
    assert_eq!(
        post(event.clone(), stripe_sim::signature_header(WEBHOOK_SECRET, stale, &event)).await.status(),
        StatusCode::BAD_REQUEST,
        "older than 300 s"
    );
    assert_eq!(app.order_status(&order_id).await, "pending", "nothing forged got through");

    // A genuine event, delivered twice at once and replayed later, counts once.
    let (a, b) = tokio::join!(post(event.clone(), signed.clone()), post(event.clone(), signed.clone()));
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(post(event.clone(), signed.clone()).await.status(), StatusCode::OK);
    assert_eq!(app.order_status(&order_id).await, "fulfilled");
    assert_eq!(app.count(&format!("select count(*) from ledger_txn where order_id = '{order_id}'")).await, 1);

    // Out of order: a late "payment failed" after the success changes nothing.
    let mut failed_pi = pi.clone();
    failed_pi["status"] = "requires_payment_method".into();
    let failed = serde_json::json!({
        "id": "evt_late_failure", "object": "event", "api_version": stripe_sim::API_VERSION, "created": now(),
        "data": {"object": failed_pi}, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": "payment_intent.payment_failed"
    })
    .to_string();
    assert_eq!(post(failed.clone(), stripe_sim::signature_header(WEBHOOK_SECRET, now(), &failed)).await.status(), StatusCode::OK);
    assert_eq!(app.order_status(&order_id).await, "fulfilled");
    app.ledger_is_clean().await;
}

async fn ten_clicks_one_payment_intent(backend: Backend) {
    let Some((app, sim)) = stripe_app(backend).await else { return };
    app.creator("ann").await;
    let (_, code) = app.publish_work("Rush", "3", DATA).await;
    let buyer = app.new_client();
    let html = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    let key = hidden_input(&html, "checkout_key").unwrap();
    let clicks: Vec<_> = (0..10)
        .map(|_| {
            let (buyer, url, key) = (buyer.clone(), app.url(&format!("/checkout/{code}")), key.clone());
            tokio::spawn(async move {
                buyer.post(url).form(&[("checkout_key", key.as_str()), ("email", "r@example.com")]).send().await.unwrap().status()
            })
        })
        .collect();
    for click in clicks {
        assert_eq!(click.await.unwrap(), StatusCode::SEE_OTHER);
    }
    assert_eq!(app.count("select count(*) from buyer_order").await, 1);
    let created = sim.events().await.iter().filter(|e| e["type"] == "payment_intent.created").count();
    assert_eq!(created, 1, "one PaymentIntent for ten clicks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_journey_sqlite() {
    stripe_journey(Backend::Sqlite).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_journey_postgres() {
    stripe_journey(Backend::Postgres).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_tab_and_3d_secure_sqlite() {
    closed_tab_and_3d_secure(Backend::Sqlite).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_tab_and_3d_secure_postgres() {
    closed_tab_and_3d_secure(Backend::Postgres).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_needing_authentication_falls_back_to_3ds_sqlite() {
    one_click_needing_authentication_falls_back_to_3ds(Backend::Sqlite).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_needing_authentication_falls_back_to_3ds_postgres() {
    one_click_needing_authentication_falls_back_to_3ds(Backend::Postgres).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_webhooks_sqlite() {
    hostile_webhooks(Backend::Sqlite).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_webhooks_postgres() {
    hostile_webhooks(Backend::Postgres).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_clicks_one_payment_intent_sqlite() {
    ten_clicks_one_payment_intent(Backend::Sqlite).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_clicks_one_payment_intent_postgres() {
    ten_clicks_one_payment_intent(Backend::Postgres).await
}
