//! Catalog: works (what creators sell), their files and covers, and the links that sell them.

pub mod api;
pub mod domain;
#[cfg(feature = "ssr")]
pub mod markdown;
#[cfg(feature = "ssr")]
pub mod media;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
