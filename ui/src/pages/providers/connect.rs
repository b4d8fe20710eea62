//! The dialog that connects a provider account, or edits one: name, key, and the advanced routing fields.

use leptos::prelude::*;
use serde_json::Value;

use super::model::{
    ConnectForm, Connection, Provider, SignIn, TIERS, create_body, patch_body, sign_in_key,
    tier_key,
};
use crate::api::{self, ApiError};
use crate::components::{ErrorBox, Modal, notify_ok};
use crate::i18n::{t, t_with, tr};

/// What the dialog is for.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectTarget {
    /// A new account of this provider; the name is a suggestion.
    New { provider: Provider, name: String },
    /// An existing account (its provider, when the catalog still has it).
    Edit {
        connection: Box<Connection>,
        provider: Option<Provider>,
    },
}

/// A mistake caught before calling the gateway, shown like the gateway's own errors.
fn local_error(key: &str) -> ApiError {
    ApiError {
        status: 400,
        code: None,
        message: t(key),
    }
}

/// One text input bound to a signal.
fn text_input(
    value: RwSignal<String>,
    testid: &'static str,
    kind: &'static str,
    placeholder: String,
) -> impl IntoView {
    view! {
        <input
            type=kind
            dir="ltr"
            data-testid=testid
            placeholder=placeholder
            autocomplete="off"
            prop:value=move || value.get()
            on:input=move |ev| value.set(event_target_value(&ev))
        />
    }
}

