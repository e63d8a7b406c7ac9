//! The Clink server: configuration, startup, middleware and the plain HTTP routes around the
//! Leptos app. `main.rs` is only the command line.

pub mod assets;
pub mod cli;
pub mod config;
pub mod http;
pub mod middleware;
pub mod startup;
