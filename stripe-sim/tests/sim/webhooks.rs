//! Webhook pushes: signature verification with async-stripe's `Webhook`,
//! retries, giving up, and a webhook URL set after start.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use stripe_core::customer::CreateCustomer;
use stripe_webhook::{EventObject, Webhook, WebhookError};

use crate::*;

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<AtomicUsize>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
    /// (raw body, Stripe-Signature header) of every request.
    raw: Arc<Mutex<Vec<(String, String)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let n = r.hits.fetch_add(1, Ordering::SeqCst);
    let sig = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    r.raw.lock().unwrap().push((body, sig));
    if n < r.fail_first { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}

async fn receiver(fail_first: usize) -> (String, Receiver) {
    let r = Receiver { fail_first, ..Default::default() };
    let app = axum::Router::new().route("/stripe/webhook", axum::routing::post(receive)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stripe/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r)
}

async fn wait_until(mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting");
}

#[tokio::test]
async fn pushed_events_verify_with_async_stripe() {
    let _warnings = watch_warnings();
    let (url, rx) = receiver(0).await;
    let sim = sim().await;
    sim.set_webhook_url(&url);
    let client = client(&sim);
    let cus = customer(&client).await;
    let pm = card(&client, "4242424242424242").await;
    stripe_core::payment_intent::CreatePaymentIntent::new(1999, stripe_types::Currency::USD)
        .customer(cus.id.as_str())
        .payment_method(pm.id.as_str())
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    let expected = sim.events().await.len();
    assert_eq!(expected, 4); // customer.created, payment_intent.created, charge.succeeded, payment_intent.succeeded
    wait_until(async || rx.raw.lock().unwrap().len() == expected).await;

    let raw = rx.raw.lock().unwrap().clone();
    let mut seen = Vec::new();
    for (body, sig) in &raw {
        assert!(sig.starts_with("t=") && sig.contains(",v1="), "{sig}");
        let event = Webhook::construct_event(body, sig, SECRET).expect("signature verifies");
        if let EventObject::PaymentIntentSucceeded(pi) = &event.data.object {
            assert_eq!(pi.amount_received, 1999);
        }
        seen.push(event.id.as_str().to_owned());
    }
    seen.sort();
    let mut ids: Vec<String> = sim.events().await.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    assert_eq!(seen, ids);

    // A tampered body or the wrong secret is rejected.
    let (body, sig) = &raw[0];
    let tampered = body.replacen("\"livemode\": false", "\"livemode\": true", 1);
    assert!(matches!(Webhook::construct_event(&tampered, sig, SECRET), Err(WebhookError::BadSignature)));
    assert!(Webhook::construct_event(body, sig, "whsec_other").is_err());

    // Delivered events report no pending webhooks.
    wait_until(async || sim.events().await.iter().all(|e| e["pending_webhooks"] == 0)).await;
}

#[tokio::test]
async fn retries_until_2xx() {
    let _warnings = watch_warnings();
    let (url, rx) = receiver(2).await;
    let sim = sim().await;
    sim.set_webhook_url(&url);
    CreateCustomer::new().send(&client(&sim)).await.unwrap();
    wait_until(async || sim.webhook_attempts().await.len() == 3).await;
    tokio::time::sleep(Duration::from_millis(400)).await; // longer than all retry delays
    let attempts = sim.webhook_attempts().await;
    let event_id = sim.events().await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(attempts, [(event_id.clone(), 500), (event_id.clone(), 500), (event_id, 200)]);
    assert_eq!(rx.hits.load(Ordering::SeqCst), 3);
    // Each attempt verifies on its own.
    for (body, sig) in rx.raw.lock().unwrap().iter() {
        Webhook::construct_event(body, sig, SECRET).expect("verifies");
    }
}

#[tokio::test]
async fn gives_up_after_retry_delays() {
    let _warnings = watch_warnings();
    // A port nobody listens on: connection errors, recorded as status 0.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sim = sim().await;
    sim.set_webhook_url(&format!("http://127.0.0.1:{port}/hook"));
    CreateCustomer::new().send(&client(&sim)).await.unwrap();
    wait_until(async || sim.webhook_attempts().await.len() == 3).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let attempts = sim.webhook_attempts().await;
    assert_eq!(attempts.len(), 3, "1 attempt + 2 retries: {attempts:?}");
    assert!(attempts.iter().all(|(_, status)| *status == 0));
}

#[tokio::test]
async fn webhook_url_set_later() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    CreateCustomer::new().send(&client).await.unwrap();
    assert_eq!(sim.events().await[0]["pending_webhooks"], 0);
    let (url, rx) = receiver(0).await;
    sim.set_webhook_url(&url);
    CreateCustomer::new().send(&client).await.unwrap();
    wait_until(async || rx.hits.load(Ordering::SeqCst) == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.hits.load(Ordering::SeqCst), 1, "events before the URL was set are not pushed");
}
