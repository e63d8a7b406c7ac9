//! Earnings: the creator's dashboard and the analytics behind it (views, traffic sources,
//! hourly rollups), payouts, sale webhooks and CSV exports.

pub mod api;
#[cfg(feature = "ssr")]
pub mod destination;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod payouts;
#[cfg(feature = "ssr")]
pub mod rollup;
#[cfg(feature = "ssr")]
pub mod service;
pub mod sources;
#[cfg(feature = "ssr")]
pub mod stats;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod views;
#[cfg(feature = "ssr")]
pub mod webhooks;
