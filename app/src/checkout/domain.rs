//! Checkout vocabulary shared by the server and pages: the payment step, the remembered card.

use serde::{Deserialize, Serialize};

use crate::orders::{OrderStatus, Provider};

/// A card a buyer chose to remember, kept in a signed cookie in their browser (never in a
/// page): one-click purchases charge it without a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCard {
    pub provider: Provider,
    pub email: String,
    pub customer_id: String,
    pub payment_method_id: String,
    pub brand: String,
    pub last4: String,
}

impl SavedCard {
    /// "Visa •••• 4242"
    pub fn label(&self) -> String {
        let brand = match self.brand.to_ascii_lowercase().as_str() {
            "visa" => "Visa",
            "mastercard" => "Mastercard",
            "amex" => "American Express",
            "discover" => "Discover",
            "jcb" => "JCB",
            "unionpay" => "UnionPay",
            "diners" => "Diners Club",
            _ => "Card",
        };
        format!("{brand} •••• {}", self.last4)
    }
}

/// What the link page shows after Buy: the payment step of one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayStep {
    pub order_id: String,
    /// The signed token that lets this browser see and continue this order.
    pub key: String,
    pub amount_label: String,
    pub email: String,
    pub status: OrderStatus,
    pub method: PayMethod,
    /// The bank asks the buyer to authenticate (3-D Secure) before the payment completes.
    pub authenticate: bool,
    pub error: Option<String>,
    /// Where this step is shown (the link page, or the wallet page for a top-up).
    pub page_url: String,
    /// Where the browser goes once the payment went through.
    pub return_url: String,
    pub cancel_url: String,
    /// What the payment is for, as the step's heading says it ("Top up 5.00").
    pub heading: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PayMethod {
    /// The built-in test provider's card form (posts to `/pay/test/{payment_id}`).
    TestCard { payment_id: String },
    /// Stripe Elements on the link page, confirmed in the browser by Stripe.js.
    Stripe {
        client_secret: String,
        publishable_key: String,
        js_url: String,
        /// A remembered card to authenticate (3-D Secure fallback of a one-click purchase).
        payment_method: Option<String>,
    },
    /// The buyer approves the payment on the provider's page (Klarna).
    Redirect { url: String },
    /// Nothing to pay: free, or already done.
    None,
}

/// Klarna ("pay later"), offered through Stripe on works priced for cards.
///
/// Klarna takes each country's own currency only, so the currency decides which countries a
/// payer can be in; Stripe needs that country when the payment starts. The amounts are
/// Klarna's published range, narrowed to what every country of the currency accepts: 1.00 at
/// least, and at most 4,000.00 (the lowest per-country cap among the euro countries, and the
/// UK's). A buyer outside it isn't offered Klarna rather than being refused on Klarna's page.
pub mod klarna {
    use serde::{Deserialize, Serialize};

    use crate::{
        catalog::domain::Price,
        money::{Currency, Money},
    };

    pub const MIN_MINOR: i64 = 100;
    pub const MAX_MINOR: i64 = 400_000;

    /// The countries a Klarna payer in `currency` can be in: (ISO code, name), the default first.
    pub fn countries(currency: Currency) -> &'static [(&'static str, &'static str)] {
        match currency {
            Currency::Eur => &[
                ("DE", "Germany"),
                ("AT", "Austria"),
                ("BE", "Belgium"),
                ("FI", "Finland"),
                ("FR", "France"),
                ("GR", "Greece"),
                ("IE", "Ireland"),
                ("IT", "Italy"),
                ("NL", "Netherlands"),
                ("PT", "Portugal"),
                ("ES", "Spain"),
            ],
            Currency::Gbp => &[("GB", "United Kingdom")],
            Currency::Usd => &[("US", "United States")],
        }
    }

    /// Whether Klarna takes a payment of exactly `amount`.
    pub fn fits(amount: Money) -> bool {
        (MIN_MINOR..=MAX_MINOR).contains(&amount.minor)
    }

    /// "Klarna takes payments from €1.00 to €4000.00."
    pub fn range_message(currency: Currency) -> String {
        format!("Klarna takes payments from {} to {}.", Money::new(MIN_MINOR, currency), Money::new(MAX_MINOR, currency))
    }

    /// What the link page offers: the payer's possible countries.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct KlarnaOffer {
        pub countries: Vec<(String, String)>,
    }

    /// The offer for a work at `price`: a fixed price that Klarna takes, or a pay-what-you-want
    /// price whose minimum isn't above Klarna's largest payment (the amount typed is checked
    /// when the buyer pays).
    pub fn offer(price: Price) -> Option<KlarnaOffer> {
        let eligible = match price {
            Price::Fixed(amount) => fits(amount),
            Price::PayWhatYouWant { minimum, .. } => minimum.minor <= MAX_MINOR,
        };
        eligible.then(|| KlarnaOffer {
            countries: countries(price.currency()).iter().map(|(code, name)| (code.to_string(), name.to_string())).collect(),
        })
    }

    /// The country a buyer chose, if Klarna takes `currency` from it.
    pub fn country(currency: Currency, chosen: &str) -> Option<&'static str> {
        let chosen = chosen.trim();
        countries(currency).iter().map(|(code, _)| *code).find(|code| code.eq_ignore_ascii_case(chosen))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn eligibility() {
            let eur = |minor| Money::new(minor, Currency::Eur);
            assert!(offer(Price::Fixed(eur(100))).is_some());
            assert!(offer(Price::Fixed(eur(99))).is_none());
            assert!(offer(Price::Fixed(eur(400_000))).is_some());
            assert!(offer(Price::Fixed(eur(400_001))).is_none());
            assert!(offer(Price::PayWhatYouWant { minimum: eur(0), suggested: None }).is_some());
            assert!(offer(Price::PayWhatYouWant { minimum: eur(500_000), suggested: None }).is_none());
            assert_eq!(
                offer(Price::Fixed(Money::new(500, Currency::Gbp))).unwrap().countries,
                [("GB".to_string(), "United Kingdom".to_string())]
            );
            assert_eq!(country(Currency::Eur, " fr "), Some("FR"));
            assert_eq!(country(Currency::Eur, "GB"), None);
            assert_eq!(country(Currency::Usd, "US"), Some("US"));
            assert_eq!(range_message(Currency::Eur), "Klarna takes payments from €1.00 to €4000.00.");
        }
    }
}
