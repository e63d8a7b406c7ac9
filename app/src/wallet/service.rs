//! Wallet rules: one-click purchases under the buyer's spending rules, top-ups by card (with
//! the return to the purchase that needed them), auto-reload, and the history.

use super::{
    domain::{SpendingRules, parse_pin, parse_topup},
    store::{self, SettingsRow, TopUpRow},
    tab::{self, Tab},
    writer::{Funding, Outcome, PayFrom, Purchase, WriterError},
};
use crate::{
    accounts::{service as accounts, store::AccountRow},
    catalog::service as catalog,
    checkout::{
        domain::{PayMethod, PayStep, SavedCard},
        provider::{Charge, EventKind, PaymentRequest, ProviderError, ProviderEvent, ReportedAmount},
        service::Applied,
    },
    db::{self, Tx},
    delivery::service as delivery,
    error::{AppError, FieldError, internal},
    ledger::{
        domain::{AccountRef, Posting, platform_fee},
        service::{self as ledger, LedgerError, NewTxn},
    },
    money::{Currency, Money},
    orders::{OrderStatus, TopUpStatus},
    state::AppState,
};

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("not found")]
    NotFound,
    #[error("wallet paused")]
    Paused,
    #[error("confirmation needed")]
    NeedsConfirmation(Money),
    #[error("PIN needed")]
    NeedsPin,
    #[error("wrong PIN")]
    WrongPin,
    #[error("too many PIN attempts")]
    TooManyAttempts,
    #[error("insufficient balance")]
    Insufficient { balance: Money, price: Money },
    #[error("spending cap reached")]
    CapReached { weekly: bool },
    /// The purchase would take the tab over its limit: settle it first.
    #[error("over the tab limit")]
    OverTabLimit { tab: Tab, price: Money },
    /// The tab can't pay for this: the creator doesn't sell on tabs, or the price is more than
    /// the buyer's whole tab limit.
    #[error("the tab can't pay for this")]
    TabUnavailable,
    /// A settlement was refused, or the collection's third reminder locked it (`overdue`):
    /// the tab takes nothing more until it is paid.
    #[error("the tab is locked")]
    TabLocked { overdue: bool },
    #[error("nothing to settle")]
    NothingToSettle,
    #[error("free works need no wallet")]
    Free,
    #[error("the buyer's account is gone")]
    NoSuchBuyer,
    #[error("the work or the wallet settings kept changing during the purchase")]
    KeptChanging,
    #[error(transparent)]
    Writer(#[from] WriterError),
    #[error("hashing the PIN failed: {0}")]
    PinHashing(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl WalletError {
    /// A refusal that follows from the work's price or the buyer's spending rules.
    fn rests_on_the_work_or_the_rules(&self) -> bool {
        matches!(
            self,
            WalletError::Invalid(_)
                | WalletError::Free
                | WalletError::Paused
                | WalletError::NeedsPin
                | WalletError::WrongPin
                | WalletError::NeedsConfirmation(_)
        )
    }
}

impl From<WalletError> for AppError {
    fn from(err: WalletError) -> Self {
        match err {
            WalletError::Invalid(f) => f.into(),
            WalletError::NotFound => AppError::NotFound,
            WalletError::Paused => AppError::Conflict("Your wallet is paused. Resume it in your wallet settings to buy.".into()),
            WalletError::NeedsConfirmation(amount) => AppError::Conflict(format!("Please confirm this {amount} purchase.")),
            WalletError::NeedsPin => AppError::invalid("pin", "Enter your wallet PIN for this purchase."),
            WalletError::WrongPin => AppError::invalid("pin", "That PIN is not right."),
            WalletError::TooManyAttempts => AppError::RateLimited,
            WalletError::Insufficient { balance, price } => {
                AppError::PaymentRequired(format!("Your wallet has {balance}; this costs {price}. Top up to buy it."))
            }
            WalletError::CapReached { weekly } => AppError::Conflict(format!(
                "This would go over your {} spending cap. You can change it in your wallet settings.",
                if weekly { "weekly" } else { "monthly" }
            )),
            WalletError::OverTabLimit { tab, price } => AppError::PaymentRequired(format!(
                "Your tab has {} of {}; this costs {price}. Settle your tab to buy it.",
                tab.owed, tab.limit
            )),
            WalletError::TabUnavailable => AppError::Conflict("This can't be bought on a tab.".into()),
            WalletError::TabLocked { overdue: false } => {
                AppError::PaymentRequired("Your last tab payment didn't go through. Pay your tab to buy on it again.".into())
            }
            WalletError::TabLocked { overdue: true } => AppError::PaymentRequired("Your tab is overdue. Pay it to buy on it again.".into()),
            WalletError::NothingToSettle => AppError::Conflict("Your tab is paid: nothing to settle.".into()),
            WalletError::Free => AppError::BadRequest("This work is free: no wallet needed.".into()),
            WalletError::NoSuchBuyer => AppError::Unauthorized,
            WalletError::KeptChanging => AppError::Conflict(
                "This work or your wallet settings changed while you bought. Nothing was charged; please try again.".into(),
            ),
            WalletError::Provider(ProviderError::Rejected(e)) => {
                tracing::warn!(error = %e, "payment provider refused a top-up");
                AppError::BadRequest("The payment provider refused this top-up.".into())
            }
            WalletError::Provider(e) => internal("payment provider failed", &e),
            WalletError::Writer(e) => internal("wallet writer failed", &e),
            e @ WalletError::PinHashing(_) => internal("saving wallet settings", &e),
            WalletError::Ledger(e) => internal("ledger failed", &e),
            WalletError::Database(e) => internal("wallet query failed", &e),
        }
    }
}

pub fn rules_of(settings: &SettingsRow) -> SpendingRules {
    SpendingRules {
        paused: settings.paused,
        confirm_above: settings.confirm_above_minor,
        weekly_cap: settings.weekly_cap_minor,
        monthly_cap: settings.monthly_cap_minor,
        pin_above: settings.pin_above_minor,
        has_pin: settings.pin_hash.is_some(),
        tab_limit: settings.tab_limit_minor,
    }
}

pub async fn balance(state: &AppState, account_id: &str, currency: Currency) -> Result<Money, WalletError> {
    let minor = crate::ledger::store::balance(&state.db, &AccountRef::buyer_wallet(account_id, currency).id()).await?;
    Ok(Money::new(minor, currency))
}

/// A one-click wallet purchase.
#[derive(Debug, Clone, Default)]
pub struct WalletBuy {
    pub code: String,
    /// The client's idempotency key: the same key is the same purchase, however often sent.
    pub key: String,
    pub pin: Option<String>,
    pub confirmed: bool,
    pub source: String,
    /// The visit was counted as a view: a person on the link page, not a program or a bot.
    pub counted_view: bool,
    /// Pay-what-you-want offer, as typed (else the suggested amount).
    pub amount: Option<String>,
    /// Pay from the wallet if it has enough, else from the buyer's tab ("Get it now · pay
    /// later"). Without it, the wallet pays or the purchase is refused.
    pub use_tab: bool,
}

#[derive(Debug, Clone)]
pub struct Bought {
    pub order_id: String,
    pub download_token: String,
    pub balance: Money,
    pub price: Money,
    /// A retry of a purchase already made.
    pub repeated: bool,
    /// It went on the buyer's tab.
    pub on_tab: bool,
}

fn valid_key(key: &str) -> Result<&str, FieldError> {
    let key = key.trim();
    if (16..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(key)
    } else {
        Err(FieldError::new("key", "Every wallet purchase needs an idempotency key of 16 to 64 letters, digits, - or _."))
    }
}

/// How often a purchase is decided again after the writer found its cached rows stale (each
/// round reads fresh rows, so a second round only fails if they changed yet again).
const DECISION_ROUNDS: usize = 3;

/// A one-click purchase by the signed-in buyer `buyer_id`.
pub async fn buy(state: &AppState, buyer_id: &str, req: &WalletBuy) -> Result<Bought, WalletError> {
    let key = valid_key(&req.key)?;
    let offer = match req.amount.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => Some(crate::money::parse_amount(raw, "amount")?),
        _ => None,
    };
    let download_token = delivery::issue_token();
    // Whether this round's copies were just read from the database.
    let mut fresh = false;
    for _ in 0..DECISION_ROUNDS {
        let (work, settings) =
            tokio::join!(state.purchase_cache.work(&state.db, &req.code), state.purchase_cache.settings(&state.db, buyer_id));
        let work = work.map_err(|e| match e {
            catalog::CatalogError::Database(e) => WalletError::Database(e),
            _ => WalletError::NotFound,
        })?;
        let settings = settings?;
        let decided = async {
            let price = work.price().charge_for(offer)?;
            if price.is_zero() {
                return Err(WalletError::Free);
            }
            let rules = rules_of(&settings);
            if rules.paused {
                return Err(WalletError::Paused);
            }
            if rules.needs_pin(price.minor) {
                let pin = req.pin.as_deref().filter(|p| !p.trim().is_empty()).ok_or(WalletError::NeedsPin)?;
                if !state.limits.allow(crate::limits::Limit::PinPerAccount, buyer_id) {
                    return Err(WalletError::TooManyAttempts);
                }
                let hash = settings.pin_hash.clone().unwrap_or_default();
                if !accounts::verify_secret(pin.trim().to_string(), hash).await.unwrap_or(false) {
                    return Err(WalletError::WrongPin);
                }
            }
            if rules.needs_confirmation(price.minor) && !req.confirmed {
                return Err(WalletError::NeedsConfirmation(price));
            }
            Ok(price)
        }
        .await;
        let price = match decided {
            Ok(price) => price,
            // A refusal decided on cached copies is only given once fresh rows agree: the
            // wallet may have been resumed, or the price changed, on another app server.
            Err(err) if !fresh && err.rests_on_the_work_or_the_rules() => {
                state.purchase_cache.forget(&req.code, buyer_id);
                fresh = true;
                if matches!(err, WalletError::WrongPin) {
                    // Checking the PIN again is only worth it if it changed.
                    let current = state.purchase_cache.settings(&state.db, buyer_id).await?;
                    if current.pin_hash == settings.pin_hash {
                        return Err(err);
                    }
                }
                continue;
            }
            Err(err) => return Err(err),
        };
        // Whether the wallet or the tab pays is decided in the writer's batch, on its reads.
        let funding =
            if req.use_tab { Funding::WalletElseTab { operator_limit_minor: state.settings.tab_limit_minor } } else { Funding::Wallet };
        let purchase = Purchase {
            funding,
            key: format!("wallet:{buyer_id}:{key}"),
            buyer_id: buyer_id.to_string(),
            currency: price.currency,
            amount_minor: price.minor,
            fee_minor: platform_fee(price.minor, state.settings.fee_bps),
            source: req.source.clone(),
            counted_view: req.counted_view,
            token_selector: download_token.selector.clone(),
            token_verifier_hash: download_token.verifier_hash.clone(),
            work: work.clone(),
            settings: settings.clone(),
        };
        let (order_id, bought, repeated) = match state.wallet_writer.submit(purchase).await? {
            Outcome::Bought { order_id, paid_from, wallet_minor } => (order_id, Some((paid_from, wallet_minor)), false),
            Outcome::Repeated { order_id } => (order_id, None, true),
            // A "pay later" purchase the wallet was to pay is decided again (`Stale`), so this
            // is the tab's limit.
            Outcome::InsufficientFunds if req.use_tab => {
                return Err(WalletError::OverTabLimit { tab: tab_state(state, buyer_id, price.currency, &settings).await?, price });
            }
            Outcome::InsufficientFunds => {
                return Err(WalletError::Insufficient { balance: balance(state, buyer_id, price.currency).await?, price });
            }
            Outcome::TabUnavailable => return Err(WalletError::TabUnavailable),
            Outcome::TabLocked { overdue } => return Err(WalletError::TabLocked { overdue }),
            Outcome::CapReached { weekly } => return Err(WalletError::CapReached { weekly }),
            Outcome::NoSuchBuyer => return Err(WalletError::NoSuchBuyer),
            Outcome::Stale => {
                state.purchase_cache.forget(&req.code, buyer_id);
                fresh = true;
                continue;
            }
        };
        let (on_tab, balance) = match bought {
            Some((paid_from, wallet_minor)) => (paid_from != PayFrom::Wallet, Money::new(wallet_minor, price.currency)),
            // A retry: what paid for it the first time, and the wallet as it is now.
            None => {
                let (order, balance) = tokio::try_join!(
                    async { Ok::<_, WalletError>(crate::checkout::store::order(&state.db, &order_id).await?) },
                    balance(state, buyer_id, price.currency)
                )?;
                (order.is_some_and(|o| o.provider == crate::orders::Provider::Tab), balance)
            }
        };
        if !repeated && !on_tab {
            maybe_autoreload(state, buyer_id, &settings, balance);
        }
        // A retry gets a token of its own: the first one was only ever shown to the first answer.
        let download_token = if repeated { delivery::mint(&state.db, &order_id).await? } else { download_token.token };
        return Ok(Bought { order_id, download_token, balance, price, repeated, on_tab });
    }
    Err(WalletError::KeptChanging)
}

/// The buyer's tab in `currency` as it stands, under their own limit in `settings`.
pub async fn tab_state(state: &AppState, buyer_id: &str, currency: Currency, settings: &SettingsRow) -> Result<Tab, WalletError> {
    let (owed, settlements, collection) = tokio::try_join!(
        store::tab_owed(&state.db, buyer_id, currency),
        store::settlements(&state.db, buyer_id),
        store::tab_collection(&state.db, buyer_id, currency)
    )?;
    let standing = tab::Standing::of_rows(&settlements, currency);
    Ok(tab::tab_of(owed, currency, &standing, &collection, state.settings.tab_limit_minor, settings))
}

/// How a settlement is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleBy {
    /// The card step, where the buyer enters a card ("Pay now").
    CardStep,
    /// The saved card, off-session, if the buyer agreed to that (`tab_autopay`); else the card
    /// step. A purchase over the limit, and the collection of a tab due.
    SavedCardIfAgreed,
}

