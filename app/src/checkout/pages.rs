//! Buying on a link page: the buy box, the payment step, and the creator's sales list.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    api::{RefundSale, RememberedBuyer, my_sales},
    domain::{PayMethod, PayStep, klarna::KlarnaOffer},
};
use crate::{
    accounts::pages::SignInRequired,
    catalog::{api::Storefront, domain::Price},
    error::AppError,
    layout::{DashNav, Layout},
    money::{Money, amount_input},
    orders::OrderStatus,
};

/// Who is looking at a link page, as far as buying goes.
#[derive(Debug, Clone, Default)]
pub struct Buyer {
    /// The signed-in account (its email pre-fills the card form).
    pub account: Option<crate::accounts::api::AccountView>,
    /// The visitor already owns this work.
    pub owned: Option<crate::delivery::api::Ownership>,
    /// The signed-in buyer's wallet, priced for this work.
    pub wallet: Option<crate::wallet::api::WalletOffer>,
    /// The card this browser remembers.
    pub remembered: Option<RememberedBuyer>,
    /// What the visitor may buy on the tab ("Get it now · pay later").
    pub tab: Option<crate::wallet::api::TabOffer>,
}

/// Everything the buy box needs to know about the visitor of the work with `code`. A failed
/// lookup leaves that part out (the page still sells), it never fails the page.
pub async fn load_buyer(code: String) -> Buyer {
    let (account, owned, wallet, remembered, tab) = futures::join!(
        crate::accounts::api::current_account(),
        crate::delivery::api::load_ownership(code.clone()),
        crate::wallet::api::load_wallet_offer(code.clone()),
        super::api::load_remembered_buyer(),
        crate::wallet::api::load_tab_offer(code),
    );
    Buyer {
        account: account.ok().flatten(),
        owned: owned.ok().flatten(),
        wallet: wallet.ok().flatten(),
        remembered: remembered.ok().flatten(),
        tab: tab.ok().flatten(),
    }
}

/// The amount a pay-what-you-want buyer is about to pay: what they typed (carried back after an
/// error), else the suggestion, else the minimum.
fn pwyw_amount(price: Price, typed: Option<&str>) -> Money {
    typed
        .and_then(|t| crate::money::parse_amount(t, "amount").ok())
        .and_then(|minor| price.charge_for(Some(minor)).ok())
        .unwrap_or_else(|| price.suggested().unwrap_or(price.floor()))
}

fn buy_label(amount: Money) -> String {
    if amount.is_zero() { "Get it free".to_string() } else { format!("Buy for {amount}") }
}

/// The pay-what-you-want input. `shown_amount` carries the amount the button showed, so the
/// server can tell a buyer who typed another amount without seeing it on the button (no
/// JavaScript) and confirm that amount first.
fn amount_field(price: Price, amount: Money, id: &'static str) -> impl IntoView {
    let floor = price.floor();
    let label = if floor.is_zero() { "Name your price (0 or more)".to_string() } else { format!("Name your price (minimum {floor})") };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <div class="amount-input"><span aria-hidden="true">{price.currency().symbol()}</span>
                <input id=id name="amount" inputmode="decimal" value=amount_input(amount.minor) required autocomplete="off"
                    data-currency=price.currency().symbol() data-minimum=amount_input(floor.minor)/></div>
            <input type="hidden" name="shown_amount" value=amount_input(amount.minor)/>
        </div>
    }
}

