//! Server functions for accounts: thin wrappers over `service`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::{
    accounts::{service, session},
    edge,
    error::internal,
    limits::Limit,
};

/// What the pages may know about the signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub account_id: String,
    pub email: String,
    pub handle: String,
    pub display_name: String,
    /// Has opted in to selling (a storefront at `/@handle`); buyer accounts haven't.
    pub sells: bool,
}

#[cfg(feature = "ssr")]
impl From<super::store::AccountRow> for AccountView {
    fn from(row: super::store::AccountRow) -> Self {
        AccountView { account_id: row.account_id, email: row.email, handle: row.handle, display_name: row.display_name, sells: row.sells }
    }
}

/// The sign-up form: the account is made once the email is confirmed (see
/// `service::request_sign_up`), and the answer is the same whether or not the email has one.
#[server(endpoint = "signup")]
pub async fn sign_up(email: String, password: String, display_name: String, handle: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let new = service::NewAccount::parse(&email, &password, &display_name, &handle)?;
    let client = edge::client_ip().await;
    if !state.limits.allow(Limit::SignupPerClient, client) || !state.limits.allow(Limit::MailPerAddress, new.email.as_str()) {
        return Err(AppError::RateLimited);
    }
    service::request_sign_up(&state.db, &state.secret, new).await?;
    leptos_axum::redirect("/signup/sent");
    Ok(())
}

#[server(endpoint = "login")]
pub async fn log_in(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let client = edge::client_ip().await;
    let account = service::log_in(&state.db, &state.limits, client, &email, &password).await?;
    let session = edge::current_session().await?;
    let signed_in = session::sign_in(&session, &state.db, &account.account_id, account.session_epoch, &edge::user_agent())
        .await
        .map_err(|e| internal("starting session", &e))?;
    tracing::info!(account.id = %account.account_id, "logged in");
    leptos_axum::redirect(&signed_in.then(&edge::safe_next(next.as_deref(), "/dashboard")));
    Ok(())
}

/// Emails a sign-in link (no password needed; it creates a buyer account if there is none).
/// Answers the same whether or not the email has an account.
#[server(endpoint = "login-link")]
pub async fn email_login_link(email: String, next: Option<String>) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let email = super::domain::Email::parse(&email)?;
    let client = edge::client_ip().await;
    if !state.limits.allow(Limit::MailPerAddress, email.as_str()) || !state.limits.allow(Limit::MailPerClient, client) {
        return Err(AppError::RateLimited);
    }
    let next = next.map(|n| edge::safe_next(Some(&n), "/wallet"));
    crate::mail::outbox::enqueue_now(
        &state.db,
        email.as_str(),
        &crate::mail::outbox::Mail::LoginLink { email: email.as_str().into(), next },
    )
    .await
    .map_err(|e| internal("queueing a sign-in link", &e))?;
    leptos_axum::redirect("/login?link_sent=1");
    Ok(())
}

/// "Forgot your password?": emails a reset link if the address has an account. The answer
/// (and the work done before it) is the same either way: the mail is composed later, by the
/// sender, which finds out whether there is anyone to send it to.
#[server(endpoint = "password/forgot")]
pub async fn forgot_password(email: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let email = super::domain::Email::parse(&email)?;
    let client = edge::client_ip().await;
    if !state.limits.allow(Limit::MailPerAddress, email.as_str()) || !state.limits.allow(Limit::MailPerClient, client) {
        return Err(AppError::RateLimited);
    }
    crate::mail::outbox::enqueue_now(&state.db, email.as_str(), &crate::mail::outbox::Mail::PasswordReset { email: email.as_str().into() })
        .await
        .map_err(|e| internal("queueing a password reset", &e))?;
    leptos_axum::redirect("/password/forgot?sent=1");
    Ok(())
}

/// Sets a new password from a reset link, ends every other session and signs this browser in.
#[server(endpoint = "password/reset")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let client = edge::client_ip().await;
    if !state.limits.allow(Limit::GuessPerClient, client) {
        return Err(AppError::RateLimited);
    }
    let new = super::domain::NewPassword::parse(&password)?;
    let (account_id, epoch) = service::reset_password(&state.db, &token, &new).await?;
    let session = edge::current_session().await?;
    let signed_in = session::sign_in(&session, &state.db, &account_id, epoch, &edge::user_agent())
        .await
        .map_err(|e| internal("starting session", &e))?;
    leptos_axum::redirect(&signed_in.then("/dashboard?password=reset"));
    Ok(())
}

