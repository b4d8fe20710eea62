//! The settings page's account and data cards: change the dashboard password, back up and restore the database, export and import the configuration.

use leptos::html::Input;
use leptos::prelude::*;
use serde_json::{Value, json};
use wasm_bindgen::JsValue;

use super::form::{attachment_name, file_stamp};
use super::{t_now, t_now_with, toast_ok};
use crate::api::{self, ApiError};
use crate::browser;
use crate::components::{notify_error, show_toast};
use crate::i18n::{t, tr};

/// The shortest password the gateway accepts.
const MIN_PASSWORD_CHARS: usize = 8;

/// What is wrong with a new password before asking the gateway, as a message key.
fn password_problem(current: &str, new: &str, confirm: &str) -> Option<&'static str> {
    if current.is_empty() {
        Some("settings.password_need_current")
    } else if new.chars().count() < MIN_PASSWORD_CHARS {
        Some("settings.password_too_short")
    } else if new != confirm {
        Some("settings.password_mismatch")
    } else {
        None
    }
}

/// A file name stamped with the browser's local time.
fn stamped(prefix: &str, extension: &str) -> String {
    let now = browser::local_datetime(browser::now_ms());
    format!("{prefix}-{}.{extension}", file_stamp(&now))
}

/// The file chosen in a file input.
fn chosen_file(input: NodeRef<Input>) -> Option<web_sys::File> {
    input.get_untracked()?.files()?.get(0)
}

#[component]
fn PasswordCard() -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (c, n) = (current.get_untracked(), new.get_untracked());
        if let Some(problem) = password_problem(&c, &n, &confirm.get_untracked()) {
            error.set(Some(t_now_with(
                problem,
                &[("min", MIN_PASSWORD_CHARS.to_string())],
            )));
            return;
        }
        error.set(None);
        busy.set(true);
        leptos::task::spawn_local(async move {
            let body = json!({"current": c, "new": n});
            match api::post::<_, Value>("/api/auth/password", &body).await {
                Ok(reply) => {
                    // A reply may carry a fresh CSRF token for this session.
                    if let Some(token) = reply.get("csrf_token").and_then(Value::as_str) {
                        api::set_csrf_token(Some(token.to_owned()));
                    }
                    current.set(String::new());
                    new.set(String::new());
                    confirm.set(String::new());
                    toast_ok("settings.password_changed");
                }
                Err(e) if e.code.as_deref() == Some("invalid_password") => {
                    error.set(Some(t_now("settings.password_wrong")));
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    let field = move |signal: RwSignal<String>,
                      label: &'static str,
                      testid: &'static str,
                      autocomplete: &'static str| {
        view! {
            <label class="field">
                <span>{tr(label)}</span>
                <input
                    type="password"
                    autocomplete=autocomplete
                    data-testid=testid
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev))
                />
            </label>
        }
    };
    view! {
        <form class="card data-card" on:submit=submit data-testid="password-form">
            <h2 class="card-title">{tr("settings.password_title")}</h2>
            <p class="muted small">{tr("settings.password_intro")}</p>
            {field(current, "settings.password_current", "password-current", "current-password")}
            {field(new, "settings.password_new", "password-new", "new-password")}
            {field(confirm, "settings.password_confirm", "password-confirm", "new-password")}
            {move || error.get().map(|e| view! { <div class="error-box" role="alert" data-testid="password-error">{e}</div> })}
            <button class="btn btn-primary" type="submit" data-testid="password-save" disabled=move || busy.get()>
                {tr("settings.password_save")}
            </button>
        </form>
    }
}

/// Downloads `GET /api/backup` as a file.
async fn download_backup() -> Result<(), ApiError> {
    let response = api::send_raw("GET", "/api/backup", "application/octet-stream", None).await?;
    let name = response
        .headers()
        .get("content-disposition")
        .and_then(|h| attachment_name(&h))
        .unwrap_or_else(|| stamped("omniroute-backup", "sqlite"));
    let bytes = response.binary().await.map_err(ApiError::network)?;
    browser::download(&name, "application/vnd.sqlite3", &bytes);
    Ok(())
}

/// Downloads `GET /api/backup/export` (the configuration without secrets) as a JSON file.
async fn download_export() -> Result<(), ApiError> {
    let config = api::get::<Value>("/api/backup/export").await?;
    let text = serde_json::to_string_pretty(&config).unwrap_or_else(|_| config.to_string());
    browser::download(
        &stamped("omniroute-config", "json"),
        "application/json",
        text.as_bytes(),
    );
    Ok(())
}

/// What `POST /api/backup/import` reports: accounts new to this gateway
/// come without a secret and stay disabled until one is entered.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ImportReport {
    needs_secret: Vec<NeedsSecret>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NeedsSecret {
    provider: String,
    name: String,
}

