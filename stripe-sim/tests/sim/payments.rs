//! Customers, payment methods, the PaymentIntent state machine with each test
//! card, cancel, refunds and events — all through async-stripe.

use std::collections::HashMap;

use stripe_core::customer::{RetrieveCustomer, RetrieveCustomerReturned};
use stripe_core::event::{ListEvent, RetrieveEvent};
use stripe_core::payment_intent::{
    CancelPaymentIntent, ConfirmPaymentIntent, CreatePaymentIntent, CreatePaymentIntentOffSession, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, RetrieveRefund};
use stripe_payment::payment_method::{ListPaymentMethod, ListPaymentMethodType, RetrievePaymentMethod};
use stripe_shared::{
    ApiErrorsCode, ApiErrorsType, ChargeStatus, PaymentIntent, PaymentIntentCancellationReason, PaymentIntentSetupFutureUsage,
    PaymentIntentStatus,
};
use stripe_types::Currency;
use stripe_webhook::EventObject;

use crate::*;

fn pi(amount: i64) -> CreatePaymentIntent {
    CreatePaymentIntent::new(amount, Currency::USD)
        .description("Clink order #7")
        .metadata(HashMap::from([("order_id".to_owned(), "7".to_owned())]))
}

#[tokio::test]
async fn customer_and_payment_methods() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let cus = customer(&client).await;
    assert!(cus.id.as_str().starts_with("cus_"));
    assert_eq!(cus.email.as_deref(), Some("ada@example.com"));
    assert_eq!(cus.metadata.as_ref().unwrap()["clink_user"], "42");

    let RetrieveCustomerReturned::Customer(again) = RetrieveCustomer::new(cus.id.clone()).send(&client).await.unwrap() else {
        panic!("deleted customer")
    };
    assert_eq!(again.id, cus.id);

    let pm = card(&client, "4242424242424242").await;
    assert!(pm.id.as_str().starts_with("pm_"));
    let c = pm.card.as_ref().unwrap();
    assert_eq!((c.brand.as_str(), c.last4.as_str(), c.exp_month, c.exp_year), ("visa", "4242", 12, 2034));
    assert_eq!(c.funding, "credit");
    assert!(pm.customer.is_none());

    let attached = AttachPaymentMethod::new(pm.id.clone()).customer(cus.id.as_str()).send(&client).await.unwrap();
    assert_eq!(attached.customer.unwrap().id(), &cus.id);

    let list = ListPaymentMethod::new().customer(cus.id.as_str()).type_(ListPaymentMethodType::Card).send(&client).await.unwrap();
    assert_eq!(list.data.len(), 1);
    assert_eq!(list.data[0].id, pm.id);
    let fetched = RetrievePaymentMethod::new(pm.id.clone()).send(&client).await.unwrap();
    assert_eq!(fetched.id, pm.id);

    assert_eq!(event_types(&sim).await, ["customer.created", "payment_method.attached"]);
}

#[tokio::test]
async fn successful_payment_saves_card_for_later() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let cus = customer(&client).await;
    let pm = card(&client, "4242424242424242").await;
    let intent = pi(2599)
        .customer(cus.id.as_str())
        .payment_method(pm.id.as_str())
        .setup_future_usage(PaymentIntentSetupFutureUsage::OffSession)
        .receipt_email("ada@example.com")
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::Succeeded);
    assert_eq!(intent.amount_received, 2599);
    assert!(intent.client_secret.as_ref().unwrap().starts_with(&format!("{}_secret_", intent.id)));
    assert_eq!(intent.payment_method_types, ["card"]);

    // expand[]=latest_charge returns the full Charge.
    let expanded = RetrievePaymentIntent::new(intent.id.clone()).expand(vec!["latest_charge".to_owned()]).send(&client).await.unwrap();
    let charge = expanded.latest_charge.unwrap().into_object().expect("expanded charge");
    assert_eq!(charge.status, ChargeStatus::Succeeded);
    assert!(charge.paid && charge.captured);
    assert_eq!(charge.amount_captured, 2599);
    assert_eq!(charge.payment_method_details.unwrap().card.unwrap().last4.as_deref(), Some("4242"));

    // setup_future_usage + customer attached the card.
    let pm = RetrievePaymentMethod::new(pm.id.clone()).send(&client).await.unwrap();
    assert_eq!(pm.customer.unwrap().id(), &cus.id);

    // Off-session reuse works.
    let again = pi(1000)
        .customer(cus.id.as_str())
        .payment_method(pm.id.as_str())
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(again.status, PaymentIntentStatus::Succeeded);

    let types = event_types(&sim).await;
    assert_eq!(
        types[..5],
        ["customer.created", "payment_intent.created", "payment_method.attached", "charge.succeeded", "payment_intent.succeeded"]
    );
}