/// Starts paying the buyer's tab in `currency` by card ("Pay now", or a purchase that would go
/// over the limit, which `then_buy` then completes). A settlement already started and not paid
/// is the one to pay: its card step again, never a second charge for the same purchases.
pub async fn settle_tab(
    state: &AppState,
    buyer: &AccountRow,
    currency: Currency,
    then_buy: Option<&ThenBuy>,
    return_to: Option<&str>,
    by: SettleBy,
) -> Result<TopUpStarted, WalletError> {
    let then_buy = then_buy.and_then(|t| serde_json::to_string(t).ok());
    let settlements = store::settlements(&state.db, &buyer.account_id).await?;
    if let Some(open) = settlements.iter().find(|s| s.currency == currency && s.status != TopUpStatus::Succeeded) {
        if let Some(then_buy) = &then_buy {
            store::set_then_buy(&state.db, &open.topup_id, then_buy).await?;
        }
        return Ok(TopUpStarted { topup_id: open.topup_id.clone(), key: topup_key(state, &open.topup_id), done: false });
    }
    // The settlement and its claim on the open purchases are written together: its amount is
    // what exactly the purchases it claimed cost.
    let topup_id = format!("topup_{}", db::new_id());
    let mut tx = state.db.begin().await?;
    let owed = tab::claim(&mut tx, &buyer.account_id, currency, &topup_id).await?;
    if owed == 0 {
        return Err(WalletError::NothingToSettle);
    }
    let return_to = return_to.map(|r| crate::edge::safe_next(Some(r), "/wallet"));
    let amount = Money::new(tab::settlement_amount(owed, currency), currency);
    let new = NewTopUp {
        checkout_key: format!("tab:{topup_id}"),
        topup_id: Some(topup_id),
        return_to,
        then_buy,
        settles_tab: true,
        ..NewTopUp::of(amount)
    };
    let topup = new.row(state, buyer);
    store::insert_topup_in(&mut tx, &topup).await?;
    tx.commit().await?;
    let saved = match by {
        SettleBy::CardStep => None,
        SettleBy::SavedCardIfAgreed => autopay_card(state, &store::settings(&state.db, &buyer.account_id).await?),
    };
    pay_topup(state, buyer, topup, saved.as_ref()).await
}

