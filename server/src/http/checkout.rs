//! Buying over plain HTTP: the Buy form, the test provider's card form and 3-D Secure
//! challenge, the return from payment, and the Stripe webhook (verified on the raw body).

use std::time::Duration;

use app::{
    accounts::session,
    checkout::{
        cookie,
        domain::{PayMethod, PayStep},
        provider::{EventKind, Payments, ProviderEvent, ReportedAmount, TestPayResult},
        service::{self, BuyRequest, Returned},
        store,
    },
    earnings::sources::clean_tag,
    error::AppError,
    state::AppState,
};
use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{Path, Query, State, rejection::FormRejection},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::uploads::{urlencode, wants_json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checkout/{code}", post(buy))
        .route("/checkout/forget", post(forget_card))
        .route("/checkout/return/{order_id}", get(returned))
        .route("/pay/test/{payment_id}", post(test_pay))
        .route("/pay/test/{payment_id}/authenticate", post(test_authenticate))
        .route("/webhooks/stripe", post(stripe_webhook))
}

#[derive(Debug, Deserialize, Default)]
struct BuyForm {
    email: Option<String>,
    amount: Option<String>,
    checkout_key: Option<String>,
    source: Option<String>,
    remember: Option<String>,
    one_click: Option<String>,
    /// The pay-what-you-want amount the button showed.
    shown_amount: Option<String>,
    /// The buyer owns the work and chose "Buy again".
    again: Option<String>,
    /// "Pay later with Klarna" was the button pressed (`klarna`).
    pay_later: Option<String>,
    /// The Klarna payer's country.
    klarna_country: Option<String>,
}

fn link_page(code: &str, query: &str) -> String {
    if query.is_empty() { format!("/l/{}", urlencode(code)) } else { format!("/l/{}?{query}", urlencode(code)) }
}

/// The Buy button. The price comes from the database; only a pay-what-you-want offer is taken
/// from the form (and checked).
async fn buy(
    State(state): State<AppState>,
    Path(code): Path<String>,
    session: Session,
    headers: HeaderMap,
    form: Result<Form<BuyForm>, FormRejection>,
) -> Response {
    let json = wants_json(&headers);
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => return AppError::BadRequest(e.body_text()).into_response(),
    };
    let one_click = form.one_click.as_deref() == Some("1");
    let saved = one_click
        .then(|| headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(|h| cookie::from_header(&state.secret, h)))
        .flatten();
    if one_click && saved.is_none() {
        let err = AppError::BadRequest("Your saved card isn't available on this device. Enter your email to pay.".into());
        return if json {
            err.into_response()
        } else {
            super::redirect_to(&link_page(&code, &format!("error={}", urlencode(&err.to_string())))).into_response()
        };
    }
    if let Some(card) = saved.as_ref().filter(|_| form.again.as_deref() != Some("1")) {
        // One click must never pay twice for the same thing by accident: an owner gets the
        // link page's "You own this" instead (its "Buy again" sends `again`).
        if matches!(store::owned_order(&state.db, &code, None, Some(&card.email)).await, Ok(Some(_))) {
            return super::redirect_to(&link_page(&code, "owned=1")).into_response();
        }
        // A pay-what-you-want amount typed without seeing it on the button is confirmed on
        // the card step rather than charged in one click.
        if super::wallet::amount_unseen(form.amount.as_deref(), form.shown_amount.as_deref()) {
            return super::redirect_to(&link_page(
                &code,
                &format!(
                    "amount={}&error={}",
                    urlencode(form.amount.as_deref().unwrap_or_default().trim()),
                    urlencode("Check the amount on the button, then buy.")
                ),
            ))
            .into_response();
        }
    }
    let source = form.source.as_deref().map(clean_tag).filter(|s| !s.is_empty()).unwrap_or_else(|| "direct".into());
    let request = BuyRequest {
        code: code.clone(),
        email: form.email.unwrap_or_default(),
        amount: form.amount,
        checkout_key: form.checkout_key,
        source,
        counted_view: super::counts_as_view(&headers),
        remember_card: form.remember.as_deref() == Some("1") || one_click,
        saved,
        buyer_account_id: session::signed_in_account_id(&session, &state.db).await,
        klarna_country: (form.pay_later.as_deref() == Some("klarna")).then(|| form.klarna_country.unwrap_or_default()),
    };
    match service::buy(&state, request).await {
        Ok(outcome) => {
            // Klarna's page comes from Stripe's answer, not from the request.
            if let Some(provider_page) = &outcome.redirect {
                return if json {
                    Json(serde_json::json!({ "order_id": outcome.order_id, "key": outcome.key, "done": false, "next": provider_page }))
                        .into_response()
                } else {
                    // A URL the provider checked (`provider_page`), so always a valid header.
                    axum::response::Redirect::to(provider_page).into_response()
                };
            }
            let next = if outcome.done {
                service::return_path(&outcome.order_id, &outcome.key)
            } else if let Some(reason) = &outcome.declined {
                format!("{}&error={}", service::pay_step_path(&outcome.work_code, &outcome.order_id, &outcome.key), urlencode(reason))
            } else {
                service::pay_step_path(&outcome.work_code, &outcome.order_id, &outcome.key)
            };
            if json {
                Json(serde_json::json!({
                    "order_id": outcome.order_id, "key": outcome.key, "done": outcome.done,
                    "declined": outcome.declined, "next": next,
                }))
                .into_response()
            } else {
                super::redirect_to(&next).into_response()
            }
        }
        Err(err) => {
            let err = AppError::from(err);
            if json || err == AppError::NotFound {
                err.into_response()
            } else {
                super::redirect_to(&link_page(&code, &format!("error={}", urlencode(&err.to_string())))).into_response()
            }
        }
    }
}

