//! The creator dashboard.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    accounts::{api::current_account, pages::SignInRequired},
    layout::{DashNav, Layout},
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let account = Resource::new(|| (), |_| current_account());
    view! {
        <Title text="Dashboard · Clink"/>
        <Layout>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match account.await {
                        Ok(Some(account)) => view! {
                            <DashNav active="overview"/>
                            <section class="dashboard">
                                <h1>"Hello, " <span class="display-name">{account.display_name}</span></h1>
                                <p class="muted">"@" {account.handle}</p>
                                <p><a class="btn primary" href="/dashboard/works/new">"+ New work"</a> " "
                                   <a class="btn" href="/dashboard/works">"Your works"</a></p>
                            </section>
                        }.into_any(),
                        _ => view! { <SignInRequired next="/dashboard"/> }.into_any(),
                    }
                })}
            </Suspense>
        </Layout>
    }
}
