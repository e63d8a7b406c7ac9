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
    /// Nothing to pay: free, or already done.
    None,
}