/// A top-up the buyer asked for.
#[derive(Debug, Clone, Default)]
pub struct TopUpRequest {
    pub amount: String,
    pub currency: String,
    pub key: Option<String>,
    /// A local path to go back to after paying (the purchase that needed the top-up).
    pub return_to: Option<String>,
    pub remember_card: bool,
    /// The purchase to make as soon as the top-up is paid.
    pub then_buy: Option<ThenBuy>,
}

/// A wallet purchase waiting for its top-up: top up and buy is one flow for the buyer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ThenBuy {
    pub code: String,
    /// The pay-what-you-want amount, as typed.
    pub amount: Option<String>,
    pub source: String,
    /// Older pending top-ups don't say: their purchase isn't counted in conversion.
    #[serde(default)]
    pub counted_view: bool,
}

#[derive(Debug, Clone)]
pub struct TopUpStarted {
    pub topup_id: String,
    pub key: String,
    pub done: bool,
}

pub fn topup_key(state: &AppState, topup_id: &str) -> String {
    state.secret.sign("topup", topup_id.as_bytes())
}

pub async fn start_topup(state: &AppState, buyer: &AccountRow, req: &TopUpRequest) -> Result<TopUpStarted, WalletError> {
    let currency = Currency::parse(&req.currency)?;
    let amount = parse_topup(&req.amount, currency.card_minimum())?;
    let checkout_key = match req.key.as_deref() {
        Some(k) => format!("topup:{}:{}", buyer.account_id, valid_key(k)?),
        None => format!("topup:{}", db::new_id()),
    };
    let return_to = req.return_to.as_deref().map(|r| crate::edge::safe_next(Some(r), "/wallet"));
    let then_buy = req.then_buy.as_ref().and_then(|t| serde_json::to_string(t).ok());
    let new = NewTopUp { checkout_key, return_to, save_card: req.remember_card, then_buy, ..NewTopUp::of(Money::new(amount, currency)) };
    start_topup_with(state, buyer, new).await
}

