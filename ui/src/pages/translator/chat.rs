//! The chat tester: one real chat request through the gateway's data plane, with each step it went through.

use std::cell::RefCell;

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use wasm_bindgen::{JsCast, JsValue};

use super::samples::pretty;
use super::sse::{Delta, SseReader, TokenCounts, Utf8Carry, parse_chunk, parse_completion};
use super::t_now;
use crate::api;
use crate::browser;
use crate::components::Toggle;
use crate::format;
use crate::i18n::{t, t_with, tr};
use crate::records::{List, UsageRow};

/// A combo, as `/api/combos` lists it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ComboInfo {
    name: String,
    enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ModelInfo {
    id: String,
}

/// A provider, as `/api/providers` lists it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ProviderInfo {
    id: String,
    prefix: String,
    usable: bool,
    models: Vec<ModelInfo>,
}

/// Models to suggest: enabled combos first, then each usable provider's models.
fn model_suggestions(combos: &[ComboInfo], providers: &[ProviderInfo]) -> Vec<String> {
    let mut out: Vec<String> = combos
        .iter()
        .filter(|c| c.enabled && !c.name.is_empty())
        .map(|c| c.name.clone())
        .collect();
    for provider in providers.iter().filter(|p| p.usable) {
        let prefix = if provider.prefix.is_empty() {
            &provider.id
        } else {
            &provider.prefix
        };
        for model in &provider.models {
            let name = format!("{prefix}/{}", model.id);
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// The OpenAI chat body the tester sends.
fn chat_body(model: &str, message: &str, stream: bool) -> Value {
    let mut body = json!({
        "model": model.trim(),
        "messages": [{"role": "user", "content": message}],
        "stream": stream,
    });
    if stream {
        // Ask for the usage chunk so token counts show even before the log row.
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// Where the routing lookup stands.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Idle,
    Looking,
    Found(Box<UsageRow>),
    Missing,
}

/// How a step is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    Waiting,
    Current,
    Done,
    Failed,
}

impl StepState {
    fn class(self) -> &'static str {
        match self {
            StepState::Waiting => "step chat-step",
            StepState::Current => "step chat-step current",
            StepState::Done => "step chat-step done",
            StepState::Failed => "step chat-step failed",
        }
    }
}

/// Everything one run shows; signals are `Copy`, so handlers share it freely.
#[derive(Clone, Copy)]
struct RunState {
    body: RwSignal<Option<String>>,
    stream: RwSignal<bool>,
    started: RwSignal<Option<i64>>,
    first_token: RwSignal<Option<i64>>,
    finished: RwSignal<Option<i64>>,
    answer: RwSignal<String>,
    reasoning: RwSignal<String>,
    finish_reason: RwSignal<Option<String>>,
    tokens: RwSignal<Option<TokenCounts>>,
    error: RwSignal<Option<String>>,
    route: RwSignal<Route>,
    running: RwSignal<bool>,
    stopped: RwSignal<bool>,
}

impl RunState {
    fn new() -> RunState {
        RunState {
            body: RwSignal::new(None),
            stream: RwSignal::new(true),
            started: RwSignal::new(None),
            first_token: RwSignal::new(None),
            finished: RwSignal::new(None),
            answer: RwSignal::new(String::new()),
            reasoning: RwSignal::new(String::new()),
            finish_reason: RwSignal::new(None),
            tokens: RwSignal::new(None),
            error: RwSignal::new(None),
            route: RwSignal::new(Route::Idle),
            running: RwSignal::new(false),
            stopped: RwSignal::new(false),
        }
    }

    fn reset(self, body: String, stream: bool) {
        self.body.set(Some(body));
        self.stream.set(stream);
        self.started.set(None);
        self.first_token.set(None);
        self.finished.set(None);
        self.answer.set(String::new());
        self.reasoning.set(String::new());
        self.finish_reason.set(None);
        self.tokens.set(None);
        self.error.set(None);
        self.route.set(Route::Idle);
        self.running.set(true);
        self.stopped.set(false);
    }

    /// Adds one chunk's (or the whole answer's) text, counts and error.
    fn apply(self, delta: Delta) {
        if delta.has_text() && self.first_token.get_untracked().is_none() {
            self.first_token.set(Some(browser::now_ms()));
        }
        if !delta.content.is_empty() {
            self.answer.update(|a| a.push_str(&delta.content));
        }
        if !delta.reasoning.is_empty() {
            self.reasoning.update(|r| r.push_str(&delta.reasoning));
        }
        if delta.finish_reason.is_some() {
            self.finish_reason.set(delta.finish_reason);
        }
        if delta.usage.is_some() {
            self.tokens.set(delta.usage);
        }
        if let Some(error) = delta.error {
            self.error.set(Some(error));
        }
    }
}

thread_local! {
    /// The body reader of the stream being read, so Stop can cancel a silent stream at once.
    static ACTIVE_READER: RefCell<Option<web_sys::ReadableStreamDefaultReader>> = const { RefCell::new(None) };
}

fn cancel_active_reader() {
    if let Some(reader) = ACTIVE_READER.with(|r| r.borrow_mut().take()) {
        let _ = reader.cancel();
    }
}

/// A JS exception as text.
fn js_text(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

/// Reads a streamed reply chunk by chunk, showing text as it arrives.
async fn read_stream(response: gloo_net::http::Response, run: RunState) -> Result<(), String> {
    let Some(body) = response.body() else {
        return Err(t_now("translator.chat_no_body"));
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    ACTIVE_READER.with(|r| *r.borrow_mut() = Some(reader.clone()));
    let mut utf8 = Utf8Carry::default();
    let mut sse = SseReader::default();
    let outcome = loop {
        let chunk = match wasm_bindgen_futures::JsFuture::from(reader.read()).await {
            Ok(chunk) => chunk,
            Err(e) if run.stopped.get_untracked() => {
                let _ = e;
                break Ok(());
            }
            Err(e) => break Err(js_text(&e)),
        };
        let done = js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            break Ok(());
        }
        let Ok(value) = js_sys::Reflect::get(&chunk, &JsValue::from_str("value")) else {
            break Ok(());
        };
        let text = utf8.push(&js_sys::Uint8Array::new(&value).to_vec());
        for data in sse.push(&text) {
            run.apply(parse_chunk(&data));
        }
    };
    ACTIVE_READER.with(|r| r.borrow_mut().take());
    let tail = utf8.finish();
    let mut events = sse.push(&tail);
    events.extend(sse.finish());
    for data in events {
        run.apply(parse_chunk(&data));
    }
    outcome
}

/// The id of the newest usage row of `model`, to tell this request's row from older ones.
async fn newest_usage_id(model: &str) -> Option<i64> {
    let path = api::with_query(
        "/api/usage",
        &[("limit", "1".into()), ("model", model.to_owned())],
    );
    api::get::<List<UsageRow>>(&path)
        .await
        .ok()
        .and_then(|list| list.data.first().map(|r| r.id))
}

/// Waits for the usage row of this request (the log writer commits in batches).
async fn find_usage_row(model: &str, after_id: Option<i64>) -> Option<UsageRow> {
    let path = api::with_query(
        "/api/usage",
        &[("limit", "1".into()), ("model", model.to_owned())],
    );
    for _ in 0..20 {
        if let Ok(list) = api::get::<List<UsageRow>>(&path).await
            && let Some(row) = list.data.into_iter().next()
            && after_id.is_none_or(|before| row.id > before)
        {
            return Some(row);
        }
        gloo_timers::future::TimeoutFuture::new(250).await;
    }
    None
}

/// Sends the request and follows it to the end.
async fn run_chat(model: String, message: String, stream: bool, run: RunState) {
    let body = chat_body(&model, &message, stream);
    run.reset(pretty(&body), stream);
    let model = model.trim().to_owned();
    let before = newest_usage_id(&model).await;
    run.started.set(Some(browser::now_ms()));
    let reply = api::send_raw(
        "POST",
        "/api/playground/chat",
        "application/json",
        Some(JsValue::from_str(&body.to_string())),
    )
    .await;
    match reply {
        Err(e) => run.error.set(Some(e.message)),
        Ok(response) => {
            let is_sse = response
                .headers()
                .get("content-type")
                .is_some_and(|c| c.contains("text/event-stream"));
            if is_sse {
                if let Err(e) = read_stream(response, run).await {
                    run.error.set(Some(e));
                }
            } else {
                match response.text().await {
                    Ok(text) => match serde_json::from_str::<Value>(&text) {
                        Ok(value) => run.apply(parse_completion(&value)),
                        Err(_) => run.error.set(Some(t_now("translator.chat_unreadable"))),
                    },
                    Err(e) => run.error.set(Some(e.to_string())),
                }
            }
        }
    }
    run.finished.set(Some(browser::now_ms()));
    run.running.set(false);
    run.route.set(Route::Looking);
    let row = find_usage_row(&model, before).await;
    run.route.set(match row {
        Some(row) => {
            if run.tokens.get_untracked().is_none() {
                run.tokens.set(Some(TokenCounts {
                    input: row.input_tokens,
                    output: row.output_tokens,
                }));
            }
            Route::Found(Box::new(row))
        }
        None => Route::Missing,
    });
}

/// `2026-11-28 19:50:52` -> `19:50:52`: the date of a request just sent is today.
fn time_of_day(datetime: &str) -> String {
    datetime
        .split_once(' ')
        .map_or(datetime, |(_, time)| time)
        .to_owned()
}

/// Milliseconds between two optional instants.
fn elapsed(from: Option<i64>, to: Option<i64>) -> Option<u64> {
    match (from, to) {
        (Some(a), Some(b)) if b >= a => Some((b - a) as u64),
        _ => None,
    }
}

/// One labelled value inside a step.
fn fact(label: &'static str, value: String) -> impl IntoView {
    let title = value.clone();
    view! {
        <div class="fact">
            <span class="muted">{tr(label)}</span>
            <span class="mono" title=title>{value}</span>
        </div>
    }
}

/// The routing details of the usage row.
fn route_view(row: &UsageRow) -> AnyView {
    let hops = row.hops.clone();
    let provider = row.provider.clone().unwrap_or_else(|| "—".into());
    let upstream = row.upstream_model.clone().unwrap_or_else(|| "—".into());
    let served = row.served_from.clone();
    let tier = row.tier.clone();
    // A refused request (unknown model, no account) has no hops but its own reason.
    let refusal = (row.status >= 400 && hops.is_empty())
        .then(|| row.error.clone())
        .flatten();
    view! {
        {fact("translator.chat_provider", provider)}
        {fact("translator.chat_upstream_model", upstream)}
        {tier.map(|tier| fact("translator.chat_tier", tier))}
        {served.map(|from| fact("translator.chat_served_from", from))}
        {if let Some(reason) = refusal {
            view! { <div class="small route-error" dir="auto">{reason}</div> }.into_any()
        } else if hops.is_empty() {
            view! { <div class="small muted">{tr("translator.chat_no_fallback")}</div> }.into_any()
        } else {
            view! {
                <div class="small">{t_with("translator.chat_fallbacks", &[("count", hops.len().to_string())])}</div>
                <ol class="hops" data-testid="chat-hops">
                    {hops
                        .into_iter()
                        .map(|hop| {
                            let status = hop.status.map(|s| s.to_string()).unwrap_or_else(|| "—".into());
                            view! {
                                <li>
                                    <span class="mono">{format!("{}/{}", hop.provider, hop.model)}</span>
                                    " "<span class="badge badge-bad">{status}</span>
                                    <div class="muted small">{hop.error}</div>
                                </li>
                            }
                        })
                        .collect_view()}
                </ol>
            }.into_any()
        }}
    }
    .into_any()
}

#[component]
pub fn ChatTester() -> impl IntoView {
    let model = RwSignal::new(String::new());
    let message = RwSignal::new(String::new());
    let stream = RwSignal::new(true);
    let run = RunState::new();

    let suggestions = LocalResource::new(|| async {
        let combos = api::get::<List<ComboInfo>>("/api/combos").await;
        let providers = api::get::<List<ProviderInfo>>("/api/providers").await;
        // Suggestions help; failing to load them must not block typing a model.
        model_suggestions(
            &combos.map(|c| c.data).unwrap_or_default(),
            &providers.map(|p| p.data).unwrap_or_default(),
        )
    });
    Effect::new(move |_| {
        if let Some(list) = suggestions.get()
            && model.get_untracked().is_empty()
            && let Some(first) = list.first()
        {
            model.set(first.clone());
        }
    });

    let can_send = move || {
        !run.running.get() && !model.get().trim().is_empty() && !message.get().trim().is_empty()
    };
    let send = move || {
        if !can_send() {
            return;
        }
        leptos::task::spawn_local(run_chat(
            model.get_untracked(),
            message.get_untracked(),
            stream.get_untracked(),
            run,
        ));
    };
    let stop = move |_| {
        run.stopped.set(true);
        cancel_active_reader();
    };

    // Step states follow the run: sent -> routed -> first token -> done.
    let sent_state = move || match run.started.get() {
        Some(_) => StepState::Done,
        None if run.running.get() => StepState::Current,
        None if run.error.get().is_some() => StepState::Failed,
        None => StepState::Waiting,
    };
    let routed_state = move || match run.route.get() {
        Route::Found(row) if row.status >= 400 => StepState::Failed,
        Route::Found(_) => StepState::Done,
        Route::Missing if run.error.get().is_some() => StepState::Failed,
        Route::Missing => StepState::Waiting,
        Route::Looking => StepState::Current,
        Route::Idle if run.started.get().is_some() => StepState::Current,
        Route::Idle => StepState::Waiting,
    };
    let first_state = move || {
        if run.first_token.get().is_some() {
            StepState::Done
        } else if run.finished.get().is_some() {
            if run.error.get().is_some() {
                StepState::Failed
            } else {
                StepState::Waiting
            }
        } else if run.started.get().is_some() {
            StepState::Current
        } else {
            StepState::Waiting
        }
    };
    let done_state = move || {
        if run.finished.get().is_some() {
            if run.error.get().is_some() {
                StepState::Failed
            } else {
                StepState::Done
            }
        } else if run.first_token.get().is_some() {
            StepState::Current
        } else {
            StepState::Waiting
        }
    };

    view! {
        <div class="chat-layout">
            <div class="card chat-form">
                <h2 class="card-title">{tr("translator.chat_request")}</h2>
                <label class="field">
                    <span>{tr("translator.chat_model")}</span>
                    <input
                        data-testid="chat-model"
                        list="chat-model-suggestions"
                        autocomplete="off"
                        placeholder=tr("translator.chat_model_placeholder")
                        prop:value=move || model.get()
                        on:input=move |ev| model.set(event_target_value(&ev))
                    />
                    <datalist id="chat-model-suggestions">
                        {move || {
                            suggestions
                                .get()
                                .unwrap_or_default()
                                .into_iter()
                                .map(|m| view! { <option value=m.clone()></option> })
                                .collect_view()
                        }}
                    </datalist>
                </label>
                <label class="field">
                    <span>{tr("translator.chat_message")}</span>
                    <textarea
                        class="chat-input"
                        data-testid="chat-message"
                        placeholder=tr("translator.chat_message_placeholder")
                        prop:value=move || message.get()
                        on:input=move |ev| message.set(event_target_value(&ev))
                        on:keydown=move |ev| {
                            if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                                ev.prevent_default();
                                send();
                            }
                        }
                    ></textarea>
                </label>
                <div class="row chat-actions">
                    // Rebuilt when the language changes: the toggle's label is plain text.
                    {move || view! {
                        <Toggle
                            checked=stream
                            on_change=move |on| stream.set(on)
                            label=t("translator.chat_stream")
                            testid="chat-stream"
                        />
                    }}
                    <div class="spacer"></div>
                    <Show when=move || run.running.get()>
                        <button class="btn" data-testid="chat-stop" on:click=stop>{tr("translator.chat_stop")}</button>
                    </Show>
                    <button
                        class="btn btn-primary"
                        data-testid="chat-send"
                        disabled=move || !can_send()
                        on:click=move |_| send()
                    >
                        {move || if run.running.get() { t("translator.chat_sending") } else { t("translator.chat_send") }}
                    </button>
                </div>
                <p class="muted small">{tr("translator.chat_hint")}</p>
            </div>
            <div class="chat-result">
                <ol class="steps chat-steps" data-testid="chat-steps">
                    <li class=move || sent_state().class() data-testid="chat-step" data-step="sent">
                        <div class="step-title"><span class="step-num">"1"</span>{tr("translator.step_sent")}</div>
                        {move || run.body.get().map(|body| view! {
                            {fact("translator.chat_mode", if run.stream.get() { t("translator.chat_streamed") } else { t("translator.chat_whole") })}
                            {run.started.get().map(|ts| fact("translator.chat_at", time_of_day(&browser::local_datetime(ts))))}
                            <details class="step-body">
                                <summary>{tr("translator.chat_body")}</summary>
                                <pre>{body}</pre>
                            </details>
                        })}
                    </li>
                    <li class=move || routed_state().class() data-testid="chat-step" data-step="routed">
                        <div class="step-title"><span class="step-num">"2"</span>{tr("translator.step_routed")}</div>
                        {move || match run.route.get() {
                            Route::Found(row) => route_view(&row),
                            Route::Looking => view! { <div class="small muted">{tr("translator.chat_looking")}</div> }.into_any(),
                            Route::Missing => view! { <div class="small muted">{tr("translator.chat_not_logged")}</div> }.into_any(),
                            Route::Idle if run.running.get() => view! { <div class="small muted">{tr("translator.chat_routing")}</div> }.into_any(),
                            Route::Idle => ().into_any(),
                        }}
                    </li>
                    <li class=move || first_state().class() data-testid="chat-step" data-step="first-token">
                        <div class="step-title"><span class="step-num">"3"</span>{tr("translator.step_first_token")}</div>
                        {move || elapsed(run.started.get(), run.first_token.get()).map(|ms| fact("translator.chat_seen_after", format::millis(ms)))}
                        {move || match run.route.get() {
                            Route::Found(row) => row.ttft_ms.map(|ms| fact("translator.chat_ttft", format::millis(ms))),
                            _ => None,
                        }}
                    </li>
                    <li class=move || done_state().class() data-testid="chat-step" data-step="done">
                        <div class="step-title"><span class="step-num">"4"</span>{tr("translator.step_done")}</div>
                        {move || elapsed(run.started.get(), run.finished.get()).map(|ms| fact("translator.chat_total", format::millis(ms)))}
                        {move || match run.route.get() {
                            Route::Found(row) => Some(view! {
                                {fact("translator.chat_latency", format::millis(row.latency_ms))}
                                {fact("translator.chat_status", row.status.to_string())}
                                {fact("translator.chat_cost", format::usd(row.cost))}
                            }),
                            _ => None,
                        }}
                        {move || run.tokens.get().map(|tokens| fact(
                            "translator.chat_tokens",
                            t_with("translator.chat_tokens_value", &[
                                ("input", format::group_thousands(tokens.input)),
                                ("output", format::group_thousands(tokens.output)),
                            ]),
                        ))}
                        {move || run.finish_reason.get().map(|reason| fact("translator.chat_finish", reason))}
                    </li>
                </ol>
                <div class="card">
                    <h2 class="card-title">{tr("translator.chat_answer")}</h2>
                    {move || run.error.get().map(|e| view! {
                        <div class="error-box" role="alert" data-testid="chat-error">
                            <strong>{tr("translator.chat_failed")}</strong>" "{e}
                        </div>
                    })}
                    <Show when=move || !run.reasoning.get().is_empty()>
                        <details class="chat-reasoning" data-testid="chat-reasoning">
                            <summary>{tr("translator.chat_reasoning")}</summary>
                            <div class="chat-text">{move || run.reasoning.get()}</div>
                        </details>
                    </Show>
                    <Show when=move || run.body.get().is_none()>
                        <p class="muted">{tr("translator.chat_empty")}</p>
                    </Show>
                    <div class="chat-text chat-answer" data-testid="chat-answer" aria-live="polite">
                        {move || run.answer.get()}
                        <Show when=move || run.running.get()>
                            <span class="caret" aria-hidden="true"></span>
                        </Show>
                    </div>
                </div>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_list_enabled_combos_then_usable_models() {
        let combos = vec![
            ComboInfo {
                name: "fast".into(),
                enabled: true,
            },
            ComboInfo {
                name: "off".into(),
                enabled: false,
            },
        ];
        let providers = vec![
            ProviderInfo {
                id: "openai".into(),
                prefix: "oai".into(),
                usable: true,
                models: vec![
                    ModelInfo {
                        id: "gpt-4.1".into(),
                    },
                    ModelInfo {
                        id: "gpt-4.1".into(),
                    },
                ],
            },
            ProviderInfo {
                id: "mock".into(),
                prefix: String::new(),
                usable: true,
                models: vec![ModelInfo { id: "m1".into() }],
            },
            ProviderInfo {
                id: "anthropic".into(),
                prefix: "claude".into(),
                usable: false,
                models: vec![ModelInfo {
                    id: "sonnet".into(),
                }],
            },
        ];
        assert_eq!(
            model_suggestions(&combos, &providers),
            ["fast", "oai/gpt-4.1", "mock/m1"]
        );
    }

    #[test]
    fn the_chat_body_asks_for_stream_usage_only_when_streaming() {
        let body = chat_body(" mock/m1 ", "Hi", true);
        assert_eq!(body["model"], "mock/m1");
        assert_eq!(
            body["messages"][0],
            json!({"role": "user", "content": "Hi"})
        );
        assert_eq!(body["stream_options"]["include_usage"], true);
        let body = chat_body("m", "Hi", false);
        assert_eq!(body["stream"], false);
        assert!(body.get("stream_options").is_none());
    }

    #[test]
    fn usage_rows_read_with_missing_fields() {
        let row: UsageRow = serde_json::from_value(json!({
            "id": 7, "provider": "mock", "upstream_model": "m1", "latency_ms": 12,
            "status": 200, "hops": [{"provider": "a", "model": "x", "status": 503, "error": "down", "connection_id": 1}],
            "new_field": true
        }))
        .unwrap_or_default();
        assert_eq!(row.id, 7);
        assert_eq!(row.hops.len(), 1);
        assert_eq!(row.hops[0].status, Some(503));
        assert_eq!(row.ttft_ms, None);
    }

    #[test]
    fn the_time_of_day_drops_the_date() {
        assert_eq!(time_of_day("2026-11-28 19:50:52"), "19:50:52");
        assert_eq!(time_of_day("19:50:52"), "19:50:52");
    }

    #[test]
    fn elapsed_needs_both_ends_in_order() {
        assert_eq!(elapsed(Some(100), Some(350)), Some(250));
        assert_eq!(elapsed(None, Some(350)), None);
        assert_eq!(elapsed(Some(400), Some(350)), None);
    }
}
