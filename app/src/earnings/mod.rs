//! Earnings: the creator's dashboard.

pub mod pages;
