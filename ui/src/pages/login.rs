//! The sign-in page: the dashboard password, and where to find it on first start.

use leptos::prelude::*;

use crate::api;
use crate::app::{AuthState, LoginReply, signed_in};
use crate::i18n::{self, Lang, tr};

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = expect_context::<AuthState>();
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let body = serde_json::json!({ "password": password.get_untracked() });
        leptos::task::spawn_local(async move {
            match api::post::<_, LoginReply>("/api/auth/login", &body).await {
                Ok(reply) => signed_in(auth, reply.csrf_token),
                Err(e) if e.code.as_deref() == Some("invalid_password") => {
                    error.set(Some(i18n::t("login.wrong_password")))
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="center-screen">
            <form class="card login" on:submit=submit data-testid="login-form">
                <div class="brand big">"OmniRoute"</div>
                <h1>{tr("login.title")}</h1>
                <p class="muted">{tr("login.hint")}</p>
                <label class="field">
                    <span>{tr("login.password")}</span>
                    <input
                        type="password"
                        autocomplete="current-password"
                        data-testid="login-password"
                        required
                        autofocus
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                </label>
                {move || error.get().map(|e| view! { <div class="error-box" role="alert" data-testid="login-error">{e}</div> })}
                <button class="btn btn-primary wide" type="submit" data-testid="login-submit" disabled=move || busy.get()>
                    {tr("login.submit")}
                </button>
                <p class="muted small">{tr("login.forgot")}" "<code>"omniroute reset-password"</code></p>
                <select
                    class="lang-select"
                    data-testid="login-language"
                    on:change=move |ev| {
                        if let Some(lang) = Lang::from_code(&event_target_value(&ev)) {
                            i18n::set_language(lang, true);
                        }
                    }
                >
                    {Lang::ALL
                        .into_iter()
                        .map(|lang| view! {
                            <option value=lang.code() selected=move || i18n::current().get() == lang>{lang.native_name()}</option>
                        })
                        .collect_view()}
                </select>
            </form>
        </div>
    }
}
