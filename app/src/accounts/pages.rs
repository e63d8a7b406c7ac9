//! Sign-up and login pages. The forms are islands: with JavaScript they submit in place and
//! show errors without a reload; without it they are plain HTML forms that post and redirect.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::api::{LogIn, SignUp};
use crate::ui::{Field, FormAlert, mark_ready};

#[component]
pub fn SignupPage() -> impl IntoView {
    let (expired, taken) = use_query_map().with_untracked(|q| (q.get("expired").is_some(), q.get("taken").is_some()));
    view! {
        <Title text="Create your account · Clink"/>
        <crate::layout::Layout>
        <section class="auth">
            <h1>"Start selling in a minute"</h1>
            <p class="lede">"Upload a file, set a price from 0.05, share one link."</p>
            {expired.then(|| view! { <p class="alert warn" role="status">"That link has expired or was used. Sign up again to get a new one."</p> })}
            {taken.then(|| view! { <p class="alert warn" role="status">"Someone took that handle while you confirmed. Sign up again with another one."</p> })}
            <SignupForm/>
            <p class="muted">"Already have an account? " <a href="/login">"Log in"</a></p>
        </section>
        </crate::layout::Layout>
    }
}

#[island]
fn SignupForm() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let pending = action.pending();
    let form = NodeRef::new();
    mark_ready(form);
    view! {
        <ActionForm action=action node_ref=form>
            <div class="card form">
                <FormAlert error=error/>
                <Field label="Your name" name="display_name" autocomplete="name" error=error maxlength=80/>
                <Field label="Handle" name="handle" autocomplete="username" error=error
                    hint="Your links show it: clink/@handle. Letters, digits and _." minlength=3 maxlength=30/>
                <Field label="Email" name="email" kind="email" autocomplete="email" error=error/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password" error=error
                    hint="At least 8 characters." minlength=8 maxlength=256/>
                <button type="submit" class="btn primary wide" disabled=move || pending.get()>
                    {move || if pending.get() { "Creating your account…" } else { "Create account" }}
                </button>
            </div>
        </ActionForm>
    }
}

/// Where a deleted account's browser lands.
#[component]
pub fn AccountDeletedPage() -> impl IntoView {
    view! {
        <Title text="Account deleted · Clink"/>
        <crate::layout::Layout static_page=true>
        <section class="auth">
            <h1>"Your account is deleted"</h1>
            <p class="lede">"Your profile, works, payout details, devices and emails with us are gone, and you're signed out everywhere."</p>
            <p class="muted">"The accounting records of your past sales, purchases and payouts stay, under a number that no longer leads to you."</p>
            <p class="muted"><a href="/">"Back to Clink"</a></p>
        </section>
        </crate::layout::Layout>
    }
}

/// After the sign-up form: the account is made from the link in the email.
#[component]
pub fn SignupSentPage() -> impl IntoView {
    view! {
        <Title text="Check your inbox · Clink"/>
        <crate::layout::Layout static_page=true>
        <section class="auth">
            <h1>"Check your inbox"</h1>
            <p class="lede">"We sent you a link to confirm your email and finish creating your account. It works once, within 24 hours."</p>
            <p class="muted">"Nothing there after a minute? Look in your spam folder, or " <a href="/signup">"sign up again"</a> "."</p>
            <p class="muted">"Already have an account? " <a href="/login">"Log in"</a></p>
        </section>
        </crate::layout::Layout>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let (next, email, has_wallet, two_step_expired) = query
        .with_untracked(|q| (q.get("next"), q.get("email"), q.get("has_wallet").is_some(), q.get("two_step") == Some("expired".into())));
    view! {
        <Title text="Log in · Clink"/>
        <crate::layout::Layout>
        <section class="auth">
            <h1>"Welcome back"</h1>
            {two_step_expired.then(|| view! {
                <p class="alert warn" role="status">"That sign-in waited too long for its code. Log in again."</p>
            })}
            {has_wallet.then(|| view! {
                <p class="alert ok" role="status">"This email already has a Clink wallet. Log in, or get a sign-in link, and you'll go straight back to your purchase."</p>
            })}
            <LoginForm next=next.clone() email=email.clone()/>
            <p class="muted"><a href="/password/forgot">"Forgot your password?"</a> " · New to Clink? " <a href="/signup">"Create an account"</a></p>
            <h2 class="or">"Or get a sign-in link by email"</h2>
            <MagicLinkForm next=next.unwrap_or_else(|| "/wallet".into()) email=email.unwrap_or_default()/>
        </section>
        </crate::layout::Layout>
    }
}

#[island]
fn LoginForm(next: Option<String>, email: Option<String>) -> impl IntoView {
    let action = ServerAction::<LogIn>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let pending = action.pending();
    let form = NodeRef::new();
    mark_ready(form);
    view! {
        <ActionForm action=action node_ref=form>
            <div class="card form">
                <FormAlert error=error/>
                <Field label="Email" name="email" kind="email" autocomplete="email" error=error value=email.unwrap_or_default()/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password" error=error/>
                {next.map(|n| view! { <input type="hidden" name="next" value=n/> })}
                <button type="submit" class="btn primary wide" disabled=move || pending.get()>
                    {move || if pending.get() { "Logging in…" } else { "Log in" }}
                </button>
            </div>
        </ActionForm>
    }
}

/// Sign in without a password: a link by email, which also creates a buyer account. Works as
/// a plain form post.
#[component]
pub fn MagicLinkForm(#[prop(into)] next: String, #[prop(optional, into)] email: String) -> impl IntoView {
    let action = ServerAction::<super::api::EmailLoginLink>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let sent = use_query_map().with_untracked(|q| q.get("link_sent").is_some());
    view! {
        <ActionForm action=action>
            <div class="card form magic-link">
                {sent.then(|| view! { <p class="alert ok" role="status">"Check your inbox: the link works once, within 30 minutes."</p> })}
                <FormAlert error=error/>
                <input type="hidden" name="next" value=next/>
                <div class="field">
                    <label for="f-link-email">"Your email"</label>
                    <input id="f-link-email" name="email" type="email" autocomplete="email" required value=email/>
                    <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("email")).map(|e| e.to_string())}</p>
                </div>
                <button type="submit" class="btn">"Email me a sign-in link"</button>
            </div>
        </ActionForm>
    }
}

