//! The creator dashboard: headline cards, the chart, works, traffic sources, live sales,
//! balance and payouts.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::api::{DashboardView, Metric, PeriodCard, RANGES, RecentSale, RequestPayout, load_dashboard};
use crate::{
    accounts::pages::SignInRequired,
    catalog::pages::EmptyWorks,
    error::AppError,
    layout::{DashNav, Layout},
    ui::FormAlert,
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let (range, sort, payout) =
        query.with_untracked(|q| (q.get("range").and_then(|r| r.parse::<i64>().ok()), q.get("sort"), q.get("payout").is_some()));
    let data = Resource::new(move || (range, sort.clone()), |(range, sort)| load_dashboard(range, sort));
    view! {
        <Title text="Dashboard · Clink"/>
        <Layout>
            <DashNav active="overview"/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(d) => view! { <Dashboard d=d payout=payout/> }.into_any(),
                        Err(AppError::Unauthorized) => view! { <SignInRequired next="/dashboard"/> }.into_any(),
                        Err(e) => view! { <p class="alert error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </Layout>
    }
}

fn metric_view(label: &'static str, m: Metric) -> impl IntoView {
    view! {
        <div class="metric">
            <div class="label">{label}{(label == "Conversion").then(ConversionTip)}</div>
            <div class="value">{m.value}</div>
            {m.change.map(|c| view! { <div class="delta" class:up=m.up class:down=!m.up>{c}</div> })}
        </div>
    }
}

/// What conversion counts, on every place it is shown: a tooltip that opens on hover, on focus
/// (it is in the tab order) and on a tap.
const CONVERSION_NOTE: &str = "Sales from counted views ÷ views. A sale whose visit wasn't counted as a view \
    (bought through the API or by a bot) is still a sale, but it isn't in conversion. A page a browser kept \
    and showed again has no new view either, so conversion is capped: it never passes 100 %.";

#[component]
fn ConversionTip() -> impl IntoView {
    view! { <span class="tip" tabindex="0" role="note" aria-label=CONVERSION_NOTE data-tip=CONVERSION_NOTE>"?"</span> }
}

#[component]
fn Dashboard(d: DashboardView, payout: bool) -> impl IntoView {
    let request = ServerAction::<RequestPayout>::new();
    let payout_error = Signal::derive(move || request.value().get().and_then(Result::err));
    let range = d.range_days;
    let numbers = d.numbers.clone();
    let sort_link = move |key: &'static str| format!("/dashboard?range={range}&sort={key}#works");
    view! {
        <div class="page-head">
            <h1>"Hello, " <span class="display-name">{d.display_name.clone()}</span></h1>
            <p class="muted">"Times in " {d.timezone.clone()} " · " <a href="/settings#integrations">"change"</a></p>
        </div>
        {(!d.has_works).then(|| view! { <EmptyWorks/> })}
        {(d.has_works && !d.has_activity).then(|| view! {
            <div class="empty">
                <h2>"Your links are ready — now share them"</h2>
                <p>"Post your link on X, Mastodon, Instagram or your blog. Views, sales and where buyers came from show up here as they happen."</p>
                <a class="btn primary" href="/dashboard/works">"Get your links"</a>
            </div>
        })}
        <LiveCards initial=d.cards/>

        <section class="card chart" aria-labelledby="chart-h">
            <div class="page-head">
                <h2 id="chart-h">"By day"</h2>
                <nav class="tabs" aria-label="Range">
                    {RANGES.into_iter().map(|r| view! {
                        <a href=format!("/dashboard?range={r}") aria-current=(r == range).then_some("page")>
                            {if r == 365 { "1 year".to_string() } else { format!("{r} days") }}
                        </a>
                    }).collect_view()}
                </nav>
            </div>
            <div class="chart-svg" inner_html=d.chart_svg></div>
            <details>
                <summary>"The numbers"</summary>
                <div class="table-wrap"><table class="stack">
                    <thead><tr><th>"Day"</th><th class="num">"Views"</th><th class="num">"Sales"</th><th class="num">"Earnings"</th></tr></thead>
                    <tbody>{d.chart_rows.into_iter().rev().map(|(day, views, sales, earnings)| view! {
                        <tr><td class="primary">{day}</td><td class="num" data-label="Views">{numbers.count(views)}</td><td class="num" data-label="Sales">{numbers.count(sales)}</td>
                            <td class="num" data-label="Earnings">{earnings}</td></tr>
                    }).collect_view()}</tbody>
                </table></div>
            </details>
        </section>

        <section id="works" aria-labelledby="works-h">
            <h2 id="works-h">"Works, last " {range} " days"</h2>
            <div class="table-wrap"><table class="sortable stack">
                <thead><tr>
                    <th><a href=sort_link("title") aria-sort=(d.sort == "title").then_some("ascending")>"Work"</a></th>
                    <th class="num"><a href=sort_link("views") aria-sort=(d.sort == "views").then_some("descending")>"Views"</a></th>
                    <th class="num"><a href=sort_link("sales") aria-sort=(d.sort == "sales").then_some("descending")>"Sales"</a></th>
                    <th class="num"><a href=sort_link("conversion") aria-sort=(d.sort == "conversion").then_some("descending")>"Conversion"</a><ConversionTip/></th>
                    <th class="num"><a href=sort_link("earnings") aria-sort=(d.sort == "earnings").then_some("descending")>"Earnings"</a></th>
                    <th class="num"><a href=sort_link("refunds") aria-sort=(d.sort == "refunds").then_some("descending")>"Refunds"</a></th>
                </tr></thead>
                <tbody>{d.works.into_iter().map(|w| view! {
                    <tr><td class="primary"><a href=format!("/dashboard/works/{}", w.id)>{w.title}</a></td>
                        <td class="num" data-label="Views">{numbers.count(w.views)}</td><td class="num" data-label="Sales">{numbers.count(w.sales)}</td>
                        <td class="num" data-label="Conversion">{w.conversion}</td><td class="num" data-label="Earnings">{w.earnings}</td>
                        <td class="num" data-label="Refunds">{numbers.count(w.refunds)}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
        </section>

        <section aria-labelledby="sources-h">
            <h2 id="sources-h">"Where buyers come from"</h2>
            {if d.sources.is_empty() {
                view! { <p class="muted">"No traffic yet. Campaign links (on each work's page) show up here by name."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap"><table class="sources stack">
                        <thead><tr><th>"Source"</th><th class="num">"Views"</th><th class="num">"Sales"</th><th class="num">"Conversion"<ConversionTip/></th><th>"Share of views"</th></tr></thead>
                        <tbody>{d.sources.into_iter().map(|s| view! {
                            <tr><td class="primary">{s.label}</td><td class="num" data-label="Views">{numbers.count(s.views)}</td><td class="num" data-label="Sales">{numbers.count(s.sales)}</td>
                                <td class="num" data-label="Conversion">{s.conversion}</td>
                                <td class="share"><span class="bar" style=format!("width:{}%", s.share.max(1))></span> {s.share} "%"</td></tr>
                        }).collect_view()}</tbody>
                    </table></div>
                }.into_any()
            }}
        </section>

        <section aria-labelledby="recent-h">
            <div class="page-head">
                <h2 id="recent-h">"Recent sales"</h2>
                <form method="get" action="/dashboard/sales.csv" class="row tight export">
                    <label class="sr-only" for="f-from">"From"</label><input id="f-from" type="date" name="from"/>
                    <label class="sr-only" for="f-to">"To"</label><input id="f-to" type="date" name="to"/>
                    <button type="submit" class="btn small">"Export CSV"</button>
                </form>
            </div>
            <LiveSales initial=d.recent/>
        </section>

        <section class="card" id="balance" aria-labelledby="balance-h">
            <h2 id="balance-h">"Balance and payouts"</h2>
            {payout.then(|| view! { <p class="alert ok" role="status">"Payout requested. We'll send it soon."</p> })}
            <FormAlert error=payout_error/>
            {if d.balances.is_empty() {
                view! { <p class="muted">"Your earnings appear here after your first sale."</p> }.into_any()
            } else {
                d.balances.into_iter().map(|b| view! {
                    <div class="row balance-row">
                        <div><div class="label">"Available (" {b.currency.clone()} ")"</div><div class="value available">{b.available}</div>
                            <div class="hint">"Being paid out: " {b.pending}</div>
                            {b.has_on_tabs.then(|| view! {
                                <div class="hint">"Pending on buyers' tabs: " <span class="on-tabs">{b.on_tabs.clone()}</span>
                                    " (available once they pay)"</div>
                            })}
                            {b.unpaid_tabs.clone().map(|w| view! {
                                <div class="hint">"Unpaid tabs, written off: " <span class="unpaid-tabs">{w}</span></div>
                            })}</div>
                        <ActionForm action=request>
                            <input type="hidden" name="currency" value=b.currency.clone()/>
                            <button type="submit" class="btn" disabled=!b.payable>"Request payout"</button>
                            <p class="hint">{b.payout_note}</p>
                        </ActionForm>
                    </div>
                }).collect_view().into_any()
            }}
            {(!d.payouts.is_empty()).then(|| view! {
                <ul class="payouts">{d.payouts.into_iter().map(|p| view! {
                    <li>{p.requested} " · " {p.amount} " · " <span class="badge" class:good=p.status == "paid">{p.status.clone()}</span></li>
                }).collect_view()}</ul>
            })}
        </section>
    }
}

/// The headline cards. With JavaScript they move when a sale comes in: the recent-sales list
/// below hears it on the dashboard's one event stream and tells the page (a `clink-sale`
/// event), and the cards are fetched again (one fetch at a time, however many sales arrive).
#[island]
fn LiveCards(initial: Vec<PeriodCard>) -> impl IntoView {
    let cards = RwSignal::new(initial);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::{JsCast, closure::Closure};
            let busy = StoredValue::new(false);
            let dirty = StoredValue::new(false);
            let refresh = move || {
                if busy.get_value() {
                    dirty.set_value(true);
                    return;
                }
                busy.set_value(true);
                leptos::task::spawn_local(async move {
                    loop {
                        dirty.set_value(false);
                        if let Ok(fresh) = super::api::load_dashboard_cards().await {
                            cards.set(fresh);
                        }
                        if !dirty.get_value() {
                            break;
                        }
                    }
                    busy.set_value(false);
                });
            };
            let on_sale = Closure::<dyn FnMut()>::new(refresh);
            if let Some(window) = web_sys::window() {
                let _ = window.add_event_listener_with_callback(SALE_EVENT, on_sale.as_ref().unchecked_ref());
            }
            on_sale.forget();
        }
    });
    view! {
        <section class="cards" aria-label="Headline figures">
            {move || cards.get().into_iter().map(|c| view! {
                <div class="period card">
                    <h2>{c.label}</h2>
                    <div class="metrics">
                        {c.money.into_iter().map(|m| view! {
                            {metric_view("Earnings", m.earnings)}
                            {metric_view("Avg. price", m.average_price)}
                        }).collect_view()}
                        {metric_view("Sales", c.sales)}
                        {metric_view("Views", c.views)}
                        {metric_view("Conversion", c.conversion)}
                    </div>
                </div>
            }).collect_view()}
        </section>
    }
}

/// The page-wide event the recent-sales list raises for each new sale it hears of.
#[cfg(feature = "hydrate")]
const SALE_EVENT: &str = "clink-sale";

/// The recent sales list; with JavaScript it stays live (server-sent events) while open.
#[island]
fn LiveSales(initial: Vec<RecentSale>) -> impl IntoView {
    let sales = RwSignal::new(initial);
    let live = RwSignal::new(false);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::{JsCast, closure::Closure};
            if let Ok(source) = web_sys::EventSource::new("/dashboard/events") {
                let on_sale = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                    if let Some(sale) = e.data().as_string().and_then(|t| serde_json::from_str::<RecentSale>(&t).ok()) {
                        sales.update(|list| {
                            list.retain(|s| s.order_id != sale.order_id);
                            list.insert(0, sale);
                            list.truncate(20);
                        });
                        // The headline cards (`LiveCards`) refresh on it.
                        if let (Some(window), Ok(event)) = (web_sys::window(), web_sys::Event::new(SALE_EVENT)) {
                            let _ = window.dispatch_event(&event);
                        }
                    }
                });
                let _ = source.add_event_listener_with_callback("sale", on_sale.as_ref().unchecked_ref());
                on_sale.forget();
                live.set(true);
                std::mem::forget(source);
            }
        }
    });
    view! {
        <p class="hint live" class:on=move || live.get()>{move || if live.get() { "Live: new sales appear here as they happen." } else { "" }}</p>
        {move || {
            let list = sales.get();
            if list.is_empty() {
                view! { <p class="empty">"No sales yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap"><table class="recent stack">
                        <thead><tr><th>"When"</th><th>"Work"</th><th>"Buyer"</th><th class="num">"Amount"</th><th>"Paid with"</th><th>"Source"</th></tr></thead>
                        <tbody>{list.into_iter().map(|s| view! {
                            <tr class:refunded=s.refunded || s.written_off><td class="when" data-label="When">{s.at}</td><td class="primary">{s.work}</td><td data-label="Buyer">{s.buyer}</td>
                                <td class="num amount" data-label="Amount">{s.amount}{s.refunded.then_some(" (refunded)")}{(s.written_off && !s.refunded).then_some(" (unpaid tab, written off)")}</td>
                                <td data-label="Paid with">{s.paid_with}</td><td data-label="Source">{s.source}</td></tr>
                        }).collect_view()}</tbody>
                    </table></div>
                }.into_any()
            }
        }}
    }
}
