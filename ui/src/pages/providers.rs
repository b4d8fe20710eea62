//! The providers page.

use leptos::prelude::*;

use crate::components::Page;

#[component]
pub fn ProvidersPage() -> impl IntoView {
    view! { <Page title="providers.title"><p></p></Page> }
}
