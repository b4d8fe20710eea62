//! The health page.

use leptos::prelude::*;

use crate::components::Page;

#[component]
pub fn HealthPage() -> impl IntoView {
    view! { <Page title="health.title"><p></p></Page> }
}