/// "Forgot your password?": a reset link by email. A plain form post, so it works without JS.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<super::api::ForgotPassword>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let sent = use_query_map().with_untracked(|q| q.get("sent").is_some());
    view! {
        <Title text="Reset your password · Clink"/>
        <crate::layout::Layout>
        <section class="auth">
            <h1>"Reset your password"</h1>
            {if sent {
                view! {
                    <p class="alert ok" role="status">"If an account uses that email, a reset link is on its way. It works once, within 30 minutes."</p>
                    <p class="muted">"Nothing after a minute? Look in your spam folder, or " <a href="/password/forgot">"try again"</a> "."</p>
                }.into_any()
            } else {
                view! {
                    <p class="lede">"Tell us your account's email and we'll send you a link to choose a new password."</p>
                    <ActionForm action=action>
                        <div class="card form">
                            <FormAlert error=error/>
                            <Field label="Email" name="email" kind="email" autocomplete="email" error=error/>
                            <button type="submit" class="btn primary wide">"Email me a reset link"</button>
                        </div>
                    </ActionForm>
                }.into_any()
            }}
            <p class="muted">"Remembered it? " <a href="/login">"Log in"</a></p>
        </section>
        </crate::layout::Layout>
    }
}

/// The page a reset link opens: choose a new password.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let token = leptos_router::hooks::use_params_map().with_untracked(|p| p.get("token").unwrap_or_default());
    let action = ServerAction::<super::api::ResetPassword>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    // The link itself is the hidden `token` field: its errors (expired, used) are the page's.
    let stale_link = move || error.get().filter(|e| e.field() == Some("token")).map(|e| e.to_string());
    view! {
        <Title text="Choose a new password · Clink"/>
        // The link's token is in the path: other sites never see it, but this site does, so a
        // refused form post (no JavaScript) comes back here with its message.
        <leptos_meta::Meta name="referrer" content="same-origin"/>
        <crate::layout::Layout>
        <section class="auth">
            <h1>"Choose a new password"</h1>
            <p class="lede">"Saving it signs you out on every other device."</p>
            <ActionForm action=action>
                <div class="card form">
                    <FormAlert error=error/>
                    {move || stale_link().map(|message| view! { <p class="alert error" role="alert">{message}</p> })}
                    <input type="hidden" name="token" value=token/>
                    <Field label="New password" name="password" kind="password" autocomplete="new-password" minlength=8 maxlength=256
                        hint="At least 8 characters." error=error/>
                    <button type="submit" class="btn primary wide">"Save and log in"</button>
                </div>
            </ActionForm>
            <p class="muted">"Link expired? " <a href="/password/forgot">"Get a new one"</a></p>
        </section>
        </crate::layout::Layout>
    }
}

/// Shown when a page needs a signed-in account and there is none.
#[component]
pub fn SignInRequired(#[prop(into)] next: String) -> impl IntoView {
    let href = format!("/login?next={}", urlencoding_path(&next));
    view! {
        <section class="auth">
            <h1>"Please log in"</h1>
            <p class="lede">"You need to be logged in to see this page."</p>
            <p><a class="btn primary" href=href>"Log in"</a></p>
        </section>
    }
}

/// Percent-encodes the few characters that matter in a `next=` query value.
fn urlencoding_path(path: &str) -> String {
    path.replace('%', "%25").replace('&', "%26").replace('?', "%3F").replace('#', "%23").replace(' ', "%20")
}

