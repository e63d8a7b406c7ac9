//! Wallet routes: one-click wallet purchases (form and JSON), top-ups, the history as CSV, and
//! magic-link sign-in.

use app::{
    accounts::{self, domain::Email, session, store::AccountRow},
    earnings::sources::clean_tag,
    edge::{ClientIp, safe_next},
    error::AppError,
    state::AppState,
    wallet::{
        api::history_lines,
        device,
        service::{self, SettleBy, ThenBuy, TopUpRequest, TopUpReturn, WalletBuy, WalletError},
        store,
    },
};
use axum::{
    Extension, Form, Json, Router,
    extract::{Path, Query, State, rejection::FormRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::uploads::{urlencode, wants_json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/wallet/buy/{code}", post(buy_form))
        .route("/wallet/start/{code}", post(start_and_buy))
        .route("/tab/buy/{code}", post(tab_buy))
        .route("/wallet/tab/pay", post(pay_tab))
        .route("/api/wallet/purchases", post(buy_json))
        .route("/wallet/topup", post(topup))
        .route("/wallet/topup/{topup_id}/return", get(topup_return))
        .route("/wallet/history.csv", get(history_csv))
        .route("/wallet/tab.csv", get(tab_csv))
}

async fn buyer(state: &AppState, session: &Session) -> Result<Option<AccountRow>, AppError> {
    let Some(id) = session::signed_in_account_id(session, &state.db).await else { return Ok(None) };
    accounts::store::find_by_id(&state.db, &id).await.map_err(|e| app::error::internal("loading the buyer", &e))
}

#[derive(Debug, Deserialize, Default)]
struct BuyForm {
    key: Option<String>,
    pin: Option<String>,
    confirm: Option<String>,
    source: Option<String>,
    amount: Option<String>,
    /// The pay-what-you-want amount the button showed (see `checkout::pages::amount_field`).
    shown_amount: Option<String>,
    /// The buyer owns the work and chose "Buy again".
    again: Option<String>,
    /// "Get it now · pay later": the wallet if it has enough, else the tab.
    tab: Option<String>,
    /// A visitor's email (the tab's way in; a signed-in buyer sends none).
    email: Option<String>,
}

/// Whether the signed-in `account_id` already owns the work at `code` (bought while signed in,
/// or with the account's proven email).
async fn already_owns(state: &AppState, account_id: &str, code: &str) -> bool {
    let Ok(Some(me)) = accounts::store::find_by_id(&state.db, account_id).await else { return false };
    let verified = me.email_verified_at.is_some().then_some(me.email.as_str());
    app::checkout::store::owned_order(&state.db, code, Some(account_id), verified).await.ok().flatten().is_some()
}

/// A pay-what-you-want amount typed without the button showing it (no JavaScript): the
/// buyer confirms the amount first. Both sides are compared as amounts ("5" is "5.00").
pub(crate) fn amount_unseen(amount: Option<&str>, shown: Option<&str>) -> bool {
    let parse = |a: Option<&str>| a.map(str::trim).filter(|a| !a.is_empty()).map(|a| app::money::parse_amount(a, "amount").ok());
    match (parse(amount), parse(shown)) {
        (Some(amount), Some(shown)) => amount != shown,
        _ => false,
    }
}

fn link(code: &str, query: &str) -> String {
    format!("/l/{}?{query}", urlencode(code))
}

/// The wallet button on a link page: one click, then the download starts.
async fn buy_form(
    State(state): State<AppState>,
    Path(code): Path<String>,
    session: Session,
    headers: HeaderMap,
    form: Result<Form<BuyForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return AppError::BadRequest("Malformed form.".into()).into_response() };
    // The account id is all a purchase needs: the writer reads the buyer's email itself.
    let Some(me) = session::signed_in_account_id(&session, &state.db).await else {
        return super::redirect_to(&format!("/login?next={}", urlencode(&format!("/l/{code}")))).into_response();
    };
    buy_signed_in(&state, &session, &headers, &code, &me, form).await
}

/// A purchase by the signed-in buyer `me`: from the wallet, or (`form.tab`) the wallet if it
/// has enough and else the tab.
async fn buy_signed_in(state: &AppState, session: &Session, headers: &HeaderMap, code: &str, me: &str, form: BuyForm) -> Response {
    let (state, code) = (state.clone(), code.to_string());
    let use_tab = form.tab.as_deref() == Some("1");
    let again = form.again.as_deref() == Some("1");
    if !again && already_owns(&state, me, &code).await {
        // The page showed Buy, but the buyer owns it by now (another tab, another device).
        return super::redirect_to(&link(&code, "owned=1")).into_response();
    }
    let confirmed = form.confirm.as_deref() == Some("1");
    if !confirmed && amount_unseen(form.amount.as_deref(), form.shown_amount.as_deref()) {
        let amount = form.amount.as_deref().unwrap_or_default().trim();
        let again = if again { "&again=1" } else { "" };
        return super::redirect_to(&link(&code, &format!("confirm_wallet=1&amount={}{again}", urlencode(amount)))).into_response();
    }
    let request = WalletBuy {
        code: code.clone(),
        key: form.key.unwrap_or_default(),
        pin: form.pin,
        confirmed,
        source: form.source.as_deref().map(clean_tag).filter(|s| !s.is_empty()).unwrap_or_else(|| "direct".into()),
        counted_view: super::counts_as_view(headers),
        amount: form.amount,
        use_tab,
    };
    match service::buy(&state, me, &request).await {
        Ok(bought) => after_purchase(session, me, &code, &bought.download_token, again).await,
        Err(WalletError::NeedsConfirmation(_)) => {
            let tab = if use_tab { "&tab=1" } else { "" };
            super::redirect_to(&link(&code, &format!("confirm_wallet=1{tab}"))).into_response()
        }
        // Over the tab's limit, or its last payment refused: pay the tab by card, and the
        // purchase completes on return.
        Err(err @ (WalletError::OverTabLimit { .. } | WalletError::TabLocked { .. })) => {
            let currency = match &err {
                WalletError::OverTabLimit { price, .. } => price.currency,
                _ => match app::catalog::store::find_live_by_code(&state.db, &code).await {
                    Ok(Some(work)) => match app::money::Currency::parse(&work.currency) {
                        Ok(currency) => currency,
                        Err(e) => return AppError::from(e).into_response(),
                    },
                    _ => return AppError::NotFound.into_response(),
                },
            };
            let then_buy = ThenBuy {
                code: code.clone(),
                amount: request.amount.clone(),
                source: request.source.clone(),
                counted_view: request.counted_view,
            };
            // With the buyer's agreement their saved card pays it at once, and the purchase
            // completes without a card step.
            settle_then(&state, me, currency, Some(&then_buy), &format!("/l/{code}"), SettleBy::SavedCardIfAgreed).await
        }
        // The link page offers the top-up that completes this purchase.
        Err(WalletError::Insufficient { .. }) => super::redirect_to(&format!("/l/{}", urlencode(&code))).into_response(),
        Err(WalletError::NotFound) => AppError::NotFound.into_response(),
        Err(err) => {
            let err = AppError::from(err);
            super::redirect_to(&link(&code, &format!("error={}", urlencode(&err.to_string())))).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct BuyJson {
    code: String,
    idempotency_key: String,
    pin: Option<String>,
    #[serde(default)]
    confirm: bool,
    amount: Option<String>,
    /// The wallet if it has enough, else the buyer's tab.
    #[serde(default)]
    pay_later: bool,
}

/// The same purchase for programs (and the load benchmark): JSON in, JSON out. The same
/// idempotency key returns the same purchase.
async fn buy_json(
    State(state): State<AppState>,
    session: Session,
    body: Result<Json<BuyJson>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => return AppError::BadRequest(e.body_text()).into_response(),
    };
    let Some(me) = session::signed_in_account_id(&session, &state.db).await else {
        return AppError::Unauthorized.into_response();
    };
    let request = WalletBuy {
        code: body.code,
        key: body.idempotency_key,
        pin: body.pin,
        confirmed: body.confirm,
        source: "api".into(),
        // A program's purchase had no view.
        counted_view: false,
        amount: body.amount,
        use_tab: body.pay_later,
    };
    match service::buy(&state, &me, &request).await {
        Ok(b) => (
            if b.repeated { StatusCode::OK } else { StatusCode::CREATED },
            Json(serde_json::json!({
                "order_id": b.order_id,
                "repeated": b.repeated,
                "price": b.price.decimal(),
                "balance": b.balance.decimal(),
                "currency": b.balance.currency.code(),
                "download_url": state.settings.absolute_url(&format!("/d/{}", b.download_token)),
                "paid_from": if b.on_tab { "tab" } else { "wallet" },
            })),
        )
            .into_response(),
        Err(err) => AppError::from(err).into_response(),
    }
}

#[derive(Debug, Deserialize, Default)]
struct TopUpForm {
    amount: Option<String>,
    custom: Option<String>,
    currency: Option<String>,
    key: Option<String>,
    return_to: Option<String>,
    remember: Option<String>,
}

async fn topup(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    form: Result<Form<TopUpForm>, FormRejection>,
) -> Response {
    let json = wants_json(&headers);
    let Ok(Form(form)) = form else { return AppError::BadRequest("Malformed form.".into()).into_response() };
    let me = match buyer(&state, &session).await {
        Ok(Some(me)) => me,
        Ok(None) => return super::redirect_to("/login?next=/wallet").into_response(),
        Err(e) => return e.into_response(),
    };
    // A typed amount wins over a preset button.
    let amount = form.custom.filter(|c| !c.trim().is_empty()).or(form.amount).unwrap_or_default();
    let request = TopUpRequest {
        amount,
        currency: form.currency.unwrap_or_else(|| "EUR".into()),
        key: form.key.filter(|k| !k.is_empty()),
        return_to: form.return_to,
        remember_card: form.remember.as_deref() == Some("1"),
        then_buy: None,
    };
    match service::start_topup(&state, &me, &request).await {
        Ok(started) => {
            let next = if started.done {
                "/wallet?topped_up=1".to_string()
            } else {
                format!("/wallet?topup={}&k={}", started.topup_id, urlencode(&started.key))
            };
            if json {
                Json(serde_json::json!({ "topup_id": started.topup_id, "key": started.key, "done": started.done, "next": next }))
                    .into_response()
            } else {
                super::redirect_to(&next).into_response()
            }
        }
        Err(err) => {
            let err = AppError::from(err);
            if json {
                err.into_response()
            } else {
                super::redirect_to(&format!("/wallet?error={}", urlencode(&err.to_string()))).into_response()
            }
        }
    }
}

#[derive(Deserialize)]
struct KeyQuery {
    k: String,
}

/// Where a wallet purchase lands: back on the link page, which shows the purchase and starts
/// its download where Buy was. A purchase made "again" (e.g. as a gift) opens its own download
/// page instead, whose address is the one to pass on.
async fn after_purchase(session: &Session, buyer_id: &str, code: &str, download_token: &str, again: bool) -> Response {
    if !again && app::delivery::api::remember_just_bought(session, buyer_id, code, download_token).await.is_ok() {
        return super::redirect_to(&link(code, "bought=1")).into_response();
    }
    super::redirect_to(&format!("/d/{download_token}?start=1")).into_response()
}

/// Back from paying a top-up: credited, then the purchase it was for, whose download starts.
async fn topup_return(
    State(state): State<AppState>,
    session: Session,
    Path(topup_id): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    match service::topup_returned(&state, &topup_id, &q.k).await {
        Ok(TopUpReturn::Bought { buyer_id, code, download_token }) => {
            after_purchase(&session, &buyer_id, &code, &download_token, false).await
        }
        Ok(TopUpReturn::Credited { next, error: Some(error) }) => {
            let join = if next.contains('?') { '&' } else { '?' };
            super::redirect_to(&format!("{next}{join}error={}", urlencode(&error))).into_response()
        }
        Ok(TopUpReturn::Credited { next, error: None }) => {
            super::redirect_to(&safe_next(Some(&next), "/wallet?topped_up=1")).into_response()
        }
        Ok(TopUpReturn::Waiting) => {
            super::redirect_to(&format!("/wallet?topup={}&k={}", urlencode(&topup_id), urlencode(&q.k))).into_response()
        }
        Err(err) => AppError::from(err).into_response(),
    }
}

#[derive(Debug, Deserialize, Default)]
struct StartForm {
    /// A visitor's email (a signed-in buyer sends none).
    email: Option<String>,
    /// The top-up amount the buyer chose.
    topup: Option<String>,
    amount: Option<String>,
    source: Option<String>,
}

/// "Top up and buy" on a link page: a visitor gives an email and gets a wallet (a returning
/// one signs in instead); the card step follows, and the purchase completes on return.
async fn start_and_buy(
    State(state): State<AppState>,
    Path(code): Path<String>,
    session: Session,
    headers: HeaderMap,
    Extension(ClientIp(client)): Extension<ClientIp>,
    form: Result<Form<StartForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return AppError::BadRequest("Malformed form.".into()).into_response() };
    let back = |err: AppError| super::redirect_to(&link(&code, &format!("error={}", urlencode(&err.to_string())))).into_response();
    let buyer = match signed_in_or_new_buyer(&state, &session, &headers, client, form.email.as_deref(), &code).await {
        Ok(buyer) => buyer,
        Err(response) => return response,
    };
    let currency = match app::catalog::store::find_live_by_code(&state.db, &code).await {
        Ok(Some(work)) => work.currency,
        Ok(None) => return AppError::NotFound.into_response(),
        Err(e) => return app::error::internal("loading a work", &e).into_response(),
    };
    let request = TopUpRequest {
        amount: form.topup.unwrap_or_default(),
        currency,
        key: None,
        return_to: Some(format!("/l/{code}")),
        remember_card: false,
        then_buy: Some(ThenBuy {
            code: code.clone(),
            amount: form.amount,
            source: form.source.as_deref().map(clean_tag).filter(|s| !s.is_empty()).unwrap_or_else(|| "direct".into()),
            counted_view: super::counts_as_view(&headers),
        }),
    };
    match service::start_topup(&state, &buyer, &request).await {
        Ok(started) if started.done => {
            super::redirect_to(&format!("/wallet/topup/{}/return?k={}", started.topup_id, urlencode(&started.key))).into_response()
        }
        Ok(started) => super::redirect_to(&format!("/wallet?topup={}&k={}", started.topup_id, urlencode(&started.key))).into_response(),
        Err(err) => back(err.into()),
    }
}

/// The buyer behind a link page's form: the signed-in one, else a visitor who gives only an
/// email and gets a buyer account, signed in at once (a returning buyer signs in instead, and
/// comes back to the link page). `Err` is where the browser goes instead.
async fn signed_in_or_new_buyer(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    client: std::net::IpAddr,
    email: Option<&str>,
    code: &str,
) -> Result<AccountRow, Response> {
    let back = |err: AppError| super::redirect_to(&link(code, &format!("error={}", urlencode(&err.to_string())))).into_response();
    if let Some(id) = session::signed_in_account_id(session, &state.db).await {
        return match accounts::store::find_by_id(&state.db, &id).await {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(AppError::Unauthorized.into_response()),
            Err(e) => Err(app::error::internal("loading the buyer", &e).into_response()),
        };
    }
    let email = Email::parse(email.unwrap_or_default()).map_err(|e| back(e.into()))?;
    if !state.limits.allow(app::limits::Limit::BuyerStartPerClient, client) {
        return Err(back(AppError::RateLimited));
    }
    match accounts::service::start_buyer(&state.db, &email).await {
        Ok(Some(account)) => {
            match session::sign_in(session, &state.db, &account.account_id, account.session_epoch, app::edge::user_agent_of(headers)).await
            {
                Ok(session::SignedIn::Now) => Ok(account),
                // An account with two-step sign-in on gives its code, then comes back here.
                Ok(later) => Err(super::redirect_to(&later.then(&format!("/l/{code}"))).into_response()),
                Err(_) => Err(AppError::Internal.into_response()),
            }
        }
        // This email has an account: its owner signs in (password or link) and comes back.
        Ok(None) => {
            let next = urlencode(&format!("/l/{code}"));
            Err(super::redirect_to(&format!("/login?next={next}&email={}&has_wallet=1", urlencode(email.as_str()))).into_response())
        }
        Err(e) => Err(back(e.into())),
    }
}

/// "Get it now · pay later" on a link page: a visitor gives an email and nothing else; the
/// purchase goes on their new tab and the download starts. A signed-in buyer's wallet pays
/// first if it has enough.
async fn tab_buy(
    State(state): State<AppState>,
    Path(code): Path<String>,
    session: Session,
    headers: HeaderMap,
    Extension(ClientIp(client)): Extension<ClientIp>,
    form: Result<Form<BuyForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return AppError::BadRequest("Malformed form.".into()).into_response() };
    // The browser's device id, given one the first time it asks for a tab.
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (device, new_device) = match device::from_header(cookies) {
        Some(id) => (id, false),
        None => (device::new_id(), true),
    };
    let mut response = tab_buy_on_device(&state, &code, &session, &headers, client, &device::hash(&device), form).await;
    if new_device && let Ok(cookie) = header::HeaderValue::from_str(&device::set_header(&device, state.settings.uses_https())) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn tab_buy_on_device(
    state: &AppState,
    code: &str,
    session: &Session,
    headers: &HeaderMap,
    client: std::net::IpAddr,
    device_hash: &str,
    mut form: BuyForm,
) -> Response {
    // A tab is credit: new ones are limited per client address, per device and per email
    // domain, and an email or a device whose tab was written off gets none. The operator's log
    // says which rule refused; the buyer only that the tab isn't available.
    let signed_in = session::signed_in_account_id(session, &state.db).await.is_some();
    let email = form.email.as_deref().map(str::trim).filter(|e| !e.is_empty() && !signed_in);
    let domain = email.and_then(|e| e.rsplit_once('@')).map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    let blocked = async {
        let email_blocked = match email {
            Some(email) => store::tab_email_blocked(&state.db, &app::wallet::collection::email_hash(email)).await?,
            None => false,
        };
        Ok::<_, sqlx::Error>((email_blocked, store::tab_device_blocked(&state.db, device_hash).await?))
    };
    let (email_blocked, device_blocked) = match blocked.await {
        Ok(both) => both,
        Err(e) => return app::error::internal("checking the tab block lists", &e).into_response(),
    };
    let refused = if email_blocked {
        Some("an earlier tab of this email was written off")
    } else if device_blocked {
        Some("an earlier tab used from this device was written off")
    } else if signed_in {
        None
    } else if !state.limits.allow(app::limits::Limit::NewTabPerClient, client) {
        Some("too many new tabs from this address")
    } else if !state.limits.allow(app::limits::Limit::NewTabPerDevice, device_hash) {
        Some("too many new tabs from this device")
    } else if !domain.is_empty() && !state.limits.allow(app::limits::Limit::NewTabPerEmailDomain, &domain) {
        Some("too many new tabs with this email domain")
    } else {
        None
    };
    if let Some(reason) = refused {
        tracing::warn!(client = %client, email.domain = %domain, reason, "new tab refused");
        let message = "The tab isn't available right now. You can pay with a wallet or a card instead.";
        return super::redirect_to(&link(code, &format!("error={}", urlencode(message)))).into_response();
    }
    let buyer = match signed_in_or_new_buyer(state, session, headers, client, form.email.as_deref(), code).await {
        Ok(buyer) => buyer,
        Err(response) => return response,
    };
    if let Err(e) = store::remember_tab_device(&state.db, device_hash, &buyer.account_id, app::db::now_ms()).await {
        return app::error::internal("remembering the tab's device", &e).into_response();
    }
    form.tab = Some("1".into());
    buy_signed_in(state, session, headers, code, &buyer.account_id, form).await
}

/// Starts paying the tab by card and sends the browser to the card step (`next` once paid).
async fn settle_then(
    state: &AppState,
    buyer_id: &str,
    currency: app::money::Currency,
    then_buy: Option<&ThenBuy>,
    next: &str,
    by: SettleBy,
) -> Response {
    let buyer = match accounts::store::find_by_id(&state.db, buyer_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return AppError::Unauthorized.into_response(),
        Err(e) => return app::error::internal("loading the buyer", &e).into_response(),
    };
    match service::settle_tab(state, &buyer, currency, then_buy, Some(next), by).await {
        Ok(started) if started.done => {
            super::redirect_to(&format!("/wallet/topup/{}/return?k={}", started.topup_id, urlencode(&started.key))).into_response()
        }
        Ok(started) => super::redirect_to(&format!("/wallet?topup={}&k={}", started.topup_id, urlencode(&started.key))).into_response(),
        Err(err) => {
            let err = AppError::from(err);
            let join = if next.contains('?') { '&' } else { '?' };
            super::redirect_to(&format!("{next}{join}error={}", urlencode(&err.to_string()))).into_response()
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct PayTabForm {
    currency: Option<String>,
}

/// "Pay now" on the tab page.
async fn pay_tab(State(state): State<AppState>, session: Session, form: Result<Form<PayTabForm>, FormRejection>) -> Response {
    let Ok(Form(form)) = form else { return AppError::BadRequest("Malformed form.".into()).into_response() };
    let Some(me) = session::signed_in_account_id(&session, &state.db).await else {
        return super::redirect_to("/login?next=/wallet").into_response();
    };
    let currency = match app::money::Currency::parse(form.currency.as_deref().unwrap_or("EUR")) {
        Ok(currency) => currency,
        Err(e) => return AppError::from(e).into_response(),
    };
    settle_then(&state, &me, currency, None, "/wallet?tab_paid=1", SettleBy::CardStep).await
}

/// Every wallet movement as CSV: ISO 8601 dates, decimal amounts with their currency.
async fn history_csv(State(state): State<AppState>, session: Session) -> Response {
    let me = match buyer(&state, &session).await {
        Ok(Some(me)) => me,
        Ok(None) => return AppError::Unauthorized.into_response(),
        Err(e) => return e.into_response(),
    };
    match wallet_history_csv(&state.db, &me.account_id).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"clink-wallet-history.csv\""),
            ],
            body,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The tab's statement as CSV: every purchase on it (open, being paid, paid, refunded or
/// written off) and every payment of it, newest first.
async fn tab_csv(State(state): State<AppState>, session: Session) -> Response {
    let me = match buyer(&state, &session).await {
        Ok(Some(me)) => me,
        Ok(None) => return AppError::Unauthorized.into_response(),
        Err(e) => return e.into_response(),
    };
    let db_err = |e: sqlx::Error| app::error::internal("tab statement", &e).into_response();
    let (items, settlements) =
        match tokio::try_join!(store::tab_statement_items(&state.db, &me.account_id), store::settlements(&state.db, &me.account_id)) {
            Ok(both) => both,
            Err(e) => return db_err(e),
        };
    let paid: std::collections::HashSet<&str> =
        settlements.iter().filter(|s| s.status == app::orders::TopUpStatus::Succeeded).map(|s| s.topup_id.as_str()).collect();
    // (time, row) of both kinds, merged newest first.
    let mut lines: Vec<(i64, [String; 7])> = Vec::with_capacity(items.len() + settlements.len());
    for i in &items {
        let status = match (i.status, i.tab_settled_at, i.tab_written_off_at, i.tab_settlement_id.as_deref()) {
            (app::orders::OrderStatus::Refunded, ..) => "refunded",
            (_, Some(_), ..) => "paid",
            (_, None, Some(_), _) => "written off",
            (_, None, None, Some(s)) if !paid.contains(s) => "in payment",
            _ => "open",
        };
        let amount = app::money::Money::new(i.amount_minor, i.currency);
        let settlement = i.tab_settlement_id.clone().unwrap_or_default();
        lines.push((
            i.created_at,
            [
                super::api_v1::iso(i.created_at),
                "purchase".into(),
                i.title.clone(),
                amount.decimal(),
                i.currency.code().into(),
                status.into(),
                format!("{} {settlement}", i.order_id).trim().into(),
            ],
        ));
    }
    for s in &settlements {
        let status = match s.status {
            app::orders::TopUpStatus::Succeeded => "paid",
            app::orders::TopUpStatus::Failed => "card refused",
            app::orders::TopUpStatus::Pending => "waiting for the card",
        };
        let amount = app::money::Money::new(s.amount_minor, s.currency);
        lines.push((
            s.created_at,
            [
                super::api_v1::iso(s.created_at),
                "payment".into(),
                "Tab payment by card".into(),
                amount.decimal(),
                s.currency.code().into(),
                status.into(),
                s.topup_id.clone(),
            ],
        ));
    }
    lines.sort_by_key(|line| std::cmp::Reverse(line.0));
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(["date", "kind", "description", "amount", "currency", "status", "reference"]);
    for (_, line) in &lines {
        let _ = out.write_record(line);
    }
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"clink-tab.csv\"")],
        out.into_inner().unwrap_or_default(),
    )
        .into_response()
}

/// An account's wallet movements as CSV, with the running balance.
pub async fn wallet_history_csv(db: &app::db::Db, account_id: &str) -> Result<Vec<u8>, AppError> {
    let rows = store::history(db, account_id).await.map_err(|e| app::error::internal("wallet history", &e))?;
    let lines = history_lines(&rows);
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(["date", "description", "amount", "currency", "balance", "order_or_topup"]);
    let mut balance: std::collections::HashMap<String, i64> = Default::default();
    for (row, line) in rows.iter().zip(lines.iter().rev()) {
        let b = balance.entry(row.currency.clone()).or_default();
        *b += row.amount_minor;
        let date = super::api_v1::iso(row.created_at);
        let _ = out.write_record([
            date,
            line.what.clone(),
            app::money::Money::new(row.amount_minor, app::money::Currency::parse(&row.currency).unwrap_or(app::money::Currency::Eur))
                .decimal(),
            row.currency.clone(),
            app::money::Money::new(*b, app::money::Currency::Eur).decimal(),
            row.order_id.clone().unwrap_or_default(),
        ]);
    }
    Ok(out.into_inner().unwrap_or_default())
}