impl ImportReport {
    /// `openai/work, anthropic/home` for the accounts that need a key.
    fn accounts(&self) -> String {
        self.needs_secret
            .iter()
            .map(|n| format!("{}/{}", n.provider, n.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Sends a chosen file as the raw body of `POST path`.
async fn upload(path: &str, content_type: &str, file: web_sys::File) -> Result<(), ApiError> {
    api::send_raw("POST", path, content_type, Some(JsValue::from(file)))
        .await
        .map(|_| ())
}

/// Sends a chosen configuration file to `POST /api/backup/import`.
async fn import_file(file: web_sys::File) -> Result<ImportReport, ApiError> {
    let response = api::send_raw(
        "POST",
        "/api/backup/import",
        "application/json",
        Some(JsValue::from(file)),
    )
    .await?;
    Ok(response.json().await.unwrap_or_default())
}

/// What a file input with its run button is for.
struct FileAction {
    accept: &'static str,
    file_testid: &'static str,
    run_testid: &'static str,
    run_label: &'static str,
    /// Asked before running, with `{file}`.
    confirm_key: &'static str,
    /// Whether running it replaces data (a red button).
    destructive: bool,
}

/// A file input with its run button, confirmed first.
fn file_action(
    action: FileAction,
    input: NodeRef<Input>,
    busy: RwSignal<bool>,
    run: impl Fn(web_sys::File) + 'static,
) -> impl IntoView {
    let FileAction {
        accept,
        file_testid,
        run_testid,
        run_label,
        confirm_key,
        destructive,
    } = action;
    let run_class = if destructive {
        "btn btn-danger"
    } else {
        "btn btn-primary"
    };
    let chosen = RwSignal::new(None::<String>);
    view! {
        <div class="file-action">
            <label class="file-pick">
                <input
                    type="file"
                    accept=accept
                    node_ref=input
                    data-testid=file_testid
                    on:change=move |_| chosen.set(chosen_file(input).map(|f| f.name()))
                />
                <span class="btn">{tr("settings.choose_file")}</span>
                <span class="muted small file-name">
                    {move || chosen.get().unwrap_or_else(|| t("settings.no_file"))}
                </span>
            </label>
            <button
                class=run_class
                data-testid=run_testid
                disabled=move || chosen.get().is_none() || busy.get()
                on:click=move |_| {
                    let Some(file) = chosen_file(input) else {
                        return;
                    };
                    if browser::confirm(&t_now_with(confirm_key, &[("file", file.name())])) {
                        run(file);
                    }
                }
            >
                {tr(run_label)}
            </button>
        </div>
    }
}

#[component]
pub fn AccountAndData(
    /// Called after a restore or import replaced the configuration.
    on_replaced: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let busy = RwSignal::new(false);
    let restore_input = NodeRef::<Input>::new();
    let import_input = NodeRef::<Input>::new();

    let backup = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match download_backup().await {
                Ok(()) => toast_ok("settings.backup_done"),
                Err(e) => notify_error(&e),
            }
            busy.set(false);
        });
    };
    let export = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match download_export().await {
                Ok(()) => toast_ok("settings.export_done"),
                Err(e) => notify_error(&e),
            }
            busy.set(false);
        });
    };
    let restore = move |file: web_sys::File| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match upload("/api/restore", "application/octet-stream", file).await {
                Ok(()) => {
                    toast_ok("settings.restore_done");
                    on_replaced();
                }
                Err(e) => notify_error(&e),
            }
            busy.set(false);
        });
    };
    let import = move |file: web_sys::File| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match import_file(file).await {
                Ok(report) if report.needs_secret.is_empty() => {
                    toast_ok("settings.import_done");
                    on_replaced();
                }
                Ok(report) => {
                    show_toast(
                        true,
                        t_now_with(
                            "settings.import_needs_secret",
                            &[("accounts", report.accounts())],
                        ),
                    );
                    on_replaced();
                }
                Err(e) => notify_error(&e),
            }
            busy.set(false);
        });
    };

    view! {
        <div class="settings-data">
            <PasswordCard/>
            <div class="card data-card" data-testid="backup-card">
                <h2 class="card-title">{tr("settings.backup_title")}</h2>
                <p class="muted small">{tr("settings.backup_intro")}</p>
                <button class="btn" data-testid="backup-download" disabled=move || busy.get() on:click=backup>
                    {tr("settings.backup_download")}
                </button>
                <h3>{tr("settings.restore_title")}</h3>
                <p class="muted small">{tr("settings.restore_intro")}</p>
                {file_action(
                    FileAction {
                        accept: ".sqlite,.sqlite3,.db,application/vnd.sqlite3,application/octet-stream",
                        file_testid: "restore-file",
                        run_testid: "restore-run",
                        run_label: "settings.restore_run",
                        confirm_key: "settings.restore_confirm",
                        destructive: true,
                    },
                    restore_input,
                    busy,
                    restore,
                )}
            </div>
            <div class="card data-card" data-testid="export-card">
                <h2 class="card-title">{tr("settings.export_title")}</h2>
                <p class="muted small">{tr("settings.export_intro")}</p>
                <button class="btn" data-testid="export-download" disabled=move || busy.get() on:click=export>
                    {tr("settings.export_download")}
                </button>
                <h3>{tr("settings.import_title")}</h3>
                <p class="muted small">{tr("settings.import_intro")}</p>
                {file_action(
                    FileAction {
                        accept: ".json,application/json",
                        file_testid: "import-file",
                        run_testid: "import-run",
                        run_label: "settings.import_run",
                        confirm_key: "settings.import_confirm",
                        destructive: false,
                    },
                    import_input,
                    busy,
                    import,
                )}
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_checks_before_asking_the_gateway() {
        assert_eq!(
            password_problem("", "longenough", "longenough"),
            Some("settings.password_need_current")
        );
        assert_eq!(
            password_problem("old", "short", "short"),
            Some("settings.password_too_short")
        );
        // Characters, not bytes: eight accented letters are enough.
        assert_eq!(password_problem("old", "éééééééé", "éééééééé"), None);
        assert_eq!(
            password_problem("old", "longenough", "different"),
            Some("settings.password_mismatch")
        );
        assert_eq!(password_problem("old", "longenough", "longenough"), None);
    }
}
