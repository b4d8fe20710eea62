//! The logs page.

use leptos::prelude::*;

use crate::components::Page;

#[component]
pub fn LogsPage() -> impl IntoView {
    view! { <Page title="logs.title"><p></p></Page> }
}
