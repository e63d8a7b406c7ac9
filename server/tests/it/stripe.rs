//! Buying through Stripe (against the Stripe simulator): Elements confirmation, signed
//! webhooks, one-click repeat purchases off-session with the 3-D Secure fallback, refunds, and
//! hostile webhooks (forged, tampered, replayed, stale, duplicated, out of order), and Klarna's
//! redirect flow.

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
            ("CLINK_STRIPE_KLARNA", "on"),
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
    assert_eq!(paid_with_in_csv(&app, &order_id).await, "card");
    let dashboard = app.get("/dashboard").await.text().await.unwrap();
    assert!(dashboard.contains("<td data-label=\"Paid with\">Card</td>"), "{dashboard}");

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
    refund_once(&app, &sim, &order_id).await;
}

/// The `paid_with` column of an order's row in the signed-in creator's sales CSV.
async fn paid_with_in_csv(app: &TestApp, order_id: &str) -> String {
    let csv = app.get("/dashboard/sales.csv").await.text().await.unwrap();
    let mut lines = csv.lines();
    let column = lines.next().unwrap().split(',').position(|h| h == "paid_with").expect("a paid_with column");
    let row = lines.find(|l| l.starts_with(order_id)).unwrap_or_else(|| panic!("{order_id} in {csv}"));
    row.split(',').nth(column).unwrap().to_string()
}

