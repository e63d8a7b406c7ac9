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
        // An unknown word is an error, never quietly "pending".
        assert_eq!(OrderStatus::from_text("paid "), None);
        assert_eq!(Provider::from_text("Wallet"), None);
    }
}
