//! Small building blocks shared by pages: labelled fields with inline errors, alerts.

use leptos::prelude::*;

use crate::error::AppError;

/// Escapes text for HTML, in element content and in quoted attribute values alike. Every
/// string Clink writes into markup by hand (the `<title>`, e-mails, the embed snippet, small
/// plain-HTML pages) goes through here; Leptos' own views escape text and attributes already.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The text of a `<textarea>`. Leptos writes a textarea's children into the server's HTML
/// without escaping them (it treats the element like `<script>`), so a description holding
/// `</textarea><script>…` would end the element and run. Every textarea's text passes through
/// here; in the browser, text goes into the DOM as text and needs nothing.
pub fn textarea_text(text: &str) -> String {
    if cfg!(feature = "ssr") { escape_html(text) } else { text.to_string() }
}

/// The formatter of the root `<Title>`: leptos_meta writes the title's text into `<head>`
/// verbatim on the server (no escaping), so without this a work titled
/// `</title><script>…` would be live markup on its link page. Every page's title passes
/// through here, whoever sets it. In the browser `document.title` takes plain text, so the
/// text is left alone there.
pub fn title_text(text: String) -> String {
    if cfg!(feature = "ssr") { escape_html(&text) } else { text }
}

/// A labelled input that shows the error belonging to its `name`, if any.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] placeholder: Option<&'static str>,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(optional, into)] value: Option<String>,
    #[prop(optional)] minlength: Option<u32>,
    #[prop(optional)] maxlength: Option<u32>,
    #[prop(default = true)] required: bool,
    #[prop(into)] error: Signal<Option<AppError>>,
    /// Tells two fields of one name on a page apart (their ids would clash): `f-{name}-{scope}`.
    #[prop(optional)]
    scope: Option<&'static str>,
) -> impl IntoView {
    let id = match scope {
        Some(scope) => format!("f-{name}-{scope}"),
        None => format!("f-{name}"),
    };
    let error_id = format!("{id}-error");
    let message = move || error.get().filter(|e| e.field() == Some(name)).map(|e| e.to_string());
    view! {
        <div class="field" class:invalid=move || message().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                placeholder=placeholder
                inputmode=inputmode
                value=value
                minlength=minlength
                maxlength=maxlength
                required=required
                aria-invalid=move || if message().is_some() { "true" } else { "false" }
                aria-describedby=error_id.clone()
            />
            {hint.map(|h| view! { <p class="hint">{h}</p> })}
            <p class="field-error" id=error_id role="alert">{message}</p>
        </div>
    }
}

/// An alert for errors that belong to no single field.
#[component]
pub fn FormAlert(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let message = move || error.get().filter(|e| e.field().is_none()).map(|e| e.to_string());
    view! {
        <div class="alert error" role="alert" class:hidden=move || message().is_none()>{message}</div>
    }
}

/// Marks a form `data-ready` once its island has hydrated, so styles and browser tests can tell
/// an enhanced form from a plain one. Effects never run on the server.
pub fn mark_ready(form: NodeRef<leptos::html::Form>) {
    Effect::new(move |_| {
        if let Some(el) = form.get() {
            let _ = el.set_attribute("data-ready", "");
        }
    });
}

/// Copies `text` to the clipboard, and says so. Without JavaScript it is hidden (the text sits
/// in a read-only input next to it, ready to select).
#[island]
pub fn CopyButton(text: String, #[prop(optional, into)] label: Option<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let label = label.unwrap_or_else(|| "Copy link".to_string());
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&text);
            copied.set(true);
            set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&text, copied);
    };
    view! {
        <button type="button" class="small copy-button" class:hidden=move || !ready.get() on:click=copy data-ready=move || ready.get().then_some("")>
            {move || if copied.get() { "Copied!".to_string() } else { label.clone() }}
        </button>
    }
}

/// "2026-11-23 14:05 UTC" for a millisecond timestamp.
#[cfg(feature = "ssr")]
pub fn date_label(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}
