//! The CLI tools page: the coding tools found on this machine, whether each points at this gateway, and how to point it here by hand.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::api;
use crate::components::{Badge, CopyButton, Empty, Page};
use crate::i18n::{t, t_with, tr};

/// One tool, as `GET /api/cli-tools` reports it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CliTool {
    pub id: String,
    pub name: String,
    pub installed: bool,
    pub path: Option<String>,
    pub version: Option<String>,
    pub config_path: Option<String>,
    pub configured: bool,
    /// OmniRoute can write this tool's config (`/api/cli-tools/{id}/apply`).
    pub can_setup: bool,
    /// OmniRoute changed its files and can put them back.
    pub restorable: bool,
    pub docs: Option<String>,
}

/// One file of a preview.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct PreviewFile {
    diff: String,
}

/// `POST /api/cli-tools/{id}/preview`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct PreviewReply {
    files: Vec<PreviewFile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct CreatedKey {
    name: String,
}

/// `POST /api/cli-tools/{id}/apply`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ApplyReply {
    files: Vec<serde_json::Value>,
    created_key: Option<CreatedKey>,
    next_step: Option<String>,
}

/// What the setup panel shows after an action.
#[derive(Debug, Clone, PartialEq)]
enum SetupOutcome {
    /// The diffs a preview returned (empty: nothing would change).
    Diff(String),
    /// A sentence saying what was done.
    Done(String),
    Failed(String),
}

/// The one-click setup of a tool: preview the change as a diff, apply it
/// (with a new gateway key made for the tool when no key is given), or put
/// the tool's files back.
#[component]
fn SetupPanel(
    id: String,
    model: String,
    restorable: bool,
    on_change: Callback<()>,
) -> impl IntoView {
    let model = RwSignal::new(model);
    let key = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<SetupOutcome>);
    let busy = RwSignal::new(false);
    let body = move || {
        let key = key.get_untracked();
        let key = key.trim();
        json!({
            "model": model.get_untracked().trim(),
            "key": (!key.is_empty()).then(|| key.to_owned()),
        })
    };
    let path = move |action: &str| format!("/api/cli-tools/{id}/{action}");
    let preview_path = path("preview");
    let apply_path = path("apply");
    let restore_path = path("restore");
    let preview = move |_| {
        let url = preview_path.clone();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let reply: Result<PreviewReply, api::ApiError> = api::post(&url, &body()).await;
            busy.set(false);
            outcome.set(Some(match reply {
                Ok(reply) => {
                    SetupOutcome::Diff(reply.files.into_iter().map(|f| f.diff).collect::<String>())
                }
                Err(e) => SetupOutcome::Failed(e.message),
            }));
        });
    };
    let apply = move |_| {
        let url = apply_path.clone();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let reply: Result<ApplyReply, api::ApiError> = api::post(&url, &body()).await;
            busy.set(false);
            outcome.set(Some(match reply {
                Ok(reply) => {
                    let mut text =
                        t_with("tools.applied", &[("count", reply.files.len().to_string())]);
                    if let Some(created) = reply.created_key {
                        text.push(' ');
                        text.push_str(&t_with(
                            "tools.key_created",
                            &[("name", isolate(&created.name))],
                        ));
                    }
                    if let Some(step) = reply.next_step {
                        text.push(' ');
                        text.push_str(&step);
                    }
                    on_change.run(());
                    SetupOutcome::Done(text)
                }
                Err(e) => SetupOutcome::Failed(e.message),
            }));
        });
    };
    let restore = move |_| {
        let url = restore_path.clone();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let reply: Result<serde_json::Value, api::ApiError> = api::post(&url, &json!({})).await;
            busy.set(false);
            outcome.set(Some(match reply {
                Ok(_) => {
                    on_change.run(());
                    SetupOutcome::Done(t("tools.restored"))
                }
                Err(e) => SetupOutcome::Failed(e.message),
            }));
        });
    };
    view! {
        <div class="tool-setup" data-testid="tool-setup">
            <h3>{tr("tools.setup_title")}</h3>
            <div class="row">
                <label class="field">
                    <span class="muted small">{tr("tools.setup_model")}</span>
                    <input
                        class="input mono"
                        data-testid="setup-model"
                        prop:value=move || model.get()
                        on:input=move |ev| model.set(event_target_value(&ev))
                    />
                </label>
                <label class="field">
                    <span class="muted small">{tr("tools.setup_key")}</span>
                    <input
                        class="input mono"
                        type="password"
                        autocomplete="off"
                        data-testid="setup-key"
                        prop:placeholder=move || t("tools.setup_key_placeholder")
                        on:input=move |ev| key.set(event_target_value(&ev))
                    />
                </label>
            </div>
            <div class="row">
                <button class="btn" data-testid="setup-preview" disabled=move || busy.get() on:click=preview>
                    {tr("tools.preview")}
                </button>
                <button class="btn btn-primary" data-testid="setup-apply" disabled=move || busy.get() on:click=apply>
                    {tr("tools.apply")}
                </button>
                <button
                    class="btn"
                    data-testid="setup-restore"
                    disabled=move || busy.get() || !restorable
                    on:click=restore
                >
                    {tr("tools.restore")}
                </button>
            </div>
            {move || outcome.get().map(|o| match o {
                SetupOutcome::Diff(diff) if diff.is_empty() => view! {
                    <p class="small" data-testid="setup-result">{t("tools.no_change")}</p>
                }.into_any(),
                SetupOutcome::Diff(diff) => view! {
                    <pre class="setup-diff" data-testid="setup-diff" dir="ltr">{diff}</pre>
                }.into_any(),
                SetupOutcome::Done(text) => view! {
                    <p class="small setup-done" data-testid="setup-result" dir="auto">{text}</p>
                }.into_any(),
                SetupOutcome::Failed(text) => view! {
                    <p class="error-box small" role="alert" data-testid="setup-error" dir="auto">{text}</p>
                }.into_any(),
            })}
        </div>
    }
}

