//! Creator pages for works (list, upload, edit, share kit) and the buyer's link page.

use leptos::{either::Either, prelude::*};
use leptos_meta::{Link, Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::api::{
    DeleteWork, Profile, SetPublished, Storefront, UpdateWork, WorkDetail, load_dead_link_creator, load_profile, load_storefront, my_work,
    my_works,
};
use crate::{
    accounts::pages::SignInRequired,
    error::AppError,
    layout::{DashNav, Layout, StoreLayout, set_status},
    money::Currency,
    ui::{CopyButton, Field, FormAlert, mark_ready},
};

#[component]
pub fn WorksPage() -> impl IntoView {
    let works = Resource::new(|| (), |_| my_works());
    let query = use_query_map();
    let deleted = query.with_untracked(|q| q.get("deleted"));
    view! {
        <Title text="Your works · Clink"/>
        <Layout static_page=true>
            <DashNav active="works"/>
            {deleted.map(|id| view! {
                <div class="alert ok undo" role="status">
                    "Work deleted. Past buyers keep their downloads. "
                    <form method="post" action="/api/works/restore" class="inline">
                        <input type="hidden" name="work_id" value=id/>
                        <button type="submit" class="link">"Undo"</button>
                    </form>
                </div>
            })}
            <div class="page-head">
                <h1>"Your works"</h1>
                <a class="btn primary" href="/dashboard/works/new">"+ New work"</a>
            </div>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match works.await {
                        Err(AppError::Unauthorized) => Either::Left(view! { <SignInRequired next="/dashboard/works"/> }.into_any()),
                        Err(e) => Either::Left(view! { <p class="alert error">{e.to_string()}</p> }.into_any()),
                        Ok(list) if list.is_empty() => Either::Left(view! { <EmptyWorks/> }.into_any()),
                        Ok(list) => Either::Right(view! {
                            <ul class="work-list">
                                {list.into_iter().map(|w| view! {
                                    <li class="work-item card">
                                        {match w.thumb_url {
                                            Some(src) => Either::Left(view! { <img class="thumb" src=src alt="" width="160" height="84"/> }),
                                            None => Either::Right(view! { <div class="thumb placeholder" aria-hidden="true">"📦"</div> }),
                                        }}
                                        <div class="work-main">
                                            <a class="work-title" href=format!("/dashboard/works/{}", w.id)>{w.title}</a>
                                            <p class="muted">
                                                {w.price_label} " · " {w.file_count} " file(s), " {w.total_size} " · "
                                                {if w.published { view! { <span class="badge good">"Published"</span> }.into_any() }
                                                 else { view! { <span class="badge off">"Unpublished"</span> }.into_any() }}
                                            </p>
                                            <p class="mono link-line"><a href=w.link.clone()>{w.link.clone()}</a></p>
                                        </div>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()),
                    }
                })}
            </Suspense>
        </Layout>
    }
}

/// What a creator with no works sees: the three steps, and the button.
#[component]
pub fn EmptyWorks() -> impl IntoView {
    view! {
        <div class="empty">
            <h2>"Sell your first work in a minute"</h2>
            <ol class="steps">
                <li>"Upload a file — a PDF, a zip, an album, anything up to 2 GB."</li>
                <li>"Set a price: fixed, pay-what-you-want, or as little as 0.05."</li>
                <li>"Share the link on X, Mastodon, Instagram or your blog. It unfurls with a preview card."</li>
            </ol>
            <a class="btn primary" href="/dashboard/works/new">"Upload a work"</a>
        </div>
    }
}

#[component]
pub fn NewWorkPage() -> impl IntoView {
    let query = use_query_map();
    let (error, field, selling) = query.with_untracked(|q| (q.get("error"), q.get("field"), q.get("selling").is_some()));
    let account = Resource::new(|| (), |_| crate::accounts::api::current_account());
    view! {
        <Title text="New work · Clink"/>
        <Layout>
            <DashNav active="works"/>
            <h1>"New work"</h1>
            <Suspense fallback=|| ()>
                {move || {
                    let error = error.clone();
                    let field = field.clone();
                    Suspend::new(async move {
                        match account.await {
                            Ok(Some(me)) if me.sells => view! {
                                {selling.then(|| view! {
                                    <p class="alert ok" role="status">{format!("You're selling as clink/@{}. Now your first work:", me.handle)}</p>
                                })}
                                <NewWorkForm error=error field=field/>
                            }.into_any(),
                            Ok(Some(me)) => view! { <crate::accounts::pages::StartSelling display_name=me.display_name/> }.into_any(),
                            _ => view! { <SignInRequired next="/dashboard/works/new"/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </Layout>
    }
}

/// The price inputs shared by the new and edit forms. Pay-what-you-want's suggested amount only
/// shows when that option is chosen (pure CSS, so it works without JavaScript).
#[component]
fn PriceFields(
    #[prop(into)] currency: String,
    #[prop(into)] kind: String,
    #[prop(into)] price: String,
    #[prop(into)] suggested: String,
    #[prop(into)] error: Signal<Option<AppError>>,
) -> impl IntoView {
    let msg = move |name: &'static str| move || error.get().filter(|e| e.field() == Some(name)).map(|e| e.to_string());
    let pwyw = kind == "pwyw";
    view! {
        <fieldset class="price-fields">
            <legend class="label">"Price"</legend>
            <div class="row">
                <label class="choice"><input type="radio" name="price_kind" value="fixed" checked=!pwyw/>" Fixed price"</label>
                <label class="choice"><input type="radio" name="price_kind" value="pwyw" checked=pwyw/>" Pay what you want"</label>
            </div>
            <div class="row">
                <div class="field currency">
                    <label for="f-currency">"Currency"</label>
                    <select id="f-currency" name="currency">
                        {Currency::ALL.into_iter().map(|c| view! {
                            <option value=c.code() selected=c.code() == currency>{c.code()} " (" {c.symbol()} ")"</option>
                        }).collect_view()}
                    </select>
                    <p class="field-error" role="alert">{msg("currency")}</p>
                </div>
                <div class="field">
                    <label for="f-price"><span class="fixed-only">"Amount"</span><span class="pwyw-only">"Minimum"</span></label>
                    <input id="f-price" name="price" inputmode="decimal" placeholder="4.99" value=price required
                        aria-describedby="f-price-hint f-price-error"/>
                    <p class="hint" id="f-price-hint">"0 for free. From 0.05: under 0.50 (0.30 in GBP) is sold through Clink wallets only."</p>
                    <p class="field-error" id="f-price-error" role="alert">{msg("price")}</p>
                </div>
                <div class="field pwyw-only">
                    <label for="f-suggested">"Suggested (optional)"</label>
                    <input id="f-suggested" name="suggested" inputmode="decimal" placeholder="10.00" value=suggested/>
                    <p class="field-error" role="alert">{msg("suggested")}</p>
                </div>
            </div>
            <p class="field-error" role="alert">{msg("price_kind")}</p>
        </fieldset>
    }
}

/// Delivery limits, shared by the new and edit forms.
#[component]
fn LimitFields(
    #[prop(into)] slug: String,
    #[prop(into)] max_downloads: String,
    #[prop(into)] expiry: String,
    #[prop(into)] error: Signal<Option<AppError>>,
) -> impl IntoView {
    view! {
        <details class="more">
            <summary>"Link and download options"</summary>
            <Field label="Custom slug (optional)" name="slug" value=slug error=error required=false
                hint="Also reachable at /your-handle/slug. Lowercase letters, digits and dashes." maxlength=60/>
            <div class="row">
                <Field label="Downloads per purchase" name="max_downloads" value=max_downloads error=error required=false
                    inputmode="numeric" hint="Empty for unlimited."/>
                <Field label="Download link expires after (days)" name="link_expiry_days" value=expiry error=error required=false
                    inputmode="numeric" hint="Empty for never."/>
            </div>
        </details>
    }
}

/// The upload form. With JavaScript it uploads with a progress bar and a cancel button; without
/// it, it is an ordinary multipart form post.
#[island]
fn NewWorkForm(error: Option<String>, field: Option<String>) -> impl IntoView {
    let initial = error.map(|message| match field {
        Some(field) => AppError::Invalid { field, message },
        None => AppError::BadRequest(message),
    });
    let error = RwSignal::new(initial);
    let progress = RwSignal::new(None::<(f64, f64)>);
    let chosen = RwSignal::new(String::new());
    let form = NodeRef::<leptos::html::Form>::new();
    let files_input = NodeRef::<leptos::html::Input>::new();
    let dragging = RwSignal::new(false);
    let upload = upload::Uploader::new(error, progress);
    mark_ready(form);

    let describe_files = move || {
        if let Some(input) = files_input.get() {
            chosen.set(upload::describe(&input));
        }
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        if let Some(form) = form.get() {
            ev.prevent_default();
            error.set(None);
            upload.start(&form);
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let (Some(input), Some(files)) = (files_input.get(), ev.data_transfer().and_then(|d| d.files())) {
            input.set_files(Some(&files));
            describe_files();
        }
    };
    let uploading = move || progress.get().is_some();
    view! {
        <form node_ref=form method="post" action="/dashboard/works" enctype="multipart/form-data" class="card form" on:submit=on_submit>
            <FormAlert error=error/>
            <Field label="Title" name="title" error=error maxlength=120/>
            <div class="field">
                <label for="f-description">"Description"</label>
                <textarea id="f-description" name="description" maxlength="20000" placeholder="What buyers get. Markdown works: **bold**, lists, links."></textarea>
                <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("description")).map(|e| e.to_string())}</p>
            </div>
            <PriceFields currency="EUR" kind="fixed" price="" suggested="" error=error/>
            <LimitFields slug="" max_downloads="" expiry="" error=error/>
            <div class="field">
                <label for="f-cover">"Cover image (optional)"</label>
                <input id="f-cover" type="file" name="cover" accept="image/png,image/jpeg,image/webp,image/gif"/>
                <p class="hint">"Shown on your link and in social previews, cropped to 1200×630. Without one, Clink draws a card."</p>
                <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("cover")).map(|e| e.to_string())}</p>
            </div>
            <div class="field">
                <label for="f-files">"Files to sell"</label>
                <div class="dropzone" class:over=move || dragging.get()
                    on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                    on:dragleave=move |_| dragging.set(false)
                    on:drop=on_drop>
                    <p>"Drop files here, or choose them:"</p>
                    <input id="f-files" node_ref=files_input type="file" name="files" multiple required on:change=move |_| describe_files()/>
                    <p class="hint">{move || chosen.get()}</p>
                </div>
                <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("files")).map(|e| e.to_string())}</p>
            </div>
            <div class="upload-progress" class:hidden=move || !uploading() aria-live="polite">
                <progress max="100" value=move || progress.get().map(|(done, total)| if total > 0.0 { (done / total * 100.0).floor() } else { 0.0 }).unwrap_or(0.0)></progress>
                <p class="hint">{move || progress.get().map(|(done, total)| upload::progress_text(done, total))}</p>
                <button type="button" class="danger small" on:click=move |_| upload.cancel()>"Cancel upload"</button>
            </div>
            <button type="submit" class="btn primary wide" disabled=uploading>"Upload and get my link"</button>
        </form>
    }
}

/// The browser side of uploads: an XMLHttpRequest, because `fetch` reports no upload progress.
mod upload {
    use leptos::prelude::*;
    #[cfg(feature = "hydrate")]
    use wasm_bindgen::{JsCast, closure::Closure};

    use crate::{catalog::domain::human_bytes, error::AppError};

    #[derive(Clone, Copy)]
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub struct Uploader {
        error: RwSignal<Option<AppError>>,
        progress: RwSignal<Option<(f64, f64)>>,
        // Browser-only. On the server a local (thread-bound) value would be dropped by whichever
        // tokio worker finishes the streamed response, and `SendWrapper` panics on that.
        #[cfg(feature = "hydrate")]
        current: StoredValue<Option<web_sys::XmlHttpRequest>, LocalStorage>,
    }

    impl Uploader {
        pub fn new(error: RwSignal<Option<AppError>>, progress: RwSignal<Option<(f64, f64)>>) -> Self {
            Uploader {
                error,
                progress,
                #[cfg(feature = "hydrate")]
                current: StoredValue::new_local(None),
            }
        }

        #[cfg(not(feature = "hydrate"))]
        pub fn start(&self, _form: &web_sys::HtmlFormElement) {}

        #[cfg(feature = "hydrate")]
        pub fn start(&self, form: &web_sys::HtmlFormElement) {
            let Uploader { error, progress, current } = *self;
            let fail = move |msg: &str| {
                progress.set(None);
                error.set(Some(AppError::BadRequest(msg.to_string())));
            };
            let Ok(data) = web_sys::FormData::new_with_form(form) else { return fail("Could not read the form.") };
            let Ok(xhr) = web_sys::XmlHttpRequest::new() else { return fail("Your browser can't upload files.") };
            if xhr.open_with_async("POST", "/dashboard/works", true).is_err() {
                return fail("Could not start the upload.");
            }
            let _ = xhr.set_request_header("Accept", "application/json");
            progress.set(Some((0.0, 1.0)));

            let on_progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
                if e.length_computable() {
                    progress.set(Some((e.loaded(), e.total())));
                }
            });
            if let Ok(up) = xhr.upload() {
                up.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
            }
            on_progress.forget();

            let done = xhr.clone();
            let on_load = Closure::<dyn FnMut()>::new(move || {
                let body = done.response_text().ok().flatten().unwrap_or_default();
                let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                if (200..300).contains(&done.status().unwrap_or(0)) {
                    if let Some(to) = json["redirect"].as_str() {
                        let _ = window().location().set_href(to);
                    }
                    return;
                }
                progress.set(None);
                let err = &json["error"];
                let message = err["message"].as_str().unwrap_or("The upload failed. Please try again.").to_string();
                error.set(Some(match err["field"].as_str() {
                    Some(field) => AppError::Invalid { field: field.to_string(), message },
                    None => AppError::BadRequest(message),
                }));
            });
            xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
            on_load.forget();

            let on_error = Closure::<dyn FnMut()>::new(move || fail("The connection was lost during the upload."));
            xhr.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            on_error.forget();
            let on_abort = Closure::<dyn FnMut()>::new(move || fail("Upload cancelled. Nothing was saved."));
            xhr.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
            on_abort.forget();

            if xhr.send_with_opt_form_data(Some(&data)).is_err() {
                return fail("Could not start the upload.");
            }
            current.set_value(Some(xhr));
        }

        #[cfg(not(feature = "hydrate"))]
        pub fn cancel(&self) {}

        #[cfg(feature = "hydrate")]
        pub fn cancel(&self) {
            self.current.with_value(|xhr| {
                if let Some(xhr) = xhr {
                    let _ = xhr.abort();
                }
            });
        }
    }

    pub fn describe(input: &web_sys::HtmlInputElement) -> String {
        let Some(files) = input.files() else { return String::new() };
        let mut total = 0.0;
        let mut names = Vec::new();
        for i in 0..files.length() {
            if let Some(f) = files.item(i) {
                total += f.size();
                names.push(f.name());
            }
        }
        if names.is_empty() { String::new() } else { format!("{} — {}", names.join(", "), human_bytes(total as u64)) }
    }

    pub fn progress_text(done: f64, total: f64) -> String {
        let pct = if total > 0.0 { (done / total * 100.0).floor() } else { 0.0 };
        format!("{} of {} ({pct}%)", human_bytes(done as u64), human_bytes(total as u64))
    }
}

#[component]
pub fn EditWorkPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = params.with_untracked(|p| p.get("id").unwrap_or_default());
    let (created, tag, cover_error) = query.with_untracked(|q| (q.get("created").is_some(), q.get("tag"), q.get("cover_error")));
    let work = Resource::new(move || id.clone(), my_work);
    view! {
        <Title text="Edit work · Clink"/>
        <Layout>
            <DashNav active="works"/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let tag = tag.clone();
                    let cover_error = cover_error.clone();
                    Suspend::new(async move {
                        match work.await {
                            Ok(w) => view! { <WorkEditor work=w created=created tag=tag cover_error=cover_error/> }.into_any(),
                            Err(AppError::Unauthorized) => view! { <SignInRequired next="/dashboard/works"/> }.into_any(),
                            Err(_) => {
                                set_status(404);
                                view! { <p class="alert error">"That work doesn't exist, or it isn't yours."</p> }.into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </Layout>
    }
}

#[component]
fn WorkEditor(work: WorkDetail, created: bool, tag: Option<String>, cover_error: Option<String>) -> impl IntoView {
    let publish = ServerAction::<SetPublished>::new();
    let delete = ServerAction::<DeleteWork>::new();
    let tagged =
        tag.as_deref().map(crate::earnings::sources::clean_tag).filter(|t| !t.is_empty()).map(|t| format!("{}?ref={t}", work.link));
    let embed = format!(
        "<a href=\"{}\" style=\"display:inline-block;padding:10px 18px;background:#4338ca;color:#fff;border-radius:10px;font:600 16px system-ui,sans-serif;text-decoration:none\">Buy on Clink — {}</a>",
        crate::ui::escape_html(&work.link),
        crate::ui::escape_html(&work.price_label)
    );
    let share_text = work.title.clone();
    let publish_id = work.id.clone();
    let delete_id = work.id.clone();
    let cover_action = format!("/dashboard/works/{}/cover", work.id);
    view! {
        {created.then(|| view! { <div class="alert ok" role="status">"Your work is live. Share the link below."</div> })}
        <div class="page-head">
            <h1>{work.title.clone()}</h1>
            <div class="row tight">
                <a class="btn" href=work.link.clone() target="_blank" rel="noopener">"View link page ↗"</a>
            </div>
        </div>
        <div class="grid-2">
            <section class="card share-kit" aria-labelledby="share-h">
                <h2 id="share-h">"Share"</h2>
                <div class="copy">
                    <input readonly value=work.link.clone() aria-label="Your link" class="mono"/>
                    <CopyButton text=work.link.clone()/>
                </div>
                {work.slug_link.clone().map(|l| view! { <p class="hint">"Also at " <a href=l.clone()>{l.clone()}</a></p> })}
                <ShareIntents link=work.link.clone() text=share_text/>
                <div class="qr">
                    <img src=format!("/l/{}/qr.svg", work.code) alt="QR code for your link" width="160" height="160"/>
                    <a href=format!("/l/{}/qr.svg", work.code) download=format!("clink-{}.svg", work.code)>"Download QR code"</a>
                </div>
                <h3>"Campaign link"</h3>
                <form method="get" class="row tight" action=format!("/dashboard/works/{}", work.id)>
                    <input name="tag" placeholder="newsletter" aria-label="Campaign name" value=tag.clone().unwrap_or_default() maxlength="32"/>
                    <button type="submit" class="small">"Make link"</button>
                </form>
                {tagged.map(|t| view! {
                    <div class="copy"><input readonly value=t.clone() class="mono" aria-label="Tagged link"/><CopyButton text=t/></div>
                    <p class="hint">"Sales through this link show up under its name in your traffic sources."</p>
                })}
                <h3>"Embed a button"</h3>
                <div class="embed-preview" inner_html=embed.clone()></div>
                <textarea readonly class="mono embed-code" aria-label="Embed code" rows="4">{crate::ui::textarea_text(&embed)}</textarea>
                <CopyButton text=embed label="Copy embed code"/>
            </section>
            <section class="card" aria-labelledby="status-h">
                <h2 id="status-h">"Status"</h2>
                <p>
                    {if work.published { view! { <span class="badge good">"Published"</span> " Anyone with the link can buy it." }.into_any() }
                     else { view! { <span class="badge off">"Unpublished"</span> " The link shows “not available”. Past buyers keep access." }.into_any() }}
                </p>
                <ActionForm action=publish>
                    <input type="hidden" name="work_id" value=publish_id/>
                    <input type="hidden" name="published" value=(!work.published).to_string()/>
                    <button type="submit" class="small">{if work.published { "Unpublish" } else { "Publish" }}</button>
                </ActionForm>
                <p class="muted">{work.price_label.clone()}
                    {work.wallet_only.then_some(" · wallet only (below the card minimum)")}</p>
                <img class="preview-image" src=work.image_url.clone() alt="Social preview image" width="600" height="315"/>
                <form method="post" action=cover_action enctype="multipart/form-data" class="row tight">
                    <label class="sr-only" for="f-new-cover">"New cover image"</label>
                    <input id="f-new-cover" type="file" name="cover" accept="image/png,image/jpeg,image/webp,image/gif" required/>
                    <button type="submit" class="small">{if work.has_cover { "Replace cover" } else { "Add cover" }}</button>
                </form>
                {cover_error.map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
                <h3>"Files"</h3>
                <ul class="files">
                    {work.files.iter().map(|f| view! {
                        <li><span class="filename">{f.filename.clone()}</span> <span class="muted">{f.size.clone()} " · " {f.content_type.clone()}</span>
                            <br/><span class="mono hint" title="SHA-256">{f.sha256.chars().take(16).collect::<String>()} "…"</span></li>
                    }).collect_view()}
                </ul>
                <ActionForm action=delete>
                    <input type="hidden" name="work_id" value=delete_id/>
                    <button type="submit" class="danger small">"Delete work"</button>
                </ActionForm>
            </section>
        </div>
        <section>
            <h2>"Details"</h2>
            <EditWorkForm work=work/>
        </section>
    }
}

#[island]
fn EditWorkForm(work: WorkDetail) -> impl IntoView {
    let action = ServerAction::<UpdateWork>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let saved = move || action.value().get().and_then(Result::ok);
    let pending = action.pending();
    let form = NodeRef::new();
    mark_ready(form);
    view! {
        <ActionForm action=action node_ref=form>
            <div class="card form">
                <FormAlert error=error/>
                <input type="hidden" name="work_id" value=work.id.clone()/>
                <Field label="Title" name="title" value=work.title.clone() error=error maxlength=120/>
                <div class="field">
                    <label for="f-description">"Description"</label>
                    <textarea id="f-description" name="description" maxlength="20000">{crate::ui::textarea_text(&work.description)}</textarea>
                    <p class="hint">"Markdown: **bold**, *italic*, lists, [links](https://…). HTML is shown as text."</p>
                </div>
                <PriceFields currency=work.currency.clone() kind=work.price_kind.clone() price=work.price.clone()
                    suggested=work.suggested.clone() error=error/>
                <LimitFields slug=work.slug.clone() max_downloads=work.max_downloads.clone() expiry=work.link_expiry_days.clone() error=error/>
                <div class="alert ok" role="status" class:hidden=move || saved().is_none()>{saved}</div>
                <button type="submit" class="btn primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Saving…" } else { "Save changes" }}
                </button>
            </div>
        </ActionForm>
    }
}

/// Share intents for each network. Mastodon needs the sharer's own instance: a small GET form
/// asks for it (no JavaScript needed) and `/share/mastodon` redirects there.
#[component]
fn ShareIntents(link: String, text: String) -> impl IntoView {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let u = enc(&link);
    let t = enc(&text);
    let both = enc(&format!("{text} {link}"));
    let intents = [
        ("X", format!("https://x.com/intent/post?text={t}&url={u}")),
        ("Facebook", format!("https://www.facebook.com/sharer/sharer.php?u={u}")),
        ("LinkedIn", format!("https://www.linkedin.com/sharing/share-offsite/?url={u}")),
        ("Bluesky", format!("https://bsky.app/intent/compose?text={both}")),
        ("Reddit", format!("https://www.reddit.com/submit?url={u}&title={t}")),
        ("WhatsApp", format!("https://wa.me/?text={both}")),
    ];
    view! {
        <div class="share" aria-label="Share on">
            {intents.into_iter().map(|(name, href)| view! {
                <a class="btn small" href=href target="_blank" rel="noopener">{name}</a>
            }).collect_view()}
        </div>
        <form method="post" action="/share/mastodon" class="row tight mastodon" target="_blank">
            <input type="hidden" name="text" value=format!("{text} {link}")/>
            <label class="sr-only" for="f-instance">"Your Mastodon instance"</label>
            <input id="f-instance" name="instance" placeholder="mastodon.social" required maxlength="253"/>
            <button type="submit" class="small">"Share on Mastodon"</button>
        </form>
    }
}

/// The buyer's storefront at `/l/{code}` and `/{handle}/{slug}`: rendered completely on the
/// server with no wasm, with the Open Graph and Twitter tags link previews read. After Buy,
/// the same page shows the payment step (`?order=…&k=…`), so the buyer never leaves it.
#[component]
pub fn LinkPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let (code, handle, slug) = params.with_untracked(|p| (p.get("code"), p.get("handle"), p.get("slug")));
    let (order, key, error, confirm_wallet, again, amount, bought) = query.with_untracked(|q| {
        let flag = |name: &str| q.get(name).is_some();
        (q.get("order"), q.get("k"), q.get("error"), flag("confirm_wallet"), flag("again"), q.get("amount"), flag("bought"))
    });
    let dead_code = code.clone();
    // Plain futures rather than Resources: nothing on this page hydrates, so the data need not
    // be serialized into the HTML for the browser.
    let page = async move {
        let store = load_storefront(code, handle, slug).await?;
        let pay = async {
            match (order, key) {
                (Some(order), Some(key)) => crate::checkout::api::load_pay_step(order, key).await.ok(),
                _ => None,
            }
        };
        // Back from a wallet purchase (`?bought=1`): the session says which one, if any.
        let just_bought = async {
            match bought {
                true => crate::delivery::api::load_just_bought(store.code.clone()).await.ok().flatten(),
                false => None,
            }
        };
        let (pay, buyer, just_bought) = futures::join!(pay, crate::checkout::pages::load_buyer(store.code.clone()), just_bought);
        Ok::<_, AppError>((store, pay, buyer, just_bought))
    };
    view! {
        <StoreLayout>
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    match page.await {
                        Ok((store, pay, buyer, just_bought)) => Either::Left(view! {
                            <StorefrontView store=store pay=pay buyer=buyer just_bought=just_bought error=error
                                confirm_wallet=confirm_wallet again=again amount=amount/>
                        }),
                        Err(_) => {
                            set_status(404);
                            let creator = load_dead_link_creator(dead_code).await.ok().flatten();
                            Either::Right(view! { <DeadLink creator=creator/> })
                        }
                    }
                })}
            </Suspense>
        </StoreLayout>
    }
}

