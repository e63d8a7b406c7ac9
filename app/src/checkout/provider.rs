//! Payment providers behind one interface: the built-in test provider (the zero-config
//! default, with a local card page) and Stripe. Both feed the same order, confirmation and
//! fulfilment code.

use super::{
    domain::{PayMethod, SavedCard},
    store::{self, TestPaymentRow, TestPaymentStatus},
    stripe_provider::StripeProvider,
};
use crate::{
    db::{self, Db},
    money::Money,
    orders::Provider,
};

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    #[error("payment provider refused the request: {0}")]
    Rejected(String),
}

impl From<sqlx::Error> for ProviderError {
    fn from(e: sqlx::Error) -> Self {
        ProviderError::Unavailable(e.to_string())
    }
}

/// What to charge, for which order.
pub struct PaymentRequest<'a> {
    pub order_id: &'a str,
    pub amount: Money,
    pub email: &'a str,
    pub description: &'a str,
    /// Keep the card for one-click purchases later.
    pub save_card: bool,
    /// Charge this remembered card now, without the buyer (one click).
    pub saved: Option<&'a SavedCard>,
    /// Pay with Klarna instead of a card (Stripe only).
    pub klarna: Option<KlarnaPayment>,
}

/// A Klarna payment: the payer's country, and the absolute URL Klarna sends the buyer back to.
#[derive(Debug, Clone)]
pub struct KlarnaPayment {
    pub country: &'static str,
    pub return_url: String,
}

/// Where a payment stands after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Charge {
    Succeeded,
    /// The buyer must enter a card.
    NeedsCard(PayMethod),
    /// The bank wants the buyer to authenticate (3-D Secure).
    NeedsAuth(PayMethod),
    /// The buyer approves the payment on the provider's page (Klarna) at this URL, and comes
    /// back to the request's return URL.
    Redirect(String),
    Declined(String),
}

#[derive(Debug, Clone)]
pub struct StartedPayment {
    pub payment_id: String,
    pub charge: Charge,
}

/// A provider's current view of a payment.
#[derive(Debug, Clone, Default)]
pub struct PaymentCheck {
    pub succeeded: bool,
    pub saved_card: Option<SavedCard>,
    /// What the provider says it received (none for a currency Clink doesn't sell in).
    pub received: Option<Money>,
    /// The attempt the buyer just made failed (e.g. Klarna declined): what to tell them.
    pub failure: Option<String>,
    /// The payment still waits for the buyer on the provider's page (Klarna's), which they
    /// left without deciding: the page, to go back to.
    pub provider_page: Option<String>,
}

/// A payment as the provider lists it (for reconciliation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    pub payment_id: String,
    /// The order or top-up the payment names (its metadata), if any.
    pub reference: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub succeeded: bool,
    /// Refunded (in full or in part).
    pub refunded: bool,
}

/// The configured provider.
#[derive(Clone)]
#[expect(clippy::large_enum_variant, reason = "one per process, made at start: boxing would only add a pointer hop")]
pub enum Payments {
    Test(TestProvider),
    Stripe(StripeProvider),
}

impl Payments {
    pub fn provider(&self) -> Provider {
        match self {
            Payments::Test(_) => Provider::Test,
            Payments::Stripe(_) => Provider::Stripe,
        }
    }

    /// Whether Klarna can be offered: only through Stripe, and only where the operator
    /// turned it on (it must be activated in the Stripe Dashboard first).
    pub fn offers_klarna(&self) -> bool {
        matches!(self, Payments::Stripe(p) if p.klarna_enabled())
    }

    pub async fn start(&self, db: &Db, req: &PaymentRequest<'_>) -> Result<StartedPayment, ProviderError> {
        match self {
            Payments::Test(_) if req.klarna.is_some() => Err(ProviderError::Rejected("Klarna is only offered through Stripe".into())),
            Payments::Test(p) => p.start(db, req).await,
            Payments::Stripe(p) => p.start(req).await,
        }
    }

