//! Buying on a link page: the buy box, the payment step, and the creator's sales list.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    api::{RefundSale, RememberedBuyer, my_sales},
    domain::{OrderStatus, PayMethod, PayStep},
};
use crate::{
    accounts::pages::SignInRequired,
    catalog::{api::Storefront, domain::Price},
    error::AppError,
    layout::{DashNav, Layout},
    money::amount_input,
};

/// The buyer's form: email, an amount for pay-what-you-want, and Buy. A remembered card adds a
/// one-click button. Plain HTML, so it works without JavaScript.
#[component]
pub fn BuyBox(
    store: Storefront,
    remembered: Option<RememberedBuyer>,
    error: Option<String>,
    /// The signed-in buyer's wallet (None: not signed in).
    wallet: Option<crate::wallet::api::WalletOffer>,
    confirm_wallet: bool,
) -> impl IntoView {
    let price = store.price;
    let pwyw = matches!(price, Price::PayWhatYouWant { .. });
    let suggested = price.suggested().unwrap_or(price.floor());
    let action = format!("/checkout/{}", store.code);
    let label = if price.is_free() { "Get it free".to_string() } else { format!("Buy for {}", price.label()) };
    let amount_field = move || {
        pwyw.then(|| view! {
            <div class="field">
                <label for="f-amount">"Pay what you want (" {price.currency().code()} ")"</label>
                <input id="f-amount" name="amount" inputmode="decimal" value=amount_input(suggested.minor) required/>
                <p class="hint">"Minimum " {price.floor().to_string()}</p>
            </div>
        })
    };
    let one_click = remembered.filter(|_| !price.is_free() && !price.wallet_only()).map(|buyer| {
        let pay_label = if pwyw { format!("Buy with {}", buyer.card) } else { format!("{label} with {}", buyer.card) };
        view! {
            <form class="buy card form one-click" method="post" action=action.clone()>
                <input type="hidden" name="checkout_key" value=format!("{}-1", store.checkout_key)/>
                <input type="hidden" name="source" value=store.source.clone()/>
                <input type="hidden" name="one_click" value="1"/>
                {amount_field()}
                <button type="submit" class="btn primary wide buy-button">{pay_label}</button>
                <p class="hint">"One click: charged to your saved card, receipt to " {buyer.email} ". "
                    <a href="/checkout/forget">"Not you?"</a></p>
            </form>
        }
    });
    let has_one_click = one_click.is_some();
    let wallet_only = price.wallet_only();
    let signed_in = wallet.is_some();
    let wallet_box = wallet.filter(|_| !price.is_free()).map(|w| wallet_box(&store, w, confirm_wallet));
    let has_wallet_button = wallet_box.as_ref().is_some_and(|(_, usable)| *usable);
    let wallet_box = wallet_box.map(|(view, _)| view);
    let sign_in = (wallet_only && !signed_in).then(|| {
        let next = format!("/l/{}", store.code);
        view! {
            <div class="buy card form">
                <p>"Buy it with a Clink wallet: top up once, then buy for a few cents in one click."</p>
                <a class="btn primary wide" href=format!("/login?next={next}")>"Sign in to my wallet"</a>
                <p class="hint">"New here? " <a href=format!("/signup")>"Create a wallet"</a> " — or get a sign-in link by email on the login page."</p>
            </div>
        }
    });
    let card_form = (!wallet_only).then(|| view! {
        <form class="buy card form" method="post" action=action.clone()>
            {has_one_click.then(|| view! { <p class="muted">"Or pay with another card:"</p> })}
            <input type="hidden" name="checkout_key" value=store.checkout_key.clone()/>
            <input type="hidden" name="source" value=store.source.clone()/>
            {(!has_one_click).then(amount_field)}
            <div class="field">
                <label for="f-email">"Your email"</label>
                <input id="f-email" type="email" name="email" autocomplete="email" required placeholder="you@example.com"/>
                <p class="hint">"Your receipt and download link go here."</p>
            </div>
            {price.wallet_only().then(|| view! {
                <p class="alert warn">"This costs less than a card payment allows, so it's bought from a Clink wallet."</p>
            })}
            {(!price.is_free() && !price.wallet_only()).then(|| view! {
                <label class="choice"><input type="checkbox" name="remember" value="1" checked/>
                    " Remember my card on this device for one-click purchases"</label>
            })}
            <button type="submit" class="btn wide buy-button" class:primary=!has_one_click && !has_wallet_button>{label.clone()}</button>
        </form>
    });
    view! {
        {error.map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
        {wallet_box}
        {sign_in}
        {one_click}
        {card_form}
    }
}

/// The wallet's part of the buy box: the one-click wallet button (with a PIN field or a
/// confirmation step when the buyer's rules ask), or how to top up. Returns whether the
/// wallet can pay now.
fn wallet_box(store: &Storefront, w: crate::wallet::api::WalletOffer, confirm: bool) -> (AnyView, bool) {
    let action = format!("/wallet/buy/{}", store.code);
    if w.paused {
        return (
            view! { <p class="alert warn">"Your wallet is paused. " <a href="/wallet#rules">"Resume it"</a> " to buy with it."</p> }.into_any(),
            false,
        );
    }
    if !w.enough {
        return (
            view! {
                <div class="buy card form wallet-low">
                    <p>"Your wallet has " <strong>{w.balance.clone()}</strong> "; this costs " {w.price.clone()} "."</p>
                    <a class="btn primary wide" href=format!("/wallet?for={}", store.code)>"Top up to buy it"</a>
                    <p class="hint">"You'll come straight back here after topping up."</p>
                </div>
            }
            .into_any(),
            false,
        );
    }
    let key = format!("{}-w", store.checkout_key);
    let view = if w.needs_confirmation && !confirm {
        view! {
            <form class="buy card form wallet-buy" method="get" action=format!("/l/{}", store.code)>
                <input type="hidden" name="confirm_wallet" value="1"/>
                <button type="submit" class="btn primary wide">{format!("Buy for {} with your wallet…", w.price)}</button>
                <p class="hint">"Balance " {w.balance.clone()} ". Your rules ask you to confirm purchases of this size."</p>
            </form>
        }
        .into_any()
    } else {
        view! {
            <form class="buy card form wallet-buy" method="post" action=action>
                <input type="hidden" name="key" value=key/>
                <input type="hidden" name="source" value=store.source.clone()/>
                {(w.needs_confirmation && confirm).then(|| view! {
                    <input type="hidden" name="confirm" value="1"/>
                    <p class="alert warn">"Confirm: buy “" {store.title.clone()} "” for " {w.price.clone()} " from your wallet?"</p>
                })}
                {w.needs_pin.then(|| view! {
                    <div class="field">
                        <label for="f-pin">"Wallet PIN"</label>
                        <input id="f-pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required/>
                    </div>
                })}
                <button type="submit" class="btn primary wide wallet-button">
                    {if w.needs_confirmation && confirm { format!("Confirm — pay {}", w.price) } else { format!("Buy for {} with your wallet", w.price) }}
                </button>
                <p class="hint">"Balance " {w.balance.clone()} ". One click, no card."</p>
            </form>
        }
        .into_any()
    };
    (view, true)
}

/// The payment step shown on the link page after Buy.
#[component]
pub fn PayStepView(step: PayStep, error: Option<String>) -> impl IntoView {
    let return_url = step.return_url.clone();
    let back = step.cancel_url.clone();
    let body = match (step.status, step.method.clone()) {
        (OrderStatus::Fulfilled | OrderStatus::Paid, _) | (_, PayMethod::None) => Either::Left(view! {
            <p class="alert ok">"Paid. Thank you!"</p>
            <a class="btn primary wide" href=return_url.clone()>"Go to your download"</a>
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
        <Layout>
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
                                <div class="table-wrap"><table>
                                    <thead><tr><th>"Date"</th><th>"Work"</th><th>"Buyer"</th><th class="num">"Paid"</th>
                                        <th class="num">"You earn"</th><th>"Source"</th><th>"Status"</th><th></th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|s| {
                                            let asking = confirm.as_deref() == Some(s.order_id.as_str());
                                            let refundable = s.status == "fulfilled";
                                            view! {
                                                <tr>
                                                    <td>{s.date}</td><td>{s.work_title}</td><td>{s.buyer}</td>
                                                    <td class="num">{s.amount.clone()}</td><td class="num">{s.net}</td><td>{s.source}</td>
                                                    <td><span class="badge" class:bad=s.status == "refunded">{s.status.clone()}</span></td>
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