#[tokio::test]
async fn two_step_confirm_and_double_confirm() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let created = pi(5000)
        .allowed_payment_method_types(vec![stripe_shared::PaymentIntentAllowedPaymentMethodTypes::Card])
        .send(&client)
        .await
        .unwrap();
    assert_eq!(created.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert!(created.automatic_payment_methods.is_none());
    let pm = card(&client, "5555555555554444").await;
    let confirmed = ConfirmPaymentIntent::new(created.id.clone()).payment_method(pm.id.as_str()).send(&client).await.unwrap();
    assert_eq!(confirmed.status, PaymentIntentStatus::Succeeded);

    let (err, status) = api_error(ConfirmPaymentIntent::new(created.id.clone()).send(&client).await);
    assert_eq!(status, 400);
    assert_eq!(err.code, Some(ApiErrorsCode::PaymentIntentUnexpectedState));

    // The card was used without a customer: Stripe refuses to reuse it.
    let (err, status) = api_error(pi(700).payment_method(pm.id.as_str()).confirm(true).send(&client).await);
    assert_eq!((status, err.param.as_deref()), (400, Some("payment_method")));
}

async fn declined(client: &stripe::Client, number: &str) -> (Box<stripe_shared::ApiErrors>, PaymentIntent) {
    let pm = card(client, number).await;
    let (err, status) = api_error(pi(2000).payment_method(pm.id.as_str()).confirm(true).send(client).await);
    assert_eq!(status, 402);
    assert_eq!(err.type_, ApiErrorsType::CardError);
    let intent = err.payment_intent.clone().expect("error.payment_intent");
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(err.payment_method.as_ref().unwrap().id, pm.id);
    assert!(err.charge.as_ref().unwrap().starts_with("ch_"));
    (err, intent)
}

#[tokio::test]
async fn declines() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);

    let (err, intent) = declined(&client, "4000000000000002").await;
    assert_eq!(err.code, Some(ApiErrorsCode::CardDeclined));
    assert_eq!(err.decline_code.as_deref(), Some("generic_decline"));
    assert_eq!(err.message.as_deref(), Some("Your card was declined."));
    let fetched = RetrievePaymentIntent::new(intent.id.clone()).send(&client).await.unwrap();
    let last = fetched.last_payment_error.expect("last_payment_error");
    assert_eq!(last.code, Some(ApiErrorsCode::CardDeclined));
    assert!(fetched.payment_method.is_none());

    let (err, _) = declined(&client, "4000000000009995").await;
    assert_eq!(err.code, Some(ApiErrorsCode::CardDeclined));
    assert_eq!(err.decline_code.as_deref(), Some("insufficient_funds"));

    // Retry the same intent with a good card.
    let good = card(&client, "4242424242424242").await;
    let ok = ConfirmPaymentIntent::new(intent.id.clone()).payment_method(good.id.as_str()).send(&client).await.unwrap();
    assert_eq!(ok.status, PaymentIntentStatus::Succeeded);
    assert!(ok.last_payment_error.is_none());

    let types = event_types(&sim).await;
    assert!(types.contains(&"payment_intent.payment_failed".to_owned()));
    assert!(types.contains(&"charge.failed".to_owned()));
}

