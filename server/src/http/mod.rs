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
/// Whether a purchase made by this request comes from a visit that was counted as a view: a
/// person's browser on the link page (the view counter leaves bots out the same way). Only
/// such sales count in conversion.
pub fn counts_as_view(headers: &axum::http::HeaderMap) -> bool {
    !crate::middleware::is_bot(app::edge::user_agent_of(headers))
}

pub fn redirect_to(target: &str) -> axum::response::Redirect {
    axum::response::Redirect::to(&app::edge::safe_next(Some(target), "/"))
}
