//! Small wrappers over the browser: local storage, the `<html>` element, the clock, the clipboard, downloads.
//!
//! Each one does nothing (or returns `None`) outside a browser, so the pure
//! modules that call them still run in native unit tests.

use wasm_bindgen::JsCast;

fn window() -> Option<web_sys::Window> {
    if cfg!(target_arch = "wasm32") {
        web_sys::window()
    } else {
        None
    }
}

/// A value saved in `localStorage`.
pub fn local_get(key: &str) -> Option<String> {
    window()?.local_storage().ok()??.get_item(key).ok()?
}

/// Saves a value in `localStorage` (private modes may refuse; that only loses the preference).
pub fn local_set(key: &str, value: &str) {
    if let Some(storage) = window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(key, value);
    }
}

/// The browser's preferred language tag (`navigator.language`).
pub fn navigator_language() -> Option<String> {
    window()?.navigator().language()
}

/// Sets an attribute on `<html>` (`lang`, `dir`, `data-theme`).
pub fn set_html_attr(name: &str, value: &str) {
    if let Some(root) = window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute(name, value);
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    if cfg!(target_arch = "wasm32") {
        js_sys::Date::now() as i64
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// Minutes to add to UTC for the browser's time zone.
pub fn utc_offset_minutes() -> i64 {
    if cfg!(target_arch = "wasm32") {
        -(js_sys::Date::new_0().get_timezone_offset() as i64)
    } else {
        0
    }
}

/// A timestamp in the browser's time zone.
pub fn local_datetime(ts_ms: i64) -> String {
    crate::format::datetime(ts_ms, utc_offset_minutes())
}

/// Copies text to the clipboard.
pub async fn copy_text(text: &str) -> bool {
    let Some(window) = window() else {
        return false;
    };
    let promise = window.navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}

/// Offers `bytes` to the user as a file named `name`.
pub fn download(name: &str, mime: &str, bytes: &[u8]) {
    let Some(document) = window().and_then(|w| w.document()) else {
        return;
    };
    let parts = js_sys::Array::new();
    parts.push(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(anchor) = document.create_element("a")
        && let Ok(anchor) = anchor.dyn_into::<web_sys::HtmlAnchorElement>()
    {
        anchor.set_href(&url);
        anchor.set_download(name);
        anchor.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// A query parameter of the page's address (`?login_token=…`).
pub fn query_param(name: &str) -> Option<String> {
    let search = window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get(name)
}

/// Removes the query string from the address bar without reloading (a used login token).
pub fn clear_query() {
    if let Some(window) = window()
        && let Ok(path) = window.location().pathname()
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
    }
}

/// Asks the user to confirm a destructive action.
pub fn confirm(message: &str) -> bool {
    window()
        .and_then(|w| w.confirm_with_message(message).ok())
        .unwrap_or(false)
}