#[tokio::test]
async fn three_d_secure_then_off_session() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let cus = customer(&client).await;
    let pm = card(&client, "4000002500003155").await;
    let intent = pi(4200)
        .customer(cus.id.as_str())
        .payment_method(pm.id.as_str())
        .setup_future_usage(PaymentIntentSetupFutureUsage::OffSession)
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::RequiresAction);
    assert_eq!(intent.next_action.as_ref().unwrap().type_, "use_stripe_sdk");

    sim.complete_3ds(intent.id.as_str(), true).await;
    let done = RetrievePaymentIntent::new(intent.id.clone()).expand(vec!["latest_charge".to_owned()]).send(&client).await.unwrap();
    assert_eq!(done.status, PaymentIntentStatus::Succeeded);
    let charge = done.latest_charge.unwrap().into_object().unwrap();
    let three_ds = charge.payment_method_details.unwrap().card.unwrap().three_d_secure.expect("3ds details");
    assert!(three_ds.result.is_some());

    // Set up for future usage, so off-session charges need no authentication.
    let later = pi(1500)
        .customer(cus.id.as_str())
        .payment_method(pm.id.as_str())
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(later.status, PaymentIntentStatus::Succeeded);

    // With a return_url the next action is a redirect.
    let other = card(&client, "4000002500003155").await;
    let redirect = pi(900)
        .payment_method(other.id.as_str())
        .confirm(true)
        .return_url("http://127.0.0.1:3000/checkout/return")
        .send(&client)
        .await
        .unwrap();
    let action = redirect.next_action.unwrap();
    assert_eq!(action.type_, "redirect_to_url");
    let url = action.redirect_to_url.unwrap().url.unwrap();
    assert!(url.starts_with(&format!("{}/_sim/3ds/{}/challenge", sim.base_url, redirect.id)));

    assert!(event_types(&sim).await.contains(&"payment_intent.requires_action".to_owned()));
}

#[tokio::test]
async fn three_d_secure_failure() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let pm = card(&client, "4000002760003184").await;
    let intent = pi(2000).payment_method(pm.id.as_str()).confirm(true).send(&client).await.unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::RequiresAction);
    sim.complete_3ds(intent.id.as_str(), false).await;
    let failed = RetrievePaymentIntent::new(intent.id.clone()).send(&client).await.unwrap();
    assert_eq!(failed.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(failed.last_payment_error.unwrap().code, Some(ApiErrorsCode::PaymentIntentAuthenticationFailure));
}

#[tokio::test]
async fn off_session_authentication_required() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let cus = customer(&client).await;
    for number in ["4000002760003184", "4000002500003155" /* never set up */] {
        let pm = attached_card(&client, number, &cus).await;
        let (err, status) = api_error(
            pi(3000)
                .customer(cus.id.as_str())
                .payment_method(pm.id.as_str())
                .off_session(CreatePaymentIntentOffSession::Bool(true))
                .confirm(true)
                .send(&client)
                .await,
        );
        assert_eq!(status, 402, "{number}");
        assert_eq!(err.type_, ApiErrorsType::CardError);
        assert_eq!(err.code, Some(ApiErrorsCode::AuthenticationRequired));
        assert_eq!(err.decline_code.as_deref(), Some("authentication_required"));
        let intent = err.payment_intent.expect("payment_intent in error");
        assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
        assert_eq!(err.payment_method.expect("payment_method in error").id, pm.id);
    }
}

#[tokio::test]
async fn cancel() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let intent = pi(1200).send(&client).await.unwrap();
    let canceled = CancelPaymentIntent::new(intent.id.clone())
        .cancellation_reason(stripe_core::payment_intent::CancelPaymentIntentCancellationReason::RequestedByCustomer)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(canceled.status, PaymentIntentStatus::Canceled);
    assert!(canceled.canceled_at.is_some());
    assert_eq!(canceled.cancellation_reason, Some(PaymentIntentCancellationReason::RequestedByCustomer));
    let (err, status) = api_error(CancelPaymentIntent::new(intent.id.clone()).send(&client).await);
    assert_eq!((status, err.code), (400, Some(ApiErrorsCode::PaymentIntentUnexpectedState)));
    assert_eq!(event_types(&sim).await, ["payment_intent.created", "payment_intent.canceled"]);
}

