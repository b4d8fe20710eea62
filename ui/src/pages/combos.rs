//! The combos page.

use leptos::prelude::*;

use crate::components::Page;

#[component]
pub fn CombosPage() -> impl IntoView {
    view! { <Page title="combos.title"><p></p></Page> }
}
