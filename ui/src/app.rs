//! The app: sign-in gate, the frame (navigation, theme, language), and the page routes.

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;
use serde::Deserialize;

use crate::components::{Loading, ToastHost};
use crate::i18n::{self, Lang, tr};
use crate::pages;
use crate::{api, browser};

/// Whether the user is signed in to the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Checking,
    SignedOut,
    SignedIn,
}

/// The sign-in state, shared by the login page, the frame and the API client.
#[derive(Clone, Copy)]
pub struct AuthState(pub RwSignal<Auth>);

#[derive(Deserialize)]
struct SessionReply {
    authenticated: bool,
    csrf_token: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginReply {
    pub csrf_token: String,
}

/// Marks the session as signed in with its CSRF token.
pub fn signed_in(auth: AuthState, csrf_token: String) {
    api::set_csrf_token(Some(csrf_token));
    auth.0.set(Auth::SignedIn);
}

/// Finds out whether a session exists; a desktop login token in the address signs in first.
async fn check_session(auth: AuthState) {
    if let Some(token) = browser::query_param("login_token") {
        browser::clear_query();
        let reply: Result<LoginReply, _> = api::post(
            "/api/auth/token-login",
            &serde_json::json!({ "token": token }),
        )
        .await;
        if let Ok(reply) = reply {
            signed_in(auth, reply.csrf_token);
            return;
        }
    }
    match api::get::<SessionReply>("/api/auth/session").await {
        Ok(SessionReply {
            authenticated: true,
            csrf_token: Some(token),
        }) => signed_in(auth, token),
        _ => auth.0.set(Auth::SignedOut),
    }
}

const THEME_KEY: &str = "omniroute.theme";

/// The saved theme (`dark` or `light`), else the system's.
fn initial_theme() -> String {
    browser::local_get(THEME_KEY)
        .filter(|t| t == "dark" || t == "light")
        .unwrap_or_else(|| {
            let prefers_light = web_sys::window()
                .and_then(|w| {
                    w.match_media("(prefers-color-scheme: light)")
                        .ok()
                        .flatten()
                })
                .is_some_and(|m| m.matches());
            if prefers_light { "light" } else { "dark" }.to_owned()
        })
}

#[component]
pub fn App() -> impl IntoView {
    i18n::init();
    let theme = RwSignal::new(initial_theme());
    Effect::new(move |_| browser::set_html_attr("data-theme", &theme.get()));
    let auth = AuthState(RwSignal::new(Auth::Checking));
    provide_context(auth);
    api::on_unauthorized(move || {
        api::set_csrf_token(None);
        auth.0.set(Auth::SignedOut);
    });
    leptos::task::spawn_local(check_session(auth));
    view! {
        <Router base="/dashboard">
            {move || match auth.0.get() {
                Auth::Checking => view! { <div class="center-screen"><Loading/></div> }.into_any(),
                Auth::SignedOut => view! { <pages::login::LoginPage/> }.into_any(),
                Auth::SignedIn => view! { <Shell theme=theme/> }.into_any(),
            }}
            <ToastHost/>
        </Router>
    }
}

/// One entry of the side navigation.
const NAV: [(&str, &str, &str); 10] = [
    ("/", "common.nav_overview", "◎"),
    ("/providers", "common.nav_providers", "⇄"),
    ("/combos", "common.nav_combos", "☰"),
    ("/keys", "common.nav_keys", "◈"),
    ("/analytics", "common.nav_analytics", "▤"),
    ("/logs", "common.nav_logs", "≡"),
    ("/health", "common.nav_health", "♥"),
    ("/translator", "common.nav_translator", "⇆"),
    ("/tools", "common.nav_tools", "⌘"),
    ("/settings", "common.nav_settings", "⚙"),
];

/// The signed-in frame: navigation, top bar and the current page.
#[component]
fn Shell(theme: RwSignal<String>) -> impl IntoView {
    let auth = expect_context::<AuthState>();
    let logout = move |_| {
        leptos::task::spawn_local(async move {
            let _: Result<serde_json::Value, _> =
                api::post("/api/auth/logout", &serde_json::json!({})).await;
            api::set_csrf_token(None);
            auth.0.set(Auth::SignedOut);
        });
    };
    view! {
        <div class="shell">
            <nav class="sidebar" aria-label="main">
                <div class="brand">"OmniRoute"</div>
                {NAV
                    .into_iter()
                    .map(|(href, key, icon)| {
                        let testid = format!("nav-{}", key.trim_start_matches("common.nav_"));
                        view! {
                            <A href=format!("/dashboard{href}") exact=true attr:data-testid=testid attr:class="nav-link">
                                <span class="nav-icon" aria-hidden="true">{icon}</span>
                                <span>{tr(key)}</span>
                            </A>
                        }
                    })
                    .collect_view()}
            </nav>
            <div class="main">
                <header class="topbar">
                    <div class="spacer"></div>
                    <select
                        class="lang-select"
                        data-testid="language"
                        aria-label=tr("common.language")
                        on:change=move |ev| {
                            if let Some(lang) = Lang::from_code(&event_target_value(&ev)) {
                                i18n::set_language(lang, true);
                            }
                        }
                    >
                        {Lang::ALL
                            .into_iter()
                            .map(|lang| {
                                view! {
                                    <option
                                        value=lang.code()
                                        selected=move || i18n::current().get() == lang
                                    >
                                        {lang.native_name()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <button
                        class="btn btn-ghost"
                        data-testid="theme-toggle"
                        on:click=move |_| {
                            let next = if theme.get_untracked() == "dark" { "light" } else { "dark" };
                            browser::local_set(THEME_KEY, next);
                            theme.set(next.to_owned());
                        }
                    >
                        {move || if theme.get() == "dark" { tr("common.theme_light")() } else { tr("common.theme_dark")() }}
                    </button>
                    <button class="btn btn-ghost" data-testid="logout" on:click=logout>{tr("common.logout")}</button>
                </header>
                <main class="content">
                    <Routes fallback=|| view! { <pages::overview::NotFound/> }>
                        <Route path=path!("/") view=pages::overview::OverviewPage/>
                        <Route path=path!("/providers") view=pages::providers::ProvidersPage/>
                        <Route path=path!("/combos") view=pages::combos::CombosPage/>
                        <Route path=path!("/keys") view=pages::keys::KeysPage/>
                        <Route path=path!("/analytics") view=pages::analytics::AnalyticsPage/>
                        <Route path=path!("/logs") view=pages::logs::LogsPage/>
                        <Route path=path!("/health") view=pages::health::HealthPage/>
                        <Route path=path!("/translator") view=pages::translator::TranslatorPage/>
                        <Route path=path!("/tools") view=pages::tools::ToolsPage/>
                        <Route path=path!("/settings") view=pages::settings::SettingsPage/>
                    </Routes>
                </main>
            </div>
        </div>
    }
}