/// "Not you?": forgets the remembered card (a POST, so only this site's own forms can do it),
/// and goes back to the page it was asked from.
async fn forget_card(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|referer| referer.strip_prefix(state.settings.base_url.as_str()))
        .map(|path| app::edge::safe_next(Some(path), "/"))
        .unwrap_or_else(|| "/".into());
    ([(header::SET_COOKIE, cookie::clear_header(state.settings.uses_https()))], super::redirect_to(&back)).into_response()
}

#[derive(Deserialize)]
struct ReturnQuery {
    k: String,
}

/// The buyer is back from paying: fulfil (if the webhook hasn't yet), remember the card if
/// asked, and open the download.
async fn returned(State(state): State<AppState>, Path(order_id): Path<String>, Query(q): Query<ReturnQuery>) -> Response {
    match service::returned(&state, &order_id, &q.k).await {
        Ok(Returned::Ready { token, saved_card }) => {
            let mut res = super::redirect_to(&format!("/d/{token}")).into_response();
            let remember = store::order(&state.db, &order_id).await.ok().flatten().is_some_and(|o| o.save_card);
            if let (Some(card), true) = (saved_card, remember)
                && let Ok(value) = cookie::set_header(&state.secret, &card, state.settings.uses_https()).parse()
            {
                res.headers_mut().insert(header::SET_COOKIE, value);
            }
            res
        }
        Ok(Returned::Unfinished { page_url }) => super::redirect_to(&page_url).into_response(),
        Ok(Returned::Failed { code, reason }) => {
            super::redirect_to(&link_page(&code, &format!("error={}", urlencode(&reason)))).into_response()
        }
        Ok(Returned::Waiting) => Html(format!(
            "<!DOCTYPE html><meta charset=utf-8><meta http-equiv=refresh content=2><title>Confirming…</title>\
             <main class=store><h1>Confirming your payment…</h1>\
             <p class=lede>This takes a few seconds. This page refreshes by itself.</p>\
             <p><a href=\"{}\">Refresh now</a></p></main>",
            service::return_path(&order_id, &q.k)
        ))
        .into_response(),
        Err(err) => AppError::from(err).into_response(),
    }
}

#[derive(Deserialize)]
struct TestCardForm {
    order_id: String,
    k: String,
    card_number: Option<String>,
    card_expiry: Option<String>,
    card_cvc: Option<String>,
    result: Option<String>,
}

/// The payment step behind a test payment (an order's or a wallet top-up's), checked against
/// the browser's key.
async fn test_step(state: &AppState, payment_id: &str, form: &TestCardForm) -> Result<PayStep, AppError> {
    let Payments::Test(_) = &state.payments else { return Err(AppError::NotFound) };
    let step = if form.order_id.starts_with("topup_") {
        app::wallet::service::topup_pay_step(state, &form.order_id, &form.k).await.map_err(AppError::from)?
    } else {
        service::pay_step(state, &form.order_id, &form.k).await.map_err(AppError::from)?
    };
    match &step.method {
        PayMethod::TestCard { payment_id: id } if id == payment_id => Ok(step),
        _ => Err(AppError::NotFound),
    }
}