/// Settings: API tokens for the creator API.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let tokens = Resource::new(|| (), |_| super::api::api_tokens());
    let notify = Resource::new(|| (), |_| super::api::notification_settings());
    let integrations = Resource::new(|| (), |_| crate::earnings::api::load_integration_settings());
    let profile = Resource::new(|| (), |_| super::api::profile_settings());
    let devices = Resource::new(|| (), |_| super::api::signed_in_devices());
    let payout = Resource::new(|| (), |_| crate::earnings::api::load_payout_destination());
    let two_step = Resource::new(|| (), |_| super::api::two_step_settings());
    let deletion = Resource::new(|| (), |_| super::api::account_deletion());
    // `saved=<section>` after a form post: the section that was saved says so.
    let (saved, avatar_error) = use_query_map().with_untracked(|q| (q.get("saved").unwrap_or_default(), q.get("avatar_error")));
    let [
        saved_profile,
        saved_handle,
        saved_email,
        saved_email_verify,
        saved_notifications,
        saved_password,
        signed_out_others,
        saved_integrations,
        saved_payouts,
    ] = ["profile", "handle", "email", "email-verify", "notifications", "password", "devices", "integrations", "payouts"]
        .map(|section| saved == section);
    // How an emailed link to confirm a new address went (`/settings/email/confirm/…` says).
    let email_outcome = use_query_map().with_untracked(|q| q.get("email"));
    view! {
        <Title text="Settings · Clink"/>
        <crate::layout::Layout>
            <crate::layout::DashNav active="settings"/>
            <h1>"Settings"</h1>
            <Suspense fallback=|| ()>
                {move || {
                    let avatar_error = avatar_error.clone();
                    let saved = saved_profile;
                    Suspend::new(async move {
                        profile.await.ok().map(|p| {
                            if p.sells {
                                view! { <ProfileSection profile=p avatar_error=avatar_error saved=saved handle_changed=saved_handle/> }.into_any()
                            } else {
                                view! { <StartSelling display_name=p.display_name/> }.into_any()
                            }
                        })
                    })
                }}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(_) => view! { <SignInRequired next="/settings"/> }.into_any(),
                        Ok(list) => view! { <TokenSection list=list/> }.into_any(),
                    }
                })}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || {
                    let saved = saved_notifications;
                    Suspend::new(async move { notify.await.ok().map(|(on, tabs)| view! { <NotificationSection on=on tabs=tabs saved=saved/> }) })
                }}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || {
                    let outcome = email_outcome.clone();
                    Suspend::new(async move {
                        profile.await.ok().map(|p| view! {
                            <EmailSection email=p.email verified=p.email_verified two_step_on=p.two_step_on sent=saved_email
                                sent_to_self=saved_email_verify outcome=outcome/>
                        })
                    })
                }}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || {
                    let saved = saved_payouts;
                    Suspend::new(async move { payout.await.ok().flatten().map(|d| view! { <PayoutSection destination=d saved=saved/> }) })
                }}
            </Suspense>
            <PasswordSection changed=saved_password/>
            <Suspense fallback=|| ()>
                {move || {
                    let saved = saved.clone();
                    Suspend::new(async move { two_step.await.ok().map(|s| view! { <TwoStepSection settings=s saved=saved/> }) })
                }}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || {
                    let signed_out = signed_out_others;
                    Suspend::new(async move { devices.await.ok().map(|list| view! { <DevicesSection devices=list signed_out=signed_out/> }) })
                }}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move { profile.await.ok().map(|_| view! { <DataSection/> }) })}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || {
                    let saved = saved_integrations;
                    Suspend::new(async move { integrations.await.ok().map(|i| view! { <IntegrationsSection settings=i saved=saved/> }) })
                }}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move { deletion.await.ok().map(|d| view! { <DeleteAccountSection deletion=d/> }) })}
            </Suspense>
        </crate::layout::Layout>
    }
}

/// The browsers signed in to this account, and "sign out of all other devices".
#[component]
fn DevicesSection(devices: Vec<super::api::DeviceView>, signed_out: bool) -> impl IntoView {
    let sign_out_others = ServerAction::<super::api::SignOutOtherDevices>::new();
    let error = Signal::derive(move || sign_out_others.value().get().and_then(Result::err));
    let others = devices.iter().filter(|d| !d.this_device).count();
    view! {
        <section class="card" id="devices" aria-labelledby="devices-h">
            <h2 id="devices-h">"Signed-in devices"</h2>
            {signed_out.then(|| view! { <p class="alert ok" role="status">"Signed out of your other devices."</p> })}
            <ul class="devices">
                {devices.into_iter().map(|d| view! {
                    <li class="device">
                        <span class="device-name">{d.label}</span>
                        {d.this_device.then(|| view! { <span class="badge">"This device"</span> })}
                        <span class="muted">{format!("Active {} · signed in {}", d.last_active, d.signed_in)}</span>
                    </li>
                }).collect_view()}
            </ul>
            {if others == 0 {
                view! { <p class="muted">"You're signed in on this device only."</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=sign_out_others>
                        <FormAlert error=error/>
                        <p class="muted">"Don't recognise one? Sign it out, then change your password."</p>
                        <button type="submit" class="btn">{format!("Sign out of {} other device{}", others, if others == 1 { "" } else { "s" })}</button>
                    </ActionForm>
                }.into_any()
            }}
        </section>
    }
}

