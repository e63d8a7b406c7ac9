//! Wallets: prepaid balances that make purchases from 0.05 possible in one click, with the
//! buyer's own spending rules, top-ups by card, auto-reload, and a group-committing writer
//! that turns many concurrent purchases into one durable transaction.

pub mod api;
#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod collection;
#[cfg(feature = "ssr")]
pub mod device;
pub mod domain;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod tab;
#[cfg(feature = "ssr")]
pub mod writer;