    /// The pay step for an existing payment (a page reload, a retry after a decline).
    pub async fn resume(&self, db: &Db, payment_id: &str) -> Result<Charge, ProviderError> {
        match self {
            Payments::Test(p) => p.resume(db, payment_id).await,
            Payments::Stripe(p) => p.resume(payment_id).await,
        }
    }

    pub async fn check(&self, db: &Db, payment_id: &str) -> Result<PaymentCheck, ProviderError> {
        match self {
            Payments::Test(p) => p.check(db, payment_id).await,
            Payments::Stripe(p) => p.check(payment_id).await,
        }
    }

    /// Every payment made since `since_ms`, with whether it was refunded.
    pub async fn list_since(&self, db: &Db, since_ms: i64) -> Result<Vec<ProviderPayment>, ProviderError> {
        match self {
            Payments::Test(_) => Ok(store::test_payments_since(db, since_ms)
                .await?
                .into_iter()
                .map(|p| ProviderPayment {
                    succeeded: p.status.went_through(),
                    refunded: p.status == TestPaymentStatus::Refunded,
                    payment_id: p.payment_id,
                    reference: Some(p.order_id),
                    amount_minor: p.amount_minor,
                    currency: p.currency,
                })
                .collect()),
            Payments::Stripe(p) => p.list_since(since_ms).await,
        }
    }

    /// Refunds a payment in full. Idempotent per `order_id`.
    pub async fn refund(&self, db: &Db, payment_id: &str, amount: Money, order_id: &str) -> Result<(), ProviderError> {
        match self {
            Payments::Test(p) => p.refund(db, payment_id).await,
            Payments::Stripe(p) => p.refund(payment_id, amount, order_id).await,
        }
    }
}

/// The test provider: payments live in the app's database, the card page is served by the
/// app, and Stripe's test card numbers mean what they mean on Stripe.
#[derive(Clone, Default)]
pub struct TestProvider;

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCard {
    Succeeds,
    Declines,
    InsufficientFunds,
    NeedsAuthentication,
}

impl TestCard {
    pub fn of(number: &str) -> TestCard {
        match number {
            "4000000000000002" => TestCard::Declines,
            "4000000000009995" => TestCard::InsufficientFunds,
            "4000002760003184" | "4000002500003155" | "4000000000003220" => TestCard::NeedsAuthentication,
            _ => TestCard::Succeeds,
        }
    }
}

/// Checks a card's digits with Luhn's algorithm, as every card network does.
pub fn luhn_valid(number: &str) -> bool {
    if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

pub fn card_brand(number: &str) -> &'static str {
    match number.as_bytes().first() {
        Some(b'4') => "Visa",
        Some(b'5') | Some(b'2') => "Mastercard",
        Some(b'3') => "Amex",
        _ => "Card",
    }
}

/// The outcome of submitting the test card form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestPayResult {
    Succeeded,
    NeedsAuthentication,
    Declined(String),
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The payment isn't waiting for a card (already paid, or unknown).
    NotPayable,
}

impl TestProvider {
    async fn start(&self, db: &Db, req: &PaymentRequest<'_>) -> Result<StartedPayment, ProviderError> {
        let now = db::now_ms();
        let row = TestPaymentRow {
            payment_id: format!("tp_{}", db::new_id()),
            order_id: req.order_id.to_string(),
            amount_minor: req.amount.minor,
            currency: req.amount.currency.code().to_string(),
            email: req.email.to_string(),
            status: TestPaymentStatus::RequiresPaymentMethod,
            card_last4: None,
            card_number: None,
            save_card: req.save_card,
            created_at: now,
            updated_at: now,
        };
        let (payment, created) = store::upsert_test_payment(db, &row).await?;
        let method = PayMethod::TestCard { payment_id: payment.payment_id.clone() };
        // One click: charge the remembered card, once (a double click finds the payment made).
        if let (Some(saved), true) = (req.saved, created) {
            let charge = match self.charge_card(db, &payment.payment_id, &saved.payment_method_id, true).await? {
                TestPayResult::Succeeded => Charge::Succeeded,
                TestPayResult::NeedsAuthentication => Charge::NeedsAuth(method),
                TestPayResult::Declined(msg) => Charge::Declined(msg),
                _ => Charge::NeedsCard(method),
            };
            return Ok(StartedPayment { payment_id: payment.payment_id, charge });
        }
        let charge = self.resume(db, &payment.payment_id).await?;
        Ok(StartedPayment { payment_id: payment.payment_id, charge })
    }