/// The buy box of a link page: what this visitor can do, best option first. Plain HTML forms,
/// so everything works without JavaScript.
#[component]
pub fn BuyBox(
    store: Storefront,
    buyer: Buyer,
    error: Option<String>,
    confirm_wallet: bool,
    /// The owner asked to buy again (a gift, say).
    again: bool,
    /// A pay-what-you-want amount carried back in the URL.
    amount: Option<String>,
) -> impl IntoView {
    let error = error.map(|e| view! { <p class="alert error" role="alert">{e}</p> });
    if let (Some(owned), false) = (buyer.owned.clone(), again) {
        return view! { {error} <OwnedBox store=store owned=owned/> }.into_any();
    }
    let price = store.price;
    let pwyw = matches!(price, Price::PayWhatYouWant { .. });
    let amount = pwyw_amount(price, amount.as_deref());
    let again_notice = (again && buyer.owned.is_some()).then(|| {
        view! {
            <p class="alert warn" role="status">"You already own this. Buying again charges you again, e.g. to give it to someone."</p>
        }
    });
    let again_field = move || again.then(|| view! { <input type="hidden" name="again" value="1"/> });
    let wallet_only = price.wallet_only();
    let wallet = buyer.wallet.clone().filter(|_| !price.is_free());
    let wallet_pays = wallet.as_ref().is_some_and(|w| w.enough && !w.paused);
    let signed_in = buyer.account.is_some();
    // The tab where the wallet can't pay: first for a visitor on a work below the card
    // minimum (email, one click, the file), after the card form on others.
    let tab_offer = buyer.tab.clone().filter(|_| !wallet_pays && !price.is_free() && !wallet.as_ref().is_some_and(|w| w.paused));
    let tab_first = tab_offer.is_some() && (wallet_only || signed_in);
    let tab_box = tab_offer
        .map(|tab| view! { <TabBuy store=store.clone() tab=tab amount=amount again=again folded=!tab_first confirm=confirm_wallet/> });
    let (tab_before, tab_after) = if tab_first { (tab_box, None) } else { (None, tab_box) };
    let wallet_box = wallet.clone().map(|w| wallet_box(&store, w, confirm_wallet, amount, again, tab_first));

    let card_form = (!wallet_only).then(|| {
        let action = format!("/checkout/{}", store.code);
        let one_click = buyer.remembered.clone().filter(|_| !price.is_free()).map(|card| view! {
            <form class="buy card form one-click" method="post" action=action.clone()>
                <input type="hidden" name="checkout_key" value=format!("{}-1", store.checkout_key)/>
                <input type="hidden" name="source" value=store.source.clone()/>
                <input type="hidden" name="one_click" value="1"/>
                {again_field()}
                {pwyw.then(|| amount_field(price, amount, "f-amount-1"))}
                <button type="submit" class="btn primary wide buy-button">
                    <span class="buy-amount">{buy_label(amount)}</span>{format!(" with {}", card.card)}
                </button>
                <p class="hint">"One click: charged to your saved card, receipt to " {card.email.clone()} ". "</p>
                <p class="hint"><button type="submit" formaction="/checkout/forget" formnovalidate class="link">"Not you? Forget this card"</button></p>
            </form>
        });
        let has_one_click = one_click.is_some();
        let email = buyer.account.as_ref().map(|a| a.email.clone()).or_else(|| buyer.remembered.as_ref().map(|r| r.email.clone()));
        let form = view! {
            <form class="buy card form" method="post" action=action.clone()>
                <input type="hidden" name="checkout_key" value=store.checkout_key.clone()/>
                <input type="hidden" name="source" value=store.source.clone()/>
                {again_field()}
                {pwyw.then(|| amount_field(price, amount, "f-amount"))}
                <div class="field">
                    <label for="f-email">"Your email"</label>
                    <input id="f-email" type="email" name="email" autocomplete="email" required placeholder="you@example.com" value=email/>
                    <p class="hint">"Your receipt and download link go here."</p>
                </div>
                {(!price.is_free()).then(|| view! {
                    <label class="choice"><input type="checkbox" name="remember" value="1"/>
                        " Remember my card on this device for one-click purchases"</label>
                })}
                <button type="submit" class="btn wide buy-button" class:primary=!has_one_click && !wallet_pays>
                    <span class="buy-amount">{buy_label(amount)}</span>
                </button>
                {store.klarna.clone().filter(|_| !price.is_free()).map(klarna_choice)}
            </form>
        };
        // A buyer with a better way to pay (wallet, saved card) sees the card form folded.
        let form = if wallet_pays || has_one_click {
            view! { <details class="buy other-card"><summary>"Pay with another card"</summary>{form}</details> }.into_any()
        } else {
            form.into_any()
        };
        view! { {one_click} {form} }
    });
    let start_wallet = (wallet_only && !signed_in).then(|| {
        let start = view! { <WalletStart store=store.clone() amount=amount again=again/> };
        if tab_first {
            view! { <details class="buy other-way"><summary>"Or top up a wallet"</summary>{start}</details> }.into_any()
        } else {
            start.into_any()
        }
    });
    view! {
        {error}
        {again_notice}
        {tab_before}
        {wallet_box}
        {start_wallet}
        {card_form}
        {tab_after}
    }
    .into_any()
}

