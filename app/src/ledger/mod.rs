//! The double-entry ledger. Every movement of money is one balanced transaction of entries;
//! entries are never updated or deleted (database triggers enforce it); balances are the sums
//! of entries, cached per account in the same transaction and checked by `clink ledger verify` (`crate::verify`).
//!
//! Sign convention: an account's balance is the sum of its entries, and each transaction's
//! entries sum to zero per currency. Money arriving from outside (a card payment) enters
//! through a *provider clearing* account, which therefore runs negative; money leaving to the
//! outside (a card refund, a paid-out payout) lands in *refunds* or *payouts paid*, which run
//! positive. Buyer wallets, creator earnings and platform fees hold positive balances: what
//! Clink owes the buyer, owes the creator, and has earned.

pub mod domain;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