/// A top-up about to be started.
struct NewTopUp<'a> {
    amount: Money,
    checkout_key: String,
    /// Chosen by the caller (a settlement claims its purchases under it first), else new.
    topup_id: Option<String>,
    return_to: Option<String>,
    save_card: bool,
    /// Charge this saved card off-session (auto-reload).
    saved: Option<&'a SavedCard>,
    then_buy: Option<String>,
    settles_tab: bool,
}

impl NewTopUp<'_> {
    fn of(amount: Money) -> Self {
        NewTopUp {
            amount,
            checkout_key: format!("topup:{}", db::new_id()),
            topup_id: None,
            return_to: None,
            save_card: false,
            saved: None,
            then_buy: None,
            settles_tab: false,
        }
    }

    fn row(&self, state: &AppState, buyer: &AccountRow) -> TopUpRow {
        let now = db::now_ms();
        TopUpRow {
            topup_id: self.topup_id.clone().unwrap_or_else(|| format!("topup_{}", db::new_id())),
            account_id: buyer.account_id.clone(),
            currency: self.amount.currency,
            amount_minor: self.amount.minor,
            status: TopUpStatus::Pending,
            provider: state.payments.provider(),
            provider_payment_id: None,
            checkout_key: self.checkout_key.clone(),
            return_to: self.return_to.clone(),
            automatic: self.saved.is_some(),
            save_card: self.save_card,
            created_at: now,
            updated_at: now,
            then_buy: self.then_buy.clone(),
            settles_tab: self.settles_tab,
        }
    }
}