/// What the test provider does after a card result: the same asynchronous, webhook-like
/// confirmation Stripe sends, through the same event handler.
fn confirm_later(state: &AppState, payment_id: &str, reference: &str, kind: EventKind, suffix: &str) {
    let mut event = ProviderEvent {
        provider: app::orders::Provider::Test,
        event_id: format!("evt_{payment_id}_{suffix}"),
        payment_id: payment_id.to_string(),
        order_id: Some(reference.to_string()),
        kind,
        amount: None,
    };
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Like Stripe's, the test provider's confirmation says what the payment was for.
        if let Ok(Some(payment)) = store::test_payment(&state.db, &event.payment_id).await {
            event.amount = Some(ReportedAmount { minor: payment.amount_minor, currency: payment.currency });
        }
        if let Err(e) = app::payments::apply_event(&state, &event).await {
            tracing::error!(error = %e, event.id = %event.event_id, "test provider confirmation failed");
        }
    });
}

async fn after_test_result(state: &AppState, payment_id: &str, step: &PayStep, result: TestPayResult) -> Response {
    let join = |url: &str, extra: &str| if url.contains('?') { format!("{url}&{extra}") } else { format!("{url}?{extra}") };
    match result {
        TestPayResult::Succeeded => {
            confirm_later(state, payment_id, &step.order_id, EventKind::Succeeded, "succeeded");
            super::redirect_to(&step.return_url).into_response()
        }
        TestPayResult::NeedsAuthentication | TestPayResult::NotPayable => super::redirect_to(&step.page_url).into_response(),
        TestPayResult::Declined(message) => {
            confirm_later(state, payment_id, &step.order_id, EventKind::Failed(message.clone()), &format!("failed_{}", app::db::now_ms()));
            super::redirect_to(&join(&step.page_url, &format!("card_error={}", urlencode(&message)))).into_response()
        }
        TestPayResult::Invalid { field, message } => {
            super::redirect_to(&join(&step.page_url, &format!("card_error={}&field={field}", urlencode(&message)))).into_response()
        }
    }
}

async fn test_pay(State(state): State<AppState>, Path(payment_id): Path<String>, Form(form): Form<TestCardForm>) -> Response {
    let step = match test_step(&state, &payment_id, &form).await {
        Ok(step) => step,
        Err(err) => return err.into_response(),
    };
    let Payments::Test(provider) = &state.payments else { return AppError::NotFound.into_response() };
    let result = provider
        .pay(
            &state.db,
            &payment_id,
            form.card_number.as_deref().unwrap_or_default(),
            form.card_expiry.as_deref().unwrap_or_default(),
            form.card_cvc.as_deref().unwrap_or_default(),
        )
        .await;
    match result {
        Ok(result) => after_test_result(&state, &payment_id, &step, result).await,
        Err(e) => app::error::internal("test provider", &e).into_response(),
    }
}

async fn test_authenticate(State(state): State<AppState>, Path(payment_id): Path<String>, Form(form): Form<TestCardForm>) -> Response {
    let step = match test_step(&state, &payment_id, &form).await {
        Ok(step) => step,
        Err(err) => return err.into_response(),
    };
    let Payments::Test(provider) = &state.payments else { return AppError::NotFound.into_response() };
    let success = form.result.as_deref() == Some("complete");
    match provider.authenticate(&state.db, &payment_id, success).await {
        Ok(result) => after_test_result(&state, &payment_id, &step, result).await,
        Err(e) => app::error::internal("test provider", &e).into_response(),
    }
}

/// Stripe's webhook: verified on the exact raw bytes, then applied once per event. A 500 makes
/// Stripe retry; a bad signature is a 400 and changes nothing.
async fn stripe_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Payments::Stripe(stripe) = &state.payments else { return StatusCode::NOT_FOUND.into_response() };
    let Some(signature) = headers.get("stripe-signature").and_then(|v| v.to_str().ok()) else {
        return (StatusCode::BAD_REQUEST, "missing Stripe-Signature").into_response();
    };
    let Ok(payload) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not UTF-8").into_response();
    };
    let event = match stripe.parse_webhook(payload, signature) {
        Ok(Some(event)) => event,
        Ok(None) => return StatusCode::OK.into_response(),
        Err(reason) => {
            tracing::warn!(reason, "rejected a webhook");
            return (StatusCode::BAD_REQUEST, "invalid signature").into_response();
        }
    };
    match app::payments::apply_event(&state, &event).await {
        Ok(applied) => {
            tracing::info!(event.id = %event.event_id, ?applied, "stripe webhook");
            StatusCode::OK.into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, event.id = %event.event_id, "stripe webhook failed; Stripe will retry");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
