//! Clink's application: routes, pages and server functions shared by the server and the
//! browser, and (under the `ssr` feature) the domain services and stores behind them.
#![recursion_limit = "256"]

pub mod accounts;
pub mod earnings;
pub mod error;
pub mod money;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod edge;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

use crate::{
    accounts::{
        api::current_account,
        pages::{LoginPage, SignupPage},
    },
    earnings::pages::DashboardPage,
};

/// The HTML document around every page (server only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="theme-color" content="#4338ca"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options=options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Clink"/>
        <Router>
            <SiteHeader/>
            <main id="main">
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("signup") view=SignupPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("dashboard") view=DashboardPage ssr=SsrMode::Async/>
                </Routes>
            </main>
            <footer class="site-footer">
                <p>"Clink — sell anything for a link, from 5 cents."</p>
            </footer>
        </Router>
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

#[component]
fn HomePage() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"Sell anything for a link."</h1>
            <p class="lede">
                "Upload a file, set a price — even 20 cents — and share one link on X, Mastodon, "
                "Instagram or your blog. Buyers pay in one click from a prepaid wallet, so tiny "
                "prices finally make sense."
            </p>
            <p class="actions">
                <a class="btn primary" href="/signup">"Start selling"</a>
                <a class="btn" href="/login">"Log in"</a>
            </p>
        </section>
        <section class="features">
            <div class="feature">
                <h2>"Micropayments that work"</h2>
                <p>"Card fees make a 0.20 sale impossible elsewhere. Clink's wallet makes it one click."</p>
            </div>
            <div class="feature">
                <h2>"Links that unfurl"</h2>
                <p>"Every link has a rich preview card for social networks, a QR code and an embed button."</p>
            </div>
            <div class="feature">
                <h2>"Know what earns"</h2>
                <p>"Views, sales, conversion and the networks your buyers came from, every morning."</p>
            </div>
        </section>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(axum::http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found · Clink"/>
        <section class="auth">
            <h1>"Nothing here"</h1>
            <p class="lede">"This page doesn't exist, or the link was mistyped."</p>
            <p><a class="btn" href="/">"Go home"</a></p>
        </section>
    }
}
