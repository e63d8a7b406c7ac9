//! Klarna: eligibility by currency, amount and payer country, the redirect to Klarna's page and
//! back, its events and its refunds, all through async-stripe's types.

use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentPaymentMethodData, CreatePaymentIntentPaymentMethodDataBillingDetails,
    CreatePaymentIntentPaymentMethodDataBillingDetailsAddress, CreatePaymentIntentPaymentMethodDataKlarna,
    CreatePaymentIntentPaymentMethodDataType, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_shared::{ApiErrorsCode, PaymentIntent, PaymentIntentAllowedPaymentMethodTypes, PaymentIntentStatus};
use stripe_types::Currency;
use stripe_webhook::EventObject;

use crate::*;

fn klarna_data(country: Option<&str>) -> CreatePaymentIntentPaymentMethodData {
    let mut address = CreatePaymentIntentPaymentMethodDataBillingDetailsAddress::new();
    address.country = country.map(str::to_owned);
    let mut billing = CreatePaymentIntentPaymentMethodDataBillingDetails::new();
    billing.email = Some("ada@example.com".into());
    billing.address = Some(address);
    let mut data = CreatePaymentIntentPaymentMethodData::new(CreatePaymentIntentPaymentMethodDataType::Klarna);
    data.billing_details = Some(billing);
    data.klarna = Some(CreatePaymentIntentPaymentMethodDataKlarna::new());
    data
}

fn klarna_pi(amount: i64, currency: Currency) -> CreatePaymentIntent {
    CreatePaymentIntent::new(amount, currency)
        .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Klarna])
        .metadata(std::collections::HashMap::from([("order_id".to_owned(), "k1".to_owned())]))
}

const RETURN: &str = "http://127.0.0.1:3000/checkout/return/k1?k=abc";

/// What the buttons on the sim's Klarna page do.
async fn decide(sim: &SimHandle, intent: &PaymentIntent, result: &str) -> serde_json::Value {
    let secret = intent.client_secret.clone().unwrap();
    reqwest::Client::new()
        .post(format!("{}/_sim/3ds/{}", sim.base_url, intent.id))
        .form(&[("client_secret", secret.as_str()), ("result", result)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn klarna_eligibility() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    // A currency Klarna doesn't take.
    let (err, status) = api_error(klarna_pi(5000, Currency::JPY).send(&client).await);
    assert_eq!((status, err.param.as_deref()), (400, Some("payment_method_types")));
    // Below Klarna's smallest payment, though above the card minimum.
    let (err, status) = api_error(klarna_pi(80, Currency::EUR).send(&client).await);
    assert_eq!((status, err.param.as_deref()), (400, Some("amount")));
    assert!(err.message.unwrap().contains("between 1.00"));
    // Above the largest.
    let (err, _) = api_error(klarna_pi(400_001, Currency::GBP).send(&client).await);
    assert_eq!(err.param.as_deref(), Some("amount"));
    // No country, a country that doesn't pay in the currency, no return_url.
    let (err, _) = api_error(
        klarna_pi(2500, Currency::EUR).payment_method_data(klarna_data(None)).confirm(true).return_url(RETURN).send(&client).await,
    );
    assert_eq!(err.param.as_deref(), Some("payment_method_data[billing_details][address][country]"));
    let (err, _) = api_error(
        klarna_pi(2500, Currency::EUR).payment_method_data(klarna_data(Some("GB"))).confirm(true).return_url(RETURN).send(&client).await,
    );
    assert!(err.message.unwrap().contains("Klarna doesn't take EUR payments from customers in GB"));
    let (err, _) = api_error(klarna_pi(2500, Currency::EUR).payment_method_data(klarna_data(Some("DE"))).confirm(true).send(&client).await);
    assert_eq!(err.param.as_deref(), Some("return_url"));
    // A card-only intent refuses a Klarna payment method.
    let (err, _) = api_error(
        CreatePaymentIntent::new(2500, Currency::EUR)
            .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Card])
            .payment_method_data(klarna_data(Some("DE")))
            .confirm(true)
            .return_url(RETURN)
            .send(&client)
            .await,
    );
    assert_eq!(err.param.as_deref(), Some("payment_method"));
}

