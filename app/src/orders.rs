//! The words every area describes an order with: its status and who took its payment. Shared
//! by checkout, which writes orders, and the areas below it that read them (delivery,
//! earnings), and by pages.

use serde::{Deserialize, Serialize};

/// Where an order stands. Stored, and shown in the sales API, as its lowercase name
/// (`buyer_order.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Created, waiting for the payment.
    Pending,
    /// The payment went through and the ledger has it; the grant follows in the same transaction.
    Paid,
    /// Paid and delivered: the buyer can download.
    Fulfilled,
    /// The payment failed; the buyer may try again.
    Failed,
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Failed => "failed",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn from_text(text: &str) -> Option<OrderStatus> {
        Some(match text {
            "pending" => OrderStatus::Pending,
            "paid" => OrderStatus::Paid,
            "fulfilled" => OrderStatus::Fulfilled,
            "failed" => OrderStatus::Failed,
            "refunded" => OrderStatus::Refunded,
            _ => return None,
        })
    }

    /// The buyer has what they paid for (and it can be refunded).
    pub fn is_sold(self) -> bool {
        matches!(self, OrderStatus::Paid | OrderStatus::Fulfilled)
    }

    /// Still waiting for a payment that may yet succeed.
    pub fn awaits_payment(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::Failed)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who took an order's (or a top-up's) payment. Stored as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The built-in test provider (test cards, no money moves).
    Test,
    Stripe,
    /// The buyer's prepaid wallet.
    Wallet,
    /// Nothing to pay (a free work, or pay what you want at zero).
    Free,
    /// The buyer's tab: bought now, paid when the tab is settled.
    Tab,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Test => "test",
            Provider::Stripe => "stripe",
            Provider::Wallet => "wallet",
            Provider::Free => "free",
            Provider::Tab => "tab",
        }
    }

    pub fn from_text(text: &str) -> Option<Provider> {
        Some(match text {
            "test" => Provider::Test,
            "stripe" => Provider::Stripe,
            "wallet" => Provider::Wallet,
            "free" => Provider::Free,
            "tab" => Provider::Tab,
            _ => return None,
        })
    }

    /// A card provider: its payments go through a provider's clearing account and are refunded
    /// through it.
    pub fn is_card(self) -> bool {
        matches!(self, Provider::Test | Provider::Stripe)
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a card provider's order is paid (`buyer_order.payment_method`): by card, or by Klarna
/// through Stripe. A Klarna order is only ever paid by Klarna (a card attempt from the same
/// form is an order of its own), so this is known when the order is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    Card,
    Klarna,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::Klarna => "klarna",
        }
    }

    pub fn from_text(text: &str) -> Option<PaymentMethod> {
        Some(match text {
            "card" => PaymentMethod::Card,
            "klarna" => PaymentMethod::Klarna,
            _ => return None,
        })
    }
}

/// What a sale was paid with, as the creator's sales list, CSV export and sales API name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaidWith {
    Card,
    Klarna,
    Wallet,
    Tab,
    Free,
}

impl PaidWith {
    /// An order's provider and payment method say it. A card order without a stored method
    /// (made before migration 34, or by a previous release's server) reads as card: nothing
    /// stored before tells a Klarna order apart.
    pub fn of(provider: Provider, method: Option<PaymentMethod>) -> PaidWith {
        match (provider, method) {
            (Provider::Wallet, _) => PaidWith::Wallet,
            (Provider::Tab, _) => PaidWith::Tab,
            (Provider::Free, _) => PaidWith::Free,
            (Provider::Test | Provider::Stripe, Some(PaymentMethod::Klarna)) => PaidWith::Klarna,
            (Provider::Test | Provider::Stripe, _) => PaidWith::Card,
        }
    }

    /// The API's and the CSV's word.
    pub fn as_str(self) -> &'static str {
        match self {
            PaidWith::Card => "card",
            PaidWith::Klarna => "klarna",
            PaidWith::Wallet => "wallet",
            PaidWith::Tab => "tab",
            PaidWith::Free => "free",
        }
    }

    /// The dashboard's word.
    pub fn label(self) -> &'static str {
        match self {
            PaidWith::Card => "Card",
            PaidWith::Klarna => "Klarna",
            PaidWith::Wallet => "Wallet",
            PaidWith::Tab => "Tab",
            PaidWith::Free => "Free",
        }
    }
}

/// Where a wallet top-up's card payment stands (`wallet_topup.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopUpStatus {
    Pending,
    Succeeded,
    Failed,
}

impl TopUpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TopUpStatus::Pending => "pending",
            TopUpStatus::Succeeded => "succeeded",
            TopUpStatus::Failed => "failed",
        }
    }

    pub fn from_text(text: &str) -> Option<TopUpStatus> {
        Some(match text {
            "pending" => TopUpStatus::Pending,
            "succeeded" => TopUpStatus::Succeeded,
            "failed" => TopUpStatus::Failed,
            _ => return None,
        })
    }
}

#[cfg(feature = "ssr")]
crate::text_column!(OrderStatus, "order status", OrderStatus::as_str, OrderStatus::from_text);
#[cfg(feature = "ssr")]
crate::text_column!(Provider, "payment provider", Provider::as_str, Provider::from_text);
#[cfg(feature = "ssr")]
crate::text_column!(TopUpStatus, "top-up status", TopUpStatus::as_str, TopUpStatus::from_text);
#[cfg(feature = "ssr")]
crate::text_column!(PaymentMethod, "payment method", PaymentMethod::as_str, PaymentMethod::from_text);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_and_provider_reads_back_what_it_writes() {
        for s in [OrderStatus::Pending, OrderStatus::Paid, OrderStatus::Fulfilled, OrderStatus::Failed, OrderStatus::Refunded] {
            assert_eq!(OrderStatus::from_text(s.as_str()), Some(s));
        }
        for p in [Provider::Test, Provider::Stripe, Provider::Wallet, Provider::Free, Provider::Tab] {
            assert_eq!(Provider::from_text(p.as_str()), Some(p));
        }
        for s in [TopUpStatus::Pending, TopUpStatus::Succeeded, TopUpStatus::Failed] {
            assert_eq!(TopUpStatus::from_text(s.as_str()), Some(s));
        }
        for m in [PaymentMethod::Card, PaymentMethod::Klarna] {
            assert_eq!(PaymentMethod::from_text(m.as_str()), Some(m));
        }
        // An unknown word is an error, never quietly "pending".
        assert_eq!(OrderStatus::from_text("paid "), None);
        assert_eq!(Provider::from_text("Wallet"), None);
    }

    #[test]
    fn a_sale_is_named_by_what_paid_for_it() {
        assert_eq!(PaidWith::of(Provider::Stripe, Some(PaymentMethod::Klarna)), PaidWith::Klarna);
        assert_eq!(PaidWith::of(Provider::Stripe, Some(PaymentMethod::Card)), PaidWith::Card);
        // Card orders from before the method was stored.
        assert_eq!(PaidWith::of(Provider::Test, None), PaidWith::Card);
        assert_eq!(PaidWith::of(Provider::Tab, None), PaidWith::Tab);
        assert_eq!(PaidWith::of(Provider::Wallet, None), PaidWith::Wallet);
        assert_eq!(PaidWith::of(Provider::Free, None), PaidWith::Free);
        assert_eq!(PaidWith::Klarna.as_str(), "klarna");
        assert_eq!(PaidWith::Klarna.label(), "Klarna");
    }
}
