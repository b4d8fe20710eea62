//! Signing in to an OAuth provider: the terms warning, the browser (PKCE) or device-code flow, polling the gateway until the account is saved, and pasting the final address back when the gateway runs elsewhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::model::Provider;
use crate::api::{self, ApiError};
use crate::components::{CopyButton, Modal};
use crate::i18n::{t, t_with, tr};

/// How often a browser sign-in is checked: the gateway learns of it when the
/// provider sends the browser back, so there is no interval to honour.
pub const BROWSER_POLL_SECS: u64 = 2;
/// RFC 8628 §3.5: a `slow_down` without a new interval adds five seconds.
const SLOW_DOWN_STEP_SECS: u64 = 5;

/// Whom the dialog signs in.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInTarget {
    pub provider: Provider,
    /// The connection name to ask for (signing an existing account in again).
    pub name: Option<String>,
}

/// The answer of `POST /api/oauth/{provider}/start`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "flow", rename_all = "lowercase")]
pub enum Started {
    /// A sign-in page in the browser; the provider sends the browser back
    /// to `redirect_uri` (or shows a code to paste in manual mode).
    Pkce {
        login_id: String,
        auth_url: String,
        #[serde(default)]
        manual: bool,
    },
    /// A code the user enters on the provider's page.
    Device {
        login_id: String,
        user_code: String,
        verification_uri: String,
        #[serde(default)]
        verification_uri_complete: Option<String>,
        #[serde(default = "default_device_interval")]
        interval: u64,
    },
}

fn default_device_interval() -> u64 {
    5
}

/// The account a finished sign-in saved.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SignedIn {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
}

impl SignedIn {
    /// The account's email, else the connection's name.
    pub fn who(&self) -> String {
        self.email
            .clone()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| self.name.clone())
    }
}

/// The answer of `poll` and `complete`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PollReply {
    /// `pending`, `slow_down`, `done` or `error`.
    pub status: String,
    pub interval: Option<u64>,
    pub connection: Option<SignedIn>,
    pub error: Option<String>,
}

/// What a sign-in does after a poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Ask again in `secs`; `slowed` when the provider asked to slow down.
    Wait {
        secs: u64,
        slowed: bool,
    },
    Done(SignedIn),
    /// The sign-in ended without an account; the gateway's words, if any.
    Failed(String),
}

/// The next step after `reply`, for a device login (which polls at the
/// provider's interval, `current_secs` so far) or a browser one.
pub fn next_step(device: bool, current_secs: u64, reply: &PollReply) -> Next {
    match reply.status.as_str() {
        "done" => Next::Done(reply.connection.clone().unwrap_or_default()),
        "error" => Next::Failed(reply.error.clone().unwrap_or_default()),
        "slow_down" => Next::Wait {
            secs: reply
                .interval
                .unwrap_or(current_secs + SLOW_DOWN_STEP_SECS)
                .max(1),
            slowed: true,
        },
        _ if device => Next::Wait {
            secs: reply.interval.unwrap_or(current_secs).max(1),
            slowed: false,
        },
        _ => Next::Wait {
            secs: BROWSER_POLL_SECS,
            slowed: false,
        },
    }
}

/// The body of `start`: manual mode and the name only when asked for.
pub fn start_body(manual: bool, name: &str, accept_terms: bool) -> Value {
    let mut body = Map::new();
    if manual {
        body.insert("mode".into(), json!("manual"));
    }
    let name = name.trim();
    if !name.is_empty() {
        body.insert("name".into(), json!(name));
    }
    if accept_terms {
        body.insert("accept_terms".into(), json!(true));
    }
    Value::Object(body)
}

/// Whether the dashboard is seen from another machine than the gateway's,
/// so that the provider cannot send the browser back to the gateway's
/// loopback address: then the user pastes the final address instead.
pub fn manual_by_default(hostname: &str) -> bool {
    let host = hostname.trim_start_matches('[').trim_end_matches(']');
    !(host == "localhost"
        || host.ends_with(".localhost")
        || host == "::1"
        || host.starts_with("127."))
}