    async fn resume(&self, db: &Db, payment_id: &str) -> Result<Charge, ProviderError> {
        let payment = store::test_payment(db, payment_id).await?.ok_or_else(|| ProviderError::Rejected("unknown payment".into()))?;
        let method = PayMethod::TestCard { payment_id: payment.payment_id.clone() };
        Ok(match payment.status {
            TestPaymentStatus::Succeeded | TestPaymentStatus::Refunded => Charge::Succeeded,
            TestPaymentStatus::RequiresAction => Charge::NeedsAuth(method),
            TestPaymentStatus::RequiresPaymentMethod | TestPaymentStatus::Failed => Charge::NeedsCard(method),
        })
    }

    /// The card form was submitted: validate like a card network would, then apply the test
    /// card's behaviour.
    pub async fn pay(&self, db: &Db, payment_id: &str, number: &str, expiry: &str, cvc: &str) -> Result<TestPayResult, ProviderError> {
        let number: String = number.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if !luhn_valid(&number) {
            return Ok(TestPayResult::Invalid { field: "card_number", message: "That card number isn't valid.".into() });
        }
        if !expiry_valid(expiry) {
            return Ok(TestPayResult::Invalid { field: "card_expiry", message: "Enter the expiry as MM/YY, in the future.".into() });
        }
        let cvc = cvc.trim();
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(TestPayResult::Invalid { field: "card_cvc", message: "The security code is 3 or 4 digits.".into() });
        }
        self.charge_card(db, payment_id, &number, false).await
    }

    async fn charge_card(&self, db: &Db, payment_id: &str, number: &str, off_session: bool) -> Result<TestPayResult, ProviderError> {
        let now = db::now_ms();
        let last4 = &number[number.len().saturating_sub(4)..];
        let card = Some((number, last4));
        Ok(match TestCard::of(number) {
            TestCard::Succeeds => {
                if store::update_test_payment(
                    db,
                    payment_id,
                    TestPaymentStatus::RequiresPaymentMethod,
                    TestPaymentStatus::Succeeded,
                    card,
                    now,
                )
                .await?
                {
                    TestPayResult::Succeeded
                } else {
                    TestPayResult::NotPayable
                }
            }
            TestCard::NeedsAuthentication => {
                // On a page, the bank asks the buyer; off session it can't, so the buyer is
                // brought back to authenticate (3-D Secure fallback).
                let _ = off_session;
                if store::update_test_payment(
                    db,
                    payment_id,
                    TestPaymentStatus::RequiresPaymentMethod,
                    TestPaymentStatus::RequiresAction,
                    card,
                    now,
                )
                .await?
                {
                    TestPayResult::NeedsAuthentication
                } else {
                    TestPayResult::NotPayable
                }
            }
            TestCard::Declines => TestPayResult::Declined("Your card was declined.".into()),
            TestCard::InsufficientFunds => TestPayResult::Declined("Your card has insufficient funds.".into()),
        })
    }

    /// The buyer completed (or failed) the test 3-D Secure challenge.
    pub async fn authenticate(&self, db: &Db, payment_id: &str, success: bool) -> Result<TestPayResult, ProviderError> {
        let to = if success { TestPaymentStatus::Succeeded } else { TestPaymentStatus::RequiresPaymentMethod };
        if !store::update_test_payment(db, payment_id, TestPaymentStatus::RequiresAction, to, None, db::now_ms()).await? {
            return Ok(TestPayResult::NotPayable);
        }
        Ok(if success {
            TestPayResult::Succeeded
        } else {
            TestPayResult::Declined("Authentication failed. Try again or use another card.".into())
        })
    }

    async fn check(&self, db: &Db, payment_id: &str) -> Result<PaymentCheck, ProviderError> {
        let Some(p) = store::test_payment(db, payment_id).await? else { return Ok(PaymentCheck::default()) };
        let succeeded = p.status.went_through();
        let saved_card = match (succeeded && p.save_card, p.card_number, p.card_last4) {
            (true, Some(number), Some(last4)) => Some(SavedCard {
                provider: Provider::Test,
                email: p.email.clone(),
                customer_id: p.email.clone(),
                brand: card_brand(&number).into(),
                payment_method_id: number,
                last4,
            }),
            _ => None,
        };
        let received = crate::money::Currency::parse(&p.currency).ok().map(|c| Money::new(p.amount_minor, c));
        Ok(PaymentCheck { succeeded, saved_card, received, failure: None, provider_page: None })
    }

    async fn refund(&self, db: &Db, payment_id: &str) -> Result<(), ProviderError> {
        let now = db::now_ms();
        if store::update_test_payment(db, payment_id, TestPaymentStatus::Succeeded, TestPaymentStatus::Refunded, None, now).await? {
            return Ok(());
        }
        match store::test_payment(db, payment_id).await? {
            Some(p) if p.status == TestPaymentStatus::Refunded => Ok(()),
            _ => Err(ProviderError::Rejected("only a succeeded payment can be refunded".into())),
        }
    }
}