#[component]
pub fn ConnectDialog(
    target: ConnectTarget,
    /// Called after a successful save.
    on_saved: impl Fn() + Clone + Send + Sync + 'static,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let (provider, original, initial) = match &target {
        ConnectTarget::New { provider, name } => (
            Some(provider.clone()),
            None,
            ConnectForm {
                name: name.clone(),
                ..ConnectForm::default()
            },
        ),
        ConnectTarget::Edit {
            connection,
            provider,
        } => (
            provider.clone(),
            Some(Connection::clone(connection)),
            ConnectForm::from_connection(connection),
        ),
    };
    let kind = provider.as_ref().map_or(SignIn::ApiKey, Provider::sign_in);
    // An OAuth account's secret is its token set, which a typed key would replace.
    let signed_in = original.as_ref().is_some_and(|c| c.oauth);
    let provider_id = provider
        .as_ref()
        .map(|p| p.id.clone())
        .or_else(|| original.as_ref().map(|c| c.provider.clone()))
        .unwrap_or_default();
    let provider_name = provider
        .as_ref()
        .map(|p| p.display_name().to_owned())
        .unwrap_or_else(|| provider_id.clone());
    let provider_tier = provider
        .as_ref()
        .map(|p| p.tier.clone())
        .unwrap_or_default();
    let default_url = provider
        .as_ref()
        .map(|p| p.base_url.clone())
        .unwrap_or_default();
    let env_hint = provider.as_ref().and_then(|p| p.api_key_env.clone());
    let key_preview = original.as_ref().and_then(|c| c.api_key_preview.clone());
    let editing = original.is_some();
    let advanced_open = editing
        && (!initial.base_url.is_empty()
            || !initial.tier.is_empty()
            || !initial.proxy.is_empty()
            || !initial.api_key_env.is_empty()
            || initial.priority != "1");

    let name = RwSignal::new(initial.name.clone());
    let api_key = RwSignal::new(String::new());
    let api_key_env = RwSignal::new(initial.api_key_env.clone());
    let base_url = RwSignal::new(initial.base_url.clone());
    let tier = RwSignal::new(initial.tier.clone());
    let proxy = RwSignal::new(initial.proxy.clone());
    let priority = RwSignal::new(if editing {
        initial.priority.clone()
    } else {
        String::new()
    });
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    // `autofocus` is ignored on elements added after the page loaded, and the
    // dialog's Escape key only works with the focus inside it.
    let name_ref = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = name_ref.get() {
            let _ = input.focus();
        }
    });

    let submit = {
        let on_saved = on_saved.clone();
        let original = original.clone();
        let provider_id = provider_id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let form = ConnectForm {
                name: name.get_untracked(),
                api_key: api_key.get_untracked(),
                api_key_env: api_key_env.get_untracked(),
                base_url: base_url.get_untracked(),
                tier: tier.get_untracked(),
                proxy: proxy.get_untracked(),
                priority: priority.get_untracked(),
            };
            let body = match &original {
                None => create_body(&provider_id, kind, &form),
                Some(c) => patch_body(c, &form),
            };
            let body = match body {
                Ok(body) => body,
                Err(key) => {
                    error.set(Some(local_error(key)));
                    return;
                }
            };
            let on_saved = on_saved.clone();
            let original = original.clone();
            busy.set(true);
            error.set(None);
            leptos::task::spawn_local(async move {
                let reply: Result<Value, ApiError> = match &original {
                    None => api::post("/api/connections", &body).await,
                    Some(c) if body.as_object().is_some_and(|o| o.is_empty()) => {
                        // Nothing changed: nothing to send.
                        Ok(serde_json::json!({ "id": c.id }))
                    }
                    Some(c) => api::patch(&format!("/api/connections/{}", c.id), &body).await,
                };
                busy.set(false);
                match reply {
                    Ok(_) => {
                        notify_ok(if original.is_some() {
                            "providers.saved_ok"
                        } else {
                            "providers.connected_ok"
                        });
                        on_saved();
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };

    let title = {
        let provider_name = provider_name.clone();
        let connection_name = initial.name.clone();
        Signal::derive(move || {
            if editing {
                t_with("providers.edit_title", &[("name", connection_name.clone())])
            } else {
                t_with(
                    "providers.connect_title",
                    &[("provider", provider_name.clone())],
                )
            }
        })
    };

    let about = provider.clone().map(|p| {
        let docs = p.docs_url.clone().map(|url| {
            view! {
                <a href=url target="_blank" rel="noopener noreferrer" data-testid="connect-docs">
                    {tr("providers.docs")}
                </a>
            }
        });
        view! {
            <div class="prov-connect-about row small">
                <span class="badge badge-muted mono">{p.format.clone()}</span>
                <span class=format!("badge {}", if kind == SignIn::OAuth { "badge-warn" } else { "badge-info" }) data-testid="connect-auth-kind">
                    {move || t(sign_in_key(kind))}
                </span>
                <span class="mono muted prov-ellipsis" dir="ltr">{p.base_url.clone()}</span>
                {docs}
            </div>
        }
    });

    let notice = match kind {
        SignIn::OAuth if signed_in => Some(view! {
            <p class="prov-note">{tr("providers.oauth_edit_hint")}</p>
        }.into_any()),
        SignIn::OAuth => Some(view! {
            <p class="prov-note prov-note-warn" data-testid="connect-oauth-token">{tr("providers.oauth_token_hint")}</p>
        }.into_any()),
        SignIn::NoKey => Some(view! {
            <p class="prov-note">{tr("providers.no_key_hint")}</p>
        }.into_any()),
        SignIn::ApiKey => None,
    };

    let key_label = match kind {
        SignIn::OAuth => "providers.token",
        SignIn::NoKey => "providers.api_key_optional",
        SignIn::ApiKey => "providers.api_key",
    };
    let key_placeholder = key_preview
        .clone()
        .map(|preview| t_with("providers.key_keep", &[("preview", preview)]))
        .unwrap_or_default();

    let tier_options = {
        let provider_tier = provider_tier.clone();
        move || {
            let default_label = if provider_tier.is_empty() {
                t("providers.tier_default_plain")
            } else {
                t_with(
                    "providers.tier_default",
                    &[("tier", t(tier_key(&provider_tier)))],
                )
            };
            let mut options =
                vec![view! {
                <option value="" selected=move || tier.get().is_empty()>{default_label}</option>
            }
            .into_any()];
            for value in TIERS {
                options.push(
                    view! {
                        <option value=value selected=move || tier.get() == value>{t(tier_key(value))}</option>
                    }
                    .into_any(),
                );
            }
            options
        }
    };

    let close = on_close.clone();
    view! {
        <Modal title=title on_close=on_close.clone()>
            <form
                class="prov-connect"
                data-testid="connect-form"
                data-provider=provider_id.clone()
                data-mode=if editing { "edit" } else { "new" }
                on:submit=submit
            >
                {about}
                {notice}
                <label class="field">
                    <span>{tr("providers.connection_name")}</span>
                    <input
                        type="text"
                        data-testid="connect-name"
                        node_ref=name_ref
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                {(!signed_in).then(|| view! {
                    <label class="field">
                        <span>{tr(key_label)}</span>
                        {text_input(api_key, "connect-api-key", "password", key_placeholder)}
                    </label>
                })}
                {(editing && !signed_in).then(|| view! { <p class="muted small prov-hint">{tr("providers.key_keep_hint")}</p> })}
                <details class="prov-advanced" open=advanced_open>
                    <summary data-testid="connect-advanced">{tr("providers.advanced")}</summary>
                    <div class="form-grid">
                        <label class="field">
                            <span>{tr("providers.base_url")}</span>
                            {text_input(base_url, "connect-base-url", "text", default_url)}
                        </label>
                        <label class="field">
                            <span>{tr("providers.tier")}</span>
                            <select data-testid="connect-tier" on:change=move |ev| tier.set(event_target_value(&ev))>
                                {tier_options}
                            </select>
                        </label>
                        <label class="field">
                            <span>{tr("providers.proxy")}</span>
                            {text_input(proxy, "connect-proxy", "text", "socks5://127.0.0.1:1080".to_owned())}
                        </label>
                        <label class="field">
                            <span>{tr("providers.priority")}</span>
                            <input
                                type="number"
                                step="1"
                                data-testid="connect-priority"
                                placeholder="1"
                                prop:value=move || priority.get()
                                on:input=move |ev| priority.set(event_target_value(&ev))
                            />
                        </label>
                        <label class="field">
                            <span>{tr("providers.api_key_env")}</span>
                            {text_input(api_key_env, "connect-api-key-env", "text", env_hint.unwrap_or_default())}
                        </label>
                    </div>
                    <p class="muted small prov-hint">{tr("providers.advanced_hint")}</p>
                </details>
                {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
                <div class="row prov-form-actions">
                    <button type="button" class="btn" on:click=move |_| close()>{tr("common.cancel")}</button>
                    <button type="submit" class="btn btn-primary" data-testid="connect-submit" disabled=move || busy.get()>
                        {if editing { tr("common.save") } else { tr("providers.connect") }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}
