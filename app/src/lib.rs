//! Clink's application: routes, pages and server functions shared by the server and the
//! browser, and (under the `ssr` feature) the domain services and stores behind them.
#![recursion_limit = "256"]

pub mod accounts;
pub mod catalog;
pub mod checkout;
pub mod delivery;
pub mod earnings;
pub mod error;
pub mod layout;
pub mod ledger;
pub mod mail;
pub mod money;
pub mod orders;
pub mod ui;
pub mod wallet;

#[cfg(feature = "ssr")]
pub mod account_deletion;
#[cfg(feature = "ssr")]
pub mod cluster;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod edge;
#[cfg(feature = "ssr")]
pub mod group_commit;
#[cfg(all(test, feature = "ssr"))]
mod layering;
#[cfg(feature = "ssr")]
pub mod limits;
#[cfg(feature = "ssr")]
pub mod mail_drain;
#[cfg(feature = "ssr")]
pub mod outbound;
#[cfg(feature = "ssr")]
pub mod page_cache;
#[cfg(feature = "ssr")]
pub mod payments;
#[cfg(feature = "ssr")]
pub mod secret;
#[cfg(feature = "ssr")]
pub mod seed;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod storage;
#[cfg(feature = "ssr")]
pub mod verify;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

use crate::{
    accounts::pages::{LoginPage, SettingsPage, SignupPage, SignupSentPage},
    catalog::pages::{EditWorkPage, LinkPage, NewWorkPage, ProfilePage, WorksPage},
    checkout::pages::SalesPage,
    delivery::pages::{DownloadPage, LibraryPage},
    earnings::pages::DashboardPage,
    layout::{Layout, set_status},
    wallet::pages::{WalletPage, WalletSettingsPage},
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
                <HashedStylesheet options=options id="leptos"/>
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
    #[cfg(feature = "ssr")]
    edge::provide_csp_nonce();
    view! {
        <Title text="Clink" formatter=crate::ui::title_text/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("") view=HomePage ssr=SsrMode::Async/>
                <Route path=path!("/signup") view=SignupPage ssr=SsrMode::Async/>
                <Route path=path!("/signup/sent") view=SignupSentPage ssr=SsrMode::Async/>
                <Route path=path!("/account-deleted") view=accounts::pages::AccountDeletedPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/login/two-step") view=accounts::pages::TwoStepLoginPage ssr=SsrMode::Async/>
                <Route path=path!("/password/forgot") view=accounts::pages::ForgotPasswordPage ssr=SsrMode::Async/>
                <Route path=path!("/password/reset/:token") view=accounts::pages::ResetPasswordPage ssr=SsrMode::Async/>
                <Route path=path!("/dashboard") view=DashboardPage ssr=SsrMode::Async/>
                <Route path=path!("/dashboard/works") view=WorksPage ssr=SsrMode::Async/>
                <Route path=path!("/dashboard/works/new") view=NewWorkPage ssr=SsrMode::Async/>
                <Route path=path!("/dashboard/works/:id") view=EditWorkPage ssr=SsrMode::Async/>
                <Route path=path!("/dashboard/sales") view=SalesPage ssr=SsrMode::Async/>
                <Route path=path!("/settings") view=SettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/library") view=LibraryPage ssr=SsrMode::Async/>
                <Route path=path!("/wallet") view=WalletPage ssr=SsrMode::Async/>
                <Route path=path!("/wallet/settings") view=WalletSettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/d/:token") view=DownloadPage ssr=SsrMode::Async/>
                <Route path=path!("/l/:code") view=LinkPage ssr=SsrMode::Async/>
                // Profiles are `/@handle`; the server rewrites them to this path before routing
                // (a route can't match a segment by its first character).
                <Route path=path!("/u/:handle") view=ProfilePage ssr=SsrMode::Async/>
                <Route path=path!("/:handle/:slug") view=LinkPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}

#[component]
fn HomePage() -> impl IntoView {
    view! {
        <Layout static_page=true>
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
        </Layout>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    set_status(404);
    view! {
        <Title text="Not found · Clink"/>
        <Layout static_page=true>
        <section class="auth">
            <h1>"Nothing here"</h1>
            <p class="lede">"This page doesn't exist, or the link was mistyped."</p>
            <p><a class="btn" href="/">"Go home"</a></p>
        </section>
        </Layout>
    }
}
