//! Building blocks every page uses: page frame, cards, states (loading, empty, error), toggles, badges, modals, toasts.

use leptos::prelude::*;

use crate::api::ApiError;
use crate::i18n::{t, tr};

/// A page: its title, optional actions on the right, and its content.
#[component]
pub fn Page(
    /// Message key of the title.
    title: &'static str,
    #[prop(optional, into)] subtitle: Option<&'static str>,
    #[prop(optional)] actions: Option<Children>,
    children: Children,
) -> impl IntoView {
    view! {
        <section class="page" data-testid=format!("page-{}", title.split('.').next().unwrap_or(title))>
            <header class="page-head">
                <div>
                    <h1>{tr(title)}</h1>
                    {subtitle.map(|s| view! { <p class="muted">{tr(s)}</p> })}
                </div>
                <div class="page-actions">{actions.map(|a| a())}</div>
            </header>
            {children()}
        </section>
    }
}

/// A titled box.
#[component]
pub fn Card(
    #[prop(optional)] title: Option<&'static str>,
    #[prop(optional, into)] class: String,
    children: Children,
) -> impl IntoView {
    view! {
        <div class=format!("card {class}")>
            {title.map(|k| view! { <h2 class="card-title">{tr(k)}</h2> })}
            {children()}
        </div>
    }
}

/// One big number with its label.
#[component]
pub fn StatCard(
    label: &'static str,
    #[prop(into)] value: Signal<String>,
    #[prop(optional, into)] hint: Option<Signal<String>>,
) -> impl IntoView {
    view! {
        <div class="card stat" data-testid=format!("stat-{label}")>
            <div class="stat-label">{tr(label)}</div>
            <div class="stat-value">{move || value.get()}</div>
            {hint.map(|h| view! { <div class="stat-hint muted">{move || h.get()}</div> })}
        </div>
    }
}

/// Shown while data loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <div class="loading" role="status"><span class="spinner"></span>{tr("common.loading")}</div> }
}

/// Shown when a list has nothing in it: what it is and what to do.
#[component]
pub fn Empty(message: &'static str, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    view! {
        <div class="empty">
            <p>{tr(message)}</p>
            {children.map(|c| c())}
        </div>
    }
}

/// An API error as a readable message.
#[component]
pub fn ErrorBox(#[prop(into)] error: ApiError) -> impl IntoView {
    view! {
        <div class="error-box" role="alert" data-testid="error">
            <strong>{tr("common.error")}</strong>" "{error.message}
        </div>
    }
}

/// Renders a loaded value, the loading state, or the error.
pub fn resolved<T: Clone + Send + Sync + 'static, V: IntoView + 'static>(
    value: Option<Result<T, ApiError>>,
    render: impl FnOnce(T) -> V,
) -> AnyView {
    match value {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
        Some(Ok(v)) => render(v).into_any(),
    }
}

/// An on/off switch.
#[component]
pub fn Toggle(
    #[prop(into)] checked: Signal<bool>,
    on_change: impl Fn(bool) + 'static,
    #[prop(optional, into)] label: Option<String>,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    view! {
        <label class="toggle" data-testid=testid>
            <input
                type="checkbox"
                prop:checked=move || checked.get()
                on:change=move |ev| on_change(event_target_checked(&ev))
            />
            <span class="track"><span class="thumb"></span></span>
            {label.map(|l| view! { <span class="toggle-label">{l}</span> })}
        </label>
    }
}

/// A small colored label; `tone` is one of ok, warn, bad, info, muted.
#[component]
pub fn Badge(#[prop(into)] tone: String, #[prop(into)] text: Signal<String>) -> impl IntoView {
    view! { <span class=format!("badge badge-{tone}")>{move || text.get()}</span> }
}

/// A button that copies `text` and says so.
#[component]
pub fn CopyButton(#[prop(into)] text: Signal<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    view! {
        <button
            class="btn btn-small"
            data-testid="copy"
            on:click=move |_| {
                let value = text.get_untracked();
                leptos::task::spawn_local(async move {
                    if crate::browser::copy_text(&value).await {
                        copied.set(true);
                    }
                });
            }
        >
            {move || if copied.get() { t("common.copied") } else { t("common.copy") }}
        </button>
    }
}

/// A dialog over the page; closes on its close button or Escape.
#[component]
pub fn Modal(
    title: Signal<String>,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
    children: Children,
) -> impl IntoView {
    let close = on_close.clone();
    view! {
        <div class="overlay" on:click=move |_| close()>
            <div
                class="modal"
                role="dialog"
                aria-modal="true"
                on:click=|ev| ev.stop_propagation()
                on:keydown={
                    let close = on_close.clone();
                    move |ev| if ev.key() == "Escape" { close() }
                }
            >
                <header class="modal-head">
                    <h2>{move || title.get()}</h2>
                    <button class="btn btn-ghost" aria-label=tr("common.close") on:click={
                        let close = on_close.clone();
                        move |_| close()
                    }>"×"</button>
                </header>
                <div class="modal-body">{children()}</div>
            </div>
        </div>
    }
}

/// A panel sliding in from the side (the request detail).
#[component]
pub fn Drawer(
    title: Signal<String>,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
    children: Children,
) -> impl IntoView {
    view! {
        <aside class="drawer" role="dialog" data-testid="drawer">
            <header class="modal-head">
                <h2>{move || title.get()}</h2>
                <button class="btn btn-ghost" aria-label=tr("common.close") on:click=move |_| on_close()>"×"</button>
            </header>
            <div class="drawer-body">{children()}</div>
        </aside>
    }
}

/// A short message at the corner of the screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub ok: bool,
    pub text: String,
}

thread_local! {
    /// The toasts on screen; global so event handlers anywhere can add one.
    static TOASTS: RwSignal<Vec<Toast>> = RwSignal::new(Vec::new());
}

fn toasts() -> RwSignal<Vec<Toast>> {
    TOASTS.with(|t| *t)
}

/// Shows a message for a few seconds.
pub fn show_toast(ok: bool, text: String) {
    let list = toasts();
    let id = list.with_untracked(|l| l.last().map_or(1, |t| t.id + 1));
    list.update(|l| l.push(Toast { id, ok, text }));
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(if ok { 3000 } else { 6000 }).await;
        list.update(|l| l.retain(|t| t.id != id));
    });
}

/// Shows a success message (a message key).
pub fn notify_ok(key: &str) {
    show_toast(true, crate::i18n::t_now(key));
}

/// Shows a failed call's message.
pub fn notify_error(error: &ApiError) {
    show_toast(false, error.message.clone());
}

/// Where toasts appear.
#[component]
pub fn ToastHost() -> impl IntoView {
    let list = toasts();
    view! {
        <div class="toasts" aria-live="polite">
            <For each=move || list.get() key=|t| t.id let:toast>
                <div class=if toast.ok { "toast toast-ok" } else { "toast toast-bad" } data-testid="toast">{toast.text}</div>
            </For>
        </div>
    }
}
