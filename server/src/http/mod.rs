//! Plain axum routes, where HTTP details matter more than components.

pub mod health;
