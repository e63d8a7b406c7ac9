//! Plain axum routes, where HTTP details matter more than components.

pub mod api_v1;
pub mod checkout;
pub mod downloads;
pub mod earnings;
pub mod health;
pub mod link_cache;
pub mod links;
pub mod uploads;
pub mod wallet;
