//! Plain axum routes, where HTTP details matter more than components.

pub mod accounts;
pub mod api_v1;
pub mod checkout;
pub mod downloads;
pub mod earnings;
pub mod export;
pub mod health;
pub mod link_cache;
pub mod links;
pub mod uploads;
pub mod wallet;

/// A redirect to a path named by request data (a `next`, a link code, a return address):
/// never to another origin, and never a panic (axum's `Redirect::to` panics on a target that
/// isn't a valid header value). Anything not a local path goes home.
pub fn redirect_to(target: &str) -> axum::response::Redirect {
    axum::response::Redirect::to(&app::edge::safe_next(Some(target), "/"))
}
