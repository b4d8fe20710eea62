//! OmniRoute's dashboard: a Leptos client-side app served by the gateway at `/dashboard`.

pub mod api;
pub mod app;
pub mod browser;
pub mod charts;
pub mod components;
pub mod format;
pub mod i18n;
pub mod pages;
pub mod records;

/// The wasm entry point: mount the app on `<body>`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