/// "Pay later with Klarna": a second button of the card form (same email), sending the buyer
/// to Klarna's page. Klarna needs the payer's country; it is asked only where the currency is
/// paid from several (the euro).
fn klarna_choice(offer: KlarnaOffer) -> impl IntoView {
    let only = (offer.countries.len() == 1).then(|| offer.countries[0].0.clone());
    view! {
        <div class="pay-later">
            <button type="submit" name="pay_later" value="klarna" class="btn wide klarna-button">"Pay later with Klarna"</button>
            {match only {
                Some(code) => view! { <input type="hidden" name="klarna_country" value=code/> }.into_any(),
                None => view! {
                    <div class="row tight klarna-country">
                        <label for="f-klarna-country" class="hint">"Klarna, paying from"</label>
                        <select id="f-klarna-country" name="klarna_country">
                            {offer.countries.into_iter().map(|(code, name)| view! { <option value=code>{name}</option> }).collect_view()}
                        </select>
                    </div>
                }.into_any(),
            }}
            <p class="hint">"Pay in 30 days or in parts, on Klarna's page."</p>
        </div>
    }
}

/// What an owner sees instead of Buy.
#[component]
fn OwnedBox(store: Storefront, owned: crate::delivery::api::Ownership) -> impl IntoView {
    let again = format!("/l/{}?again=1", store.code);
    view! {
        <div class="buy card form owned">
            <p class="owned-title"><span aria-hidden="true">"✓ "</span>"You own this"</p>
            {match owned.order_id {
                Some(order_id) => view! {
                    <form method="post" action=format!("/library/download/{order_id}")>
                        <button type="submit" class="btn primary wide">"Download"</button>
                    </form>
                    <p class="hint">"Bought " {owned.date.clone()} ". " <a href="/library">"All your purchases"</a></p>
                }.into_any(),
                None => view! {
                    <p class="hint">"Bought " {owned.date.clone()} " with " {owned.email.clone()} " on this device."</p>
                    <form method="post" action="/api/library/link">
                        <input type="hidden" name="email" value=owned.email.clone()/>
                        <button type="submit" class="btn primary wide">"Email me my download link"</button>
                    </form>
                }.into_any(),
            }}
            <p class="hint"><a href=again>"Buy again (e.g. as a gift)"</a></p>
        </div>
    }
}

/// The top-up amounts a wallet purchase of `price` can start with: the presets that cover it,
/// and the price itself rounded up to a whole unit when no preset does.
fn topup_choices(price: Money) -> (Money, Vec<Money>) {
    let floor = price.currency.card_minimum();
    let mut choices: Vec<Money> = crate::wallet::domain::TOPUP_PRESETS
        .into_iter()
        .filter(|&p| p >= price.minor && p >= floor)
        .map(|p| Money::new(p, price.currency))
        .collect();
    if choices.is_empty() {
        choices.push(Money::new(((price.minor + 99) / 100 * 100).max(floor), price.currency));
    }
    // 5.00 is what most buyers pick: enough for many micro-purchases, little to leave behind.
    let default = choices.iter().copied().find(|c| c.minor == 500).unwrap_or(choices[0]);
    let others = choices.into_iter().filter(|c| *c != default).collect();
    (default, others)
}