/// The list, bare or wrapped in `{"data": …}` like the other list endpoints.
#[derive(Deserialize)]
#[serde(untagged)]
enum ToolList {
    Bare(Vec<CliTool>),
    Wrapped { data: Vec<CliTool> },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ComboInfo {
    name: String,
    enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ComboList {
    data: Vec<ComboInfo>,
}

/// Which API a tool speaks to the gateway, which decides its base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// OpenAI Chat Completions or Responses: the base URL ends in `/v1`.
    OpenAi,
    /// Anthropic Messages: the tool adds `/v1/messages` itself.
    Anthropic,
    /// Gemini: the tool adds `/v1beta/models/…` itself.
    Gemini,
}

/// How to point one tool at the gateway by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Guide {
    pub style: Style,
    pub base_url: String,
    /// The file the snippet goes in, when the tool reads one (else the snippet is shell exports).
    pub file: Option<&'static str>,
    /// Config to paste; `None` for tools configured in their own settings screen.
    pub snippet: Option<String>,
}

/// The placeholder for a gateway API key in snippets.
pub const KEY_PLACEHOLDER: &str = "<OMNIROUTE_API_KEY>";

/// `origin` with `localhost` spelled as `127.0.0.1` (some tools resolve localhost to IPv6 first).
fn loopback_ip(origin: &str) -> String {
    match origin.split_once("://localhost") {
        Some((scheme, rest)) => format!("{scheme}://127.0.0.1{rest}"),
        None => origin.to_owned(),
    }
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// The manual setup of tool `id` for a gateway at `origin` (`http://host:port`), using `model`.
pub fn guide(id: &str, origin: &str, model: &str) -> Guide {
    let origin = origin.trim_end_matches('/');
    let v1 = format!("{origin}/v1");
    let id = id.to_ascii_lowercase();
    let key = KEY_PLACEHOLDER;
    let has = |needle: &str| id.contains(needle);
    if has("claude") {
        let snippet = json!({"env": {
            "ANTHROPIC_BASE_URL": origin,
            "ANTHROPIC_AUTH_TOKEN": key,
            "ANTHROPIC_MODEL": model,
        }});
        return Guide {
            style: Style::Anthropic,
            base_url: origin.to_owned(),
            file: Some("~/.claude/settings.json"),
            snippet: Some(pretty(&snippet)),
        };
    }
    if has("gemini") {
        return Guide {
            style: Style::Gemini,
            base_url: origin.to_owned(),
            file: Some("~/.gemini/.env"),
            snippet: Some(format!(
                "GEMINI_API_KEY={key}\nGOOGLE_GEMINI_BASE_URL={origin}\nGEMINI_MODEL={model}\n"
            )),
        };
    }
    if has("codex") {
        return Guide {
            style: Style::OpenAi,
            base_url: v1.clone(),
            file: Some("~/.codex/config.toml"),
            snippet: Some(format!(
                "model = \"{model}\"\nmodel_provider = \"omniroute\"\n\n[model_providers.omniroute]\nname = \"OmniRoute\"\nbase_url = \"{v1}\"\nwire_api = \"responses\"\nenv_key = \"OMNIROUTE_API_KEY\"\n\n# export OMNIROUTE_API_KEY={key}\n"
            )),
        };
    }
    if has("openclaw") {
        let v1 = format!("{}/v1", loopback_ip(origin));
        let snippet = json!({"models": {"providers": {"omniroute": {
            "baseUrl": v1,
            "apiKey": key,
            "api": "openai-completions",
            "models": [{"id": model, "name": model}],
        }}}});
        return Guide {
            style: Style::OpenAi,
            base_url: v1,
            file: Some("~/.openclaw/openclaw.json"),
            snippet: Some(pretty(&snippet)),
        };
    }
    if has("opencode") {
        let snippet = json!({
            "$schema": "https://opencode.ai/config.json",
            "provider": {"omniroute": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "OmniRoute",
                "options": {"baseURL": v1, "apiKey": key},
                "models": {model: {}},
            }},
        });
        return Guide {
            style: Style::OpenAi,
            base_url: v1,
            file: Some("~/.config/opencode/opencode.json"),
            snippet: Some(pretty(&snippet)),
        };
    }
    if has("continue") {
        let snippet = json!({"models": [{
            "title": "OmniRoute",
            "provider": "openai",
            "model": model,
            "apiBase": v1,
            "apiKey": key,
        }]});
        return Guide {
            style: Style::OpenAi,
            base_url: v1,
            file: Some("~/.continue/config.json"),
            snippet: Some(pretty(&snippet)),
        };
    }
    if has("droid") || has("factory") {
        let snippet = json!({"customModels": [{
            "model": model,
            "displayName": format!("OmniRoute: {model}"),
            "baseUrl": v1,
            "apiKey": key,
            "provider": "generic-chat-completion-api",
        }]});
        return Guide {
            style: Style::OpenAi,
            base_url: v1,
            file: Some("~/.factory/settings.json"),
            snippet: Some(pretty(&snippet)),
        };
    }
    if has("qwen") {
        return Guide {
            style: Style::OpenAi,
            base_url: v1.clone(),
            file: None,
            snippet: Some(format!(
                "export OPENAI_BASE_URL={v1}\nexport OPENAI_API_KEY={key}\nexport OPENAI_MODEL={model}\n"
            )),
        };
    }
    // Cline, Kilo Code, Roo Code, Cursor and anything new: an OpenAI-compatible
    // provider entered in the tool's own settings screen.
    Guide {
        style: Style::OpenAi,
        base_url: v1,
        file: None,
        snippet: None,
    }
}

