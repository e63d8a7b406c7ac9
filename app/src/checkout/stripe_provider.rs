//! Stripe through async-stripe: PaymentIntents confirmed by Stripe Elements on the link page,
//! saved cards charged off-session for one-click purchases (with a 3-D Secure fallback),
//! Klarna through a redirect to its page and back, refunds, and signed webhooks.

use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::{
    customer::CreateCustomer,
    payment_intent::{
        CreatePaymentIntent, CreatePaymentIntentOffSession, CreatePaymentIntentPaymentMethodData,
        CreatePaymentIntentPaymentMethodDataBillingDetails, CreatePaymentIntentPaymentMethodDataBillingDetailsAddress,
        CreatePaymentIntentPaymentMethodDataKlarna, CreatePaymentIntentPaymentMethodDataType, ListPaymentIntent, RetrievePaymentIntent,
    },
    refund::{CreateRefund, ListRefund},
};
use stripe_shared::{
    ApiErrorsCode, PaymentIntent, PaymentIntentAllowedPaymentMethodTypes, PaymentIntentSetupFutureUsage, PaymentIntentStatus,
};
use stripe_types::Currency as StripeCurrency;

use super::{
    domain::{PayMethod, SavedCard},
    provider::{Charge, KlarnaPayment, PaymentCheck, PaymentRequest, ProviderError, StartedPayment},
};
use crate::{
    money::{Currency, Money},
    orders::Provider,
};

#[derive(Clone)]
pub struct StripeProvider {
    client: Client,
    publishable_key: String,
    js_url: String,
    webhook_secret: SecretString,
    /// Live keys: only live events count (and test keys take only test events).
    live: bool,
    /// Klarna is offered (the operator activated it in the Stripe Dashboard).
    klarna: bool,
    /// The simulator's origin when pointed at one (its Klarna page is plain http).
    api_base: Option<String>,
}

/// What a buyer reads when Klarna declined, or its payment can't go on.
const KLARNA_DECLINED: &str = "Klarna didn't approve this payment. You can pay by card instead, or try Klarna again.";

/// Whether `intent` is a Klarna payment: Clink creates those for Klarna alone
/// (`start_klarna`), and every other intent for cards.
fn is_klarna(intent: &PaymentIntent) -> bool {
    !intent.payment_method_types.is_empty() && intent.payment_method_types.iter().all(|t| t == "klarna")
}

/// Stripe settings from the config.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    pub secret_key: SecretString,
    pub publishable_key: String,
    pub webhook_secret: SecretString,
    /// `https://api.stripe.com` unless pointed at a simulator.
    pub api_base: Option<String>,
    pub js_url: String,
    /// Offer Klarna on the works it is eligible for.
    pub klarna: bool,
}

fn idempotent(key: String) -> RequestStrategy {
    // Keys are ours (`pi:<order id>`), always valid; fall back to a single attempt otherwise.
    IdempotencyKey::new(key).map(RequestStrategy::Idempotent).unwrap_or(RequestStrategy::Once)
}

fn currency(c: Currency) -> StripeCurrency {
    match c {
        Currency::Eur => StripeCurrency::EUR,
        Currency::Usd => StripeCurrency::USD,
        Currency::Gbp => StripeCurrency::GBP,
    }
}

fn our_currency(c: &StripeCurrency) -> Option<Currency> {
    match c {
        StripeCurrency::EUR => Some(Currency::Eur),
        StripeCurrency::USD => Some(Currency::Usd),
        StripeCurrency::GBP => Some(Currency::Gbp),
        _ => None,
    }
}

fn reported(minor: i64, c: &StripeCurrency) -> super::provider::ReportedAmount {
    super::provider::ReportedAmount { minor, currency: c.to_string().to_ascii_uppercase() }
}

fn unavailable(e: StripeError) -> ProviderError {
    ProviderError::Unavailable(e.to_string())
}

impl StripeProvider {
    pub fn new(settings: &StripeSettings) -> Result<Self, ProviderError> {
        let secret_key = settings.secret_key.expose_secret();
        let mut builder = ClientBuilder::new(secret_key);
        if let Some(base) = &settings.api_base {
            builder = builder.url(base.trim_end_matches('/'));
        }
        let client = builder.build().map_err(unavailable)?;
        Ok(StripeProvider {
            client,
            publishable_key: settings.publishable_key.clone(),
            js_url: settings.js_url.clone(),
            webhook_secret: settings.webhook_secret.clone(),
            live: secret_key.starts_with("sk_live_") || secret_key.starts_with("rk_live_"),
            klarna: settings.klarna,
            api_base: settings.api_base.as_ref().map(|b| b.trim_end_matches('/').to_string()),
        })
    }