/// The way in for a buyer without a wallet (or with too little in it): top up by card, and the
/// purchase completes on return. A visitor gives only an email.
#[component]
fn WalletStart(store: Storefront, amount: Money, again: bool, #[prop(optional)] balance: Option<String>) -> impl IntoView {
    let price = store.price;
    let pwyw = matches!(price, Price::PayWhatYouWant { .. });
    let (default, others) = topup_choices(amount);
    let signed_in = balance.is_some();
    view! {
        <form class="buy card form wallet-start" method="post" action=format!("/wallet/start/{}", store.code)>
            {match balance.clone() {
                Some(b) => view! { <p class="buy-lead">"Your wallet has " <strong>{b}</strong> "; this costs " {amount.to_string()} "."</p> }.into_any(),
                None => view! {
                    <p class="buy-lead">"Pay " {amount.to_string()} " with a Clink wallet"</p>
                    <p class="hint">"Card payments start at " {Money::new(price.currency().card_minimum(), price.currency()).to_string()}
                        ". Top up a wallet once, then buy for cents in one click. Your balance never expires."</p>
                }.into_any(),
            }}
            <input type="hidden" name="source" value=store.source.clone()/>
            {again.then(|| view! { <input type="hidden" name="again" value="1"/> })}
            {pwyw.then(|| amount_field(price, amount, "f-wallet-amount"))}
            {(!signed_in).then(|| view! {
                <div class="field">
                    <label for="f-wallet-email">"Your email"</label>
                    <input id="f-wallet-email" type="email" name="email" autocomplete="email" required placeholder="you@example.com"/>
                </div>
            })}
            <button type="submit" name="topup" value=amount_input(default.minor) class="btn primary wide wallet-start-button">
                {format!("Top up {default} and buy")}
            </button>
            {(!others.is_empty()).then(|| view! {
                <div class="row tight presets"><span class="hint">"Or top up"</span>
                    {others.into_iter().map(|m| view! {
                        <button type="submit" name="topup" value=amount_input(m.minor) class="btn small">{m.to_string()}</button>
                    }).collect_view()}
                </div>
            })}
            {(!signed_in).then(|| view! {
                <p class="hint">"Have a wallet? " <a href=format!("/login?next=/l/{}", store.code)>"Sign in"</a></p>
            })}
        </form>
    }
}

/// "Get it now · pay later": the purchase goes on the buyer's tab (a visitor's first tab needs
/// only an email) and the download starts. Over the limit, the buyer pays the tab by card first
/// and the purchase completes on return.
#[component]
fn TabBuy(
    store: Storefront,
    tab: crate::wallet::api::TabOffer,
    amount: Money,
    again: bool,
    folded: bool,
    /// The buyer's rules asked to confirm this purchase, and the page is asking.
    confirm: bool,
) -> impl IntoView {
    let pwyw = matches!(store.price, Price::PayWhatYouWant { .. });
    let signed_in = tab.owed.is_some();
    let hint = match (&tab.owed, tab.locked, tab.fits) {
        (_, true, _) => "Your last tab payment didn't go through: pay your tab to buy on it again.".to_string(),
        (Some(owed), false, true) => format!("Your tab: {owed} of {}. Pay when it adds up, by card, in one go.", tab.limit),
        (Some(owed), false, false) => format!("Your tab has {owed} of {}: pay it by card first, then this is yours.", tab.limit),
        (None, ..) => format!("No card now: you pay your tab by card when it reaches {}.", tab.limit),
    };
    let confirming = confirm && tab.needs_confirmation;
    let label = if tab.locked || !tab.fits {
        "Pay your tab and get it".to_string()
    } else if confirming {
        format!("Confirm — {amount} on my tab")
    } else {
        "Get it now · pay later".to_string()
    };
    let form = view! {
        <form class="buy card form tab-buy" method="post" action=format!("/tab/buy/{}", store.code)>
            <input type="hidden" name="key" value=format!("{}-t", store.checkout_key)/>
            <input type="hidden" name="source" value=store.source.clone()/>
            {again.then(|| view! { <input type="hidden" name="again" value="1"/> })}
            {if confirming {
                view! {
                    <input type="hidden" name="confirm" value="1"/>
                    <input type="hidden" name="amount" value=amount_input(amount.minor)/>
                    <input type="hidden" name="shown_amount" value=amount_input(amount.minor)/>
                    <p class="alert warn">"Confirm: get “" {store.title.clone()} "” for " {amount.to_string()} " on your tab?"</p>
                }.into_any()
            } else {
                pwyw.then(|| amount_field(store.price, amount, "f-tab-amount")).into_any()
            }}
            {tab.needs_pin.then(|| view! {
                <div class="field">
                    <label for="f-tab-pin">"Wallet PIN"</label>
                    <input id="f-tab-pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required/>
                </div>
            })}
            {(!signed_in).then(|| view! {
                <div class="field">
                    <label for="f-tab-email">"Your email"</label>
                    <input id="f-tab-email" type="email" name="email" autocomplete="email" required placeholder="you@example.com"/>
                </div>
            })}
            <button type="submit" class="btn primary wide tab-button">
                <span class="buy-amount">{label}</span>
            </button>
            <p class="hint">{hint}</p>
        </form>
    };
    if folded {
        view! { <details class="buy other-way"><summary>"Pay later with a tab"</summary>{form}</details> }.into_any()
    } else {
        form.into_any()
    }
}