/// Where the user approves a device code: the link with the code filled
/// in, when the provider gives one.
pub fn verification_link(uri: &str, complete: Option<&str>) -> String {
    complete
        .filter(|c| !c.trim().is_empty())
        .unwrap_or(uri)
        .to_owned()
}

/// The message key of a refusal the dashboard words itself.
pub fn error_key(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "terms_not_accepted" => Some("providers.signin_err_terms"),
        "callback_port_busy" => Some("providers.signin_err_port_busy"),
        "oauth_start_failed" => Some("providers.signin_err_start"),
        "unknown_login" => Some("providers.signin_err_expired"),
        "state_mismatch" => Some("providers.signin_err_state"),
        _ => None,
    }
}

/// A refused call in plain words; the gateway's own message goes along as
/// the detail where it names what the dashboard cannot know.
fn error_text(error: &ApiError) -> String {
    match error_key(error.code.as_deref()) {
        Some(key @ ("providers.signin_err_port_busy" | "providers.signin_err_start")) => {
            t_with(key, &[("detail", error.message.clone())])
        }
        Some(key) => t(key),
        None => error.message.clone(),
    }
}

/// The page's host name (`localhost`, `gw.example.com`).
fn page_hostname() -> String {
    if !cfg!(target_arch = "wasm32") {
        return String::new();
    }
    web_sys::window()
        .and_then(|w| w.location().hostname().ok())
        .unwrap_or_default()
}

/// A new empty tab, opened while the click still counts as the user's (a
/// tab opened after the gateway answers would be blocked as a pop-up).
fn open_blank_tab() -> Option<web_sys::Window> {
    if !cfg!(target_arch = "wasm32") {
        return None;
    }
    let tab = web_sys::window()?
        .open_with_url_and_target("", "_blank")
        .ok()??;
    // The provider's page must not reach back into the dashboard.
    let _ = tab.set_opener(&wasm_bindgen::JsValue::NULL);
    Some(tab)
}

/// Where a sign-in stands.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// The warning, the options and the start button.
    Intro,
    Browser {
        login_id: String,
        auth_url: String,
        manual: bool,
    },
    Device {
        login_id: String,
        user_code: String,
        link: String,
    },
    Done(SignedIn),
    Failed(String),
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Intro => "intro",
            Phase::Browser { .. } => "browser",
            Phase::Device { .. } => "device",
            Phase::Done(_) => "done",
            Phase::Failed(_) => "failed",
        }
    }
}

/// The dialog's state, shared by its handlers and its polling task.
#[derive(Clone, Copy)]
struct Flow {
    phase: RwSignal<Phase>,
    /// Seconds between polls.
    interval: RwSignal<u64>,
    slowed: RwSignal<bool>,
    /// A pasted address is being exchanged: polls would only see that.
    completing: RwSignal<bool>,
    on_done: Callback<()>,
}

impl Flow {
    fn finish(self, next: Next) {
        match next {
            Next::Done(account) => {
                self.phase.try_set(Phase::Done(account));
                self.on_done.run(());
            }
            Next::Failed(why) => {
                self.phase.try_set(Phase::Failed(why));
            }
            Next::Wait { .. } => {}
        }
    }
}

/// Polls the sign-in until it ends or `run` moves on from `me` (the
/// dialog closed, or a new sign-in started).
fn poll(flow: Flow, provider: String, login_id: String, device: bool, run: Arc<AtomicU64>) {
    let me = run.load(Ordering::SeqCst);
    leptos::task::spawn_local(async move {
        loop {
            let secs = flow
                .interval
                .try_get_untracked()
                .unwrap_or(BROWSER_POLL_SECS);
            gloo_timers::future::TimeoutFuture::new((secs.max(1) * 1000) as u32).await;
            if run.load(Ordering::SeqCst) != me {
                return;
            }
            if flow.completing.try_get_untracked().unwrap_or(false) {
                continue;
            }
            let reply: Result<PollReply, ApiError> =
                api::oauth_step(&provider, "poll", &json!({ "login_id": login_id })).await;
            if run.load(Ordering::SeqCst) != me {
                return;
            }
            let next = match reply {
                Ok(reply) => next_step(device, secs, &reply),
                Err(e) => Next::Failed(error_text(&e)),
            };
            match next {
                Next::Wait { secs, slowed } => {
                    flow.interval.try_set(secs);
                    if slowed {
                        flow.slowed.try_set(true);
                    }
                }
                ended => {
                    run.fetch_add(1, Ordering::SeqCst);
                    flow.finish(ended);
                    return;
                }
            }
        }
    });
}