    pub fn klarna_enabled(&self) -> bool {
        self.klarna
    }

    pub fn webhook_secret(&self) -> &str {
        self.webhook_secret.expose_secret()
    }

    fn pay_method(&self, intent: &PaymentIntent, saved_pm: Option<String>) -> PayMethod {
        PayMethod::Stripe {
            client_secret: intent.client_secret.clone().unwrap_or_default(),
            publishable_key: self.publishable_key.clone(),
            js_url: self.js_url.clone(),
            payment_method: saved_pm,
        }
    }

    /// The page Stripe sends a Klarna buyer to, if it is one a browser may be sent to: https, or
    /// the simulator's own origin.
    fn provider_page(&self, intent: &PaymentIntent) -> Option<String> {
        let url = intent.next_action.as_ref()?.redirect_to_url.as_ref()?.url.as_deref()?;
        let parsed = url::Url::parse(url).ok()?;
        let simulator = self.api_base.as_deref().is_some_and(|base| url.starts_with(&format!("{base}/")));
        (parsed.scheme() == "https" || simulator).then(|| parsed.to_string())
    }

    /// Where a Klarna payment stands: approved, waiting for the buyer on Klarna's page, or over.
    fn klarna_charge_of(&self, intent: &PaymentIntent) -> Charge {
        match (&intent.status, self.provider_page(intent)) {
            (PaymentIntentStatus::Succeeded, _) => Charge::Succeeded,
            (PaymentIntentStatus::RequiresAction, Some(page)) => Charge::Redirect(page),
            _ => Charge::Declined(KLARNA_DECLINED.into()),
        }
    }

    fn charge_of(&self, intent: &PaymentIntent, saved_pm: Option<String>) -> Charge {
        if is_klarna(intent) {
            return self.klarna_charge_of(intent);
        }
        // An off-session charge the bank refused without the buyer leaves the intent waiting
        // for a payment method, with the saved card in its last error: the buyer authenticates
        // that same card (3-D Secure fallback) rather than typing a new one.
        let needs_authentication = intent
            .last_payment_error
            .as_ref()
            .filter(|e| e.code == Some(ApiErrorsCode::AuthenticationRequired))
            .and_then(|e| e.payment_method.as_ref())
            .map(|pm| pm.id.to_string());
        let current_pm = intent.payment_method.as_ref().map(|pm| pm.id().to_string());
        match intent.status {
            PaymentIntentStatus::Succeeded => Charge::Succeeded,
            PaymentIntentStatus::RequiresAction | PaymentIntentStatus::Processing => {
                Charge::NeedsAuth(self.pay_method(intent, saved_pm.or(current_pm)))
            }
            _ if needs_authentication.is_some() => Charge::NeedsAuth(self.pay_method(intent, needs_authentication)),
            _ => Charge::NeedsCard(self.pay_method(intent, None)),
        }
    }

