//! The translate tab: a pasted body converted between wire formats by `POST /api/translate`.

use leptos::prelude::*;
use serde_json::{Value, json};

use super::samples::{Format, Kind, parse_body, pretty, sample};
use super::t_now_with;
use crate::api;
use crate::components::CopyButton;
use crate::i18n::{t, t_with, tr};

/// Whether `text` is one of the samples, untouched (so a format change may replace it).
fn is_untouched_sample(text: &str) -> bool {
    let text = text.trim();
    text.is_empty()
        || Format::ALL.into_iter().any(|f| {
            [Kind::Request, Kind::Response]
                .into_iter()
                .any(|k| sample(f, k) == text)
        })
}

/// The body of `POST /api/translate`.
fn translate_body(from: Format, to: Format, kind: Kind, body: Value, model: &str) -> Value {
    let mut asked =
        json!({"from": from.code(), "to": to.code(), "kind": kind.code(), "body": body});
    // Only a Gemini request leaves the model out of its body.
    if from == Format::Gemini && kind == Kind::Request && !model.trim().is_empty() {
        asked["model"] = json!(model.trim());
    }
    asked
}

/// A select over the four formats.
fn format_select(
    value: RwSignal<Format>,
    testid: &'static str,
    label: &'static str,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{tr(label)}</span>
            <select
                data-testid=testid
                on:change=move |ev| {
                    if let Some(format) = Format::from_code(&event_target_value(&ev)) {
                        value.set(format);
                    }
                }
            >
                {Format::ALL
                    .into_iter()
                    .map(|format| {
                        view! {
                            <option value=format.code() selected=move || value.get() == format>
                                {format.api_name()}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </label>
    }
}

#[component]
pub fn Playground() -> impl IntoView {
    let from = RwSignal::new(Format::Openai);
    let to = RwSignal::new(Format::Anthropic);
    let kind = RwSignal::new(Kind::Request);
    let input = RwSignal::new(sample(Format::Openai, Kind::Request));
    let model = RwSignal::new(String::new());
    let output = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);

    // A new source format or kind swaps in its sample, unless the user wrote their own body.
    Effect::new(move |previous: Option<(Format, Kind)>| {
        let current = (from.get(), kind.get());
        if previous.is_some_and(|p| p != current) && is_untouched_sample(&input.get_untracked()) {
            input.set(sample(current.0, current.1));
            output.set(None);
        }
        current
    });

    let run = move || {
        if busy.get_untracked() {
            return;
        }
        let body = match parse_body(&input.get_untracked()) {
            Ok(body) => body,
            Err((line, column)) => {
                output.set(Some(Err(t_now_with(
                    "translator.bad_json",
                    &[("line", line.to_string()), ("column", column.to_string())],
                ))));
                return;
            }
        };
        let asked = translate_body(
            from.get_untracked(),
            to.get_untracked(),
            kind.get_untracked(),
            body,
            &model.get_untracked(),
        );
        busy.set(true);
        leptos::task::spawn_local(async move {
            let reply = api::post::<_, Value>("/api/translate", &asked).await;
            output.set(Some(reply.map(|v| pretty(&v)).map_err(|e| e.message)));
            busy.set(false);
        });
    };

    let swap = move |_| {
        let (a, b) = (from.get_untracked(), to.get_untracked());
        // The translation becomes the next input, so a round trip is one click.
        if let Some(Ok(translated)) = output.get_untracked() {
            input.set(translated);
            output.set(None);
        }
        from.set(b);
        to.set(a);
    };

    let output_text = Signal::derive(move || match output.get() {
        Some(Ok(text)) => text,
        _ => String::new(),
    });

    view! {
        <div class="card translate-bar">
            <label class="field">
                <span>{tr("translator.kind")}</span>
                <select
                    data-testid="translate-kind"
                    on:change=move |ev| {
                        if let Some(k) = Kind::from_code(&event_target_value(&ev)) {
                            kind.set(k);
                        }
                    }
                >
                    <option value="request" selected=move || kind.get() == Kind::Request>{tr("translator.kind_request")}</option>
                    <option value="response" selected=move || kind.get() == Kind::Response>{tr("translator.kind_response")}</option>
                </select>
            </label>
            {format_select(from, "translate-from", "translator.from")}
            <button
                class="btn btn-ghost swap"
                data-testid="translate-swap"
                title=tr("translator.swap")
                aria-label=tr("translator.swap")
                on:click=swap
            >
                "⇄"
            </button>
            {format_select(to, "translate-to", "translator.to")}
            <Show when=move || from.get() == Format::Gemini && kind.get() == Kind::Request>
                <label class="field">
                    <span>{tr("translator.model")}</span>
                    <input
                        data-testid="translate-model"
                        placeholder="gemini-2.5-flash"
                        prop:value=move || model.get()
                        on:input=move |ev| model.set(event_target_value(&ev))
                    />
                </label>
            </Show>
            <div class="translate-run">
                <button
                    class="btn btn-primary"
                    data-testid="translate-run"
                    disabled=move || busy.get()
                    on:click=move |_| run()
                >
                    {move || if busy.get() { t("translator.translating") } else { t("translator.translate") }}
                </button>
            </div>
        </div>
        <div class="grid-2 translate-panes">
            <div class="card">
                <div class="pane-head">
                    <h2 class="card-title">{move || t_with("translator.input_title", &[("format", from.get().api_name().to_owned())])}</h2>
                    <button
                        class="btn btn-small"
                        data-testid="translate-sample"
                        on:click=move |_| {
                            input.set(sample(from.get_untracked(), kind.get_untracked()));
                            output.set(None);
                        }
                    >
                        {tr("translator.load_sample")}
                    </button>
                </div>
                <textarea
                    class="code-area"
                    data-testid="translate-input"
                    spellcheck="false"
                    aria-label=tr("translator.input")
                    prop:value=move || input.get()
                    on:input=move |ev| input.set(event_target_value(&ev))
                    on:keydown=move |ev| {
                        // Ctrl/Cmd+Enter translates without reaching for the mouse.
                        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                            ev.prevent_default();
                            run();
                        }
                    }
                ></textarea>
                <p class="muted small">{tr("translator.shortcut")}</p>
            </div>
            <div class="card">
                <div class="pane-head">
                    <h2 class="card-title">{move || t_with("translator.output_title", &[("format", to.get().api_name().to_owned())])}</h2>
                    <Show when=move || matches!(output.get(), Some(Ok(_)))>
                        <CopyButton text=output_text/>
                    </Show>
                </div>
                {move || match output.get() {
                    None => view! {
                        <div class="empty translate-empty" data-testid="translate-output">{tr("translator.output_empty")}</div>
                    }.into_any(),
                    Some(Ok(text)) => view! {
                        <pre class="code-out" data-testid="translate-output">{text}</pre>
                    }.into_any(),
                    Some(Err(message)) => view! {
                        <div class="error-box" role="alert" data-testid="translate-error">
                            <strong>{tr("translator.failed")}</strong>" "{message}
                        </div>
                    }.into_any(),
                }}
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_untouched_samples_are_replaced() {
        assert!(is_untouched_sample(&sample(Format::Gemini, Kind::Response)));
        assert!(is_untouched_sample("  "));
        assert!(!is_untouched_sample("{\"model\":\"mine\"}"));
    }

    #[test]
    fn the_model_is_sent_only_for_a_gemini_request() {
        let body = json!({"contents": []});
        let asked = translate_body(
            Format::Gemini,
            Format::Openai,
            Kind::Request,
            body.clone(),
            " gemini-2.5-pro ",
        );
        assert_eq!(
            asked,
            json!({"from": "gemini", "to": "openai", "kind": "request", "body": body, "model": "gemini-2.5-pro"})
        );
        let asked = translate_body(
            Format::Openai,
            Format::Gemini,
            Kind::Request,
            json!({}),
            "x",
        );
        assert!(asked.get("model").is_none());
        let asked = translate_body(
            Format::Gemini,
            Format::Openai,
            Kind::Response,
            json!({}),
            "x",
        );
        assert!(asked.get("model").is_none());
        let asked = translate_body(
            Format::Gemini,
            Format::Openai,
            Kind::Request,
            json!({}),
            "  ",
        );
        assert!(asked.get("model").is_none());
    }
}