#[component]
pub fn SignInDialog(
    target: SignInTarget,
    /// Called once an account is saved, so the page reloads its lists.
    on_done: Callback<()>,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let provider = target.provider;
    let provider_id = provider.id.clone();
    let provider_name = provider.display_name().to_owned();
    let device = provider.oauth.as_ref().is_some_and(|o| o.flow == "device");
    let terms = provider.terms_warning.clone();
    let needs_terms = terms.is_some();

    let flow = Flow {
        phase: RwSignal::new(Phase::Intro),
        interval: RwSignal::new(BROWSER_POLL_SECS),
        slowed: RwSignal::new(false),
        completing: RwSignal::new(false),
        on_done,
    };
    let name = RwSignal::new(target.name.unwrap_or_default());
    let accepted = RwSignal::new(false);
    let manual = RwSignal::new(manual_by_default(&page_hostname()));
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let paste = RwSignal::new(String::new());
    let paste_error = RwSignal::new(None::<String>);
    // Every start and every ending moves this on, which stops the polls
    // and answers of an older sign-in; closing the dialog does too.
    let run = Arc::new(AtomicU64::new(0));
    {
        let run = run.clone();
        on_cleanup(move || {
            run.fetch_add(1, Ordering::SeqCst);
        });
    }

    let start = {
        let provider_id = provider_id.clone();
        let run = run.clone();
        move || {
            if needs_terms && !accepted.get_untracked() {
                error.set(Some(t("providers.signin_err_terms")));
                return;
            }
            let manual_mode = !device && manual.get_untracked();
            let body = start_body(manual_mode, &name.get_untracked(), accepted.get_untracked());
            let tab = if device { None } else { open_blank_tab() };
            let me = run.fetch_add(1, Ordering::SeqCst) + 1;
            busy.set(true);
            error.set(None);
            paste.set(String::new());
            paste_error.set(None);
            flow.slowed.set(false);
            let provider_id = provider_id.clone();
            let run = run.clone();
            leptos::task::spawn_local(async move {
                let reply: Result<Started, ApiError> =
                    api::oauth_step(&provider_id, "start", &body).await;
                let current = run.load(Ordering::SeqCst) == me;
                match reply {
                    Ok(Started::Pkce {
                        login_id,
                        auth_url,
                        manual,
                    }) if current => {
                        if let Some(tab) = &tab {
                            let _ = tab.location().set_href(&auth_url);
                        }
                        flow.interval.set(BROWSER_POLL_SECS);
                        flow.phase.set(Phase::Browser {
                            login_id: login_id.clone(),
                            auth_url,
                            manual,
                        });
                        poll(flow, provider_id, login_id, false, run);
                    }
                    Ok(Started::Device {
                        login_id,
                        user_code,
                        verification_uri,
                        verification_uri_complete,
                        interval,
                    }) if current => {
                        if let Some(tab) = &tab {
                            let _ = tab.close();
                        }
                        flow.interval.set(interval.max(1));
                        flow.phase.set(Phase::Device {
                            login_id: login_id.clone(),
                            user_code,
                            link: verification_link(
                                &verification_uri,
                                verification_uri_complete.as_deref(),
                            ),
                        });
                        poll(flow, provider_id, login_id, true, run);
                    }
                    reply => {
                        if let Some(tab) = &tab {
                            let _ = tab.close();
                        }
                        if let (true, Err(e)) = (current, reply) {
                            error.try_set(Some(error_text(&e)));
                        }
                    }
                }
                if current {
                    busy.try_set(false);
                }
            });
        }
    };

    let complete = {
        let provider_id = provider_id.clone();
        let run = run.clone();
        move |login_id: String| {
            let text = paste.get_untracked().trim().to_owned();
            if text.is_empty() {
                paste_error.set(Some(t("providers.signin_paste_empty")));
                return;
            }
            let me = run.load(Ordering::SeqCst);
            flow.completing.set(true);
            paste_error.set(None);
            let provider_id = provider_id.clone();
            let run = run.clone();
            leptos::task::spawn_local(async move {
                let reply: Result<PollReply, ApiError> = api::oauth_step(
                    &provider_id,
                    "complete",
                    &json!({ "login_id": login_id, "url": text }),
                )
                .await;
                flow.completing.try_set(false);
                if run.load(Ordering::SeqCst) != me {
                    return;
                }
                match reply.map(|r| next_step(false, BROWSER_POLL_SECS, &r)) {
                    // The browser's redirect got there first: polling tells.
                    Ok(Next::Wait { .. }) => {}
                    Ok(ended) => {
                        run.fetch_add(1, Ordering::SeqCst);
                        flow.finish(ended);
                    }
                    Err(e) => {
                        paste_error.try_set(Some(error_text(&e)));
                    }
                }
            });
        }
    };

    let retry = {
        let run = run.clone();
        move |_| {
            run.fetch_add(1, Ordering::SeqCst);
            error.set(None);
            flow.phase.set(Phase::Intro);
        }
    };

    let title = {
        let provider_name = provider_name.clone();
        Signal::derive(move || {
            t_with(
                "providers.signin_title",
                &[("provider", provider_name.clone())],
            )
        })
    };

    let body = {
        let provider_name = provider_name.clone();
        let close = on_close.clone();
        move || match flow.phase.get() {
            Phase::Intro => intro_view(IntroView {
                provider: provider_name.clone(),
                device,
                terms: terms.clone(),
                name,
                accepted,
                manual,
                busy,
                error,
                start: start.clone(),
                close: close.clone(),
            }),
            Phase::Browser {
                login_id,
                auth_url,
                manual,
            } => browser_view(auth_url, manual, paste, paste_error, flow, {
                let complete = complete.clone();
                move || complete(login_id.clone())
            }),
            Phase::Device {
                user_code, link, ..
            } => device_view(&provider_name, user_code, link, flow),
            Phase::Done(account) => {
                let close = close.clone();
                view! {
                    <div class="prov-note" data-testid="sign-in-done" data-email=account.email.clone().unwrap_or_default()>
                        <strong>{t_with("providers.signin_done", &[("who", account.who())])}</strong>
                        <p class="muted small" style="margin: 4px 0 0">{t("providers.signin_done_hint")}</p>
                    </div>
                    <div class="row prov-form-actions">
                        <button type="button" class="btn btn-primary" data-testid="sign-in-close" on:click=move |_| close()>
                            {t("common.close")}
                        </button>
                    </div>
                }
                .into_any()
            }
            Phase::Failed(why) => {
                let close = close.clone();
                let why = if why.trim().is_empty() {
                    t("providers.signin_failed_unknown")
                } else {
                    why
                };
                view! {
                    <div class="error-box" role="alert" data-testid="sign-in-failed">
                        <strong>{t("providers.signin_failed")}</strong>" "{why}
                    </div>
                    <div class="row prov-form-actions">
                        <button type="button" class="btn" on:click=move |_| close()>{t("common.close")}</button>
                        <button type="button" class="btn btn-primary" data-testid="sign-in-retry" on:click=retry.clone()>
                            {t("providers.signin_try_again")}
                        </button>
                    </div>
                }
                .into_any()
            }
        }
    };

    view! {
        <Modal title=title on_close=on_close.clone()>
            <div
                class="prov-sign-in"
                data-testid="sign-in"
                data-provider=provider_id.clone()
                data-flow=if device { "device" } else { "pkce" }
                data-phase=move || flow.phase.with(Phase::name)
            >
                {body}
            </div>
        </Modal>
    }
}