#[tokio::test]
async fn refunds() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    let pm = card(&client, "4242424242424242").await;
    let paid = pi(3000).payment_method(pm.id.as_str()).confirm(true).send(&client).await.unwrap();

    let partial = CreateRefund::new()
        .payment_intent(paid.id.as_str())
        .amount(1000)
        .metadata(HashMap::from([("reason".to_owned(), "damaged".to_owned())]))
        .send(&client)
        .await
        .unwrap();
    assert!(partial.id.as_str().starts_with("re_"));
    assert_eq!(partial.amount, 1000);
    assert_eq!(partial.status.as_deref(), Some("succeeded"));
    assert_eq!(partial.payment_intent.as_ref().unwrap().id(), &paid.id);
    let fetched = RetrieveRefund::new(partial.id.clone()).send(&client).await.unwrap();
    assert_eq!(fetched.id, partial.id);

    let (err, status) = api_error(CreateRefund::new().payment_intent(paid.id.as_str()).amount(5000).send(&client).await);
    assert_eq!((status, err.param.as_deref()), (400, Some("amount")));

    let rest = CreateRefund::new().payment_intent(paid.id.as_str()).send(&client).await.unwrap();
    assert_eq!(rest.amount, 2000);
    let (err, _) = api_error(CreateRefund::new().payment_intent(paid.id.as_str()).send(&client).await);
    assert_eq!(err.code, Some(ApiErrorsCode::ChargeAlreadyRefunded));

    let refunded = sim.events().await.into_iter().filter(|e| e["type"] == "charge.refunded").collect::<Vec<_>>();
    assert_eq!(refunded.len(), 2);
    let last = typed_event(refunded.last().unwrap());
    let EventObject::ChargeRefunded(charge) = last.data.object else { panic!("not a charge") };
    assert!(charge.refunded);
    assert_eq!(charge.amount_refunded, 3000);
    assert!(last.data.previous_attributes.is_some());
}

#[tokio::test]
async fn events_list_retrieve_and_parse() {
    let _warnings = watch_warnings();
    let sim = sim().await;
    let client = client(&sim);
    // One of everything.
    let cus = customer(&client).await;
    let ok = card(&client, "4242424242424242").await;
    let paid = pi(2000)
        .customer(cus.id.as_str())
        .payment_method(ok.id.as_str())
        .setup_future_usage(PaymentIntentSetupFutureUsage::OnSession)
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    CreateRefund::new().payment_intent(paid.id.as_str()).send(&client).await.unwrap();
    let bad = card(&client, "4000000000000002").await;
    let _ = pi(2000).payment_method(bad.id.as_str()).confirm(true).send(&client).await;
    let tds = card(&client, "4000002760003184").await;
    let _ = pi(2000).payment_method(tds.id.as_str()).confirm(true).send(&client).await.unwrap();
    let to_cancel = pi(2000).send(&client).await.unwrap();
    CancelPaymentIntent::new(to_cancel.id.clone()).send(&client).await.unwrap();

    let all = sim.events().await;
    let types: std::collections::BTreeSet<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for t in [
        "customer.created",
        "payment_method.attached",
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "payment_intent.canceled",
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "refund.created",
    ] {
        assert!(types.contains(t), "missing {t}");
    }
    // Every event and its data.object parse into async-stripe's typed event.
    for e in &all {
        typed_event(e);
        assert_eq!(e["api_version"], stripe_sim::API_VERSION);
    }

    // GET /v1/events: newest first, limit, has_more; GET /v1/events/{id}.
    let page = ListEvent::new().limit(3).send(&client).await.unwrap();
    assert_eq!(page.data.len(), 3);
    assert!(page.has_more);
    assert_eq!(page.data[0].id.as_str(), all.last().unwrap()["id"].as_str().unwrap());
    let first = RetrieveEvent::new(all[0]["id"].as_str().unwrap()).send(&client).await.unwrap();
    assert_eq!(first.type_.as_str(), "customer.created");
    assert_eq!(first.request.unwrap().id.unwrap().get(..4), Some("req_"));
    let filtered = ListEvent::new().type_("payment_intent.*").limit(100).send(&client).await.unwrap();
    assert!(filtered.data.iter().all(|e| e.type_.as_str().starts_with("payment_intent.")));
}