    pub(super) async fn start(&self, req: &PaymentRequest<'_>) -> Result<StartedPayment, ProviderError> {
        if let Some(klarna) = &req.klarna {
            return self.start_klarna(req, klarna).await;
        }
        let customer = match req.saved {
            Some(saved) => saved.customer_id.clone(),
            None => CreateCustomer::new()
                .email(req.email)
                .metadata(HashMap::from([("clink_order".to_string(), req.order_id.to_string())]))
                .customize()
                .request_strategy(idempotent(format!("cus:{}", req.order_id)))
                .send(&self.client)
                .await
                .map_err(unavailable)?
                .id
                .to_string(),
        };
        let mut create = CreatePaymentIntent::new(req.amount.minor, currency(req.amount.currency))
            .customer(customer)
            .description(req.description)
            .metadata(HashMap::from([("order_id".to_string(), req.order_id.to_string())]))
            .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Card]);
        if req.save_card {
            create = create.setup_future_usage(PaymentIntentSetupFutureUsage::OffSession);
        }
        if let Some(saved) = req.saved {
            create = create
                .payment_method(saved.payment_method_id.as_str())
                .off_session(CreatePaymentIntentOffSession::Bool(true))
                .confirm(true);
        }
        let saved_pm = req.saved.map(|s| s.payment_method_id.clone());
        // The idempotency key is the order: a double-clicked Buy creates one PaymentIntent.
        match create.customize().request_strategy(idempotent(format!("pi:{}", req.order_id))).send(&self.client).await {
            Ok(intent) => Ok(StartedPayment { payment_id: intent.id.to_string(), charge: self.charge_of(&intent, saved_pm) }),
            Err(StripeError::Stripe(err, 402)) => {
                let intent = err.payment_intent.as_ref();
                let payment_id = intent.map(|i| i.id.to_string()).unwrap_or_default();
                let charge = match (&err.code, intent) {
                    // The bank wants the buyer present: fall back to 3-D Secure on the page.
                    (Some(ApiErrorsCode::AuthenticationRequired), Some(intent)) => Charge::NeedsAuth(self.pay_method(intent, saved_pm)),
                    _ => Charge::Declined(err.message.clone().unwrap_or_else(|| "Your card was declined.".into())),
                };
                Ok(StartedPayment { payment_id, charge })
            }
            Err(StripeError::Stripe(err, status)) => {
                Err(ProviderError::Rejected(format!("{status}: {}", err.message.clone().unwrap_or_default())))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// A Klarna payment: a PaymentIntent for Klarna alone, confirmed at once with the buyer's
    /// email and country, so Stripe answers with the Klarna page to send the buyer to.
    async fn start_klarna(&self, req: &PaymentRequest<'_>, klarna: &KlarnaPayment) -> Result<StartedPayment, ProviderError> {
        let mut address = CreatePaymentIntentPaymentMethodDataBillingDetailsAddress::new();
        address.country = Some(klarna.country.to_string());
        let mut billing = CreatePaymentIntentPaymentMethodDataBillingDetails::new();
        billing.email = Some(req.email.to_string());
        billing.address = Some(address);
        let mut data = CreatePaymentIntentPaymentMethodData::new(CreatePaymentIntentPaymentMethodDataType::Klarna);
        data.billing_details = Some(billing);
        data.klarna = Some(CreatePaymentIntentPaymentMethodDataKlarna::new());
        let create = CreatePaymentIntent::new(req.amount.minor, currency(req.amount.currency))
            .description(req.description)
            .receipt_email(req.email)
            .metadata(HashMap::from([("order_id".to_string(), req.order_id.to_string())]))
            .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Klarna])
            .payment_method_data(data)
            .return_url(klarna.return_url.as_str())
            .confirm(true);
        // Keyed by the order like a card payment: a double click sends the buyer to one Klarna page.
        match create.customize().request_strategy(idempotent(format!("pi:{}", req.order_id))).send(&self.client).await {
            Ok(intent) => Ok(StartedPayment { payment_id: intent.id.to_string(), charge: self.charge_of(&intent, None) }),
            Err(StripeError::Stripe(err, status)) => {
                Err(ProviderError::Rejected(format!("{status}: {}", err.message.clone().unwrap_or_default())))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn retrieve(&self, payment_id: &str) -> Result<PaymentIntent, ProviderError> {
        RetrievePaymentIntent::new(payment_id).expand(vec!["payment_method".to_string()]).send(&self.client).await.map_err(unavailable)
    }

    pub(super) async fn resume(&self, payment_id: &str) -> Result<Charge, ProviderError> {
        let intent = self.retrieve(payment_id).await?;
        Ok(self.charge_of(&intent, None))
    }

    pub(super) async fn check(&self, payment_id: &str) -> Result<PaymentCheck, ProviderError> {
        let intent = self.retrieve(payment_id).await?;
        let succeeded = intent.status == PaymentIntentStatus::Succeeded;
        let received = our_currency(&intent.currency).map(|c| Money::new(intent.amount_received, c));
        let saved_card = match (&intent.customer, intent.payment_method.as_ref().and_then(|pm| pm.as_object()), &intent.setup_future_usage)
        {
            (Some(customer), Some(pm), Some(_)) if succeeded => pm.card.as_ref().map(|card| SavedCard {
                provider: Provider::Stripe,
                email: intent.receipt_email.clone().unwrap_or_default(),
                customer_id: customer.id().to_string(),
                payment_method_id: pm.id.to_string(),
                brand: card.brand.clone(),
                last4: card.last4.clone(),
            }),
            _ => None,
        };
        // Back from a redirect that didn't go through: the buyer hears it in words, not Stripe's.
        let failure = (intent.status == PaymentIntentStatus::RequiresPaymentMethod && intent.last_payment_error.is_some()).then(|| {
            if is_klarna(&intent) {
                KLARNA_DECLINED.to_string()
            } else {
                "Your payment didn't go through. Try again, or use another card.".to_string()
            }
        });
        let provider_page = match self.charge_of(&intent, None) {
            Charge::Redirect(page) => Some(page),
            _ => None,
        };
        Ok(PaymentCheck { succeeded, saved_card, received, failure, provider_page })
    }

    /// Every PaymentIntent created since `since_ms`, and which of them were refunded.
    pub(super) async fn list_since(&self, since_ms: i64) -> Result<Vec<super::provider::ProviderPayment>, ProviderError> {
        let since = stripe_types::RangeQueryTs::gte(since_ms / 1000);
        let mut intents = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut page = ListPaymentIntent::new().created(since).limit(100);
            if let Some(id) = &after {
                page = page.starting_after(id.as_str());
            }
            let list = page.send(&self.client).await.map_err(unavailable)?;
            after = list.data.last().map(|pi| pi.id.to_string());
            let more = list.has_more && after.is_some();
            intents.extend(list.data);
            if !more {
                break;
            }
        }
        let mut refunded = std::collections::HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let mut page = ListRefund::new().created(since).limit(100);
            if let Some(id) = &after {
                page = page.starting_after(id.as_str());
            }
            let list = page.send(&self.client).await.map_err(unavailable)?;
            after = list.data.last().map(|r| r.id.to_string());
            let more = list.has_more && after.is_some();
            for refund in &list.data {
                // Failed and canceled refunds moved no money back.
                let moved = refund.status.as_deref().is_none_or(|s| matches!(s, "succeeded" | "pending" | "requires_action"));
                if let (Some(pi), true) = (&refund.payment_intent, moved) {
                    refunded.insert(pi.id().to_string());
                }
            }
            if !more {
                break;
            }
        }
        Ok(intents
            .into_iter()
            .filter(|pi| pi.created >= since_ms / 1000)
            .map(|pi| super::provider::ProviderPayment {
                refunded: refunded.contains(pi.id.as_str()),
                succeeded: pi.status == PaymentIntentStatus::Succeeded,
                reference: pi.metadata.get("order_id").cloned(),
                amount_minor: pi.amount_received,
                currency: pi.currency.to_string().to_ascii_uppercase(),
                payment_id: pi.id.to_string(),
            })
            .collect())
    }

    pub(super) async fn refund(&self, payment_id: &str, amount: Money, order_id: &str) -> Result<(), ProviderError> {
        CreateRefund::new()
            .payment_intent(payment_id)
            .amount(amount.minor)
            .metadata(HashMap::from([("order_id".to_string(), order_id.to_string())]))
            .customize()
            .request_strategy(idempotent(format!("refund:{order_id}")))
            .send(&self.client)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                StripeError::Stripe(err, status) => {
                    ProviderError::Rejected(format!("{status}: {}", err.message.clone().unwrap_or_default()))
                }
                other => unavailable(other),
            })
    }
}