/// What the first step shows and changes.
struct IntroView<S, C> {
    provider: String,
    device: bool,
    terms: Option<String>,
    name: RwSignal<String>,
    accepted: RwSignal<bool>,
    manual: RwSignal<bool>,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    start: S,
    close: C,
}

fn intro_view<S, C>(v: IntroView<S, C>) -> AnyView
where
    S: Fn() + Clone + 'static,
    C: Fn() + Clone + 'static,
{
    let IntroView {
        provider,
        device,
        terms,
        name,
        accepted,
        manual,
        busy,
        error,
        start,
        close,
    } = v;
    let needs_terms = terms.is_some();
    let intro = if device {
        t_with("providers.signin_intro_device", &[("provider", provider)])
    } else {
        t_with("providers.signin_intro_pkce", &[("provider", provider)])
    };
    let terms = terms.map(|warning| {
        view! {
            <div class="prov-note prov-note-warn" data-testid="sign-in-terms">
                <p style="margin: 0 0 8px"><strong>{tr("providers.signin_terms_title")}</strong>" "{warning}</p>
                <label class="check">
                    <input
                        type="checkbox"
                        data-testid="sign-in-accept-terms"
                        prop:checked=move || accepted.get()
                        on:change=move |ev| {
                            accepted.set(event_target_checked(&ev));
                            error.set(None);
                        }
                    />
                    <span>{tr("providers.signin_accept_terms")}</span>
                </label>
            </div>
        }
    });
    let manual_box = (!device).then(|| {
        view! {
            <label class="check" style="margin-bottom: 4px">
                <input
                    type="checkbox"
                    data-testid="sign-in-manual"
                    prop:checked=move || manual.get()
                    on:change=move |ev| manual.set(event_target_checked(&ev))
                />
                <span>{tr("providers.signin_manual")}</span>
            </label>
            <p class="muted small prov-hint" style="margin: 0 0 12px">{tr("providers.signin_manual_hint")}</p>
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        start();
    };
    // The dialog's Escape key only works with the focus inside it.
    let name_ref = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = name_ref.get() {
            let _ = input.focus();
        }
    });
    view! {
        <form class="prov-connect" data-testid="sign-in-intro" on:submit=submit>
            <p style="margin: 0 0 12px">{intro}</p>
            {terms}
            <label class="field">
                <span>{tr("providers.signin_name")}</span>
                <input
                    type="text"
                    data-testid="sign-in-name"
                    node_ref=name_ref
                    placeholder=move || t("providers.signin_name_placeholder")
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
            </label>
            {manual_box}
            {move || error.get().map(|e| view! {
                <div class="error-box" role="alert" data-testid="sign-in-error">{e}</div>
            })}
            <div class="row prov-form-actions">
                <button type="button" class="btn" on:click=move |_| close()>{tr("common.cancel")}</button>
                <button
                    type="submit"
                    class="btn btn-primary"
                    data-testid="sign-in-start"
                    disabled=move || busy.get() || (needs_terms && !accepted.get())
                >
                    {move || if busy.get() { t("providers.signin_starting") } else { t("providers.signin_start") }}
                </button>
            </div>
        </form>
    }
    .into_any()
}

