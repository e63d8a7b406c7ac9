//! Server functions for accounts: thin wrappers over `service`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::{
    accounts::{service, session},
    edge,
    error::internal,
};

/// What the pages may know about the signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub account_id: String,
    pub email: String,
    pub handle: String,
    pub display_name: String,
}

#[cfg(feature = "ssr")]
impl From<super::store::AccountRow> for AccountView {
    fn from(row: super::store::AccountRow) -> Self {
        AccountView { account_id: row.account_id, email: row.email, handle: row.handle, display_name: row.display_name }
    }
}

#[server(endpoint = "signup")]
pub async fn sign_up(
    email: String,
    password: String,
    display_name: String,
    handle: String,
) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let new = service::NewAccount::parse(&email, &password, &display_name, &handle)?;
    let account = service::sign_up(&state.db, new).await?;
    let session = edge::current_session().await?;
    session::sign_in(&session, &account.account_id).await.map_err(|e| internal("starting session", &e))?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

#[server(endpoint = "login")]
pub async fn log_in(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let client = edge::client_ip().await;
    let account = service::log_in(&state.db, &state.login_limiter, client, &email, &password).await?;
    let session = edge::current_session().await?;
    session::sign_in(&session, &account.account_id).await.map_err(|e| internal("starting session", &e))?;
    tracing::info!(account.id = %account.account_id, "logged in");
    leptos_axum::redirect(&edge::safe_next(next.as_deref(), "/dashboard"));
    Ok(())
}

#[server(endpoint = "logout")]
pub async fn log_out() -> Result<(), AppError> {
    let session = edge::current_session().await?;
    session::sign_out(&session).await.map_err(|e| internal("ending session", &e))?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(endpoint = "me")]
pub async fn current_account() -> Result<Option<AccountView>, AppError> {
    Ok(edge::signed_in_account().await?.map(AccountView::from))
}
