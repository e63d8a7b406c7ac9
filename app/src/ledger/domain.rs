//! Ledger accounts and the platform fee rule.

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountKind {
    BuyerWallet,
    CreatorEarnings,
    PlatformFees,
    ProviderClearing,
    Refunds,
    PayoutsPending,
    PayoutsPaid,
    /// What a buyer owes on their tab: negative while they owe (see `wallet::tab`).
    BuyerTab,
    /// A creator's shares of tab purchases whose tab isn't paid yet.
    CreatorPending,
    /// Tabs never paid.
    WriteOffs,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::BuyerWallet => "buyer_wallet",
            AccountKind::CreatorEarnings => "creator_earnings",
            AccountKind::PlatformFees => "platform_fees",
            AccountKind::ProviderClearing => "provider_clearing",
            AccountKind::Refunds => "refunds",
            AccountKind::PayoutsPending => "payouts_pending",
            AccountKind::PayoutsPaid => "payouts_paid",
            AccountKind::BuyerTab => "buyer_tab",
            AccountKind::CreatorPending => "creator_pending",
            AccountKind::WriteOffs => "write_offs",
        }
    }

    /// Accounts that hold someone's money can never go below zero.
    pub fn never_negative(self) -> bool {
        matches!(self, AccountKind::BuyerWallet | AccountKind::CreatorEarnings | AccountKind::PayoutsPending | AccountKind::CreatorPending)
    }
}

/// A ledger account: a kind, an owner (a buyer, a creator, a provider) and a currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountRef {
    pub kind: AccountKind,
    pub owner: Option<String>,
    pub currency: Currency,
}

impl AccountRef {
    pub fn new(kind: AccountKind, owner: Option<&str>, currency: Currency) -> Self {
        AccountRef { kind, owner: owner.map(str::to_string), currency }
    }

    pub fn buyer_wallet(buyer_id: &str, currency: Currency) -> Self {
        Self::new(AccountKind::BuyerWallet, Some(buyer_id), currency)
    }

    pub fn creator_earnings(creator_id: &str, currency: Currency) -> Self {
        Self::new(AccountKind::CreatorEarnings, Some(creator_id), currency)
    }

    /// The buyer's tab: its balance is minus what they owe.
    pub fn buyer_tab(buyer_id: &str, currency: Currency) -> Self {
        Self::new(AccountKind::BuyerTab, Some(buyer_id), currency)
    }

    pub fn creator_pending(creator_id: &str, currency: Currency) -> Self {
        Self::new(AccountKind::CreatorPending, Some(creator_id), currency)
    }

    pub fn platform_fees(currency: Currency) -> Self {
        Self::new(AccountKind::PlatformFees, None, currency)
    }

    pub fn provider_clearing(provider: &str, currency: Currency) -> Self {
        Self::new(AccountKind::ProviderClearing, Some(provider), currency)
    }

    pub fn refunds(currency: Currency) -> Self {
        Self::new(AccountKind::Refunds, None, currency)
    }

    /// The stable id: `kind:owner:CUR`.
    pub fn id(&self) -> String {
        format!("{}:{}:{}", self.kind.as_str(), self.owner.as_deref().unwrap_or("-"), self.currency.code())
    }
}

/// One entry of a transaction: `amount` is added to the account's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: AccountRef,
    pub amount: Money,
    /// May take a never-negative account (a wallet) below zero: only a refunded top-up whose
    /// credit was already spent does, leaving the wallet owing (see `wallet::service`).
    pub may_overdraw: bool,
}

impl Posting {
    pub fn new(account: AccountRef, minor: i64) -> Self {
        let currency = account.currency;
        Posting { account, amount: Money::new(minor, currency), may_overdraw: false }
    }

    /// A debit allowed to leave its account below zero (an owed balance).
    pub fn overdrawing(account: AccountRef, minor: i64) -> Self {
        Posting { may_overdraw: true, ..Posting::new(account, minor) }
    }
}

/// The platform fee on an amount, in basis points (500 = 5%).
///
/// The one rounding rule: the fee is rounded half up to the nearest minor unit, and the
/// creator gets the rest (`amount - fee`), so the parts always add up to the amount exactly.
/// 0.20 at 5% → fee 0.01, creator 0.19; 0.10 at 5% → fee 0.01 (0.005 rounds up); 0.09 → 0.00.
pub fn platform_fee(amount_minor: i64, fee_bps: u32) -> i64 {
    if amount_minor <= 0 {
        return 0;
    }
    let fee = (amount_minor as i128 * fee_bps as i128 + 5_000) / 10_000;
    (fee as i64).min(amount_minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rounds_half_up_and_never_exceeds_the_amount() {
        assert_eq!(platform_fee(20, 500), 1);
        assert_eq!(platform_fee(10, 500), 1);
        assert_eq!(platform_fee(9, 500), 0);
        assert_eq!(platform_fee(499, 500), 25);
        assert_eq!(platform_fee(1_000_000, 500), 50_000);
        assert_eq!(platform_fee(0, 500), 0);
        assert_eq!(platform_fee(100, 10_000), 100);
        assert_eq!(platform_fee(100, 20_000), 100);
        assert_eq!(platform_fee(5, 0), 0);
    }

    #[test]
    fn fee_plus_net_is_always_the_amount() {
        for amount in 0..5_000 {
            for bps in [0, 250, 500, 999, 1_000, 10_000] {
                let fee = platform_fee(amount, bps);
                assert!(fee >= 0 && fee <= amount);
                assert_eq!(fee + (amount - fee), amount);
            }
        }
    }

    #[test]
    fn account_ids() {
        assert_eq!(AccountRef::platform_fees(Currency::Eur).id(), "platform_fees:-:EUR");
        assert_eq!(AccountRef::creator_earnings("c1", Currency::Usd).id(), "creator_earnings:c1:USD");
    }
}
