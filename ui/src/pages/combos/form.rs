//! The combo editor: name, strategy, and the ordered entries (drag to reorder, or move with buttons from the keyboard).

use leptos::prelude::*;
use serde_json::Value;
use wasm_bindgen::JsCast;

use super::model::{
    Combo, ComboDraft, STRATEGIES, add_entry, combo_body, entries_named, known_entries, move_item,
    strategy_hint_key, strategy_key,
};
use crate::api::{self, ApiError, encode_component};
use crate::components::{ErrorBox, Modal, Toggle, notify_ok};
use crate::i18n::{t, t_with, tr};
use crate::pages::providers::model::Provider;

/// A mistake caught before calling the gateway, shown like the gateway's own errors.
fn local_error(key: &str) -> ApiError {
    ApiError {
        status: 400,
        code: None,
        message: t(key),
    }
}

/// Puts the keyboard focus back on a button of the entry now at `index`
/// (the list is redrawn after a move, which loses the focus).
fn focus_entry_button(index: usize, testid: &'static str) {
    request_animation_frame(move || {
        let selector = format!(
            "[data-testid=\"combo-entry\"][data-index=\"{index}\"] [data-testid=\"{testid}\"]"
        );
        let element = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(&selector).ok().flatten())
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(element) = element {
            // A disabled button (the end of the list) cannot take focus; the other one can.
            if element.has_attribute("disabled") {
                let other = if testid == "entry-up" {
                    "entry-down"
                } else {
                    "entry-up"
                };
                if let Some(sibling) = element
                    .parent_element()
                    .and_then(|p| {
                        p.query_selector(&format!("[data-testid=\"{other}\"]"))
                            .ok()
                            .flatten()
                    })
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = sibling.focus();
                }
            } else {
                let _ = element.focus();
            }
        }
    });
}

/// What kind of entry a string is, as a message key for its small badge.
fn entry_kind_key(entry: &str) -> Option<&'static str> {
    if !entry.contains('/') {
        Some("combos.kind_combo")
    } else if entry.ends_with("/*") {
        Some("combos.kind_any_model")
    } else {
        None
    }
}

