//! Account routes reached from an email: the sign-in link, the sign-up confirmation and the
//! confirmation of a new email address. Each proves the email it was sent to, once.

use app::{
    accounts::{self, domain::Email, session},
    db,
    delivery::service as delivery,
    edge::safe_next,
    error::AppError,
    state::AppState,
};
use axum::{
    Router,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::get,
};
use tower_sessions::Session;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/link/{token}", get(login_link))
        .route("/signup/confirm/{token}", get(confirm_signup))
        .route("/settings/email/confirm/{token}", get(confirm_email_change))
}

/// The link that proves the new address of an email change. Settings says how it went. An
/// account whose email was never proven had its sessions ended by this (someone may have
/// typed another person's address); the browser holding the link is signed in instead.
async fn confirm_email_change(State(state): State<AppState>, session: Session, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let mut signed_in = session::SignedIn::Now;
    let outcome = match accounts::service::confirm_email_change(&state.db, &delivery::hash(&token)).await {
        Ok(Some(changed)) => {
            if !changed.was_proven {
                match session::sign_in(&session, &state.db, &changed.account_id, changed.session_epoch, app::edge::user_agent_of(&headers))
                    .await
                {
                    Ok(how) => signed_in = how,
                    Err(_) => return AppError::Internal.into_response(),
                }
            }
            if changed.old_email == changed.new_email { "verified" } else { "confirmed" }
        }
        Ok(None) => "expired",
        Err(accounts::service::AccountError::Invalid(_)) => "taken",
        Err(e) => return AppError::from(e).into_response(),
    };
    super::redirect_to(&signed_in.then(&format!("/settings?email={outcome}#email"))).into_response()
}

/// A magic sign-in link: proves the email once, signs in (creating a buyer account if needed).
async fn login_link(State(state): State<AppState>, session: Session, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let used = accounts::store::use_login_token(&state.db, &delivery::hash(&token), db::now_ms()).await;
    let Ok(Some((email, next))) = used else { return super::redirect_to("/login?expired=1").into_response() };
    let Ok(email) = Email::parse(&email) else { return AppError::NotFound.into_response() };
    let account = match accounts::service::account_for_email(&state.db, &email).await {
        Ok(account) => account,
        Err(e) => return AppError::from(e).into_response(),
    };
    match session::sign_in(&session, &state.db, &account.account_id, account.session_epoch, app::edge::user_agent_of(&headers)).await {
        Ok(signed_in) => super::redirect_to(&signed_in.then(&safe_next(next.as_deref(), "/wallet"))).into_response(),
        Err(_) => AppError::Internal.into_response(),
    }
}

/// The sign-up confirmation: the account is made now, its email proven, and signed in.
async fn confirm_signup(State(state): State<AppState>, session: Session, headers: HeaderMap, Path(token): Path<String>) -> Response {
    match accounts::service::confirm_sign_up(&state.db, &delivery::hash(&token)).await {
        Ok(Some(account)) => {
            match session::sign_in(&session, &state.db, &account.account_id, account.session_epoch, app::edge::user_agent_of(&headers))
                .await
            {
                Ok(signed_in) => super::redirect_to(&signed_in.then("/dashboard")).into_response(),
                Err(_) => AppError::Internal.into_response(),
            }
        }
        Ok(None) => super::redirect_to("/signup?expired=1").into_response(),
        // Taken meanwhile (another sign-up confirmed first): the form says what to change.
        Err(accounts::service::AccountError::HandleTaken) => super::redirect_to("/signup?taken=handle").into_response(),
        Err(accounts::service::AccountError::EmailTaken) => super::redirect_to("/login?has_account=1").into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}