/// "MM/YY" or "MM/YYYY", not in the past.
fn expiry_valid(expiry: &str) -> bool {
    let Some((m, y)) = expiry.trim().split_once('/') else { return false };
    let (Ok(month), Ok(year)) = (m.trim().parse::<i32>(), y.trim().parse::<i32>()) else { return false };
    let year = if year < 100 { 2000 + year } else { year };
    if !(1..=12).contains(&month) {
        return false;
    }
    let today = jiff::Zoned::now().date();
    (year, month) >= (today.year() as i32, today.month() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_test_cards() {
        assert!(luhn_valid("4242424242424242"));
        assert!(luhn_valid("4000000000000002"));
        assert!(luhn_valid("4000002760003184"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("42424242"));
        assert!(!luhn_valid("4242a24242424242"));
        assert_eq!(TestCard::of("4242424242424242"), TestCard::Succeeds);
        assert_eq!(TestCard::of("4000000000000002"), TestCard::Declines);
        assert_eq!(TestCard::of("4000002760003184"), TestCard::NeedsAuthentication);
        assert_eq!(card_brand("5555555555554444"), "Mastercard");
    }

    #[test]
    fn expiry_dates() {
        assert!(expiry_valid("12/99"));
        assert!(expiry_valid("01/2099"));
        assert!(!expiry_valid("13/30"));
        assert!(!expiry_valid("01/20"));
        assert!(!expiry_valid("1230"));
    }
}

/// A provider's news about a payment, from a webhook or the test provider's confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderEvent {
    pub provider: Provider,
    /// Unique per event: handling the same event twice does nothing the second time.
    pub event_id: String,
    pub payment_id: String,
    /// The order the payment is for, when the provider carries it (Stripe metadata).
    pub order_id: Option<String>,
    pub kind: EventKind,
    /// The amount the provider says moved (received, or refunded), when it says. An event
    /// whose amount or currency differs from what Clink asked for is held, never applied.
    /// `None`: the app observed the payment itself (a free order, a charge it just made).
    pub amount: Option<ReportedAmount>,
}

/// An amount as a provider reports it: minor units and a currency code, which may be one
/// Clink doesn't sell in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedAmount {
    pub minor: i64,
    pub currency: String,
}

impl ReportedAmount {
    pub fn of(money: Money) -> ReportedAmount {
        ReportedAmount { minor: money.minor, currency: money.currency.code().to_string() }
    }

    /// Whether this is exactly `expected`.
    pub fn is(&self, expected: Money) -> bool {
        self.minor == expected.minor && self.currency.eq_ignore_ascii_case(expected.currency.code())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Succeeded,
    Failed(String),
    Refunded,
}