/// A link that doesn't open: why that may be, and ways on.
#[component]
fn DeadLink(creator: Option<(String, String)>) -> impl IntoView {
    view! {
        <Title text="Not available · Clink"/>
        <Meta name="robots" content="noindex"/>
        <section class="store dead-link">
            <h1>"This link isn't available"</h1>
            <p class="lede">"The work may have been unpublished or deleted, or the link was mistyped."</p>
            <ul class="ways-on">
                {creator.map(|(handle, name)| view! {
                    <li><a class="btn primary" href=format!("/@{handle}")>{format!("See {name}'s other works")}</a></li>
                })}
                <li><a class="btn" href="/library">"Bought it before? Find your purchases"</a></li>
                <li><a class="btn" href="/">"Go to Clink"</a></li>
            </ul>
        </section>
    }
}

#[component]
fn StorefrontView(
    store: Storefront,
    pay: Option<crate::checkout::domain::PayStep>,
    buyer: crate::checkout::pages::Buyer,
    just_bought: Option<crate::delivery::api::JustBoughtView>,
    error: Option<String>,
    confirm_wallet: bool,
    again: bool,
    amount: Option<String>,
) -> impl IntoView {
    let price = store.price;
    let title = format!("{} by {}", store.title, store.creator_name);
    let description = if store.excerpt.is_empty() {
        format!("{} — {}", store.title, store.price_label)
    } else {
        format!("{} · {}", store.price_label, store.excerpt)
    };
    let media = match store.page_image.clone() {
        Some(img) => Either::Left(view! {
            <picture>
                <source type="image/webp" srcset=img.webp/>
                <img class="cover" src=img.jpeg alt=format!("Cover of {}", store.title) width="1200" height="630" fetchpriority="high" decoding="async"/>
            </picture>
        }),
        None => Either::Right(view! {
            <div class="cover-tile" aria-hidden="true"><span>{store.includes.split(" · ").nth(1).filter(|k| k.len() <= 5).unwrap_or("✦").to_string()}</span></div>
        }),
    };
    let pwyw = matches!(price, crate::catalog::domain::Price::PayWhatYouWant { .. }) && pay.is_none() && just_bought.is_none();
    view! {
        <Title text=format!("{title} · Clink")/>
        <Meta name="description" content=description.clone()/>
        <Link rel="canonical" href=store.canonical_url.clone()/>
        <Meta property="og:type" content="product"/>
        <Meta property="og:site_name" content="Clink"/>
        <Meta property="og:title" content=store.og_title.clone()/>
        <Meta property="og:description" content=description.clone()/>
        <Meta property="og:url" content=store.canonical_url.clone()/>
        <Meta property="og:image" content=store.image_url.clone()/>
        <Meta property="og:image:width" content="1200"/>
        <Meta property="og:image:height" content="630"/>
        <Meta property="og:image:alt" content=title.clone()/>
        <Meta property="product:price:amount" content=price.floor().decimal()/>
        <Meta property="product:price:currency" content=price.currency().code()/>
        <Meta name="twitter:card" content="summary_large_image"/>
        <Meta name="twitter:title" content=store.og_title.clone()/>
        <Meta name="twitter:description" content=description/>
        <Meta name="twitter:image" content=store.image_url.clone()/>
        <Link rel="alternate" type_="application/json+oembed" href=store.oembed_url.clone() title=title/>
        <article class="store" style=format!("--accent:{}", store.accent)>
            <div class="store-media">{media}</div>
            <div class="store-main">
                <a class="creator-chip" href=store.creator_url.clone()>
                    <Avatar url=store.avatar_url.clone() name=store.creator_name.clone() size=32/>
                    <span>{store.creator_name.clone()}</span>
                </a>
                <h1>{store.title.clone()}</h1>
                <p class="includes">{store.includes.clone()}</p>
                {match (just_bought, pay) {
                    (Some(bought), _) => view! { <crate::delivery::pages::JustBoughtBox bought=bought/> }.into_any(),
                    (None, Some(step)) => view! { <crate::checkout::pages::PayStepView step=step error=error.clone()/> }.into_any(),
                    (None, None) => view! {
                        <crate::checkout::pages::BuyBox store=store.clone() buyer=buyer error=error confirm_wallet=confirm_wallet again=again amount=amount/>
                    }.into_any(),
                }}
                <p class="trust">
                    {if price.is_free() { "Instant download · No payment needed" } else { "Instant download · Secure payment · Refunds from the creator" }}
                </p>
            </div>
            <section class="store-about" aria-label="About this work">
                <div class="description" inner_html=store.description_html.clone()></div>
                <p class="more">"More from " <a href=store.creator_url.clone()>{store.creator_name.clone()}</a></p>
            </section>
        </article>
        {pwyw.then(|| view! { <script src="/pwyw.js" defer></script> })}
    }
}

