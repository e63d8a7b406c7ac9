//! Integration tests: the real async-stripe client (1.0.0-rc.10) against the
//! simulator. Every call deserializes the simulator's JSON into
//! async-stripe's strict types, so a missing required field fails here.

mod sim {
    pub mod browser;
    pub mod errors_idempotency;
    pub mod klarna;
    pub mod payments;
    pub mod webhooks;
}

use std::collections::HashMap;
use std::time::Duration;

use stripe::{Client, ClientBuilder, StripeError};
use stripe_payment::payment_method::{
    AttachPaymentMethod, CreatePaymentMethod, CreatePaymentMethodCard, CreatePaymentMethodCardDetailsParams, CreatePaymentMethodType,
};
use stripe_shared::{ApiErrors, Customer, PaymentMethod};
use stripe_sim::{SimConfig, SimHandle, TEST_SECRET_KEY};

pub const SECRET: &str = "whsec_test_sim_secret";

pub async fn sim() -> SimHandle {
    stripe_sim::spawn(SimConfig {
        webhook_url: None,
        webhook_secret: SECRET.into(),
        retry_delays: vec![Duration::from_millis(50), Duration::from_millis(100)],
    })
    .await
}

pub fn client(sim: &SimHandle) -> Client {
    ClientBuilder::new(TEST_SECRET_KEY).url(&sim.base_url).build().expect("client")
}

pub async fn customer(client: &Client) -> Customer {
    stripe_core::customer::CreateCustomer::new()
        .email("ada@example.com")
        .name("Ada Lovelace")
        .metadata(HashMap::from([("clink_user".to_owned(), "42".to_owned())]))
        .send(client)
        .await
        .expect("create customer")
}

pub async fn card(client: &Client, number: &str) -> PaymentMethod {
    let mut details = CreatePaymentMethodCardDetailsParams::new(12, 2034, number);
    details.cvc = Some("123".into());
    CreatePaymentMethod::new()
        .type_(CreatePaymentMethodType::Card)
        .card(CreatePaymentMethodCard::CardDetailsParams(details))
        .send(client)
        .await
        .expect("create payment method")
}

pub async fn attached_card(client: &Client, number: &str, customer: &Customer) -> PaymentMethod {
    let pm = card(client, number).await;
    AttachPaymentMethod::new(pm.id.clone()).customer(customer.id.as_str()).send(client).await.expect("attach")
}

/// The Stripe error inside a `StripeError`, with its HTTP status.
pub fn api_error<T: std::fmt::Debug>(result: Result<T, StripeError>) -> (Box<ApiErrors>, u16) {
    match result {
        Err(StripeError::Stripe(e, status)) => (e, status),
        other => panic!("expected a Stripe API error, got {other:?}"),
    }
}

/// Parse an event exactly as a webhook handler would (signature included),
/// so the typed `data.object` is checked too.
pub fn typed_event(event: &serde_json::Value) -> stripe_webhook::Event {
    let payload = serde_json::to_string_pretty(event).unwrap();
    let header = stripe_webhook::Webhook::generate_test_header(&payload, SECRET, None);
    let parsed = stripe_webhook::Webhook::construct_event(&payload, &header, SECRET)
        .unwrap_or_else(|e| panic!("event {} does not parse: {e}", event["type"]));
    assert!(!matches!(parsed.data.object, stripe_webhook::EventObject::Unknown(_)), "{} parsed as Unknown", event["type"]);
    parsed
}

pub async fn event_types(sim: &SimHandle) -> Vec<String> {
    sim.events().await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

/// Fails the test (on drop) if async-stripe logged that it met an enum value
/// it does not know — a sign the simulator sent something Stripe would not.
/// `#[tokio::test]` runs everything, the simulator included, on the test's
/// thread, so a thread-local subscriber sees it all.
pub struct WarningWatch {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

pub fn watch_warnings() -> WarningWatch {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || SharedWriter(writer.clone()))
        .finish();
    WarningWatch { buf, _guard: tracing::subscriber::set_default(subscriber) }
}

struct SharedWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for WarningWatch {
    fn drop(&mut self) {
        let log = String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned();
        let bad: Vec<&str> = log.lines().filter(|l| l.contains("Unknown value") || l.contains("mismatch")).collect();
        if !std::thread::panicking() {
            assert!(bad.is_empty(), "async-stripe warnings:\n{}", bad.join("\n"));
        }
    }
}