/// Changes the password (the current one is asked for); other sessions end, this one stays.
#[server(endpoint = "password/change")]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let new = super::domain::NewPassword::parse(&new_password).map_err(|e| crate::error::FieldError::new("new_password", e.message))?;
    let epoch = service::change_password(&state.db, &state.limits, &me, &current_password, &new).await?;
    let session = edge::current_session().await?;
    session::keep_signed_in(&session, &state.db, &me.account_id, epoch, &edge::user_agent())
        .await
        .map_err(|e| internal("keeping the session", &e))?;
    leptos_axum::redirect("/settings?saved=password#password");
    Ok(())
}

#[server(endpoint = "logout")]
pub async fn log_out() -> Result<(), AppError> {
    let state = edge::app_state()?;
    let session = edge::current_session().await?;
    session::sign_out(&session, &state.db).await.map_err(|e| internal("ending session", &e))?;
    leptos_axum::redirect("/");
    Ok(())
}

/// A signed-in browser in the Settings list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceView {
    /// "Safari on iPhone".
    pub label: String,
    /// "3 days ago".
    pub signed_in: String,
    pub last_active: String,
    pub this_device: bool,
}

#[server(endpoint = "devices/list")]
pub async fn signed_in_devices() -> Result<Vec<DeviceView>, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let this_device = session::this_device(&edge::current_session().await?).await;
    let now = crate::db::now_ms();
    let devices = service::signed_in_devices(&state.db, &me.account_id, this_device.as_deref()).await?;
    Ok(devices
        .into_iter()
        .map(|d| DeviceView {
            label: d.label,
            signed_in: service::time_ago(d.signed_in_at, now),
            last_active: if d.this_device { "now".to_string() } else { service::time_ago(d.last_seen_at, now) },
            this_device: d.this_device,
        })
        .collect())
}

/// "Sign out of all other devices": this browser stays signed in.
#[server(endpoint = "devices/sign-out-others")]
pub async fn sign_out_other_devices() -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let session = edge::current_session().await?;
    let epoch = service::sign_out_other_devices(&state.db, &me.account_id).await?;
    session::keep_signed_in(&session, &state.db, &me.account_id, epoch, &edge::user_agent())
        .await
        .map_err(|e| internal("keeping the session", &e))?;
    leptos_axum::redirect("/settings?saved=devices#devices");
    Ok(())
}

#[server(endpoint = "me")]
pub async fn current_account() -> Result<Option<AccountView>, AppError> {
    Ok(edge::signed_in_account().await?.map(AccountView::from))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
    /// A token created just now, shown once.
    pub fresh: Option<String>,
}

#[cfg(feature = "ssr")]
const FRESH_TOKEN_KEY: &str = session::API_TOKEN_KEY;

#[server(endpoint = "tokens/list")]
pub async fn api_tokens() -> Result<TokenList, AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    let rows = super::store::live_tokens(&state.db, &account.account_id).await.map_err(service::AccountError::from)?;
    let session = edge::current_session().await?;
    let fresh = session.remove::<String>(FRESH_TOKEN_KEY).await.ok().flatten();
    Ok(TokenList {
        tokens: rows
            .into_iter()
            .map(|t| TokenView {
                id: t.token_id,
                name: t.name,
                prefix: format!("{}…", t.token_prefix),
                created: crate::ui::date_label(t.created_at),
                last_used: t.last_used_at.map(crate::ui::date_label),
            })
            .collect(),
        fresh,
    })
}

/// Creates a token. Its plain text goes through the session to the settings page, which shows
/// it once (this way it also works as a plain form post without JavaScript).
#[server(endpoint = "tokens/create")]
pub async fn create_api_token(name: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    let (_, token) = super::tokens::create(&state.db, &account.account_id, &name).await?;
    let session = edge::current_session().await?;
    session.insert(FRESH_TOKEN_KEY, token).await.map_err(|e| internal("storing the new token", &e))?;
    leptos_axum::redirect("/settings#tokens");
    Ok(())
}

