//! The buy box on a link page.

use leptos::prelude::*;

use crate::{catalog::api::Storefront, money::amount_input};

/// The buyer's form: email, an amount for pay-what-you-want, and the Buy button. Plain HTML,
/// so it works without JavaScript.
#[component]
pub fn BuyBox(store: Storefront) -> impl IntoView {
    let price = store.price;
    let pwyw = matches!(price, crate::catalog::domain::Price::PayWhatYouWant { .. });
    let suggested = price.suggested().unwrap_or(price.floor());
    view! {
        <form class="buy card form" method="post" action=format!("/checkout/{}", store.code)>
            {pwyw.then(|| view! {
                <div class="field">
                    <label for="f-amount">"Pay what you want (" {price.currency().code()} ")"</label>
                    <input id="f-amount" name="amount" inputmode="decimal" value=amount_input(suggested.minor) required/>
                    <p class="hint">"Minimum " {price.floor().to_string()}</p>
                </div>
            })}
            <div class="field">
                <label for="f-email">"Your email"</label>
                <input id="f-email" type="email" name="email" autocomplete="email" required placeholder="you@example.com"/>
                <p class="hint">"Your receipt and download link go here."</p>
            </div>
            {price.wallet_only().then(|| view! {
                <p class="alert warn">"This costs less than a card payment allows, so it's bought from a Clink wallet."</p>
            })}
            <button type="submit" class="btn primary wide buy-button">
                {if price.is_free() { "Get it free".to_string() } else { format!("Buy for {}", price.label()) }}
            </button>
        </form>
    }
}
