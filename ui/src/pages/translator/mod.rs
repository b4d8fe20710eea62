//! The translator page: a playground that converts bodies between wire formats, and a chat tester that sends a real request through the gateway.

mod chat;
mod playground;
pub mod samples;
pub mod sse;

use leptos::prelude::*;

use crate::components::Page;
use crate::i18n::{self, tr};

/// A message in the current language, read without subscribing to language
/// changes: for event handlers and tasks, which run outside any view.
fn t_now(key: &str) -> String {
    i18n::message(i18n::current().get_untracked(), key)
}

/// [`t_now`] with `{name}` placeholders filled in.
fn t_now_with(key: &str, args: &[(&str, String)]) -> String {
    i18n::fill(&t_now(key), args)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Playground,
    Chat,
}

#[component]
pub fn TranslatorPage() -> impl IntoView {
    let tab = RwSignal::new(Tab::Playground);
    let tab_button = move |which: Tab, testid: &'static str, label: &'static str| {
        view! {
            <button
                class="tab"
                role="tab"
                data-testid=testid
                aria-selected=move || (tab.get() == which).to_string()
                on:click=move |_| tab.set(which)
            >
                {tr(label)}
            </button>
        }
    };
    view! {
        <Page title="translator.title" subtitle="translator.subtitle">
            <div class="tabs" role="tablist">
                {tab_button(Tab::Playground, "tab-playground", "translator.tab_playground")}
                {tab_button(Tab::Chat, "tab-chat", "translator.tab_chat")}
            </div>
            // Both tabs stay mounted so switching keeps what was typed and any running chat.
            <div role="tabpanel" hidden=move || tab.get() != Tab::Playground>
                <playground::Playground/>
            </div>
            <div role="tabpanel" hidden=move || tab.get() != Tab::Chat>
                <chat::ChatTester/>
            </div>
        </Page>
    }
}