/// The account's email: changed only once the new address is proven by its link, and the old
/// address is told.
#[component]
fn EmailSection(
    email: String,
    verified: bool,
    two_step_on: bool,
    sent: bool,
    sent_to_self: bool,
    outcome: Option<String>,
) -> impl IntoView {
    let change = ServerAction::<super::api::ChangeEmail>::new();
    let confirm = ServerAction::<super::api::ChangeEmail>::new();
    let error = Signal::derive(move || change.value().get().or_else(|| confirm.value().get()).and_then(Result::err));
    let notice = match outcome.as_deref() {
        Some("confirmed") => Some(("ok", "Your email is changed. We told your old address too.")),
        Some("verified") => Some(("ok", "Your email is confirmed.")),
        Some("expired") => Some((
            "error",
            "That confirmation link has expired, was used already, or was cancelled by a password change. Ask for a new one below.",
        )),
        Some("taken") => Some(("error", "Another Clink account started using that email meanwhile, so nothing changed.")),
        _ => None,
    };
    view! {
        <section class="card" id="email" aria-labelledby="email-h">
            <h2 id="email-h">"Email"</h2>
            {notice.map(|(kind, text)| view! { <p class=format!("alert {kind}") role="status">{text}</p> })}
            {sent.then(|| view! { <p class="alert ok" role="status">"Check your new inbox: the link there finishes the change."</p> })}
            {sent_to_self.then(|| view! { <p class="alert ok" role="status">"Check your inbox: the link there confirms this address."</p> })}
            <p>{email.clone()} " " {if verified { view! { <span class="badge good">"confirmed"</span> }.into_any() } else { view! { <span class="badge off">"not confirmed"</span> }.into_any() }}</p>
            {(!verified).then(|| view! {
                <ActionForm action=confirm>
                    <input type="hidden" name="new_email" value=email.clone()/>
                    <input type="hidden" name="current_password" value=""/>
                    <p class="muted">"Confirm it before your first payout."</p>
                    <button type="submit" class="btn small">"Send me a confirmation link"</button>
                </ActionForm>
            })}
            <ActionForm action=change>
                <div class="form">
                    <FormAlert error=error/>
                    <Field label="New email" name="new_email" kind="email" autocomplete="email" error=error/>
                    <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" error=error
                        scope="email"
                        hint="Signed in with emailed links only? Set a password first with \"Forgot password\"."/>
                    {two_step_on.then(|| view! { <StepUpField error=error scope="email"/> })}
                    <button type="submit" class="btn">"Send confirmation link"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// Where payouts go: a bank account (IBAN) or PayPal, set with the current password. A change
/// holds payouts for 72 hours and is emailed, so a takeover can't quietly redirect the money.
#[component]
fn PayoutSection(destination: crate::earnings::api::PayoutDestinationView, saved: bool) -> impl IntoView {
    let save = ServerAction::<crate::earnings::api::SavePayoutDestination>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let paypal = destination.paypal;
    view! {
        <section class="card" id="payouts" aria-labelledby="payouts-h">
            <h2 id="payouts-h">"Payouts"</h2>
            {saved.then(|| view! { <p class="alert ok" role="status">"Saved. We emailed you about the change."</p> })}
            {match destination.current {
                Some(current) => view! { <p>"Payouts go to " <strong class="payout-destination">{current}</strong></p> }.into_any(),
                None => view! { <p class="muted">"Add where to send your money: a bank transfer (IBAN) or PayPal."</p> }.into_any(),
            }}
            {destination.held.map(|note| view! { <p class="alert warn" role="status">{note}</p> })}
            <ActionForm action=save>
                <div class="form">
                    <FormAlert error=error/>
                    <fieldset class="choices">
                        <legend class="label">"Send my money by"</legend>
                        <label class="choice"><input type="radio" name="kind" value="iban" checked=!paypal/>" Bank transfer (IBAN)"</label>
                        <label class="choice"><input type="radio" name="kind" value="paypal" checked=paypal/>" PayPal"</label>
                    </fieldset>
                    <Field label="IBAN" name="iban" autocomplete="off" required=false error=error
                        hint="For a bank transfer, e.g. DE89 3704 0044 0532 0130 00."/>
                    <Field label="Account holder" name="holder_name" autocomplete="name" required=false value=destination.holder_name error=error/>
                    <Field label="PayPal email" name="paypal_email" kind="email" autocomplete="email" required=false error=error hint="For PayPal."/>
                    <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" error=error
                        scope="payouts"
                        hint="A new destination waits 72 hours before money goes there, and we email you about it. Signed in with emailed links only? Set a password first with \"Forgot password\"."/>
                    {destination.two_step_on.then(|| view! { <StepUpField error=error scope="payouts"/> })}
                    <button type="submit" class="btn">"Save payout destination"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// "Download your data": the export, one zip.
#[component]
fn DataSection() -> impl IntoView {
    view! {
        <section class="card" id="data" aria-labelledby="data-h">
            <h2 id="data-h">"Your data"</h2>
            <p>"One zip with your profile, your works (with each file's checksum), your sales and purchases, "
                "your wallet history and every ledger line on your accounts, as JSON and CSV."</p>
            <a class="btn" href="/settings/export.zip" download>"Download your data"</a>
        </section>
    }
}

/// "Delete account": what goes, what stays and why, then the current password (and a code).
/// Money still held for the account is named first, and the form waits until none is.
#[component]
fn DeleteAccountSection(deletion: super::api::DeletionView) -> impl IntoView {
    let delete = ServerAction::<super::api::DeleteAccount>::new();
    let error = Signal::derive(move || delete.value().get().and_then(Result::err));
    let blocked = !deletion.blockers.is_empty();
    view! {
        <section class="card danger-zone" id="delete" aria-labelledby="delete-h">
            <h2 id="delete-h">"Delete account"</h2>
            <p>"Deleting your account can't be undone. It:"</p>
            <ul class="plain-list">
                {deletion.sells.then(|| view! {
                    <li>"takes down your profile and every work; buyers keep their download links until they expire, 30 days at most, and then the files are deleted;"</li>
                })}
                <li>"erases your email, name, profile, payout details, wallet settings and our emails to you;"</li>
                <li>"signs you out everywhere and ends your API tokens and two-step sign-in."</li>
            </ul>
            <p class="muted">"The ledger lines of your sales, purchases and payouts stay: they are append-only accounting records, which we must keep. "
                "They name only an account number, which no longer leads to you. Want a copy first? Use \"Download your data\" above."</p>
            {if blocked {
                view! {
                    <div class="alert warn" role="status">
                        <p><strong>"Before you can delete your account:"</strong></p>
                        <ul>{deletion.blockers.into_iter().map(|b| view! { <li>{b}</li> }).collect_view()}</ul>
                    </div>
                }.into_any()
            } else {
                view! {
                    <ActionForm action=delete>
                        <div class="form">
                            <FormAlert error=error/>
                            <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" error=error
                                scope="delete"
                                hint="Signed in with emailed links only? Set a password first with \"Forgot password\"."/>
                            {deletion.two_step_on.then(|| view! { <StepUpField error=error scope="delete"/> })}
                            <button type="submit" class="btn danger">"Delete my account"</button>
                        </div>
                    </ActionForm>
                }.into_any()
            }}
        </section>
    }
}

/// Change the password: the current one is asked for; other devices are signed out.
#[component]
fn PasswordSection(changed: bool) -> impl IntoView {
    let change = ServerAction::<super::api::ChangePassword>::new();
    let error = Signal::derive(move || change.value().get().and_then(Result::err));
    view! {
        <section class="card" id="password" aria-labelledby="password-h">
            <h2 id="password-h">"Password"</h2>
            {changed.then(|| view! { <p class="alert ok" role="status">"Password changed. Your other devices are signed out."</p> })}
            <ActionForm action=change>
                <div class="form">
                    <FormAlert error=error/>
                    <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" error=error/>
                    <Field label="New password" name="new_password" kind="password" autocomplete="new-password" minlength=8 maxlength=256
                        hint="At least 8 characters. Saving signs you out on your other devices." error=error/>
                    <button type="submit" class="btn">"Change password"</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn ProfileSection(profile: super::api::ProfileForm, avatar_error: Option<String>, saved: bool, handle_changed: bool) -> impl IntoView {
    let save = ServerAction::<super::api::SaveProfile>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let change_handle = ServerAction::<super::api::ChangeHandle>::new();
    let handle_error = Signal::derive(move || change_handle.value().get().and_then(Result::err));
    let profile_url = format!("/@{}", profile.handle);
    view! {
        <section class="card" id="profile" aria-labelledby="profile-h">
            <div class="page-head"><h2 id="profile-h">"Your profile"</h2><a href=profile_url.clone()>{format!("View clink/@{}", profile.handle)}</a></div>
            {saved.then(|| view! { <p class="alert ok" role="status">"Profile saved."</p> })}
            <div class="row tight avatar-row">
                <crate::catalog::pages::Avatar url=profile.avatar_url.clone() name=profile.display_name.clone() size=64/>
                <form method="post" action="/settings/avatar" enctype="multipart/form-data" class="row tight">
                    <label class="sr-only" for="f-avatar">"Profile picture"</label>
                    <input id="f-avatar" type="file" name="avatar" accept="image/png,image/jpeg,image/webp,image/gif"/>
                    <button type="submit" class="small">"Upload picture"</button>
                    {profile.avatar_url.is_some().then(|| view! { <button type="submit" name="remove" value="1" class="small link">"Remove"</button> })}
                </form>
            </div>
            {avatar_error.map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            <ActionForm action=save>
                <div class="form">
                    <FormAlert error=error/>
                    <Field label="Name" name="display_name" value=profile.display_name.clone() error=error maxlength=80/>
                    <div class="field">
                        <label for="f-bio">"Bio"</label>
                        <textarea id="f-bio" name="bio" maxlength="300" rows="3">{crate::ui::textarea_text(&profile.bio)}</textarea>
                        <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("bio")).map(|e| e.to_string())}</p>
                    </div>
                    <div class="field">
                        <label for="f-links">"Links (one per line, up to five)"</label>
                        <textarea id="f-links" name="links" rows="3" placeholder="https://your.site">{crate::ui::textarea_text(&profile.links)}</textarea>
                        <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("links")).map(|e| e.to_string())}</p>
                    </div>
                    <div class="field">
                        <label for="f-accent_color">"Accent colour"</label>
                        <div class="row tight">
                            <input id="f-accent_color" name="accent_color" value=profile.accent_color.clone() placeholder=profile.accent_in_use.clone() maxlength="7"/>
                            <span class="swatch" style=format!("background:{}", profile.accent_in_use) aria-hidden="true"></span>
                        </div>
                        <p class="hint">"Your preview cards and profile use it. Empty: a colour made from your handle."</p>
                        <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("accent_color")).map(|e| e.to_string())}</p>
                    </div>
                    <button type="submit" class="btn primary">"Save profile"</button>
                </div>
            </ActionForm>
            <h3 id="handle">"Handle"</h3>
            {handle_changed.then(|| view! { <p class="alert ok" role="status">"Handle changed. Links with your old handle lead here."</p> })}
            <ActionForm action=change_handle>
                <div class="row tight">
                    <Field label="Handle" name="handle" autocomplete="username" value=profile.handle.clone() error=handle_error minlength=3 maxlength=30
                        hint="Links you posted with your old handle keep working, and nobody else can take it for 90 days."/>
                    <button type="submit" class="btn">"Change handle"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// What a buyer account sees where a creator's profile would be: the opt-in to selling, which
/// asks for the one thing a storefront needs that a buyer never gave, a handle.
#[component]
pub fn StartSelling(display_name: String) -> impl IntoView {
    let start = ServerAction::<super::api::StartSelling>::new();
    let error = Signal::derive(move || start.value().get().and_then(Result::err));
    view! {
        <section class="card start-selling" id="profile" aria-labelledby="start-selling-h">
            <h2 id="start-selling-h">"Sell on Clink"</h2>
            <p>"Pick the handle of your storefront. Your links and profile show it: clink/@handle. "
                "Your purchases and wallet stay as they are."</p>
            <ActionForm action=start>
                <div class="form">
                    <FormAlert error=error/>
                    <Field label="Handle" name="handle" autocomplete="username" error=error
                        hint="Letters, digits and _, 3 to 30. You can change it later in Settings; your links keep working." minlength=3 maxlength=30/>
                    <Field label="Name on your storefront" name="display_name" autocomplete="name" value=display_name error=error maxlength=80/>
                    <button type="submit" class="btn primary">"Start selling"</button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn IntegrationsSection(settings: crate::earnings::api::IntegrationSettings, saved: bool) -> impl IntoView {
    let save = ServerAction::<crate::earnings::api::SaveIntegrations>::new();
    let resend = ServerAction::<crate::earnings::api::ResendWebhook>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    view! {
        <section class="card" id="integrations" aria-labelledby="integrations-h">
            <h2 id="integrations-h">"Dashboard and sale webhooks"</h2>
            {saved.then(|| view! { <p class="alert ok" role="status">"Saved."</p> })}
            <ActionForm action=save>
                <div class="form">
                    <FormAlert error=error/>
                    // A list to search (type "Paris" or "New_York"), not a name to remember.
                    <div class="field">
                        <label for="f-timezone">"Time zone"</label>
                        <input id="f-timezone" name="timezone" list="f-timezone-list" value=settings.timezone.clone() required autocomplete="off"
                            aria-describedby="f-timezone-hint"/>
                        <datalist id="f-timezone-list">
                            {settings.zones.into_iter().map(|zone| view! { <option value=zone></option> }).collect_view()}
                        </datalist>
                        <p class="hint" id="f-timezone-hint">"Your dashboard's days start at midnight here. Type a city to search."</p>
                        <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("timezone")).map(|e| e.to_string())}</p>
                    </div>
                    <div class="field">
                        <label for="f-number-format">"Number format"</label>
                        <select id="f-number-format" name="number_format" aria-describedby="f-number-format-hint">
                            <option value="" selected=settings.number_format.is_empty()>"As my browser's language"</option>
                            {crate::money::NUMBER_FORMATS.iter().map(|(tag, example)| view! {
                                <option value=*tag selected=settings.number_format == *tag>{*example}</option>
                            }).collect_view()}
                        </select>
                        <p class="hint" id="f-number-format-hint">"How your dashboard writes amounts and counts."</p>
                        <p class="field-error" role="alert">{move || error.get().filter(|e| e.field() == Some("number_format")).map(|e| e.to_string())}</p>
                    </div>
                    <Field label="Webhook URL (optional)" name="webhook_url" kind="url" value=settings.webhook_url.clone() error=error required=false
                        hint="Each sale and refund is POSTed here as JSON, signed with the secret below (header Clink-Signature)."/>
                    {settings.two_step_on.then(|| view! {
                        <Field label="Code from your authenticator app" name="two_step_code" autocomplete="one-time-code" error=error required=false
                            scope="integrations" maxlength=20 hint="Needed only to change the webhook URL."/>
                    })}
                    <button type="submit" class="btn">"Save"</button>
                </div>
            </ActionForm>
            {settings.webhook_secret.map(|secret| view! {
                <p class="hint">"Signing secret: " <code class="mono">{secret}</code></p>
                <p class="hint">"Verify: HMAC-SHA256 of \"{t}.{body}\" with the secret equals v1 in Clink-Signature: t=…,v1=…"</p>
            })}
            {(!settings.deliveries.is_empty()).then(|| view! {
                <h3>"Delivery log"</h3>
                <div class="table-wrap"><table class="stack">
                    <thead><tr><th>"When"</th><th>"Event"</th><th>"Status"</th><th class="num">"Attempts"</th><th></th></tr></thead>
                    <tbody>{settings.deliveries.into_iter().map(|d| view! {
                        <tr><td data-label="When">{d.at}</td><td class="primary">{d.event}</td><td data-label="Status">{d.status}</td>
                            <td class="num" data-label="Attempts">{d.attempts}</td>
                            <td><ActionForm action=resend>
                                <input type="hidden" name="delivery_id" value=d.id/>
                                <button type="submit" class="small">"Resend"</button>
                            </ActionForm></td></tr>
                    }).collect_view()}</tbody>
                </table></div>
            })}
        </section>
    }
}

#[component]
fn NotificationSection(on: bool, tabs: bool, saved: bool) -> impl IntoView {
    let action = ServerAction::<super::api::SetNotifySales>::new();
    let tab_action = ServerAction::<super::api::SetTabSales>::new();
    view! {
        <section class="card" id="notifications" aria-labelledby="notify-h">
            <h2 id="notify-h">"Notifications"</h2>
            {saved.then(|| view! { <p class="alert ok" role="status">"Saved."</p> })}
            <p>{if on { "You get an email for every sale." } else { "Sale emails are off. Your sales still appear in the dashboard." }}</p>
            <ActionForm action=action>
                <input type="hidden" name="enabled" value=(!on).to_string()/>
                <button type="submit" class="btn small">{if on { "Turn off sale emails" } else { "Turn on sale emails" }}</button>
            </ActionForm>
            <h3>"Buyers' tabs"</h3>
            <p>{if tabs {
                "Buyers can get your works now and pay later on their Clink tab (up to a few euros). Your share is pending until they pay."
            } else {
                "Tab purchases are off: buyers pay by wallet or card before they get your works."
            }}</p>
            <ActionForm action=tab_action>
                <input type="hidden" name="enabled" value=(!tabs).to_string()/>
                <button type="submit" class="btn small">{if tabs { "Turn off tab purchases" } else { "Turn on tab purchases" }}</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn TokenSection(list: super::api::TokenList) -> impl IntoView {
    let create = ServerAction::<super::api::CreateApiToken>::new();
    let revoke = ServerAction::<super::api::RevokeApiToken>::new();
    let create_error = Signal::derive(move || create.value().get().and_then(Result::err));
    view! {
        <section class="card" id="tokens" aria-labelledby="tokens-h">
            <h2 id="tokens-h">"API tokens"</h2>
            <p class="muted">"Use a token with the creator API: " <code>"Authorization: Bearer clk_…"</code> " on " <code>"/api/v1/works"</code> "."</p>
            {list.fresh.map(|token| view! {
                <div class="alert ok" role="status">
                    <p>"Your new token — copy it now, it won't be shown again:"</p>
                    <div class="copy"><input readonly class="mono" value=token.clone() aria-label="New API token"/><crate::ui::CopyButton text=token label="Copy token"/></div>
                </div>
            })}
            {if list.tokens.is_empty() {
                view! { <p class="empty">"No tokens yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap"><table class="stack">
                        <thead><tr><th>"Name"</th><th>"Token"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                        <tbody>
                            {list.tokens.into_iter().map(|t| view! {
                                <tr>
                                    <td class="primary">{t.name}</td>
                                    <td class="mono" data-label="Token">{t.prefix}</td>
                                    <td data-label="Created">{t.created}</td>
                                    <td data-label="Last used">{t.last_used.unwrap_or_else(|| "never".into())}</td>
                                    <td>
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="token_id" value=t.id/>
                                            <button type="submit" class="danger small">"Revoke"</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            }}
            <ActionForm action=create>
                <div class="row tight">
                    <Field label="Token name" name="name" placeholder="Zapier" error=create_error maxlength=60/>
                    <button type="submit" class="btn">"Create token"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// The code asked for again before a sensitive change (the step-up), when two-step sign-in is on.
#[component]
fn StepUpField(#[prop(into)] error: Signal<Option<crate::error::AppError>>, scope: &'static str) -> impl IntoView {
    view! {
        <Field label="Code from your authenticator app" name="two_step_code" autocomplete="one-time-code" error=error scope=scope maxlength=20
            hint="Or one of your recovery codes."/>
    }
}

/// The second step of a sign-in: the code from the authenticator app, or a recovery code. A
/// plain form post, so it works without JavaScript.
#[component]
pub fn TwoStepLoginPage() -> impl IntoView {
    let next = use_query_map().with_untracked(|q| q.get("next"));
    let action = ServerAction::<super::api::FinishSignIn>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    view! {
        <Title text="Two-step sign-in · Clink"/>
        <crate::layout::Layout>
        <section class="auth">
            <h1>"One more step"</h1>
            <p class="lede">"Type the 6-digit code your authenticator app shows for Clink."</p>
            <ActionForm action=action>
                <div class="card form">
                    <FormAlert error=error/>
                    <Field label="Code" name="code" autocomplete="one-time-code" error=error maxlength=20
                        hint="Lost your phone? Type one of your recovery codes instead, like 7kq2m-x9c4d."/>
                    {next.map(|n| view! { <input type="hidden" name="next" value=n/> })}
                    <button type="submit" class="btn primary wide">"Sign in"</button>
                </div>
            </ActionForm>
            <p class="muted"><a href="/login">"Start again"</a>
                " · No phone and no recovery codes? Reply to any email from this Clink to reach its operator."</p>
        </section>
        </crate::layout::Layout>
    }
}

/// Two-step sign-in in Settings: set up (scan, then one code), recovery codes, turn off.
#[component]
fn TwoStepSection(settings: super::api::TwoStepView, saved: String) -> impl IntoView {
    use super::api::TwoStepState;
    let start = ServerAction::<super::api::StartTwoStep>::new();
    let confirm = ServerAction::<super::api::ConfirmTwoStep>::new();
    let codes = ServerAction::<super::api::NewRecoveryCodes>::new();
    let off = ServerAction::<super::api::TurnOffTwoStep>::new();
    // Each form shows its own action's error: two of them have a `code` field.
    let setup_error = Signal::derive(move || [start.value().get(), confirm.value().get()].into_iter().flatten().find_map(Result::err));
    let codes_error = Signal::derive(move || codes.value().get().and_then(Result::err));
    let off_error = Signal::derive(move || off.value().get().and_then(Result::err));
    let notice = match saved.as_str() {
        "two-step" => Some("Two-step sign-in is on. Signing in now asks for a code from your app."),
        "recovery-codes" => Some("New recovery codes made. The old ones no longer work."),
        "two-step-off" => Some("Two-step sign-in is off."),
        _ => None,
    };
    let (fresh, download) = (settings.fresh_codes, settings.fresh_codes_file);
    view! {
        <section class="card" id="two-step" aria-labelledby="two-step-h">
            <h2 id="two-step-h">"Two-step sign-in"</h2>
            {notice.map(|text| view! { <p class="alert ok" role="status">{text}</p> })}
            {(!fresh.is_empty()).then(|| {
                view! {
                    <div class="alert warn recovery" role="status">
                        <p><strong>"Save your recovery codes now."</strong>" Each one signs you in once if you lose your phone. They won't be shown again."</p>
                        <ol class="recovery-codes">{fresh.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}</ol>
                        <a class="btn small" href=download download="clink-recovery-codes.txt">"Download as a text file"</a>
                    </div>
                }
            })}
            {match settings.state {
                TwoStepState::Off => view! {
                    <p>"After your password or an emailed link, Clink asks for a code from an authenticator app on your phone "
                        "(Google Authenticator, 1Password, Authy, Aegis…). Someone who learns your password still can't get in."</p>
                    <p class="muted">"Needed before your first payout."</p>
                    <ActionForm action=start>
                        <FormAlert error=setup_error/>
                        <button type="submit" class="btn">"Set up two-step sign-in"</button>
                    </ActionForm>
                }.into_any(),
                TwoStepState::SettingUp { qr_data_uri, secret } => view! {
                    <ol class="two-step-steps">
                        <li>"Open your authenticator app and scan this code."
                            <img class="two-step-qr" src=qr_data_uri width="200" height="200" alt="QR code that adds Clink to an authenticator app"/>
                        </li>
                        <li>"Can't scan? Type this key instead: " <code class="two-step-secret">{secret}</code></li>
                        <li>"Type the 6-digit code the app shows, with your password."</li>
                    </ol>
                    <ActionForm action=confirm>
                        <div class="form">
                            <FormAlert error=setup_error/>
                            <Field label="Code from the app" name="code" autocomplete="one-time-code" inputmode="numeric" maxlength=20 error=setup_error scope="two-step-on"/>
                            <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" error=setup_error scope="two-step-on"/>
                            <button type="submit" class="btn primary">"Turn on two-step sign-in"</button>
                        </div>
                    </ActionForm>
                }.into_any(),
                TwoStepState::On { since, recovery_codes_left, required } => view! {
                    <p><span class="badge good">"on"</span> {format!(" since {since}. {recovery_codes_left} recovery codes left.")}</p>
                    <ActionForm action=codes>
                        <div class="form">
                            <FormAlert error=codes_error/>
                            <h3>"New recovery codes"</h3>
                            <Field label="Code from your app" name="code" autocomplete="one-time-code" maxlength=20 error=codes_error scope="recovery"
                                hint="Ten new codes replace the old ones."/>
                            <button type="submit" class="btn">"Make new recovery codes"</button>
                        </div>
                    </ActionForm>
                    {if required {
                        view! { <p class="muted">"Accounts that receive payouts keep two-step sign-in on."</p> }.into_any()
                    } else {
                        view! {
                            <ActionForm action=off>
                                <div class="form">
                                    <h3>"Turn off"</h3>
                                    <FormAlert error=off_error/>
                                    <Field label="Code from your app" name="code" autocomplete="one-time-code" maxlength=20 error=off_error scope="off"/>
                                    <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" error=off_error scope="two-step-off"/>
                                    <button type="submit" class="btn danger">"Turn off two-step sign-in"</button>
                                </div>
                            </ActionForm>
                        }.into_any()
                    }}
                }.into_any(),
            }}
        </section>
    }
}
