//! Page frames: the site layout (header, footer, island scripts), the slim storefront layout
//! (no JavaScript at all), and the dashboard's tabs.

use leptos::prelude::*;

use crate::accounts::api::current_account;

/// The frame of every site page. It loads the islands' script, so interactive forms work;
/// a page with no island says `static_page` and loads no wasm at all.
#[component]
pub fn Layout(children: Children, #[prop(optional)] static_page: bool) -> impl IntoView {
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <SiteHeader/>
        <main id="main">{children()}</main>
        <SiteFooter/>
        {(!static_page).then(|| view! { <IslandScripts/> })}
    }
}

/// The storefront frame: brand bar, content, footer — and no script, so a link page is a
/// few kilobytes of HTML and CSS on a phone.
#[component]
pub fn StoreLayout(children: Children) -> impl IntoView {
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="site-header store-header"><a class="brand" href="/">"clink"</a>
            <nav aria-label="Your purchases"><a href="/library">"Your purchases"</a></nav></header>
        <main id="main">{children()}</main>
        <SiteFooter/>
    }
}

#[component]
fn IslandScripts() -> impl IntoView {
    use_context::<LeptosOptions>().map(|options| view! { <HydrationScripts options islands=true/> })
}

#[component]
fn SiteFooter() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <p>"Clink — sell anything for a link, from 5 cents."</p>
        </footer>
    }
}

#[component]
fn SiteHeader() -> impl IntoView {
    let account = Resource::new(|| (), |_| current_account());
    view! {
        <header class="site-header">
            <a class="brand" href="/">"clink"</a>
            <nav aria-label="Account">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match account.await {
                            Ok(Some(account)) => view! {
                                <a href="/wallet">"Wallet"</a>
                                <a href="/dashboard">"Dashboard"</a>
                                <span class="who" title=account.email.clone()>{account.display_name}</span>
                                <form method="post" action="/api/logout" class="inline">
                                    <button type="submit" class="link">"Log out"</button>
                                </form>
                            }.into_any(),
                            _ => view! {
                                <a href="/login">"Log in"</a>
                                <a class="btn primary small" href="/signup">"Sign up"</a>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </nav>
        </header>
    }
}

/// Tabs across the creator's pages.
#[component]
pub fn DashNav(active: &'static str) -> impl IntoView {
    let tabs = [
        ("overview", "/dashboard", "Overview"),
        ("works", "/dashboard/works", "Works"),
        ("sales", "/dashboard/sales", "Sales"),
        ("settings", "/settings", "Settings"),
    ];
    view! {
        <nav class="tabs" aria-label="Dashboard">
            {tabs.into_iter().map(|(key, href, label)| view! {
                <a href=href aria-current=(key == active).then_some("page")>{label}</a>
            }).collect_view()}
        </nav>
    }
}

/// Sets the HTTP status of the page being rendered (no-op in the browser).
pub fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(res), Ok(status)) = (use_context::<leptos_axum::ResponseOptions>(), axum::http::StatusCode::from_u16(code)) {
        res.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}