/// `text` as a bidi-isolated run, so a path or URL keeps its order inside a right-to-left sentence.
pub fn isolate(text: &str) -> String {
    format!("\u{2068}{text}\u{2069}")
}

/// The address the dashboard was opened at, which is the gateway's.
fn origin() -> String {
    let found = if cfg!(target_arch = "wasm32") {
        web_sys::window().and_then(|w| w.location().origin().ok())
    } else {
        None
    };
    found.unwrap_or_else(|| "http://127.0.0.1:20128".to_owned())
}

/// Installed tools first, then by name.
fn sorted(mut tools: Vec<CliTool>) -> Vec<CliTool> {
    tools.sort_by(|a, b| {
        b.installed
            .cmp(&a.installed)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    tools
}

fn tool_card(tool: CliTool, model: String, on_change: Callback<()>) -> impl IntoView {
    let guide = guide(&tool.id, &origin(), &model);
    let file = tool
        .config_path
        .clone()
        .or_else(|| guide.file.map(str::to_owned));
    let style_key = match guide.style {
        Style::OpenAi => "tools.style_openai",
        Style::Anthropic => "tools.style_anthropic",
        Style::Gemini => "tools.style_gemini",
    };
    let installed_text = match (&tool.installed, &tool.version) {
        (true, Some(version)) => t_with("tools.installed_version", &[("version", version.clone())]),
        (true, None) => t("tools.installed"),
        (false, _) => t("tools.not_installed"),
    };
    let (configured_tone, configured_key) = if tool.configured {
        ("ok", "tools.configured")
    } else {
        ("warn", "tools.not_configured")
    };
    let name = if tool.name.is_empty() {
        tool.id.clone()
    } else {
        tool.name.clone()
    };
    let steps = match (&guide.snippet, guide.file) {
        (None, _) => t_with("tools.steps_settings", &[("name", isolate(&name))]),
        (Some(_), Some(_)) => t_with(
            "tools.steps_file",
            &[("file", isolate(&file.clone().unwrap_or_default()))],
        ),
        (Some(_), None) => t("tools.steps_shell"),
    };
    let base_url = guide.base_url.clone();
    let snippet = guide.snippet.clone();
    view! {
        <article
            class=if tool.installed { "card tool-card" } else { "card tool-card missing" }
            data-testid="tool-card"
            data-id=tool.id.clone()
            data-installed=tool.installed.to_string()
            data-configured=tool.configured.to_string()
        >
            <header class="tool-head">
                <div>
                    <h2 class="card-title">{name}</h2>
                    <span class="muted small mono">{tool.id.clone()}</span>
                </div>
                <div class="tool-badges">
                    <span
                        class=if tool.installed { "badge badge-ok" } else { "badge badge-muted" }
                        data-testid="tool-installed"
                    >
                        {installed_text}
                    </span>
                    // "Not configured" says nothing about a tool that is not there.
                    {(tool.installed || tool.configured).then(|| view! {
                        <span class=format!("badge badge-{configured_tone}") data-testid="tool-configured">
                            {t(configured_key)}
                        </span>
                    })}
                </div>
            </header>
            <dl class="tool-facts">
                <dt>{tr("tools.path")}</dt>
                <dd class="mono">{tool.path.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>{tr("tools.config_file")}</dt>
                <dd class="mono">{file.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>{tr("tools.api_style")}</dt>
                <dd>{t(style_key)}</dd>
            </dl>
            {tool.can_setup.then(|| view! {
                <SetupPanel
                    id=tool.id.clone()
                    model=model.clone()
                    restorable=tool.restorable
                    on_change=on_change
                />
            })}
            <div class="tool-connect">
                <h3>{tr("tools.how_to")}</h3>
                <div class="row tool-url">
                    <span class="muted small">{tr("tools.base_url")}</span>
                    <code data-testid="tool-base-url">{base_url.clone()}</code>
                    <CopyButton text=Signal::derive(move || base_url.clone())/>
                </div>
                <p class="small">{steps}</p>
                {snippet.map(|text| {
                    let copy = text.clone();
                    view! {
                        <div class="snippet">
                            <pre data-testid="tool-snippet">{text}</pre>
                            <div class="snippet-copy"><CopyButton text=Signal::derive(move || copy.clone())/></div>
                        </div>
                    }
                })}
                <p class="muted small">
                    {move || t_with("tools.key_hint", &[("placeholder", isolate(KEY_PLACEHOLDER))])}
                    " "<a href="/dashboard/keys">{tr("tools.keys_link")}</a>
                </p>
                {tool.docs.clone().filter(|d| !d.trim().is_empty()).map(|docs| view! {
                    <p class="muted small tool-docs" dir="auto">{docs}</p>
                })}
            </div>
        </article>
    }
}

#[component]
pub fn ToolsPage() -> impl IntoView {
    let tools = LocalResource::new(|| async {
        api::get::<ToolList>("/api/cli-tools")
            .await
            .map(|list| match list {
                ToolList::Bare(tools) | ToolList::Wrapped { data: tools } => sorted(tools),
            })
    });
    // The model snippets use: the first enabled combo, else a placeholder.
    let model = LocalResource::new(|| async {
        api::get::<ComboList>("/api/combos")
            .await
            .ok()
            .and_then(|list| list.data.into_iter().find(|c| c.enabled))
            .map(|c| c.name)
            .unwrap_or_else(|| "<MODEL>".to_owned())
    });
    // After a setup or restore the cards show the new state.
    let on_change = Callback::new(move |()| tools.refetch());
    let actions = Box::new(move || {
        view! {
            <button
                class="btn"
                data-testid="tools-refresh"
                on:click=move |_| tools.refetch()
            >
                {tr("common.refresh")}
            </button>
        }
        .into_any()
    });
    view! {
        <Page title="tools.title" subtitle="tools.subtitle" actions=actions>
            {move || {
                let model = model.get().unwrap_or_else(|| "<MODEL>".to_owned());
                crate::components::resolved(tools.get(), move |list: Vec<CliTool>| {
                    if list.is_empty() {
                        return view! { <Empty message="tools.empty"/> }.into_any();
                    }
                    let installed = list.iter().filter(|t| t.installed).count();
                    let configured = list.iter().filter(|t| t.configured).count();
                    let total = list.len();
                    let configured_tone = if configured > 0 { "ok" } else { "muted" };
                    view! {
                        <div class="row tools-summary" data-testid="tools-summary">
                            <Badge tone="info" text=Signal::derive(move || t_with("tools.found", &[
                                ("installed", installed.to_string()),
                                ("total", total.to_string()),
                            ]))/>
                            <Badge tone=configured_tone text=Signal::derive(move || t_with("tools.configured_count", &[
                                ("count", configured.to_string()),
                            ]))/>
                            <span class="muted small">{tr("tools.auto_note")}</span>
                        </div>
                        <div class="tools-grid">
                            {list.into_iter().map(|tool| tool_card(tool, model.clone(), on_change)).collect_view()}
                        </div>
                    }
                    .into_any()
                })
            }}
        </Page>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "http://localhost:20128";

    #[test]
    fn anthropic_and_gemini_tools_get_the_root_openai_tools_get_v1() {
        assert_eq!(guide("claude-code", ORIGIN, "m").base_url, ORIGIN);
        assert_eq!(guide("claude-code", ORIGIN, "m").style, Style::Anthropic);
        assert_eq!(guide("gemini-cli", ORIGIN, "m").base_url, ORIGIN);
        assert_eq!(guide("gemini-cli", ORIGIN, "m").style, Style::Gemini);
        assert_eq!(
            guide("codex", ORIGIN, "m").base_url,
            "http://localhost:20128/v1"
        );
        assert_eq!(
            guide("opencode", "http://h:1/", "m").base_url,
            "http://h:1/v1"
        );
        assert_eq!(
            guide("cline", ORIGIN, "m").base_url,
            "http://localhost:20128/v1"
        );
        assert_eq!(guide("cline", ORIGIN, "m").snippet, None);
        assert_eq!(guide("something-new", ORIGIN, "m").style, Style::OpenAi);
    }

    #[test]
    fn snippets_carry_the_url_key_and_model_and_parse() {
        let claude = guide("claude", ORIGIN, "fast").snippet.unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&claude).unwrap_or_default();
        assert_eq!(value["env"]["ANTHROPIC_BASE_URL"], ORIGIN);
        assert_eq!(value["env"]["ANTHROPIC_AUTH_TOKEN"], KEY_PLACEHOLDER);
        assert_eq!(value["env"]["ANTHROPIC_MODEL"], "fast");

        let codex = guide("codex", ORIGIN, "fast").snippet.unwrap_or_default();
        assert!(codex.contains("base_url = \"http://localhost:20128/v1\""));
        assert!(codex.contains("wire_api = \"responses\""));
        assert!(codex.contains("model = \"fast\""));

        let gemini = guide("gemini-cli", ORIGIN, "fast")
            .snippet
            .unwrap_or_default();
        assert!(gemini.contains("GOOGLE_GEMINI_BASE_URL=http://localhost:20128\n"));

        for id in ["opencode", "continue", "droid"] {
            let text = guide(id, ORIGIN, "fast").snippet.unwrap_or_default();
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&text);
            assert!(parsed.is_ok(), "{id}");
            assert!(text.contains("http://localhost:20128/v1"), "{id}");
        }
    }

    #[test]
    fn isolated_runs_wrap_the_text() {
        assert_eq!(
            isolate("~/.codex/config.toml"),
            "\u{2068}~/.codex/config.toml\u{2069}"
        );
    }

    #[test]
    fn openclaw_gets_an_ip_not_localhost() {
        let g = guide("openclaw", ORIGIN, "m");
        assert_eq!(g.base_url, "http://127.0.0.1:20128/v1");
        assert!(
            g.snippet
                .unwrap_or_default()
                .contains("\"api\": \"openai-completions\"")
        );
        assert_eq!(loopback_ip("https://example.com"), "https://example.com");
    }

    #[test]
    fn the_list_reads_bare_or_wrapped_and_sorts_installed_first() {
        let bare: Result<ToolList, _> = serde_json::from_str(
            r#"[{"id":"codex","name":"Codex CLI","installed":false},{"id":"claude-code","name":"Claude Code","installed":true,"version":"2.1","extra":1}]"#,
        );
        let Ok(ToolList::Bare(tools)) = bare else {
            unreachable!("a bare list reads as Bare");
        };
        let names: Vec<_> = sorted(tools).into_iter().map(|t| t.id).collect();
        assert_eq!(names, ["claude-code", "codex"]);
        let wrapped: Result<ToolList, _> =
            serde_json::from_str(r#"{"data":[{"id":"x","name":"X"}]}"#);
        assert!(matches!(wrapped, Ok(ToolList::Wrapped { data }) if data.len() == 1));
    }
}