/// The creator refunds the sale: Stripe refunds it, and the ledger reverses it once, with
/// Stripe's `charge.refunded` webhook arriving afterwards.
async fn refund_once(app: &TestApp, sim: &SimHandle, order_id: &str) {
    let res = app.call("sales/refund", &[("order_id", order_id)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    common::eventually("the charge.refunded webhook", || async {
        sim.events().await.iter().any(|e| e["type"] == "charge.refunded").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.order_status(order_id).await, "refunded");
    let refunds = format!("select count(*) from ledger_txn where kind = 'refund' and order_id = '{order_id}'");
    assert_eq!(app.count(&refunds).await, 1);
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

/// The "Pay later with Klarna" button of the link page's card form: where the server sends the
/// browser.
async fn pay_later(app: &TestApp, buyer: &Client, code: &str, country: &str) -> reqwest::Response {
    let html = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    let key = hidden_input(&html, "checkout_key").unwrap();
    let form = [("checkout_key", key.as_str()), ("email", "kl@example.com"), ("pay_later", "klarna"), ("klarna_country", country)];
    buyer.post(app.url(&format!("/checkout/{code}"))).form(&form).send().await.unwrap()
}

/// The query parameter `name` of `url`.
fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned())
        .unwrap_or_default()
}

/// What the buyer does on Klarna's page (the simulator's): approve or decline. Returns where
/// Klarna sends the browser back to, as the page's script builds it.
async fn on_klarna_page(sim: &SimHandle, klarna_page: &str, approve: bool) -> String {
    let pi = klarna_page.split("/_sim/klarna/").nth(1).unwrap().split('/').next().unwrap().to_string();
    let secret = param(klarna_page, "client_secret");
    let decided: serde_json::Value = Client::new()
        .post(format!("{}/_sim/3ds/{pi}", sim.base_url))
        .form(&[("client_secret", secret.as_str()), ("result", if approve { "success" } else { "fail" })])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ok = decided["status"] == "succeeded";
    assert_eq!(ok, approve, "{decided}");
    let status = if ok { "succeeded" } else { "failed" };
    format!("{}&payment_intent={pi}&payment_intent_client_secret={secret}&redirect_status={status}", param(klarna_page, "return_url"))
}

/// Klarna for card-priced works: offered only where Klarna takes the price, a redirect to
/// Klarna's page and back to the file, one PaymentIntent for a double click, a decline that
/// brings the buyer back to choose again, bad choices refused before Stripe hears of them, and
/// a refund.
async fn klarna_journey(backend: Backend) {
    let Some((app, sim)) = stripe_app(backend).await else { return };
    app.creator("ann").await;
    let (_, code) = app.publish_work("Big Zine", "12", DATA).await;
    let (_, small) = app.publish_work("Small Print", "0.80", DATA).await;
    let buyer = app.new_client();

    // Offered on the 12.00 work, with the payer's country among the euro countries; not on
    // the 0.80 one (below Klarna's smallest payment, though cards take it).
    let page = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"pay_later\" value=\"klarna\""), "Klarna offered");
    assert!(page.contains("<option value=\"FR\">France</option>"));
    let small_page = buyer.get(app.url(&format!("/l/{small}"))).send().await.unwrap().text().await.unwrap();
    assert!(small_page.contains("buy-button") && !small_page.contains("pay_later"), "no Klarna below 1.00");

    // Refused before Stripe hears of it: a country Klarna doesn't take euros from, and Klarna
    // on the small work.
    let res = pay_later(&app, &buyer, &code, "GB").await;
    let back = location(&res);
    assert!(back.starts_with(&format!("/l/{code}?error=")), "{back}");
    let page = buyer.get(app.url(&back)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Choose the country you live in, for Klarna."), "the reason is on the page");
    let back = location(&pay_later(&app, &buyer, &small, "DE").await);
    assert!(param(&back, "error").contains("Klarna isn't available for this work"), "{back}");
    let created = || async { sim.events().await.iter().filter(|e| e["type"] == "payment_intent.created").count() };
    assert_eq!(created().await, 0);

    // The buyer presses "Pay later with Klarna" (twice: one PaymentIntent) and lands on Klarna.
    let html = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    let key = hidden_input(&html, "checkout_key").unwrap();
    let form = [("checkout_key", key.as_str()), ("email", "kl@example.com"), ("pay_later", "klarna"), ("klarna_country", "FR")];
    let first = location(&buyer.post(app.url(&format!("/checkout/{code}"))).form(&form).send().await.unwrap());
    let again = location(&buyer.post(app.url(&format!("/checkout/{code}"))).form(&form).send().await.unwrap());
    assert!(first.starts_with(&format!("{}/_sim/klarna/pi_", sim.base_url)), "{first}");
    assert_eq!(first, again, "a double click is one Klarna payment");
    assert_eq!(created().await, 1);
    let pi_id = first.split("/_sim/klarna/").nth(1).unwrap().split('/').next().unwrap().to_string();
    let intent = sim_get(&sim, &format!("payment_intents/{pi_id}?expand[]=payment_method")).await;
    assert_eq!(intent["payment_method_types"], serde_json::json!(["klarna"]));
    assert_eq!(intent["amount"], 1200);
    assert_eq!(intent["payment_method"]["billing_details"]["address"]["country"], "FR");
    assert_eq!(intent["payment_method"]["billing_details"]["email"], "kl@example.com");
    let return_url = param(&first, "return_url");
    assert!(return_url.starts_with(&app.url("/checkout/return/")), "Klarna sends the buyer back to Clink: {return_url}");
    let order_id = return_url.split("/checkout/return/").nth(1).unwrap().split('?').next().unwrap().to_string();
    assert_eq!(app.order_status(&order_id).await, "pending");

    // Approved on Klarna's page: back on Clink, straight to the file.
    let back = on_klarna_page(&sim, &first, true).await;
    let res = buyer.get(&back).send().await.unwrap();
    let download = location(&res);
    assert!(download.starts_with("/d/"), "{download}");
    let page = buyer.get(app.url(&download)).send().await.unwrap().text().await.unwrap();
    let href = page.split("href=\"").find(|s| s.starts_with(&format!("{download}/files/"))).unwrap().split('"').next().unwrap();
    assert_eq!(&buyer.get(app.url(href)).send().await.unwrap().bytes().await.unwrap()[..], DATA);
    wait_status(&app, &order_id, "fulfilled").await;
    app.email_to("kl@example.com", "/d/").await;
    // The webhook and the return met in one sale.
    let succeeded = sim
        .events()
        .await
        .into_iter()
        .find(|e| e["type"] == "payment_intent.succeeded" && e["data"]["object"]["id"] == pi_id.as_str())
        .expect("payment_intent.succeeded");
    let succeeded = succeeded["id"].as_str().unwrap().to_string();
    common::eventually("the payment_intent.succeeded webhook", || async {
        sim.webhook_attempts().await.iter().any(|(id, status)| *status == 200 && *id == succeeded).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sales = format!("select count(*) from ledger_txn where kind = 'sale' and order_id = '{order_id}'");
    assert_eq!(app.count(&sales).await, 1);
    assert_eq!(app::ledger::store::balance(&app.state.db, "provider_clearing:stripe:EUR").await.unwrap(), -1200);
    app.ledger_is_clean().await;
    // The creator's recent sales, CSV export and sales API name Klarna as what paid.
    let dashboard = app.get("/dashboard").await.text().await.unwrap();
    assert!(dashboard.contains("<td data-label=\"Paid with\">Klarna</td>"), "{dashboard}");
    assert_eq!(paid_with_in_csv(&app, &order_id).await, "klarna");
    let api = app.run_cli(&["token", "create", "--email", "ann@example.com"], None).await;
    let api = String::from_utf8(api.stdout).unwrap().trim().to_string();
    let sales: serde_json::Value =
        Client::new().get(app.url("/api/v1/sales")).bearer_auth(&api).send().await.unwrap().json().await.unwrap();
    let sale = sales["sales"].as_array().unwrap().iter().find(|s| s["order_id"] == order_id.as_str()).cloned().unwrap();
    assert_eq!((sale["provider"].as_str(), sale["paid_with"].as_str()), (Some("stripe"), Some("klarna")), "{sale}");
    // No card to remember from Klarna.
    assert!(!res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).any(|c| c.starts_with("clink_buyer=")));

    // Declined on Klarna's page: back on the link page, told so in words, free to pay by card.
    let other = app.new_client();
    let html = other.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    let stale_key = hidden_input(&html, "checkout_key").unwrap();
    let stale_form = [("checkout_key", stale_key.as_str()), ("email", "k2@example.com"), ("pay_later", "klarna"), ("klarna_country", "DE")];
    let klarna_page = location(&other.post(app.url(&format!("/checkout/{code}"))).form(&stale_form).send().await.unwrap());
    let declined_order =
        param(&klarna_page, "return_url").split("/checkout/return/").nth(1).unwrap().split('?').next().unwrap().to_string();
    let back = on_klarna_page(&sim, &klarna_page, false).await;
    let link = location(&other.get(&back).send().await.unwrap());
    assert!(link.starts_with(&format!("/l/{code}?error=")), "{link}");
    let page = other.get(app.url(&link)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Klarna didn&#x27;t approve this payment") || page.contains("Klarna didn't approve this payment"));
    assert!(page.contains("buy-button"), "the buyer can pay by card instead");
    // Back to the old form, Klarna again: a new Klarna payment (before and after the decline's
    // webhook), not the declined one.
    let retry = location(&other.post(app.url(&format!("/checkout/{code}"))).form(&stale_form).send().await.unwrap());
    assert!(retry.starts_with(&format!("{}/_sim/klarna/pi_", sim.base_url)), "{retry}");
    assert_ne!(param(&retry, "return_url"), param(&klarna_page, "return_url"), "a new order for the new attempt");
    wait_status(&app, &declined_order, "failed").await;
    let again = location(&other.post(app.url(&format!("/checkout/{code}"))).form(&stale_form).send().await.unwrap());
    assert_eq!(again, retry, "the retry is one payment however often it is clicked");
    // Back from Klarna's page without deciding: the order's payment step leads back there.
    let undecided = format!("{}&redirect_status=failed", param(&retry, "return_url"));
    let step = location(&other.get(&undecided).send().await.unwrap());
    assert!(step.starts_with(&format!("/l/{code}?order=")), "{step}");
    let page = other.get(app.url(&step)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Continue to Klarna"), "{page}");

    // The creator refunds the Klarna sale.
    refund_once(&app, &sim, &order_id).await;
}

/// Without Stripe (the built-in test provider) there is no Klarna, and a forged form asking for
/// it is refused in words.
async fn no_klarna_without_stripe(backend: Backend) {
    if backend == Backend::Postgres && !common::pg::available().await {
        return;
    }
    let app = TestApp::spawn(backend).await;
    app.creator("ann").await;
    let (_, code) = app.publish_work("Big Zine", "12", DATA).await;
    let buyer = app.new_client();
    let page = buyer.get(app.url(&format!("/l/{code}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("buy-button") && !page.contains("pay_later"));
    let back = location(&pay_later(&app, &buyer, &code, "DE").await);
    assert!(param(&back, "error").contains("Klarna isn't available"), "{back}");
    assert_eq!(app.count("select count(*) from buyer_order").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klarna_journey_sqlite() {
    klarna_journey(Backend::Sqlite).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klarna_journey_postgres() {
    klarna_journey(Backend::Postgres).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_klarna_without_stripe_sqlite() {
    no_klarna_without_stripe(Backend::Sqlite).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_klarna_without_stripe_postgres() {
    no_klarna_without_stripe(Backend::Postgres).await
}

/// A Stripe event around `object`, signed as Stripe signs it (`livemode` and `account` as given).
fn signed_event(id: &str, kind: &str, object: &serde_json::Value, livemode: bool, account: Option<&str>) -> (String, String) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut event = serde_json::json!({
        "id": id, "object": "event", "api_version": stripe_sim::API_VERSION, "created": now,
        "data": {"object": object}, "livemode": livemode, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": kind
    });
    if let Some(account) = account {
        event["account"] = account.into();
    }
    let body = event.to_string();
    let signature = stripe_sim::signature_header(WEBHOOK_SECRET, now, &body);
    (body, signature)
}

async fn deliver(app: &TestApp, (body, signature): (String, String)) -> StatusCode {
    Client::new()
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn sim_get(sim: &SimHandle, path: &str) -> serde_json::Value {
    Client::new().get(format!("{}/v1/{path}", sim.base_url)).bearer_auth(TEST_SECRET_KEY).send().await.unwrap().json().await.unwrap()
}

async fn sim_post(sim: &SimHandle, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
    Client::new()
        .post(format!("{}/v1/{path}", sim.base_url))
        .bearer_auth(TEST_SECRET_KEY)
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Signed events are trusted only for the amount, currency, mode and account they claim; they
/// converge whatever their order; a refunded top-up leaves the wallet owing; and `clink
/// reconcile` finds what the webhooks missed.
async fn provider_events_are_checked_and_reconciled(backend: Backend) {
    let Some((app, sim)) = stripe_app(backend).await else { return };
    // The simulator's own webhooks go nowhere: the test sends each event itself.
    sim.set_webhook_url("http://127.0.0.1:9/unreachable");
    app.creator("ann").await;
    let (_, code) = app.publish_work("Ten Euro Thing", "10", DATA).await;

    // Paid at Stripe; the event that says so claims 0.01.
    let (order_a, _, secret) = buy(&app, &app.new_client(), &code, &[]).await;
    let pi_a = confirm_in_browser(&sim, &secret, "4242424242424242").await;
    assert_eq!(pi_a["status"], "succeeded");
    let mut cheap = pi_a.clone();
    cheap["amount_received"] = 1.into();
    assert_eq!(deliver(&app, signed_event("evt_cheap", "payment_intent.succeeded", &cheap, false, None)).await, StatusCode::OK);
    assert_eq!(app.order_status(&order_a).await, "pending", "held, not fulfilled");
    assert_eq!(app.count("select count(*) from ledger_txn").await, 0, "the ledger never records money that didn't move");
    assert_eq!(app.count("select count(*) from payment_discrepancy").await, 1);
    let mut pounds = pi_a.clone();
    pounds["currency"] = "gbp".into();
    deliver(&app, signed_event("evt_pounds", "payment_intent.succeeded", &pounds, false, None)).await;
    assert_eq!(app.order_status(&order_a).await, "pending", "another currency is held too");
    // Signed, but live on test keys, or about another account: refused.
    assert_eq!(deliver(&app, signed_event("evt_live", "payment_intent.succeeded", &pi_a, true, None)).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        deliver(&app, signed_event("evt_connect", "payment_intent.succeeded", &pi_a, false, Some("acct_other"))).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.order_status(&order_a).await, "pending");

    // A payment nothing at Clink asked for.
    let stray = sim_post(&sim, "payment_intents", &[("amount", "700"), ("currency", "eur"), ("payment_method_types[]", "card")]).await;
    let stray = confirm_in_browser(&sim, stray["client_secret"].as_str().unwrap(), "4242424242424242").await;
    assert_eq!(stray["status"], "succeeded");
    // Its event is for no payable Clink knows: acknowledged (Stripe stops retrying), logged,
    // and applied to nothing.
    let before = (
        app.count("select count(*) from buyer_order where status <> 'pending'").await,
        app.count("select count(*) from wallet_topup where status <> 'pending'").await,
        app.count("select count(*) from ledger_txn").await,
    );
    assert_eq!(deliver(&app, signed_event("evt_stray", "payment_intent.succeeded", &stray, false, None)).await, StatusCode::OK);
    let after = (
        app.count("select count(*) from buyer_order where status <> 'pending'").await,
        app.count("select count(*) from wallet_topup where status <> 'pending'").await,
        app.count("select count(*) from ledger_txn").await,
    );
    assert_eq!(before, after, "an event for an unknown payable changes nothing");

    // Reconciliation names the lost webhook, the stray payment and the held event; the CLI
    // says the same and exits non-zero.
    let findings = app::checkout::reconcile::reconcile(&app.state.db, &app.state.payments, 0).await.unwrap();
    let kinds: Vec<&str> = findings.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&"missing_ledger_transaction"), "{findings:?}");
    assert!(kinds.contains(&"stray_payment"), "{findings:?}");
    assert!(kinds.contains(&"held_amount"), "{findings:?}");
    assert!(findings.iter().any(|f| f.detail.contains(&order_a)), "{findings:?}");
    // The same check as `clink serve` runs it hourly (here every 200 ms): every run reports it.
    let (sender, mut runs) = tokio::sync::mpsc::unbounded_channel();
    let periodic = tokio::spawn(app::checkout::reconcile::run_every(
        app.state.db.clone(),
        app.state.payments.clone(),
        Duration::from_millis(200),
        Duration::from_secs(86_400),
        move |run| {
            let _ = sender.send(run.map(|findings| findings.iter().map(|f| f.kind).collect::<Vec<_>>()).map_err(|e| e.to_string()));
        },
    ));
    for _ in 0..2 {
        let kinds = tokio::time::timeout(Duration::from_secs(10), runs.recv()).await.expect("a run each interval").unwrap().unwrap();
        assert!(kinds.contains(&"stray_payment") && kinds.contains(&"missing_ledger_transaction"), "{kinds:?}");
    }
    periodic.abort();
    let env = [
        ("CLINK_STRIPE_SECRET_KEY", TEST_SECRET_KEY),
        ("CLINK_STRIPE_PUBLISHABLE_KEY", TEST_PUBLISHABLE_KEY),
        ("CLINK_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("CLINK_STRIPE_API_BASE", sim.base_url.as_str()),
    ];
    let out = common::run_cli_with(&app.database_url, &app.shared_dir, &["reconcile", "--since", "2020-01-01"], None, &env).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("stray_payment") && stdout.contains(stray["id"].as_str().unwrap()),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("missing_ledger_transaction"), "{stdout}");

    // The true event fulfils the order; reconciliation no longer misses it.
    assert_eq!(deliver(&app, signed_event("evt_true", "payment_intent.succeeded", &pi_a, false, None)).await, StatusCode::OK);
    assert_eq!(app.order_status(&order_a).await, "fulfilled");
    let findings = app::checkout::reconcile::reconcile(&app.state.db, &app.state.payments, 0).await.unwrap();
    assert!(!findings.iter().any(|f| f.kind == "missing_ledger_transaction"), "{findings:?}");

    // Out of order: the refund arrives before the success. The order ends refunded, without
    // access; the late success changes nothing.
    let buyer = app.new_client();
    let (order_b, _, secret) = buy(&app, &buyer, &code, &[]).await;
    let pi_b = confirm_in_browser(&sim, &secret, "4242424242424242").await;
    let pi_b_id = pi_b["id"].as_str().unwrap().to_string();
    sim_post(&sim, "refunds", &[("payment_intent", pi_b_id.as_str())]).await;
    let charge = sim_get(
        &sim,
        &format!("charges/{}", sim_get(&sim, &format!("payment_intents/{pi_b_id}")).await["latest_charge"].as_str().unwrap()),
    )
    .await;
    assert_eq!(charge["refunded"], true);
    assert_eq!(deliver(&app, signed_event("evt_refund_first", "charge.refunded", &charge, false, None)).await, StatusCode::OK);
    assert_eq!(app.order_status(&order_b).await, "refunded");
    assert_eq!(deliver(&app, signed_event("evt_success_late", "payment_intent.succeeded", &pi_b, false, None)).await, StatusCode::OK);
    assert_eq!(app.order_status(&order_b).await, "refunded");
    let grant_revoked =
        app.count(&format!("select count(*) from download_grant where order_id = '{order_b}' and revoked_at is not null")).await;
    assert_eq!(grant_revoked, 1, "no access to a refunded purchase");
    app.ledger_is_clean().await;

    // A top-up refunded at Stripe after most of it was spent: the wallet owes the rest.
    let wallet_buyer = app.new_client();
    common::sign_up_on(&wallet_buyer, &app.base_url, &app.shared_dir, "spender@example.com", "spender", "Spender").await;
    let res = wallet_buyer.post(app.url("/wallet/topup")).form(&[("amount", "5"), ("currency", "EUR")]).send().await.unwrap();
    let page = wallet_buyer.get(app.url(&location(&res))).send().await.unwrap().text().await.unwrap();
    let attr = |name: &str| {
        let i = page.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        unescape(&page[i..i + page[i..].find('"').unwrap()])
    };
    let topup_pi = confirm_in_browser(&sim, &attr("data-client-secret"), "4242424242424242").await;
    wallet_buyer.get(app.url(&attr("data-return-url"))).send().await.unwrap();
    assert_eq!(common::wallet_balance(&app, "spender").await, 500);
    let (_, four) = app.publish_work("Four Euro Thing", "4", DATA).await;
    let (status, _) = common::wallet_buy(&app, &wallet_buyer, &four, "spend-before-refund-1", serde_json::json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let topup_pi_id = topup_pi["id"].as_str().unwrap().to_string();
    sim_post(&sim, "refunds", &[("payment_intent", topup_pi_id.as_str())]).await;
    let charge = sim_get(
        &sim,
        &format!("charges/{}", sim_get(&sim, &format!("payment_intents/{topup_pi_id}")).await["latest_charge"].as_str().unwrap()),
    )
    .await;
    assert_eq!(deliver(&app, signed_event("evt_topup_refund", "charge.refunded", &charge, false, None)).await, StatusCode::OK);
    assert_eq!(deliver(&app, signed_event("evt_topup_refund_again", "charge.refunded", &charge, false, None)).await, StatusCode::OK);
    assert_eq!(common::wallet_balance(&app, "spender").await, -400, "1.00 left, 5.00 taken back: owes 4.00");
    let (_, cheap_code) = app.publish_work("Cheap Thing", "0.20", DATA).await;
    let (status, _) = common::wallet_buy(&app, &wallet_buyer, &cheap_code, "spend-while-owing-1", serde_json::json!({})).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "an owing wallet buys nothing");
    let wallet = wallet_buyer.get(app.url("/wallet")).send().await.unwrap().text().await.unwrap();
    assert!(wallet.contains("owes"), "the wallet page says so");
    app.ledger_is_clean().await;
    let verify = app.run_cli(&["ledger", "verify"], None).await;
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_events_are_checked_and_reconciled_sqlite() {
    provider_events_are_checked_and_reconciled(Backend::Sqlite).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_events_are_checked_and_reconciled_postgres() {
    provider_events_are_checked_and_reconciled(Backend::Postgres).await
}