#[tokio::test]
async fn klarna_redirect_authorize_and_refund() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let intent = CreatePaymentIntent::new(2500, Currency::EUR)
        .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Card, PaymentIntentAllowedPaymentMethodTypes::Klarna])
        .metadata(std::collections::HashMap::from([("order_id".to_owned(), "k1".to_owned())]))
        .payment_method_data(klarna_data(Some("DE")))
        .confirm(true)
        .return_url(RETURN)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::RequiresAction);
    assert_eq!(intent.payment_method_types, ["card", "klarna"]);
    assert!(intent.payment_method_options.as_ref().unwrap().klarna.is_some());
    let action = intent.next_action.clone().unwrap();
    assert_eq!(action.type_, "redirect_to_url");
    let url = action.redirect_to_url.unwrap().url.unwrap();
    assert!(url.starts_with(&format!("{}/_sim/klarna/{}/authorize?client_secret=", sim.base_url, intent.id)), "{url}");
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.contains("sim-klarna-authorize") && page.contains("/_sim/customer-page.js"));
    let script = reqwest::get(format!("{}/_sim/customer-page.js", sim.base_url)).await.unwrap();
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("application/javascript"));
    assert!(script.text().await.unwrap().contains("function simDecide"));

    let decided = decide(&sim, &intent, "success").await;
    assert_eq!(decided["status"], "succeeded");
    let paid = RetrievePaymentIntent::new(intent.id.clone()).expand(vec!["latest_charge".to_owned()]).send(&client).await.unwrap();
    assert_eq!((paid.status, paid.amount_received), (PaymentIntentStatus::Succeeded, 2500));
    let charge = paid.latest_charge.unwrap().into_object().unwrap();
    let details = charge.payment_method_details.unwrap();
    assert_eq!(details.type_, "klarna");
    let payer_country = details.klarna.unwrap().payer_details.unwrap().address.unwrap().country;
    assert_eq!(payer_country.as_deref(), Some("DE"));
    // Deciding twice is refused: the intent has moved on.
    assert!(decide(&sim, &intent, "success").await["error"].is_object());

    let succeeded: Vec<_> = sim.events().await.into_iter().filter(|e| e["type"] == "payment_intent.succeeded").collect();
    assert_eq!(succeeded.len(), 1);
    let EventObject::PaymentIntentSucceeded(pi) = typed_event(&succeeded[0]).data.object else { panic!("not a PaymentIntent") };
    assert_eq!(pi.metadata.get("order_id").map(String::as_str), Some("k1"));

    let refund = CreateRefund::new().payment_intent(intent.id.as_str()).send(&client).await.unwrap();
    assert_eq!(refund.amount, 2500);
    assert_eq!(refund.destination_details.unwrap().type_, "klarna");
}

#[tokio::test]
async fn klarna_declined() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let intent = klarna_pi(1500, Currency::GBP)
        .payment_method_data(klarna_data(Some("GB")))
        .confirm(true)
        .return_url(RETURN)
        .send(&client)
        .await
        .unwrap();
    let decided = decide(&sim, &intent, "fail").await;
    assert_eq!(decided["status"], "requires_payment_method");
    let failed = RetrievePaymentIntent::new(intent.id.clone()).send(&client).await.unwrap();
    assert_eq!(failed.status, PaymentIntentStatus::RequiresPaymentMethod);
    let error = failed.last_payment_error.unwrap();
    assert_eq!(error.code, Some(ApiErrorsCode::PaymentIntentAuthenticationFailure));
    assert!(error.message.unwrap().contains("did not approve the Klarna payment"));
    let failures: Vec<_> = sim.events().await.into_iter().filter(|e| e["type"] == "payment_intent.payment_failed").collect();
    assert_eq!(failures.len(), 1);
    typed_event(&failures[0]);
}
