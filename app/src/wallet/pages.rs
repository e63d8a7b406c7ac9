//! The wallet page: balances, top-ups, spending rules, auto-reload and history.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::api::{SaveAutoreload, SaveSpendingRules, SaveTabAutopay, WalletView, load_topup_step, wallet_overview};
use crate::{
    accounts::pages::MagicLinkForm,
    checkout::pages::PayStepView,
    error::AppError,
    layout::Layout,
    money::Currency,
    ui::{Field, FormAlert},
};

#[component]
pub fn WalletPage() -> impl IntoView {
    let query = use_query_map();
    let (topup, key, for_code, error, topped_up, tab_paid) = query.with_untracked(|q| {
        (q.get("topup"), q.get("k"), q.get("for"), q.get("error"), q.get("topped_up").is_some(), q.get("tab_paid").is_some())
    });
    let wallet = Resource::new(|| (), |_| wallet_overview());
    let pending_topup = topup.zip(key);
    view! {
        <Title text="Your wallet · Clink"/>
        <Layout static_page=true>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let (for_code, error, pending_topup) = (for_code.clone(), error.clone(), pending_topup.clone());
                    Suspend::new(async move {
                        // The card step of a top-up stands alone: one thing to do on the screen.
                        if let Some((topup, key)) = pending_topup {
                            return match load_topup_step(topup, key).await {
                                Ok(step) => view! {
                                    <section class="topup-step">
                                        <h1>{step.heading.clone()}</h1>
                                        <PayStepView step=step error=error/>
                                    </section>
                                }.into_any(),
                                Err(_) => view! {
                                    <h1>"Your wallet"</h1>
                                    <p class="alert error" role="alert">"That top-up isn't available. " <a href="/wallet">"Back to your wallet"</a></p>
                                }.into_any(),
                            };
                        }
                        match wallet.await {
                            Ok(view) => view! {
                                <h1>"Your wallet"</h1>
                                {topped_up.then(|| view! { <p class="alert ok" role="status">"Topped up. Thank you!"</p> })}
                                {tab_paid.then(|| view! { <p class="alert ok" role="status">"Your tab is paid. Thank you!"</p> })}
                                {error.map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
                                <WalletBody view=view for_code=for_code/>
                            }.into_any(),
                            Err(AppError::Unauthorized) => view! {
                                <h1>"Your wallet"</h1>
                                <p class="lede">"A Clink wallet lets you buy for a few cents in one click. Sign in to open yours — no password needed:"</p>
                                <MagicLinkForm next="/wallet"/>
                                <p class="muted">"Or " <a href="/login?next=/wallet">"log in with a password"</a> "."</p>
                            }.into_any(),
                            Err(e) => view! { <h1>"Your wallet"</h1><p class="alert error">{e.to_string()}</p> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </Layout>
    }
}

/// The buyer's tab in one currency: what it owes and its limit, "Pay now", the open purchases
/// and the payments. With `several` tabs each heading names its currency; the `first` has the
/// statement export, which covers them all.
#[component]
fn TabSection(tab: super::api::TabView, several: bool, first: bool) -> impl IntoView {
    let (section_id, heading_id) = (format!("tab-{}", tab.currency.to_lowercase()), format!("tab-h-{}", tab.currency.to_lowercase()));
    let labelled_by = heading_id.clone();
    let heading = if several { format!("Your tab in {}", tab.currency) } else { "Your tab".to_string() };
    view! {
        <section class="card tab" id=section_id aria-labelledby=labelled_by>
            <div class="page-head"><h2 id=heading_id>{heading}</h2>
                {first.then(|| view! { <a class="btn small tab-csv" href="/wallet/tab.csv">"Export CSV"</a> })}</div>
            {tab.notice.clone().map(|notice| view! { <p class="alert error tab-notice" role="alert">{notice}</p> })}
            <p class="balance-big"><span class="label">{format!("Owed ({})", tab.currency)}</span>
                <span class="value tab-owed">{tab.owed.clone()}</span></p>
            {(!tab.closed).then(|| view! {
                <p class="hint">"Limit " {tab.limit.clone()} ". You pay it by card when a purchase would pass it, or whenever you like."</p>
            })}
            {tab.owes.then(|| view! {
                <form method="post" action="/wallet/tab/pay">
                    <input type="hidden" name="currency" value=tab.currency.clone()/>
                    <button type="submit" class="btn primary pay-tab">{format!("Pay now ({})", tab.owed)}</button>
                </form>
            })}
            {if tab.items.is_empty() {
                view! { <p class="empty">"Nothing on your tab."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap"><table class="stack">
                        <thead><tr><th>"Date"</th><th>"Bought"</th><th class="num">"Amount"</th></tr></thead>
                        <tbody>
                            {tab.items.into_iter().map(|(date, title, amount)| view! {
                                <tr><td data-label="Date">{date}</td><td class="what">{title}</td><td class="num" data-label="Amount">{amount}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            }}
            {(!tab.settlements.is_empty()).then(|| view! {
                <h3>"Payments"</h3>
                <ul class="plain settlements">
                    {tab.settlements.into_iter().map(|(date, amount, status, n)| view! {
                        <li>{format!("{date} · {amount} · {status}")}{(n > 0).then(|| format!(" · {n} purchase(s)"))}</li>
                    }).collect_view()}
                </ul>
            })}
            {tab.savings.map(|s| view! { <p class="hint">{s}</p> })}
        </section>
    }
}

#[component]
fn WalletBody(view: WalletView, for_code: Option<String>) -> impl IntoView {
    let return_to = for_code.as_ref().map(|c| format!("/l/{c}"));
    let topup_key = uuid_like();
    view! {
        {for_code.map(|c| view! {
            <p class="alert warn">"Top up to finish your purchase: you'll go straight back to "
                <a href=format!("/l/{c}")>"the work"</a> "."</p>
        })}
        {view.balances.iter().filter(|(_, label)| label.starts_with('-')).map(|(_, label)| view! {
            <p class="alert error" role="alert">{format!("Your wallet owes {} after a top-up was refunded by your bank. Top up to settle it; purchases resume once it's covered.", label.trim_start_matches('-'))}</p>
        }).collect_view()}
        <section class="wallet-head" aria-label="Balance">
            {if view.balances.is_empty() {
                view! { <p class="balance-big"><span class="label">"Balance"</span><span class="value">"€0.00"</span></p> }.into_any()
            } else {
                view.balances.iter().map(|(currency, label)| view! {
                    <p class="balance-big"><span class="label">{format!("Balance ({currency})")}</span><span class="value balance">{label.clone()}</span></p>
                }).collect_view().into_any()
            }}
            <p class="hint">"Spent this week " {view.spent_week.clone()} " · this month " {view.spent_month.clone()}
                {view.paused.then_some(" · paused")} " · " <a href="/wallet/settings">"Spending rules and auto-reload"</a></p>
        </section>

        {(!view.tabs.is_empty()).then(|| {
            let several = view.tabs.len() > 1;
            view! {
                // The reminders' link (`/wallet#tab-h`) lands here, whichever tab is due.
                <div id="tab-h" class="buyer-tabs">
                    {view.tabs.clone().into_iter().enumerate().map(|(i, tab)| view! { <TabSection tab=tab several=several first={i == 0}/> }).collect_view()}
                </div>
            }
        })}

        <section class="card" aria-labelledby="topup-h">
            <h2 id="topup-h">"Top up"</h2>
            <form method="post" action="/wallet/topup" class="form">
                <input type="hidden" name="key" value=topup_key/>
                {return_to.map(|r| view! { <input type="hidden" name="return_to" value=r/> })}
                <div class="row tight">
                    <label class="label" for="f-topup-currency">"Currency"</label>
                    <select id="f-topup-currency" name="currency">
                        {Currency::ALL.into_iter().map(|c| view! { <option value=c.code()>{c.code()}</option> }).collect_view()}
                    </select>
                </div>
                <div class="row tight presets">
                    {super::domain::TOPUP_PRESETS.into_iter().map(|minor| {
                        let value = crate::money::amount_input(minor);
                        view! { <button type="submit" name="amount" value=value.clone() class="btn">{format!("+ {}", minor / 100)}</button> }
                    }).collect_view()}
                </div>
                <div class="row tight">
                    <label class="sr-only" for="f-custom">"Custom amount"</label>
                    <input id="f-custom" name="custom" inputmode="decimal" placeholder="Other amount, e.g. 7.50"/>
                    <button type="submit" class="btn primary">"Top up"</button>
                </div>
                <label class="choice"><input type="checkbox" name="remember" value="1"/>" Remember my card for auto-reload"</label>
                <p class="hint">"From 0.50 (0.30 in GBP) by card. Your balance never expires."</p>
            </form>
        </section>

        <section aria-labelledby="history-h">
            <div class="page-head"><h2 id="history-h">"History"</h2><a class="btn small" href="/wallet/history.csv">"Export CSV"</a></div>
            {if view.history.is_empty() {
                view! { <p class="empty">"No movements yet. Top up, then buy from any Clink link in one click."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap"><table class="stack">
                        <thead><tr><th>"Date"</th><th>"What"</th><th class="num">"Amount"</th><th class="num">"Balance"</th></tr></thead>
                        <tbody>
                            {view.history.into_iter().map(|h| view! {
                                <tr><td data-label="Date">{h.date}</td><td class="what">{h.what}</td>
                                    <td class="num amount" data-label="Amount" class:credit=h.credit>{h.amount}</td>
                                    <td class="num" data-label="Balance">{h.balance}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            }}
        </section>
    }
}

/// The wallet's settings: spending rules, PIN and auto-reload, apart from the balance.
#[component]
pub fn WalletSettingsPage() -> impl IntoView {
    let saved = use_query_map().with_untracked(|q| q.get("saved").is_some());
    let wallet = Resource::new(|| (), |_| wallet_overview());
    view! {
        <Title text="Wallet settings · Clink"/>
        <Layout static_page=true>
            <p><a href="/wallet">"← Your wallet"</a></p>
            <h1>"Wallet settings"</h1>
            {saved.then(|| view! { <p class="alert ok" role="status">"Saved."</p> })}
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match wallet.await {
                        Ok(view) => view! { <WalletSettings view=view/> }.into_any(),
                        Err(AppError::Unauthorized) => view! { <crate::accounts::pages::SignInRequired next="/wallet/settings"/> }.into_any(),
                        Err(e) => view! { <p class="alert error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </Layout>
    }
}

#[component]
fn WalletSettings(view: WalletView) -> impl IntoView {
    let rules = ServerAction::<SaveSpendingRules>::new();
    let rules_error = Signal::derive(move || rules.value().get().and_then(Result::err));
    let reload = ServerAction::<SaveAutoreload>::new();
    let reload_error = Signal::derive(move || reload.value().get().and_then(Result::err));
    let autopay = ServerAction::<SaveTabAutopay>::new();
    let autopay_error = Signal::derive(move || autopay.value().get().and_then(Result::err));
    view! {
        <section class="card" id="rules" aria-labelledby="rules-h">
            <h2 id="rules-h">"Spending rules"</h2>
            <p class="muted">"Spent this week " {view.spent_week.clone()} " · this month " {view.spent_month.clone()}</p>
            <ActionForm action=rules>
                <div class="form">
                    <FormAlert error=rules_error/>
                    <label class="choice"><input type="checkbox" name="paused" value="1" checked=view.paused/>" Pause my wallet (no purchases until I resume)"</label>
                    <div class="row">
                        <Field label="Ask me to confirm above" name="confirm_above" value=view.confirm_above.clone() error=rules_error required=false inputmode="decimal"/>
                        <Field label="Weekly cap" name="weekly_cap" value=view.weekly_cap.clone() error=rules_error required=false inputmode="decimal"/>
                        <Field label="Monthly cap" name="monthly_cap" value=view.monthly_cap.clone() error=rules_error required=false inputmode="decimal"/>
                    </div>
                    <div class="row">
                        <Field label="Ask for my PIN above" name="pin_above" value=view.pin_above.clone() error=rules_error required=false inputmode="decimal"/>
                        <Field label="My tab limit (lower than Clink's; empty: Clink's)" name="tab_limit" value=view.tab_limit.clone() error=rules_error required=false inputmode="decimal"/>
                        <Field label=if view.has_pin { "Change PIN" } else { "Set a PIN (4–8 digits)" } name="new_pin" kind="password" error=rules_error required=false inputmode="numeric"/>
                    </div>
                    {view.has_pin.then(|| view! { <label class="choice"><input type="checkbox" name="clear_pin" value="1"/>" Remove my PIN"</label> })}
                    <p class="hint">"Amounts apply to each currency. Leave empty for no limit."</p>
                    <button type="submit" class="btn primary">"Save rules"</button>
                </div>
            </ActionForm>
        </section>

        <section class="card" id="autoreload" aria-labelledby="reload-h">
            <h2 id="reload-h">"Auto-reload"</h2>
            <p class="muted">{match view.saved_card.clone() {
                Some(card) => format!("Charges {card} when your balance runs low."),
                None => "Top up once with “remember my card” to use auto-reload.".to_string(),
            }}</p>
            <ActionForm action=reload>
                <div class="form">
                    <FormAlert error=reload_error/>
                    <label class="choice"><input type="checkbox" name="enabled" value="1" checked=view.autoreload_enabled/>" Reload automatically"</label>
                    <div class="row">
                        <div class="field"><label for="f-reload-currency">"Currency"</label>
                            <select id="f-reload-currency" name="currency">
                                {Currency::ALL.into_iter().map(|c| view! { <option value=c.code() selected=c.code() == view.autoreload_currency>{c.code()}</option> }).collect_view()}
                            </select></div>
                        <Field label="When below" name="below" value=view.autoreload_below.clone() error=reload_error required=false inputmode="decimal"/>
                        <Field label="Add" name="amount" value=view.autoreload_amount.clone() error=reload_error required=false inputmode="decimal"/>
                        <Field label="At most, per month" name="max_per_month" value=view.autoreload_max.clone() error=reload_error required=false inputmode="numeric"/>
                    </div>
                    <button type="submit" class="btn">"Save auto-reload"</button>
                </div>
            </ActionForm>
        </section>

        <section class="card" id="tab-autopay" aria-labelledby="autopay-h">
            <h2 id="autopay-h">"Paying your tab"</h2>
            <p class="muted">{match view.saved_card.clone() {
                Some(card) => format!("{card} can pay your tab when it reaches its limit or after 30 days, without a card form each time."),
                None => "Top up once with “remember my card” to let that card pay your tab.".to_string(),
            }}</p>
            <ActionForm action=autopay>
                <div class="form">
                    <FormAlert error=autopay_error/>
                    <label class="choice"><input type="checkbox" name="enabled" value="1" checked=view.tab_autopay/>" Pay my tab with my saved card"</label>
                    <button type="submit" class="btn">"Save"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// A random-enough form nonce for the top-up form (one top-up per form).
fn uuid_like() -> String {
    #[cfg(feature = "ssr")]
    {
        crate::db::new_id()
    }
    #[cfg(not(feature = "ssr"))]
    {
        String::new()
    }
}