/// Waiting for the browser sign-in, with the paste-back field.
fn browser_view(
    auth_url: String,
    manual: bool,
    paste: RwSignal<String>,
    paste_error: RwSignal<Option<String>>,
    flow: Flow,
    complete: impl Fn() + Clone + 'static,
) -> AnyView {
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        complete();
    };
    let form = view! {
        <form class="prov-connect" data-testid="sign-in-paste-form" on:submit=submit>
            <label class="field">
                <span>{tr("providers.signin_paste_label")}</span>
                <input
                    type="text"
                    dir="ltr"
                    autocomplete="off"
                    data-testid="sign-in-paste"
                    placeholder=move || t("providers.signin_paste_placeholder")
                    prop:value=move || paste.get()
                    on:input=move |ev| paste.set(event_target_value(&ev))
                />
            </label>
            <p class="muted small prov-hint">{tr("providers.signin_paste_hint")}</p>
            {move || paste_error.get().map(|e| view! {
                <div class="error-box" role="alert" data-testid="sign-in-paste-error">{e}</div>
            })}
            <div class="row prov-form-actions">
                <button type="submit" class="btn btn-primary" data-testid="sign-in-complete" disabled=move || flow.completing.get()>
                    {tr("providers.signin_complete")}
                </button>
            </div>
        </form>
    };
    let paste_part = if manual {
        form.into_any()
    } else {
        view! {
            <details class="prov-advanced">
                <summary data-testid="sign-in-paste-toggle">{tr("providers.signin_paste_fallback")}</summary>
                {form}
            </details>
        }
        .into_any()
    };
    view! {
        <div data-testid="sign-in-waiting" data-flow="pkce" data-manual=manual.to_string()>
            <p style="margin: 0 0 12px">
                {if manual { t("providers.signin_browser_manual") } else { t("providers.signin_browser") }}
            </p>
            <p style="margin: 0 0 12px">
                <a class="btn" href=auth_url target="_blank" rel="noopener noreferrer" data-testid="sign-in-open">
                    {tr("providers.signin_open")}
                </a>
            </p>
            <div class="row small muted" style="margin-bottom: 12px" role="status">
                <span class="spinner"></span>
                <span>{tr("providers.signin_waiting_browser")}</span>
            </div>
            {paste_part}
        </div>
    }
    .into_any()
}