/// The wallet's part of the buy box: the one-click wallet button (with a PIN field or a
/// confirmation step when the buyer's rules ask), or the top-up that leads back to the purchase
/// (folded when the tab is offered first).
fn wallet_box(
    store: &Storefront,
    w: crate::wallet::api::WalletOffer,
    confirm: bool,
    amount: Money,
    again: bool,
    tab_first: bool,
) -> AnyView {
    let action = format!("/wallet/buy/{}", store.code);
    let pwyw = matches!(store.price, Price::PayWhatYouWant { .. });
    let again_field = again.then(|| view! { <input type="hidden" name="again" value="1"/> });
    if w.paused {
        return view! { <p class="alert warn">"Your wallet is paused. " <a href="/wallet/settings#rules">"Resume it"</a> " to buy with it."</p> }.into_any();
    }
    if !w.enough {
        let start = view! { <WalletStart store=store.clone() amount=amount again=again balance=w.balance.clone()/> };
        if tab_first {
            return view! { <details class="buy other-way"><summary>"Or top up your wallet"</summary>{start}</details> }.into_any();
        }
        return start.into_any();
    }
    let key = format!("{}-w", store.checkout_key);
    if w.needs_confirmation && !confirm {
        return view! {
            <form class="buy card form wallet-buy" method="get" action=format!("/l/{}", store.code)>
                <input type="hidden" name="confirm_wallet" value="1"/>
                {again_field}
                {pwyw.then(|| amount_field(store.price, amount, "f-amount-w"))}
                <button type="submit" class="btn primary wide wallet-button"><span class="buy-amount">{buy_label(amount)}</span>" with your wallet…"</button>
                <p class="hint">"Balance " {w.balance.clone()} ". Your rules ask you to confirm purchases of this size."</p>
            </form>
        }
        .into_any();
    }
    let confirming = confirm && (w.needs_confirmation || pwyw);
    view! {
        <form class="buy card form wallet-buy" method="post" action=action>
            <input type="hidden" name="key" value=key/>
            <input type="hidden" name="source" value=store.source.clone()/>
            {again_field}
            {if confirming {
                view! {
                    <input type="hidden" name="confirm" value="1"/>
                    <input type="hidden" name="amount" value=amount_input(amount.minor)/>
                    <input type="hidden" name="shown_amount" value=amount_input(amount.minor)/>
                    <p class="alert warn">"Confirm: buy “" {store.title.clone()} "” for " {amount.to_string()} " from your wallet?"</p>
                }.into_any()
            } else {
                pwyw.then(|| amount_field(store.price, amount, "f-amount-w")).into_any()
            }}
            {w.needs_pin.then(|| view! {
                <div class="field">
                    <label for="f-pin">"Wallet PIN"</label>
                    <input id="f-pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required/>
                </div>
            })}
            <button type="submit" class="btn primary wide wallet-button">
                {if confirming {
                    format!("Confirm — pay {amount}").into_any()
                } else {
                    view! { <span class="buy-amount">{buy_label(amount)}</span>" with your wallet" }.into_any()
                }}
            </button>
            <p class="hint">"Balance " {w.balance.clone()} ". One click, no card."</p>
        </form>
    }
    .into_any()
}

