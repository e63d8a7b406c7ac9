//! Earnings: the creator's dashboard and the analytics behind it (views, traffic sources).

pub mod pages;
pub mod sources;
#[cfg(feature = "ssr")]
pub mod views;
