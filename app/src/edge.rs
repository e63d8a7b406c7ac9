//! Helpers for the edge of the app: what server functions and pages use to reach the state,
//! the session and the signed-in account.

use std::net::{IpAddr, Ipv4Addr};

use axum::Extension;
use leptos::prelude::use_context;
use tower_sessions::Session;

use crate::{
    accounts::{
        session,
        store::{self, AccountRow},
    },
    error::{AppError, internal},
    state::AppState,
};

/// The Content-Security-Policy nonce of the response being rendered (set by the server's
/// security-headers middleware on every request).
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

/// Hands the request's CSP nonce to Leptos, which puts it on the inline scripts it writes.
pub fn provide_csp_nonce() {
    if let Some(parts) = use_context::<axum::http::request::Parts>() {
        if let Some(CspNonce(nonce)) = parts.extensions.get::<CspNonce>() {
            leptos::prelude::provide_context(leptos::nonce::Nonce::from_value(nonce.clone()));
        }
    }
}

/// The client's address as the app trusts it (the socket peer, or the proxy's
/// `X-Forwarded-For` when configured). Set by the server's middleware on every request.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| internal("app state missing from context", &"no AppState"))
}

pub async fn current_session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| internal("session layer missing", &e))
}

pub async fn client_ip() -> IpAddr {
    leptos_axum::extract::<Extension<ClientIp>>().await.map(|Extension(ip)| ip.0).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The signed-in account, or `None` for a visitor.
pub async fn signed_in_account() -> Result<Option<AccountRow>, AppError> {
    let session = current_session().await?;
    let state = app_state()?;
    let Some(account_id) = session::signed_in_account_id(&session, &state.db).await else {
        return Ok(None);
    };
    store::find_by_id(&state.db, &account_id).await.map_err(|e| internal("loading signed-in account", &e))
}

/// The signed-in account, or `Unauthorized`.
pub async fn require_account() -> Result<AccountRow, AppError> {
    signed_in_account().await?.ok_or(AppError::Unauthorized)
}

/// Accepts only same-site relative paths as a post-login destination (no open redirects).
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_string(),
        _ => default.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_paths_must_stay_on_site() {
        assert_eq!(safe_next(Some("/l/abc"), "/dashboard"), "/l/abc");
        assert_eq!(safe_next(Some("//evil.example"), "/dashboard"), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.example"), "/dashboard"), "/dashboard");
        assert_eq!(safe_next(Some("/\\evil.example"), "/dashboard"), "/dashboard");
        assert_eq!(safe_next(None, "/dashboard"), "/dashboard");
    }
}