#[server(endpoint = "tokens/revoke")]
pub async fn revoke_api_token(token_id: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    if !super::tokens::revoke(&state.db, &account.account_id, &token_id).await? {
        return Err(AppError::NotFound);
    }
    leptos_axum::redirect("/settings#tokens");
    Ok(())
}

/// Whether the creator gets an email for every sale, and whether they sell on buyers' tabs.
#[server(endpoint = "settings/notifications")]
pub async fn notification_settings() -> Result<(bool, bool), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    let err = |e: sqlx::Error| internal("reading settings", &e);
    let notify = super::store::notify_sales(&state.db, &account.account_id).await.map_err(err)?;
    let tabs = super::store::sells_on_tab(&state.db, &account.account_id).await.map_err(err)?;
    Ok((notify, tabs))
}

/// Turns sales on buyers' tabs on or off for the creator's works.
#[server(endpoint = "settings/tab-sales")]
pub async fn set_tab_sales(enabled: bool) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    super::store::set_sells_on_tab(&state.db, &account.account_id, enabled).await.map_err(|e| internal("saving settings", &e))?;
    // Link pages show visitors the tab: every cached one (on every server) is rendered again.
    state.page_cache.invalidate_all().await;
    leptos_axum::redirect("/settings?saved=notifications#notifications");
    Ok(())
}

/// Turns the "New sale" email on or off.
#[server(endpoint = "settings/notify-sales")]
pub async fn set_notify_sales(enabled: bool) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let account = edge::require_account().await?;
    super::store::set_notify_sales(&state.db, &account.account_id, enabled).await.map_err(|e| internal("saving settings", &e))?;
    leptos_axum::redirect("/settings?saved=notifications#notifications");
    Ok(())
}

/// What the profile section of the settings shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileForm {
    pub sells: bool,
    pub email: String,
    pub email_verified: bool,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub links: String,
    pub accent_color: String,
    /// The colour in use (chosen, or derived from the handle).
    pub accent_in_use: String,
    pub avatar_url: Option<String>,
    /// Changing the email asks for the two-step code too.
    pub two_step_on: bool,
}

#[server(endpoint = "settings/profile")]
pub async fn profile_settings() -> Result<ProfileForm, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    Ok(ProfileForm {
        two_step_on: super::two_step::is_on(&state.db, &me.account_id).await?,
        sells: me.sells,
        email: me.email.clone(),
        email_verified: me.email_verified_at.is_some(),
        accent_in_use: super::domain::accent_color(&me.handle, me.accent_color.as_deref()),
        avatar_url: me.avatar_key.as_deref().map(|key| crate::catalog::api::avatar_url(&me.handle, key)),
        handle: me.handle,
        display_name: me.display_name,
        bio: me.bio,
        links: me.links,
        accent_color: me.accent_color.unwrap_or_default(),
    })
}

/// A buyer starts selling: picks the handle of their storefront and the name on it, then goes
/// on to upload their first work.
#[server(endpoint = "settings/start-selling")]
pub async fn start_selling(handle: String, display_name: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let handle = super::domain::Handle::parse(&handle)?;
    let name = super::domain::DisplayName::parse(&display_name)?;
    super::service::start_selling(&state.db, &state.secret, &me.account_id, &handle, &name).await?;
    leptos_axum::redirect("/dashboard/works/new?selling=1");
    Ok(())
}

/// Asks to change the account's email: the new address gets a link that proves it.
#[server(endpoint = "settings/email")]
pub async fn change_email(new_email: String, current_password: String, #[server(default)] two_step_code: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let email = super::domain::Email::parse(&new_email).map_err(|e| crate::error::FieldError::new("new_email", e.message))?;
    let client = edge::client_ip().await;
    if !state.limits.allow(Limit::MailPerAddress, email.as_str()) || !state.limits.allow(Limit::MailPerClient, client) {
        return Err(AppError::RateLimited);
    }
    let step_up = edge::step_up(&state, &two_step_code);
    super::service::request_email_change(&state.db, &me, &current_password, &step_up, &email).await?;
    leptos_axum::redirect(if email.as_str() == me.email { "/settings?saved=email-verify#email" } else { "/settings?saved=email#email" });
    Ok(())
}

