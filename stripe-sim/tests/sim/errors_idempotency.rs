//! Error shapes (401/404/400) and Idempotency-Key semantics.

use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_core::customer::{CreateCustomer, RetrieveCustomer};
use stripe_core::payment_intent::{CreatePaymentIntent, ListPaymentIntent};
use stripe_shared::{ApiErrorsCode, ApiErrorsType};
use stripe_types::Currency;

use crate::*;

fn idem(key: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(key).unwrap())
}

#[tokio::test]
async fn auth_and_not_found_errors() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let (err, status) = api_error(RetrieveCustomer::new("cus_nope").send(&client).await);
    assert_eq!((status, err.code), (404, Some(ApiErrorsCode::ResourceMissing)));
    assert_eq!(err.message.as_deref(), Some("No such customer: 'cus_nope'"));

    let bad = ClientBuilder::new("sk_live_wrong").url(&sim.base_url).build().unwrap();
    let (err, status) = api_error(CreateCustomer::new().send(&bad).await);
    assert_eq!((status, err.type_), (401, ApiErrorsType::InvalidRequestError));

    // Publishable keys may not create customers.
    let pk = ClientBuilder::new(stripe_sim::TEST_PUBLISHABLE_KEY).url(&sim.base_url).build().unwrap();
    let (_, status) = api_error(CreateCustomer::new().send(&pk).await);
    assert_eq!(status, 401);

    let (err, status) = api_error(CreatePaymentIntent::new(10, Currency::USD).send(&client).await);
    assert_eq!((status, err.code), (400, Some(ApiErrorsCode::AmountTooSmall)));

    let raw = reqwest::Client::new();
    let r = raw.get(format!("{}/v1/customers/cus_x", sim.base_url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn idempotent_create_replays() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let req = CreateCustomer::new().email("a@example.com");
    let first = req.customize().request_strategy(idem("cus-1")).send(&client).await.unwrap();
    let second = req.customize().request_strategy(idem("cus-1")).send(&client).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(event_types(&sim).await, ["customer.created"]);
    assert_eq!(sim.events().await[0]["request"]["idempotency_key"], "cus-1");

    // Same key, different parameters.
    let other = CreateCustomer::new().email("b@example.com").customize().request_strategy(idem("cus-1")).send(&client).await;
    let (err, status) = api_error(other);
    assert_eq!((status, err.type_), (400, ApiErrorsType::IdempotencyError));

    // Keys are per API key: another secret key gets its own customer.
    let other_key = ClientBuilder::new("sk_test_other_account").url(&sim.base_url).build().unwrap();
    let third = req.customize().request_strategy(idem("cus-1")).send(&other_key).await.unwrap();
    assert_ne!(third.id, first.id);
}

#[tokio::test]
async fn idempotent_payment_intent_creates_one() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let pm = card(&client, "4242424242424242").await;
    let req = CreatePaymentIntent::new(2000, Currency::EUR).payment_method(pm.id.as_str()).confirm(true);
    let a = req.customize().request_strategy(idem("order-7")).send(&client).await.unwrap();
    let b = req.customize().request_strategy(idem("order-7")).send(&client).await.unwrap();
    assert_eq!(a.id, b.id);
    let all = ListPaymentIntent::new().send(&client).await.unwrap();
    assert_eq!(all.data.len(), 1);
    let created = event_types(&sim).await.into_iter().filter(|t| t == "payment_intent.created").count();
    assert_eq!(created, 1);

    // A declined create is replayed as the same 402.
    let bad = card(&client, "4000000000000002").await;
    let req = CreatePaymentIntent::new(2000, Currency::EUR).payment_method(bad.id.as_str()).confirm(true);
    let (e1, _) = api_error(req.customize().request_strategy(idem("order-8")).send(&client).await);
    let (e2, _) = api_error(req.customize().request_strategy(idem("order-8")).send(&client).await);
    assert_eq!(e1.payment_intent.unwrap().id, e2.payment_intent.unwrap().id);
}

#[tokio::test]
async fn replay_is_byte_for_byte() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let raw = reqwest::Client::new();
    let post = |key: &'static str, body: &'static str| {
        raw.post(format!("{}/v1/customers", sim.base_url))
            .bearer_auth(stripe_sim::TEST_SECRET_KEY)
            .header("Idempotency-Key", key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let first = post("k", "email=x%40example.com&metadata[a]=1").await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = first.bytes().await.unwrap();
    let second = post("k", "email=x%40example.com&metadata[a]=1").await.unwrap();
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.bytes().await.unwrap(), first);
    let conflict = post("k", "email=y%40example.com").await.unwrap();
    assert_eq!(conflict.status(), 400);
    let body: serde_json::Value = conflict.json().await.unwrap();
    assert_eq!(body["error"]["type"], "idempotency_error");
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = sim().await;
    let url = format!("{}/_sim/health", sim.base_url);
    // One client, so the second request would reuse a keep-alive connection.
    let raw = reqwest::Client::new();
    assert_eq!(raw.get(&url).send().await.unwrap().status(), 200);
    sim.shutdown();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(raw.get(&url).send().await.is_err());
}
