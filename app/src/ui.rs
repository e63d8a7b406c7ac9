//! Small building blocks shared by pages: labelled fields with inline errors, alerts.

use leptos::prelude::*;

use crate::error::AppError;

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
) -> impl IntoView {
    let id = format!("f-{name}");
    let error_id = format!("f-{name}-error");
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