/// Changes the creator's handle; their old links redirect to the new one.
#[server(endpoint = "settings/handle")]
pub async fn change_handle(handle: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let handle = super::domain::Handle::parse(&handle)?;
    super::service::change_handle(&state.db, &state.secret, &state.page_cache, &me.account_id, &handle).await?;
    leptos_axum::redirect("/settings?saved=handle#profile");
    Ok(())
}

/// Saves the public profile (`/@handle`): name, bio, links, accent colour.
#[server(endpoint = "settings/profile/save")]
pub async fn save_profile(display_name: String, bio: String, links: String, accent_color: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let name = super::domain::DisplayName::parse(&display_name)?;
    let bio = super::domain::parse_bio(&bio)?;
    let links = super::domain::parse_links(&links)?.join("\n");
    let accent = super::domain::parse_accent(&accent_color)?;
    let edit = super::store::ProfileEdit { display_name: name.as_str(), bio: &bio, links: &links, accent_color: accent.as_deref() };
    super::service::update_profile(&state.db, &state.page_cache, &me.account_id, &edit).await?;
    leptos_axum::redirect("/settings?saved=profile#profile");
    Ok(())
}

/// The second step of a sign-in: a code from the authenticator app, or a recovery code.
/// Without a sign-in waiting for it (none, or it waited over ten minutes) it sends the browser
/// back to the login form.
#[server(endpoint = "login/two-step")]
pub async fn finish_sign_in(code: String, next: Option<String>) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let session = edge::current_session().await?;
    if !state.limits.allow(Limit::GuessPerClient, edge::client_ip().await) {
        return Err(AppError::RateLimited);
    }
    let waiting = match session::awaiting_second_step(&session).await {
        Some((account_id, epoch)) => super::store::find_by_id(&state.db, &account_id)
            .await
            .map_err(service::AccountError::from)?
            .filter(|a| a.session_epoch == epoch),
        None => None,
    };
    let Some(account) = waiting else {
        leptos_axum::redirect("/login?two_step=expired");
        return Ok(());
    };
    super::two_step::check_code(&state.db, &state.limits, &state.secret, &account, &code, "code").await?;
    session::finish_second_step(&session, &state.db, &edge::user_agent()).await.map_err(|e| internal("starting session", &e))?;
    tracing::info!(account.id = %account.account_id, "logged in with a second step");
    leptos_axum::redirect(&edge::safe_next(next.as_deref(), "/dashboard"));
    Ok(())
}

/// Two-step sign-in as Settings shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TwoStepState {
    Off,
    /// Scan the QR code (a `data:` URI of an SVG) or type the secret, then confirm with a code.
    SettingUp {
        qr_data_uri: String,
        secret: String,
    },
    On {
        since: String,
        recovery_codes_left: i64,
        /// The account has asked for a payout, so it can't be turned off.
        required: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwoStepView {
    pub state: TwoStepState,
    /// Recovery codes made just now, shown once.
    pub fresh_codes: Vec<String>,
    /// The same as a text file to download (a `data:` URI).
    pub fresh_codes_file: String,
}

#[cfg(feature = "ssr")]
const FRESH_CODES_KEY: &str = session::RECOVERY_CODES_KEY;

#[server(endpoint = "settings/two-step")]
pub async fn two_step_settings() -> Result<TwoStepView, AppError> {
    use super::two_step::Status;
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let shown = match super::two_step::status(&state.db, &state.secret, &me).await? {
        Status::Off => TwoStepState::Off,
        Status::SettingUp { otpauth_url, secret_base32 } => {
            use base64::Engine;
            let code = qrcode::QrCode::new(otpauth_url.as_bytes()).map_err(|e| internal("drawing the QR code", &e))?;
            let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build();
            TwoStepState::SettingUp {
                qr_data_uri: format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)),
                // In groups of four, as authenticator apps show a typed key.
                secret: secret_base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" "),
            }
        }
        Status::On { since, recovery_codes_left } => TwoStepState::On {
            since: crate::ui::date_label(since),
            recovery_codes_left,
            required: has_asked_for_payout(&state.db, &me.account_id).await?,
        },
    };
    let session = edge::current_session().await?;
    let fresh_codes = session.remove::<Vec<String>>(FRESH_CODES_KEY).await.ok().flatten().unwrap_or_default();
    let text = format!("Clink recovery codes for {}\nEach one works once.\n\n{}\n", me.email, fresh_codes.join("\n"));
    let fresh_codes_file =
        format!("data:text/plain;charset=utf-8,{}", percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC));
    Ok(TwoStepView { state: shown, fresh_codes, fresh_codes_file })
}