/// The payment step shown on the link page after Buy.
#[component]
pub fn PayStepView(step: PayStep, error: Option<String>) -> impl IntoView {
    let return_url = step.return_url.clone();
    let back = step.cancel_url.clone();
    let body = match (step.status, step.method.clone()) {
        // A payment that can't go on here (Klarna declined it): the link page offers the rest.
        (OrderStatus::Failed, PayMethod::None) => Either::Right(view! {
            <p class="alert error" role="alert">"This payment didn't go through."</p>
            <a class="btn primary wide" href=back.clone()>"Back to the link page"</a>
        }
        .into_any()),
        (OrderStatus::Fulfilled | OrderStatus::Paid, _) | (_, PayMethod::None) => Either::Left(view! {
            <p class="alert ok">"Paid. Thank you!"</p>
            <a class="btn primary wide" href=return_url.clone()>"Go to your download"</a>
        }
        .into_any()),
        (_, PayMethod::Redirect { url }) => Either::Right(view! {
            <p class="muted">"Pay " <strong>{step.amount_label.clone()}</strong> " later with Klarna. Receipt to " {step.email.clone()} "."</p>
            <a class="btn primary wide klarna-continue" href=url>"Continue to Klarna"</a>
        }
        .into_any()),
        (_, PayMethod::TestCard { payment_id }) => Either::Right(view! {
            <TestCardStep step=step.clone() payment_id=payment_id/>
        }
        .into_any()),
        (_, PayMethod::Stripe { client_secret, publishable_key, js_url, payment_method }) => Either::Right(view! {
            <form id="stripe-pay" class="card form" data-client-secret=client_secret data-publishable-key=publishable_key
                data-return-url=return_url.clone() data-email=step.email.clone() data-payment-method=payment_method.clone()>
                <p class="muted">"Pay " <strong>{step.amount_label.clone()}</strong> " by card. Receipt to " {step.email.clone()} "."</p>
                {payment_method.is_none().then(|| view! {
                    <div id="card-element" class="card-element" aria-label="Card details"></div>
                })}
                <p id="stripe-error" class="field-error" role="alert"></p>
                <button type="submit" class="btn primary wide">{format!("Pay {}", step.amount_label)}</button>
                <noscript><p class="alert warn">"Card payments need JavaScript enabled."</p></noscript>
            </form>
            <script src=js_url></script>
            <script src="/stripe-pay.js"></script>
        }
        .into_any()),
    };
    view! {
        <section class="buy pay-step" aria-labelledby="pay-h">
            <h2 id="pay-h">"Payment"</h2>
            {error.or(step.error.clone()).map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
            {body}
            <p class="hint"><a href=back>"Cancel and go back"</a></p>
        </section>
    }
}

/// The built-in test provider's card page, clearly marked as test mode.
#[component]
fn TestCardStep(step: PayStep, payment_id: String) -> impl IntoView {
    let query = use_query_map();
    let (card_error, field) = query.with_untracked(|q| (q.get("card_error"), q.get("field")));
    let general = field.is_none().then(|| card_error.clone()).flatten();
    let field_error = move |name: &'static str| (field.as_deref() == Some(name)).then(|| card_error.clone()).flatten();
    let pay = format!("/pay/test/{payment_id}");
    let auth = format!("/pay/test/{payment_id}/authenticate");
    let needs_auth = step.authenticate;
    view! {
        <p class="test-mode" role="note">"TEST MODE — no real money moves. Use 4242 4242 4242 4242."</p>
        {general.map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
        {if needs_auth {
            view! {
                <div class="card form challenge">
                    <h3>"Your bank wants to confirm it's you"</h3>
                    <p class="muted">"Test 3-D Secure for " {step.amount_label.clone()} "."</p>
                    <form method="post" action=auth.clone() class="row tight">
                        <input type="hidden" name="order_id" value=step.order_id.clone()/>
                        <input type="hidden" name="k" value=step.key.clone()/>
                        <button type="submit" name="result" value="complete" class="btn primary">"Complete authentication"</button>
                        <button type="submit" name="result" value="fail" class="btn danger">"Fail authentication"</button>
                    </form>
                </div>
            }.into_any()
        } else {
            view! {
                <form method="post" action=pay class="card form test-card">
                    <input type="hidden" name="order_id" value=step.order_id.clone()/>
                    <input type="hidden" name="k" value=step.key.clone()/>
                    <div class="field">
                        <label for="f-card">"Card number"</label>
                        <input id="f-card" name="card_number" inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242" required/>
                        <p class="hint">"4242… pays · 4000 0000 0000 0002 is declined · 4000 0027 6000 3184 asks for authentication"</p>
                        <p class="field-error" role="alert">{field_error("card_number")}</p>
                    </div>
                    <div class="row">
                        <div class="field">
                            <label for="f-exp">"Expiry (MM/YY)"</label>
                            <input id="f-exp" name="card_expiry" autocomplete="cc-exp" placeholder="12/34" required/>
                            <p class="field-error" role="alert">{field_error("card_expiry")}</p>
                        </div>
                        <div class="field">
                            <label for="f-cvc">"CVC"</label>
                            <input id="f-cvc" name="card_cvc" inputmode="numeric" autocomplete="cc-csc" placeholder="123" required/>
                            <p class="field-error" role="alert">{field_error("card_cvc")}</p>
                        </div>
                    </div>
                    <button type="submit" class="btn primary wide">{format!("Pay {}", step.amount_label)}</button>
                </form>
            }.into_any()
        }}
    }
}

#[component]
pub fn SalesPage() -> impl IntoView {
    let sales = Resource::new(|| (), |_| my_sales());
    let refund = ServerAction::<RefundSale>::new();
    let query = use_query_map();
    let (confirm, refunded) = query.with_untracked(|q| (q.get("confirm"), q.get("refunded").is_some()));
    view! {
        <Title text="Sales · Clink"/>
        <Layout static_page=true>
            <DashNav active="sales"/>
            <h1>"Sales"</h1>
            {refunded.then(|| view! { <p class="alert ok" role="status">"Refunded. The buyer's download link no longer works."</p> })}
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let confirm = confirm.clone();
                    Suspend::new(async move {
                        match sales.await {
                            Err(AppError::Unauthorized) => view! { <SignInRequired next="/dashboard/sales"/> }.into_any(),
                            Err(e) => view! { <p class="alert error">{e.to_string()}</p> }.into_any(),
                            Ok(list) if list.is_empty() => view! {
                                <div class="empty"><h2>"No sales yet"</h2>
                                    <p>"Share your links: every sale appears here the moment it happens."</p>
                                    <a class="btn primary" href="/dashboard/works">"Your works"</a></div>
                            }.into_any(),
                            Ok(list) => view! {
                                <div class="table-wrap"><table class="stack">
                                    <thead><tr><th>"Date"</th><th>"Work"</th><th>"Buyer"</th><th class="num">"Paid"</th>
                                        <th class="num">"You earn"</th><th>"Paid with"</th><th>"Source"</th><th>"Status"</th><th></th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|s| {
                                            let asking = confirm.as_deref() == Some(s.order_id.as_str());
                                            let refundable = s.status == OrderStatus::Fulfilled;
                                            view! {
                                                <tr>
                                                    <td class="when" data-label="Date">{s.date}</td><td class="primary">{s.work_title}</td><td data-label="Buyer">{s.buyer}</td>
                                                    <td class="num" data-label="Paid">{s.amount.clone()}</td><td class="num" data-label="You earn">{s.net}</td>
                                                    <td data-label="Paid with">{s.paid_with.label()}</td><td data-label="Source">{s.source}</td>
                                                    <td><span class="badge" class:bad=s.status == OrderStatus::Refunded>{s.status.as_str()}</span></td>
                                                    <td>{if asking {
                                                        view! {
                                                            <ActionForm action=refund>
                                                                <input type="hidden" name="order_id" value=s.order_id.clone()/>
                                                                <button type="submit" class="danger small">{format!("Yes, refund {}", s.amount)}</button>
                                                            </ActionForm>
                                                            <a href="/dashboard/sales">"Keep it"</a>
                                                        }.into_any()
                                                    } else if refundable {
                                                        view! { <a class="btn small" href=format!("/dashboard/sales?confirm={}", s.order_id)>"Refund…"</a> }.into_any()
                                                    } else {
                                                        ().into_any()
                                                    }}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table></div>
                            }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </Layout>
    }
}