/// A creator's avatar: their picture, else their initial on their accent colour.
#[component]
pub fn Avatar(url: Option<String>, name: String, size: u32) -> impl IntoView {
    match url {
        Some(src) => Either::Left(view! { <img class="avatar" src=src alt="" width=size height=size/> }),
        None => {
            let initial = name.chars().next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
            Either::Right(view! {
                <span class="avatar initial" aria-hidden="true" style=format!("width:{size}px;height:{size}px;font-size:{}px", size / 2)>{initial}</span>
            })
        }
    }
}

/// A creator's public storefront at `/@{handle}`: who they are, and everything they sell.
#[component]
pub fn ProfilePage() -> impl IntoView {
    let handle = use_params_map().with_untracked(|p| p.get("handle").unwrap_or_default());
    let profile = load_profile(handle);
    view! {
        <StoreLayout>
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    match profile.await {
                        Ok(p) => Either::Left(view! { <ProfileView profile=p/> }),
                        Err(_) => {
                            set_status(404);
                            Either::Right(view! {
                                <Title text="No such creator · Clink"/>
                                <Meta name="robots" content="noindex"/>
                                <section class="store dead-link">
                                    <h1>"No creator by that name"</h1>
                                    <p class="lede">"Check the spelling of the handle, or ask the creator for their link."</p>
                                    <ul class="ways-on">
                                        <li><a class="btn primary" href="/">"Go to Clink"</a></li>
                                        <li><a class="btn" href="/signup">"Sell your own work"</a></li>
                                    </ul>
                                </section>
                            })
                        }
                    }
                })}
            </Suspense>
        </StoreLayout>
    }
}