impl StripeProvider {
    /// Verifies a webhook on its raw body (signature and 300 s tolerance) and keeps the events
    /// Clink acts on. `Ok(None)` is a genuine event of a type we don't need.
    pub fn parse_webhook(&self, payload: &str, signature: &str) -> Result<Option<super::provider::ProviderEvent>, String> {
        use super::provider::{EventKind, ProviderEvent};
        use stripe_webhook::{EventObject, Webhook};

        let event = Webhook::construct_event(payload, signature, self.webhook_secret.expose_secret()).map_err(|e| e.to_string())?;
        // A signature proves the event came through our endpoint's secret, not that it is about
        // this account in this mode: a live event on test keys, or another account's (Connect),
        // changes nothing here.
        if event.livemode != self.live {
            return Err(format!(
                "refused event {}: livemode {} on {} keys",
                event.id,
                event.livemode,
                if self.live { "live" } else { "test" }
            ));
        }
        if let Some(account) = &event.account {
            return Err(format!("refused event {}: it is about account {account}, not this one", event.id));
        }
        let event_id = event.id.to_string();
        let make = |payment_id: String, order_id: Option<String>, kind, amount| ProviderEvent {
            provider: Provider::Stripe,
            event_id: event_id.clone(),
            payment_id,
            order_id,
            kind,
            amount: Some(amount),
        };
        Ok(match event.data.object {
            EventObject::PaymentIntentSucceeded(pi) => Some(make(
                pi.id.to_string(),
                pi.metadata.get("order_id").cloned(),
                EventKind::Succeeded,
                reported(pi.amount_received, &pi.currency),
            )),
            EventObject::PaymentIntentPaymentFailed(pi) => {
                let reason = pi.last_payment_error.as_ref().and_then(|e| e.message.clone()).unwrap_or_else(|| "declined".into());
                Some(make(
                    pi.id.to_string(),
                    pi.metadata.get("order_id").cloned(),
                    EventKind::Failed(reason),
                    reported(pi.amount, &pi.currency),
                ))
            }
            // Refunds in full only (Clink refunds whole orders): the charge's amount is what was
            // paid, and what a refund before the payment's own event proves was received.
            EventObject::ChargeRefunded(charge) if charge.refunded => charge
                .payment_intent
                .map(|pi| make(pi.id().to_string(), None, EventKind::Refunded, reported(charge.amount, &charge.currency))),
            _ => None,
        })
    }
}
