//! Checkout: orders, payment providers (test and Stripe), confirmation and fulfilment.

pub mod api;
#[cfg(feature = "ssr")]
pub mod cookie;
pub mod domain;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod provider;
#[cfg(feature = "ssr")]
pub mod reconcile;
#[cfg(feature = "ssr")]
pub mod sale;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod stripe_provider;
