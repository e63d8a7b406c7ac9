//! Checkout: orders, payment providers and fulfilment.

pub mod pages;
