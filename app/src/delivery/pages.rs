//! The download page and the buyer library.

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::api::{DownloadState, DownloadView, EmailLibraryLink, FileLink, JustBoughtView, my_library};
use crate::{
    layout::{Layout, StoreLayout, set_status},
    ui::{Field, FormAlert},
};

#[component]
pub fn DownloadPage() -> impl IntoView {
    let token = use_params_map().with_untracked(|p| p.get("token").unwrap_or_default());
    let start = use_query_map().with_untracked(|q| q.get("start").is_some());
    let found = super::api::load_download(token);
    view! {
        <Title text="Your download · Clink"/>
        <Meta name="robots" content="noindex"/>
        // The token in the path stays on this site; its own form posts may send it back here.
        <Meta name="referrer" content="same-origin"/>
        <StoreLayout>
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    match found.await {
                        Ok(DownloadState::Ready(d)) => view! {
                            // "The download starts at once": a wallet purchase lands here and the
                            // first file starts downloading by itself (an attachment, so the page stays).
                            {start.then(|| d.files.first().map(|f| view! { <Meta http_equiv="refresh" content=format!("0;url={}", f.url)/> })).flatten()}
                            <section class="store download">
                                <p class="alert ok" role="status">"Thank you! Your purchase is ready."
                                    {d.wallet_balance.clone().map(|b| view! { " Your wallet now holds " <strong class="wallet-balance">{b}</strong> "." })}</p>
                                <h1>{d.title}</h1>
                                <p class="creator">"by " {d.creator} " · " {d.amount} " · order " <span class="mono">{d.order_id}</span></p>
                                <FileList files=d.files/>
                                <p class="muted">{d.allowance}
                                    {d.expires.map(|e| format!(" · link expires {e}"))}</p>
                                <p class="hint receipt-note">{format!("{} Lost it? ", d.receipt_note)} <a href="/library">"Find your purchases"</a> "."</p>
                            </section>
                        }.into_any(),
                        Ok(DownloadState::Gone(why)) => {
                            set_status(410);
                            view! {
                                <section class="store">
                                    <h1>"This download isn't available"</h1>
                                    <p class="lede">{why}</p>
                                </section>
                            }.into_any()
                        }
                        _ => {
                            set_status(404);
                            view! {
                                <section class="store">
                                    <h1>"Unknown download link"</h1>
                                    <p class="lede">"Check the link in your receipt, or " <a href="/library">"find your purchases"</a> "."</p>
                                </section>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </StoreLayout>
    }
}

/// A purchase's files, each with its own Download button.
#[component]
fn FileList(files: Vec<FileLink>) -> impl IntoView {
    view! {
        <ul class="files">
            {files.into_iter().map(|f| view! {
                <li class="card file-row">
                    <span><span class="filename">{f.name}</span>" "<span class="muted">{f.size}</span></span>
                    <a class="btn primary small" href=f.url download>"Download"</a>
                </li>
            }).collect_view()}
        </ul>
    }
}

/// Where Buy was on the link page, right after a wallet purchase in this browser: paid, the
/// first file downloading by itself (an attachment, so the page stays) when arriving from the
/// purchase, every file a click away.
#[component]
pub fn JustBoughtBox(bought: JustBoughtView) -> impl IntoView {
    let JustBoughtView { download, start } = bought;
    let DownloadView { files, allowance, expires, wallet_balance, tab, receipt_note, amount, .. } = download;
    let paid = if tab.is_some() { format!("{amount} on your tab") } else { format!("Paid {amount}") };
    let headline = if start { format!("{paid} · your download is starting") } else { format!("{paid} · it's yours") };
    view! {
        {start.then(|| files.first().map(|f| view! { <Meta http_equiv="refresh" content=format!("0;url={}", f.url)/> }))}
        <div class="buy card form owned just-bought">
            <p class="owned-title" role="status"><span aria-hidden="true">"✓ "</span>{headline}</p>
            {wallet_balance.map(|b| view! { <p class="hint">"Your wallet now holds " <strong class="wallet-balance">{b}</strong> "."</p> })}
            {tab.map(|(owed, limit)| view! {
                <p class="hint">"Your tab: " <strong class="tab-owed">{owed}</strong> {format!(" of {limit}. ")}
                    <a href="/wallet">"Pay it any time"</a> "; it's paid by card once it reaches the limit."</p>
            })}
            <FileList files=files/>
            <p class="hint">{allowance}{expires.map(|e| format!(" · link expires {e}"))} " · " <a href="/library">"All your purchases"</a></p>
            <p class="hint receipt-note">{receipt_note}</p>
        </div>
    }
}

#[component]
pub fn LibraryPage() -> impl IntoView {
    let library = Resource::new(|| (), |_| my_library());
    view! {
        <Title text="Your purchases · Clink"/>
        <Layout static_page=true>
            <h1>"Your purchases"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match library.await {
                        Ok(view) if view.email.is_some() => view! {
                            <p class="muted">"Bought with " {view.email.clone()} "."</p>
                            {if view.purchases.is_empty() {
                                view! { <p class="empty">"Nothing here yet."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="files">
                                        {view.purchases.into_iter().map(|p| view! {
                                            <li class="card file-row">
                                                <span><strong>{p.title}</strong> <span class="muted">{p.amount} " · " {p.date}</span></span>
                                                {if p.refunded {
                                                    view! { <span class="badge bad">"refunded"</span> }.into_any()
                                                } else {
                                                    view! {
                                                        <form method="post" action=format!("/library/download/{}", p.order_id) class="inline">
                                                            <button type="submit" class="btn primary small">"Open"</button>
                                                        </form>
                                                    }.into_any()
                                                }}
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        }.into_any(),
                        _ => view! { <LibraryLinkForm/> }.into_any(),
                    }
                })}
            </Suspense>
        </Layout>
    }
}

#[component]
fn LibraryLinkForm() -> impl IntoView {
    let action = ServerAction::<EmailLibraryLink>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let sent = use_query_map().with_untracked(|q| q.get("sent").is_some());
    view! {
        <p class="lede">"No account needed: we email you a link to everything you bought."</p>
        <ActionForm action=action>
            <div class="card form">
                <FormAlert error=error/>
                <Field label="Email used at checkout" name="email" kind="email" autocomplete="email" error=error/>
                {sent.then(|| view! {
                    <div class="alert ok" role="status">"If that email has purchases, a link to them is on its way. It works once, within 30 minutes."</div>
                })}
                <button type="submit" class="btn primary">"Email me a link"</button>
            </div>
        </ActionForm>
    }
}