async fn start_topup_with(state: &AppState, buyer: &AccountRow, new: NewTopUp<'_>) -> Result<TopUpStarted, WalletError> {
    let topup = store::insert_topup(&state.db, &new.row(state, buyer)).await?;
    pay_topup(state, buyer, topup, new.saved).await
}

/// Starts the card payment of a top-up just written (or finds it decided, for a repeated key).
async fn pay_topup(state: &AppState, buyer: &AccountRow, topup: TopUpRow, saved: Option<&SavedCard>) -> Result<TopUpStarted, WalletError> {
    let (amount, save_card) = (Money::new(topup.amount_minor, topup.currency), topup.save_card);
    let mut started = TopUpStarted { key: topup_key(state, &topup.topup_id), topup_id: topup.topup_id.clone(), done: false };
    if topup.status != TopUpStatus::Pending {
        started.done = topup.status == TopUpStatus::Succeeded;
        return Ok(started);
    }
    let description = if topup.settles_tab { "Clink tab" } else { "Clink wallet top-up" };
    let request = PaymentRequest { order_id: &topup.topup_id, amount, email: &buyer.email, description, save_card, saved, klarna: None };
    let payment = state.payments.start(&state.db, &request).await?;
    if !payment.payment_id.is_empty() {
        store::set_topup_payment(&state.db, &topup.topup_id, &payment.payment_id, db::now_ms()).await?;
    }
    if payment.charge == Charge::Succeeded {
        let event = ProviderEvent {
            provider: state.payments.provider(),
            event_id: format!("charge:{}", topup.topup_id),
            payment_id: payment.payment_id,
            order_id: Some(topup.topup_id.clone()),
            kind: EventKind::Succeeded,
            amount: None,
        };
        apply_topup_event(state, &topup.topup_id, &event).await?;
        started.done = true;
    }
    Ok(started)
}