/// The device code, big, with its copy button and the provider's page.
fn device_view(provider: &str, user_code: String, link: String, flow: Flow) -> AnyView {
    let code = user_code.clone();
    view! {
        <div data-testid="sign-in-waiting" data-flow="device">
            <p style="margin: 0 0 8px">{t_with("providers.signin_device_step", &[("provider", provider.to_owned())])}</p>
            <div class="row" style="gap: 12px; margin-bottom: 12px">
                <code
                    class="mono"
                    dir="ltr"
                    data-testid="sign-in-user-code"
                    style="font-size: 28px; font-weight: 700; letter-spacing: 4px; padding: 8px 16px; border: 1px dashed var(--border); border-radius: 8px; background: var(--panel-2); user-select: all"
                >
                    {user_code}
                </code>
                <CopyButton text=Signal::derive(move || code.clone())/>
            </div>
            <p style="margin: 0 0 12px">
                <a class="btn btn-primary" href=link.clone() target="_blank" rel="noopener noreferrer" data-testid="sign-in-verify-link">
                    {tr("providers.signin_device_open")}
                </a>
                " "<span class="mono small muted" dir="ltr">{link}</span>
            </p>
            <div class="row small muted" role="status">
                <span class="spinner"></span>
                <span>{tr("providers.signin_waiting_device")}</span>
                <span data-testid="sign-in-interval" data-interval=move || flow.interval.get().to_string() data-slowed=move || flow.slowed.get().to_string()>
                    {move || {
                        let n = flow.interval.get().to_string();
                        if flow.slowed.get() {
                            t_with("providers.signin_slowed", &[("n", n)])
                        } else {
                            t_with("providers.signin_checking_every", &[("n", n)])
                        }
                    }}
                </span>
            </div>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> PollReply {
        serde_json::from_str(text).unwrap_or_default()
    }

    #[test]
    fn both_start_answers_are_read() {
        let pkce: Result<Started, _> = serde_json::from_str(
            r#"{"flow":"pkce","login_id":"s1","auth_url":"https://claude.com/cai/oauth/authorize?x=1","redirect_uri":"https://platform.claude.com/oauth/code/callback","manual":true,"expires_in":600}"#,
        );
        assert_eq!(
            pkce.ok(),
            Some(Started::Pkce {
                login_id: "s1".into(),
                auth_url: "https://claude.com/cai/oauth/authorize?x=1".into(),
                manual: true,
            })
        );
        let device: Result<Started, _> = serde_json::from_str(
            r#"{"flow":"device","login_id":"d1","user_code":"ABCD-1234","verification_uri":"https://github.com/login/device","verification_uri_complete":null,"interval":5,"expires_in":900}"#,
        );
        assert_eq!(
            device.ok(),
            Some(Started::Device {
                login_id: "d1".into(),
                user_code: "ABCD-1234".into(),
                verification_uri: "https://github.com/login/device".into(),
                verification_uri_complete: None,
                interval: 5,
            })
        );
    }

    #[test]
    fn device_polls_follow_the_interval_and_slow_down() {
        assert_eq!(
            next_step(true, 5, &reply(r#"{"status":"pending"}"#)),
            Next::Wait {
                secs: 5,
                slowed: false
            }
        );
        assert_eq!(
            next_step(true, 5, &reply(r#"{"status":"pending","interval":10}"#)),
            Next::Wait {
                secs: 10,
                slowed: false
            },
            "the gateway's interval wins"
        );
        assert_eq!(
            next_step(true, 5, &reply(r#"{"status":"slow_down","interval":12}"#)),
            Next::Wait {
                secs: 12,
                slowed: true
            }
        );
        assert_eq!(
            next_step(true, 5, &reply(r#"{"status":"slow_down"}"#)),
            Next::Wait {
                secs: 10,
                slowed: true
            },
            "RFC 8628 adds five seconds"
        );
    }

    #[test]
    fn browser_polls_every_two_seconds_and_ends_on_done_or_error() {
        assert_eq!(
            next_step(false, 7, &reply(r#"{"status":"pending"}"#)),
            Next::Wait {
                secs: BROWSER_POLL_SECS,
                slowed: false
            }
        );
        let done = next_step(
            false,
            2,
            &reply(
                r#"{"status":"done","connection":{"id":4,"name":"me@example.com","email":"me@example.com"}}"#,
            ),
        );
        let Next::Done(account) = done else {
            unreachable!("{done:?}")
        };
        assert_eq!(
            (account.id, account.who()),
            (4, "me@example.com".to_owned())
        );
        assert_eq!(
            next_step(
                true,
                5,
                &reply(r#"{"status":"error","error":"The sign-in was refused: access_denied"}"#)
            ),
            Next::Failed("The sign-in was refused: access_denied".into())
        );
    }

    #[test]
    fn an_account_without_email_goes_by_its_name() {
        let account = SignedIn {
            id: 1,
            name: "copilot account 1".into(),
            email: Some(" ".into()),
        };
        assert_eq!(account.who(), "copilot account 1");
    }

    #[test]
    fn the_start_body_carries_only_what_was_asked() {
        assert_eq!(start_body(false, "  ", false), json!({}));
        assert_eq!(
            start_body(true, " Work ", true),
            json!({"mode": "manual", "name": "Work", "accept_terms": true})
        );
    }

    #[test]
    fn manual_mode_is_the_default_away_from_the_gateways_machine() {
        for local in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "app.localhost",
        ] {
            assert!(!manual_by_default(local), "{local}");
        }
        for remote in ["gw.example.com", "192.168.1.20", "[fe80::1]"] {
            assert!(manual_by_default(remote), "{remote}");
        }
    }

    #[test]
    fn the_verification_link_prefers_the_one_with_the_code() {
        assert_eq!(
            verification_link("https://x/device", Some("https://x/device?user_code=AB")),
            "https://x/device?user_code=AB"
        );
        assert_eq!(
            verification_link("https://x/device", Some("")),
            "https://x/device"
        );
        assert_eq!(
            verification_link("https://x/device", None),
            "https://x/device"
        );
    }

    #[test]
    fn known_refusals_get_their_own_words() {
        assert_eq!(
            error_key(Some("terms_not_accepted")),
            Some("providers.signin_err_terms")
        );
        assert_eq!(
            error_key(Some("state_mismatch")),
            Some("providers.signin_err_state")
        );
        assert_eq!(error_key(Some("provider_discontinued")), None);
        assert_eq!(error_key(None), None);
    }
}