#[component]
pub fn ComboForm(
    /// The combo being edited; `None` for a new one.
    editing: Option<Combo>,
    /// The catalog, for the entry select and to recognise providers.
    providers: Signal<Vec<Provider>>,
    /// Every combo, to offer them as entries.
    combos: Vec<Combo>,
    on_saved: impl Fn() + Clone + Send + Sync + 'static,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let is_edit = editing.is_some();
    let draft = editing
        .as_ref()
        .map_or_else(ComboDraft::new, ComboDraft::from_combo);
    let original_name = draft.name.clone();
    let name = RwSignal::new(draft.name.clone());
    let strategy = RwSignal::new(draft.strategy.clone());
    let entries = RwSignal::new(draft.entries.clone());
    let enabled = RwSignal::new(draft.enabled);
    let sticky = RwSignal::new(draft.sticky.clone());
    let typed = RwSignal::new(String::new());
    let entry_error = RwSignal::new(None::<&'static str>);
    let error = RwSignal::new(None::<ApiError>);
    let bad_entries = RwSignal::new(Vec::<usize>::new());
    let busy = RwSignal::new(false);
    let dragging = RwSignal::new(None::<usize>);
    let over = RwSignal::new(None::<usize>);
    // `autofocus` is ignored on elements added after the page loaded, and the
    // dialog's Escape key only works with the focus inside it. The name of a
    // combo being edited cannot change, so the strategy gets the focus then.
    let name_ref = NodeRef::<leptos::html::Input>::new();
    let strategy_ref = NodeRef::<leptos::html::Select>::new();
    Effect::new(move |_| {
        if is_edit {
            if let Some(select) = strategy_ref.get() {
                let _ = select.focus();
            }
        } else if let Some(input) = name_ref.get() {
            let _ = input.focus();
        }
    });

    let add = move |value: String| match add_entry(&entries.get_untracked(), &value) {
        Ok(list) => {
            entries.set(list);
            entry_error.set(None);
            bad_entries.set(Vec::new());
            true
        }
        Err(key) => {
            entry_error.set(Some(key));
            false
        }
    };
    let move_to = move |from: usize, to: usize| {
        entries.update(|list| *list = move_item(list, from, to));
        bad_entries.set(Vec::new());
    };

    let entry_items = move || {
        let bad = bad_entries.get();
        let list = entries.get();
        let last = list.len().saturating_sub(1);
        list.into_iter()
            .enumerate()
            .map(|(i, entry)| {
                let is_bad = bad.contains(&i);
                let class = move || {
                    let mut class = String::from("drag-item combo-entry");
                    if dragging.get() == Some(i) {
                        class.push_str(" dragging");
                    }
                    if over.get() == Some(i) && dragging.get().is_some_and(|d| d != i) {
                        class.push_str(" drop-target");
                    }
                    if is_bad {
                        class.push_str(" combo-entry-bad");
                    }
                    class
                };
                let kind = entry_kind_key(&entry)
                    .map(|key| view! { <span class="badge badge-muted">{move || t(key)}</span> });
                view! {
                    <li
                        class=class
                        draggable="true"
                        data-testid="combo-entry"
                        data-index=i.to_string()
                        data-value=entry.clone()
                        on:dragstart=move |ev: leptos::ev::DragEvent| {
                            dragging.set(Some(i));
                            if let Some(transfer) = ev.data_transfer() {
                                // Firefox starts a drag only when some data is set.
                                let _ = transfer.set_data("text/plain", &i.to_string());
                                transfer.set_effect_allowed("move");
                            }
                        }
                        on:dragover=move |ev: leptos::ev::DragEvent| {
                            // Allowing the drop here is what makes this a drop target.
                            ev.prevent_default();
                            if over.get_untracked() != Some(i) {
                                over.set(Some(i));
                            }
                        }
                        on:drop=move |ev: leptos::ev::DragEvent| {
                            ev.prevent_default();
                            let from = dragging.get_untracked().or_else(|| {
                                ev.data_transfer()
                                    .and_then(|t| t.get_data("text/plain").ok())
                                    .and_then(|d| d.parse().ok())
                            });
                            dragging.set(None);
                            over.set(None);
                            if let Some(from) = from {
                                move_to(from, i);
                            }
                        }
                        on:dragend=move |_| {
                            dragging.set(None);
                            over.set(None);
                        }
                    >
                        <span class="combo-handle" aria-hidden="true">"⋮⋮"</span>
                        <span class="combo-entry-pos">{i + 1}</span>
                        <code class="combo-entry-name" dir="ltr">{entry.clone()}</code>
                        {kind}
                        <span class="spacer"></span>
                        <button
                            type="button"
                            class="btn btn-small btn-ghost"
                            data-testid="entry-up"
                            aria-label=move || t("combos.move_up")
                            disabled=i == 0
                            on:click=move |_| {
                                move_to(i, i - 1);
                                focus_entry_button(i - 1, "entry-up");
                            }
                        >"↑"</button>
                        <button
                            type="button"
                            class="btn btn-small btn-ghost"
                            data-testid="entry-down"
                            aria-label=move || t("combos.move_down")
                            disabled=i == last
                            on:click=move |_| {
                                move_to(i, i + 1);
                                focus_entry_button(i + 1, "entry-down");
                            }
                        >"↓"</button>
                        <button
                            type="button"
                            class="btn btn-small btn-ghost btn-danger"
                            data-testid="entry-remove"
                            aria-label=move || t("combos.remove_entry")
                            on:click=move |_| {
                                entries.update(|list| {
                                    if i < list.len() {
                                        list.remove(i);
                                    }
                                });
                                bad_entries.set(Vec::new());
                            }
                        >"×"</button>
                    </li>
                }
            })
            .collect_view()
    };

    let select_options = {
        let original_name = original_name.clone();
        move || {
            let groups = known_entries(&providers.get(), &combos, &original_name, &entries.get());
            groups
                .into_iter()
                .map(|(label, values)| {
                    let label = if label.is_empty() {
                        t("combos.group_combos")
                    } else {
                        label
                    };
                    let options = values
                        .into_iter()
                        .map(|v| view! { <option value=v.clone()>{v.clone()}</option> })
                        .collect_view();
                    view! { <optgroup label=label>{options}</optgroup> }
                })
                .collect_view()
        }
    };

    let submit = {
        let on_saved = on_saved.clone();
        let original_name = original_name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let draft = ComboDraft {
                name: name.get_untracked(),
                strategy: strategy.get_untracked(),
                entries: entries.get_untracked(),
                enabled: enabled.get_untracked(),
                sticky: sticky.get_untracked(),
            };
            let body = match combo_body(&draft, !is_edit) {
                Ok(body) => body,
                Err(key) => {
                    error.set(Some(local_error(key)));
                    return;
                }
            };
            let on_saved = on_saved.clone();
            let path = format!("/api/combos/{}", encode_component(&original_name));
            busy.set(true);
            error.set(None);
            bad_entries.set(Vec::new());
            leptos::task::spawn_local(async move {
                let reply: Result<Value, ApiError> = if is_edit {
                    api::put(&path, &body).await
                } else {
                    api::post("/api/combos", &body).await
                };
                busy.set(false);
                match reply {
                    Ok(_) => {
                        notify_ok(if is_edit {
                            "combos.saved_ok"
                        } else {
                            "combos.created_ok"
                        });
                        on_saved();
                    }
                    Err(e) => {
                        bad_entries.set(entries_named(&e.message, &entries.get_untracked()));
                        error.set(Some(e));
                    }
                }
            });
        }
    };

    let title = {
        let original_name = original_name.clone();
        Signal::derive(move || {
            if is_edit {
                t_with("combos.edit_title", &[("name", original_name.clone())])
            } else {
                t("combos.new_title")
            }
        })
    };
    let close = on_close.clone();

    view! {
        <Modal title=title on_close=on_close.clone()>
            <form class="combo-form" data-testid="combo-form" data-mode=if is_edit { "edit" } else { "new" } on:submit=submit>
                <div class="form-grid">
                    <label class="field">
                        <span>{tr("combos.name")}</span>
                        <input
                            type="text"
                            dir="ltr"
                            data-testid="combo-name"
                            placeholder=move || t("combos.name_placeholder")
                            disabled=is_edit
                            node_ref=name_ref
                            prop:value=move || name.get()
                            on:input=move |ev| name.set(event_target_value(&ev))
                        />
                    </label>
                    <label class="field">
                        <span>{tr("combos.strategy")}</span>
                        <select data-testid="combo-strategy" node_ref=strategy_ref on:change=move |ev| strategy.set(event_target_value(&ev))>
                            {move || {
                                let current = strategy.get();
                                let mut values: Vec<String> = STRATEGIES.iter().map(|s| (*s).to_owned()).collect();
                                // A strategy from a newer gateway stays selectable as it is.
                                if !values.contains(&current) {
                                    values.push(current.clone());
                                }
                                values
                                    .into_iter()
                                    .map(|value| {
                                        let label = strategy_key(&value).map_or_else(|| value.clone(), t);
                                        let selected = value == current;
                                        view! { <option value=value selected=selected>{label}</option> }
                                    })
                                    .collect_view()
                            }}
                        </select>
                    </label>
                </div>
                {is_edit.then(|| view! { <p class="muted small combo-hint">{tr("combos.no_rename")}</p> })}
                <p class="muted small combo-hint" data-testid="combo-strategy-hint">{move || t(strategy_hint_key(&strategy.get()))}</p>
                <Show when=move || strategy.get() == "round-robin">
                    <label class="field combo-sticky">
                        <span>{tr("combos.sticky")}</span>
                        <input
                            type="number"
                            min="1"
                            step="1"
                            data-testid="combo-sticky"
                            prop:value=move || sticky.get()
                            on:input=move |ev| sticky.set(event_target_value(&ev))
                        />
                    </label>
                </Show>

                <div class="combo-entries-head">
                    <h3>{tr("combos.entries")}</h3>
                    <span class="muted small">{tr("combos.entries_hint")}</span>
                </div>
                <Show
                    when=move || !entries.get().is_empty()
                    fallback=|| view! { <p class="combo-entries-empty muted small" data-testid="combo-entries-empty">{tr("combos.entries_empty")}</p> }
                >
                    <ol class="combo-entries" data-testid="combo-entries">{entry_items}</ol>
                </Show>

                <div class="combo-add">
                    <select
                        data-testid="combo-entry-select"
                        aria-label=move || t("combos.pick_entry")
                        on:change=move |ev| {
                            let value = event_target_value(&ev);
                            if !value.is_empty() {
                                add(value);
                            }
                            if let Some(select) = ev
                                .target()
                                .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
                            {
                                select.set_value("");
                            }
                        }
                    >
                        <option value="" selected=true>{tr("combos.pick_entry")}</option>
                        {select_options}
                    </select>
                    <div class="combo-add-typed">
                        <input
                            type="text"
                            dir="ltr"
                            data-testid="combo-entry-input"
                            placeholder=move || t("combos.entry_placeholder")
                            prop:value=move || typed.get()
                            on:input=move |ev| {
                                typed.set(event_target_value(&ev));
                                entry_error.set(None);
                            }
                            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                if ev.key() == "Enter" {
                                    // Enter adds the entry instead of saving the form.
                                    ev.prevent_default();
                                    if add(typed.get_untracked()) {
                                        typed.set(String::new());
                                    }
                                }
                            }
                        />
                        <button
                            type="button"
                            class="btn"
                            data-testid="combo-entry-add"
                            on:click=move |_| {
                                if add(typed.get_untracked()) {
                                    typed.set(String::new());
                                }
                            }
                        >
                            {tr("combos.add_entry")}
                        </button>
                    </div>
                </div>
                {move || entry_error.get().map(|key| view! {
                    <p class="combo-entry-error small" data-testid="combo-entry-error" role="alert">{t(key)}</p>
                })}

                <div class="combo-enabled">
                    <Toggle
                        checked=Signal::derive(move || enabled.get())
                        on_change=move |on| enabled.set(on)
                        testid="combo-enabled"
                        label=t("combos.enabled")
                    />
                </div>
                {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
                <div class="row combo-form-actions">
                    <button type="button" class="btn" on:click=move |_| close()>{tr("common.cancel")}</button>
                    <button type="submit" class="btn btn-primary" data-testid="combo-save" disabled=move || busy.get()>
                        {tr("common.save")}
                    </button>
                </div>
            </form>
        </Modal>
    }
}