#[cfg(feature = "ssr")]
async fn has_asked_for_payout(db: &crate::db::Db, account_id: &str) -> Result<bool, AppError> {
    Ok(!crate::earnings::payouts::of_creator(db, account_id).await.map_err(|e| internal("reading payouts", &e))?.is_empty())
}

/// Shows the recovery codes once, on the settings page the browser goes to next.
#[cfg(feature = "ssr")]
async fn show_once(codes: Vec<String>) -> Result<(), AppError> {
    let session = edge::current_session().await?;
    session.insert(FRESH_CODES_KEY, codes).await.map_err(|e| internal("keeping the recovery codes for the page", &e))
}

/// "Set up two-step sign-in": a new secret to scan.
#[server(endpoint = "settings/two-step/start")]
pub async fn start_two_step() -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    super::two_step::start(&state.db, &state.secret, &me).await?;
    leptos_axum::redirect("/settings#two-step");
    Ok(())
}

/// The first code from the app (and the password) turns it on; the recovery codes follow.
#[server(endpoint = "settings/two-step/confirm")]
pub async fn confirm_two_step(code: String, current_password: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let codes = super::two_step::confirm(&state.db, &state.limits, &state.secret, &me, &code, &current_password).await?;
    show_once(codes).await?;
    leptos_axum::redirect("/settings?saved=two-step#two-step");
    Ok(())
}

/// Ten new recovery codes; the old ones stop working.
#[server(endpoint = "settings/two-step/codes")]
pub async fn new_recovery_codes(code: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let codes = super::two_step::replace_recovery_codes(&state.db, &state.limits, &state.secret, &me, &code).await?;
    show_once(codes).await?;
    leptos_axum::redirect("/settings?saved=recovery-codes#two-step");
    Ok(())
}

/// Turns two-step sign-in off (not for an account that gets payouts).
#[server(endpoint = "settings/two-step/off")]
pub async fn turn_off_two_step(code: String, current_password: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let required = has_asked_for_payout(&state.db, &me.account_id).await?;
    super::two_step::turn_off(&state.db, &state.limits, &state.secret, &me, &current_password, &code, required).await?;
    leptos_axum::redirect("/settings?saved=two-step-off#two-step");
    Ok(())
}

/// What the "Delete account" section needs: what must happen first, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionView {
    /// Money still held for the account, each with what to do about it; the form waits for none.
    pub blockers: Vec<String>,
    pub two_step_on: bool,
    /// Whether the account sells (the page then speaks of works and buyers).
    pub sells: bool,
}

#[server(endpoint = "settings/delete/check")]
pub async fn account_deletion() -> Result<DeletionView, AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let held = crate::account_deletion::money_held(&state.db, &me.account_id).await.map_err(|e| internal("account deletion", &e))?;
    Ok(DeletionView {
        blockers: held.iter().map(crate::account_deletion::Held::explain).collect(),
        two_step_on: super::two_step::is_on(&state.db, &me.account_id).await?,
        sells: me.sells,
    })
}

/// Deletes the signed-in account (the current password, and a code with two-step sign-in on)
/// and signs this browser out.
#[server(endpoint = "settings/delete")]
pub async fn delete_account(current_password: String, #[server(default)] two_step_code: String) -> Result<(), AppError> {
    let state = edge::app_state()?;
    let me = edge::require_account().await?;
    let step_up = edge::step_up(&state, &two_step_code);
    crate::account_deletion::delete_account(&state.db, &state.page_cache, &state.storage, &step_up, &me, &current_password).await?;
    let session = edge::current_session().await?;
    session::sign_out(&session, &state.db).await.map_err(|e| internal("ending session", &e))?;
    leptos_axum::redirect("/account-deleted");
    Ok(())
}