/// The payment step of a top-up, shown on the wallet page.
pub async fn topup_pay_step(state: &AppState, topup_id: &str, key: &str) -> Result<PayStep, WalletError> {
    if !state.secret.verify("topup", topup_id.as_bytes(), key) {
        return Err(WalletError::NotFound);
    }
    let topup = store::topup(&state.db, topup_id).await?.ok_or(WalletError::NotFound)?;
    let currency = topup.currency;
    let (method, authenticate) = match (&topup.provider_payment_id, topup.status) {
        (Some(payment_id), TopUpStatus::Pending | TopUpStatus::Failed) => match state.payments.resume(&state.db, payment_id).await? {
            Charge::NeedsCard(m) => (m, false),
            Charge::NeedsAuth(m) => (m, true),
            _ => (PayMethod::None, false),
        },
        _ => (PayMethod::None, false),
    };
    let status = match topup.status {
        TopUpStatus::Succeeded => OrderStatus::Fulfilled,
        TopUpStatus::Failed => OrderStatus::Failed,
        TopUpStatus::Pending => OrderStatus::Pending,
    };
    let q = format!("topup={}&k={}", topup.topup_id, urlencode(key));
    Ok(PayStep {
        order_id: topup.topup_id.clone(),
        key: key.to_string(),
        amount_label: Money::new(topup.amount_minor, currency).to_string(),
        email: String::new(),
        status,
        method,
        authenticate,
        error: None,
        page_url: format!("/wallet?{q}"),
        return_url: format!("/wallet/topup/{}/return?k={}", topup.topup_id, urlencode(key)),
        cancel_url: "/wallet".into(),
        heading: if topup.settles_tab {
            format!("Pay your tab: {}", Money::new(topup.amount_minor, currency))
        } else {
            format!("Top up {}", Money::new(topup.amount_minor, currency))
        },
    })
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Where a buyer back from paying a top-up goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopUpReturn {
    /// Credited, and the purchase of link `code` it was for is made by `buyer_id`: its download
    /// token.
    Bought { buyer_id: String, code: String, download_token: String },
    /// Credited; go on to this local path (the wallet, or the link page whose purchase needs
    /// the buyer once more: a PIN, a confirmation).
    Credited { next: String, error: Option<String> },
    /// Not confirmed yet.
    Waiting,
}

/// The buyer is back from paying a top-up: credit it (if the confirmation hasn't), remember
/// the card for auto-reload if asked, make the purchase it was started for, and say where to
/// go next.
pub async fn topup_returned(state: &AppState, topup_id: &str, key: &str) -> Result<TopUpReturn, WalletError> {
    if !state.secret.verify("topup", topup_id.as_bytes(), key) {
        return Err(WalletError::NotFound);
    }
    let topup = store::topup(&state.db, topup_id).await?.ok_or(WalletError::NotFound)?;
    if let Some(payment_id) = &topup.provider_payment_id {
        let check = state.payments.check(&state.db, payment_id).await?;
        if check.succeeded {
            let event = ProviderEvent {
                provider: state.payments.provider(),
                event_id: format!("return:{topup_id}"),
                payment_id: payment_id.clone(),
                order_id: Some(topup_id.to_string()),
                kind: EventKind::Succeeded,
                amount: check.received.map(ReportedAmount::of),
            };
            apply_topup_event(state, topup_id, &event).await?;
            if let (true, Some(mut card)) = (topup.save_card, check.saved_card) {
                card.email = String::new();
                let mut settings = store::settings(&state.db, &topup.account_id).await?;
                settings.saved_card = serde_json::to_string(&card).ok();
                settings.updated_at = db::now_ms();
                store::save_settings(&state.db, &settings).await?;
                state.purchase_cache.forget_settings(&settings.account_id);
            }
        }
    }
    let topup = store::topup(&state.db, topup_id).await?.ok_or(WalletError::NotFound)?;
    if topup.status != TopUpStatus::Succeeded {
        return Ok(TopUpReturn::Waiting);
    }
    let next = topup.return_to.clone().unwrap_or_else(|| "/wallet?topped_up=1".into());
    let Some(then_buy) = topup.then_buy.as_deref().and_then(|t| serde_json::from_str::<ThenBuy>(t).ok()) else {
        return Ok(TopUpReturn::Credited { next, error: None });
    };
    // The purchase's key is the top-up's: however often the buyer comes back, it is one purchase.
    let purchase = WalletBuy {
        code: then_buy.code.clone(),
        key: format!("then-{}", topup.topup_id),
        pin: None,
        confirmed: true,
        source: then_buy.source,
        counted_view: then_buy.counted_view,
        amount: then_buy.amount,
        // After paying the tab, the purchase that needed it goes on the tab again.
        use_tab: topup.settles_tab,
    };
    match buy(state, &topup.account_id, &purchase).await {
        Ok(bought) => {
            Ok(TopUpReturn::Bought { buyer_id: topup.account_id.clone(), code: then_buy.code, download_token: bought.download_token })
        }
        // The buyer's own rules (a PIN, a pause) or a change to the work stop it here: the link
        // page says why, with the wallet now able to pay.
        Err(err) => {
            tracing::info!(topup.id = %topup.topup_id, error = %err, "purchase after a top-up not made");
            let message = AppError::from(err).to_string();
            Ok(TopUpReturn::Credited { next: format!("/l/{}", then_buy.code), error: Some(message) })
        }
    }
}

/// Applies a provider event about top-up `topup_id`, exactly once (`payments::apply_event`
/// decides that the event is this top-up's): the wallet is credited in the same transaction
/// that marks the event handled.
pub async fn apply_topup_event(state: &AppState, topup_id: &str, event: &ProviderEvent) -> Result<Applied, WalletError> {
    let mut tx = state.db.begin().await?;
    let Some(topup) = store::topup_in(&mut tx, topup_id).await? else { return Ok(Applied::Ignored) };
    if !crate::checkout::store::mark_processed(&mut tx, &format!("{}:{}", event.provider, event.event_id), db::now_ms()).await? {
        return Ok(Applied::Duplicate);
    }
    let currency = topup.currency;
    let expected = Money::new(topup.amount_minor, currency);
    if let (EventKind::Succeeded | EventKind::Refunded, Some(reported)) = (&event.kind, &event.amount)
        && !reported.is(expected)
    {
        crate::checkout::store::record_discrepancy(&mut tx, event, &topup.topup_id, expected, reported, db::now_ms()).await?;
        tx.commit().await?;
        tracing::error!(topup.id = %topup.topup_id, event.id = %event.event_id, reported.minor = reported.minor,
                reported.currency = %reported.currency, expected = %expected, "top-up amount differs from what was asked: held");
        return Ok(Applied::Held);
    }
    // A top-up of a deleted account credits nothing: the hourly reconciliation reports the
    // payment for the operator to refund.
    if matches!(event.kind, EventKind::Succeeded) && crate::accounts::store::deleted_in(&mut tx, &topup.account_id).await? {
        tx.commit().await?;
        tracing::error!(topup.id = %topup.topup_id, event.id = %event.event_id, "a top-up was paid for a deleted account: not credited, refund it");
        return Ok(Applied::Held);
    }
    match &event.kind {
        EventKind::Succeeded => credit(&mut tx, &topup).await?,
        EventKind::Failed(_) => {
            crate::on_tx!(&mut tx, conn => sqlx::query("update wallet_topup set status = 'failed', updated_at = $1 where topup_id = $2 and status = 'pending'")
                .bind(db::now_ms()).bind(topup_id).execute(conn).await.map(|_| ()))?;
        }
        EventKind::Refunded => {
            // As with orders: a refund proves the payment was made, so a top-up whose own event
            // hasn't come is credited first, then taken back.
            credit(&mut tx, &topup).await?;
            take_back(&mut tx, &topup, currency).await?;
        }
    }
    tx.commit().await?;
    state.purchase_cache.forget_settings(&topup.account_id);
    Ok(Applied::Done)
}

/// A refunded wallet purchase no longer counts against its buyer's spending caps: the periods
/// it was counted in (those of `bought_at`) get `amount` back.
pub async fn give_back_spent(tx: &mut Tx, buyer_id: &str, currency: Currency, bought_at: i64, amount: i64) -> Result<(), WalletError> {
    let (week, month) = super::domain::periods(bought_at);
    Ok(store::give_back_spent(tx, buyer_id, currency.code(), [&week, &month], amount).await?)
}

/// A top-up refunded by the provider (the buyer's bank, a dispute, the operator in Stripe's
/// dashboard): its amount leaves the wallet. Spent already, it leaves the wallet below zero:
/// the buyer owes that much, can't buy until a top-up covers it, and the wallet page says so.
/// Once per top-up (the ledger's idempotency key).
async fn take_back(tx: &mut Tx, topup: &TopUpRow, currency: Currency) -> Result<(), WalletError> {
    let posted = ledger::post(
        tx,
        &NewTxn {
            kind: "topup_refund",
            order_id: Some(topup.topup_id.clone()),
            idempotency_key: format!("topup_refund:{}", topup.topup_id),
            memo: "wallet top-up refunded by the payment provider".into(),
            postings: vec![
                Posting::overdrawing(AccountRef::buyer_wallet(&topup.account_id, currency), -topup.amount_minor),
                Posting::new(AccountRef::refunds(currency), topup.amount_minor),
            ],
        },
    )
    .await?;
    if matches!(posted, crate::ledger::service::Posted::Recorded(_)) {
        tracing::warn!(topup.id = %topup.topup_id, account.id = %topup.account_id, amount = topup.amount_minor, "top-up refunded at the provider: wallet debited");
    }
    Ok(())
}

async fn credit(tx: &mut Tx, topup: &TopUpRow) -> Result<(), WalletError> {
    let now = db::now_ms();
    if !store::settle_topup(tx, &topup.topup_id, TopUpStatus::Succeeded, now).await? {
        return Ok(());
    }
    if topup.settles_tab {
        return Ok(tab::book_settlement(tx, topup, now).await?);
    }
    let currency = topup.currency;
    ledger::post(
        tx,
        &NewTxn {
            kind: "topup",
            order_id: Some(topup.topup_id.clone()),
            idempotency_key: format!("topup:{}", topup.topup_id),
            memo: format!("wallet top-up{}", if topup.automatic { " (auto-reload)" } else { "" }),
            postings: vec![
                Posting::new(AccountRef::provider_clearing(topup.provider.as_str(), currency), -topup.amount_minor),
                Posting::new(AccountRef::buyer_wallet(&topup.account_id, currency), topup.amount_minor),
            ],
        },
    )
    .await?;
    tracing::info!(topup.id = %topup.topup_id, amount = topup.amount_minor, "wallet topped up");
    Ok(())
}

/// Auto-reload: when the balance falls below the buyer's threshold, charge the saved card,
/// at most N times a month. Runs in the background; a refused card just doesn't reload.
fn maybe_autoreload(state: &AppState, buyer_id: &str, settings: &SettingsRow, balance: Money) {
    let (Some(below), Some(amount), Some(max), Some(card)) = (
        settings.autoreload_below_minor,
        settings.autoreload_amount_minor,
        settings.autoreload_max_per_month,
        settings.saved_card.as_deref().and_then(|c| serde_json::from_str::<SavedCard>(c).ok()),
    ) else {
        return;
    };
    let currency_matches = settings.autoreload_currency.as_deref() == Some(balance.currency.code());
    if !settings.autoreload_enabled || !currency_matches || balance.minor >= below || card.provider != state.payments.provider() {
        return;
    }
    let (state, buyer_id) = (state.clone(), buyer_id.to_string());
    tokio::spawn(async move {
        let buyer = match crate::accounts::store::find_by_id(&state.db, &buyer_id).await {
            Ok(Some(buyer)) => buyer,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(account.id = %buyer_id, error = %e, "auto-reload could not load the buyer");
                return;
            }
        };
        let (_, month) = super::domain::periods(db::now_ms());
        let month_start = month_start_ms();
        let used = store::automatic_topups_since(&state.db, &buyer.account_id, month_start).await.unwrap_or(i64::MAX);
        if used >= max {
            tracing::info!(account.id = %buyer.account_id, "auto-reload allowance used up this month");
            return;
        }
        // One slot per reload of the month: two purchases racing below the threshold start one.
        let key = format!("auto:{}:{month}:{}", buyer.account_id, used + 1);
        let amount = Money::new(amount, balance.currency);
        match start_topup_with(&state, &buyer, NewTopUp { checkout_key: key, saved: Some(&card), ..NewTopUp::of(amount) }).await {
            Ok(started) => tracing::info!(account.id = %buyer.account_id, topup.id = %started.topup_id, done = started.done, "auto-reload"),
            Err(e) => tracing::warn!(account.id = %buyer.account_id, error = %e, "auto-reload failed"),
        }
    });
}