#[component]
fn ProfileView(profile: Profile) -> impl IntoView {
    let title = format!("{} (@{}) · Clink", profile.name, profile.handle);
    let count = profile.works.len();
    let description = if profile.bio.is_empty() {
        format!("{} sells {count} work{} on Clink.", profile.name, if count == 1 { "" } else { "s" })
    } else {
        profile.bio.clone()
    };
    view! {
        <Title text=title.clone()/>
        <Meta name="description" content=description.clone()/>
        <Link rel="canonical" href=profile.url.clone()/>
        <Meta property="og:type" content="profile"/>
        <Meta property="og:site_name" content="Clink"/>
        <Meta property="og:title" content=format!("{} on Clink", profile.name)/>
        <Meta property="og:description" content=description.clone()/>
        <Meta property="og:url" content=profile.url.clone()/>
        <Meta property="profile:username" content=profile.handle.clone()/>
        {profile.image_url.clone().map(|img| view! { <Meta property="og:image" content=img/> })}
        <Meta name="twitter:card" content="summary"/>
        <Meta name="twitter:title" content=format!("{} on Clink", profile.name)/>
        <Meta name="twitter:description" content=description/>
        <section class="profile" style=format!("--accent:{}", profile.accent)>
            <header class="profile-head">
                <Avatar url=profile.avatar_url.clone() name=profile.name.clone() size=88/>
                <div>
                    <h1>{profile.name.clone()}</h1>
                    <p class="muted">"@" {profile.handle.clone()}</p>
                </div>
            </header>
            {(!profile.bio.is_empty()).then(|| view! { <p class="bio">{profile.bio.clone()}</p> })}
            {(!profile.links.is_empty()).then(|| view! {
                <ul class="profile-links">
                    {profile.links.iter().map(|l| {
                        let shown = l.split("://").nth(1).unwrap_or(l).trim_end_matches('/').to_string();
                        view! { <li><a href=l.clone() rel="me nofollow noopener ugc">{shown}</a></li> }
                    }).collect_view()}
                </ul>
            })}
            {if profile.works.is_empty() {
                Either::Left(view! {
                    <div class="empty"><h2>"Nothing for sale yet"</h2><p>{format!("{} hasn't published a work yet. Check back soon.", profile.name)}</p></div>
                })
            } else {
                Either::Right(view! {
                    <h2 class="sr-only">"Works"</h2>
                    <ul class="work-grid">
                        {profile.works.into_iter().map(|w| view! {
                            <li class="work-card">
                                <a href=w.url.clone()>
                                    {match w.thumb_url {
                                        Some(src) => Either::Left(view! { <img src=src alt="" width="400" height="210" loading="lazy"/> }),
                                        None => Either::Right(view! { <span class="cover-tile small" aria-hidden="true"><span>"✦"</span></span> }),
                                    }}
                                    <span class="work-card-title">{w.title}</span>
                                    <span class="work-card-price">{w.price_label}</span>
                                </a>
                            </li>
                        }).collect_view()}
                    </ul>
                })
            }}
        </section>
    }
}