fn month_start_ms() -> i64 {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    now.date().first_of_month().to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp().as_millisecond()).unwrap_or(0)
}

/// Lets the buyer's saved card pay their tab when it is due or reaches its limit, or stops it.
pub async fn set_tab_autopay(state: &AppState, account_id: &str, on: bool) -> Result<(), WalletError> {
    let mut settings = store::settings(&state.db, account_id).await?;
    if on && settings.saved_card.is_none() {
        return Err(FieldError::new("enabled", "Top up once with “remember my card” first: that card pays your tab.").into());
    }
    settings.tab_autopay = on;
    settings.updated_at = db::now_ms();
    store::save_settings(&state.db, &settings).await?;
    state.purchase_cache.forget_settings(account_id);
    Ok(())
}

/// The saved card that pays the buyer's tab by itself, if they agreed to it and it is this
/// provider's.
pub fn autopay_card(state: &AppState, settings: &SettingsRow) -> Option<SavedCard> {
    let card = settings.saved_card.as_deref().and_then(|c| serde_json::from_str::<SavedCard>(c).ok())?;
    (settings.tab_autopay && card.provider == state.payments.provider()).then_some(card)
}

/// Saves the buyer's spending rules; a new PIN is hashed like a password.
pub async fn save_rules(
    state: &AppState,
    account_id: &str,
    rules: &SpendingRules,
    new_pin: Option<&str>,
    clear_pin: bool,
) -> Result<(), WalletError> {
    let mut settings = store::settings(&state.db, account_id).await?;
    settings.paused = rules.paused;
    settings.confirm_above_minor = rules.confirm_above;
    settings.weekly_cap_minor = rules.weekly_cap;
    settings.monthly_cap_minor = rules.monthly_cap;
    settings.pin_above_minor = rules.pin_above;
    settings.tab_limit_minor = rules.tab_limit;
    if clear_pin {
        settings.pin_hash = None;
    }
    if let Some(pin) = new_pin.filter(|p| !p.trim().is_empty()) {
        let pin = parse_pin(pin)?;
        settings.pin_hash = Some(accounts::hash_password(pin).await.map_err(|e| WalletError::PinHashing(e.to_string()))?);
        if settings.pin_above_minor.is_none() {
            settings.pin_above_minor = Some(0);
        }
    }
    settings.updated_at = db::now_ms();
    store::save_settings(&state.db, &settings).await?;
    state.purchase_cache.forget_settings(&settings.account_id);
    Ok(())
}
