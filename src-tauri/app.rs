//! The Tauri application: starts the gateway, opens the signed-in dashboard window, builds the tray, keeps its status fresh, turns gateway events into notifications, and shuts down cleanly.

use std::process::ExitCode;
use std::time::Duration;

use omniroute::{Gateway, Handle, Options, StartError};
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder, WindowEvent, Wry};
use tauri_plugin_autostart::{MacosLauncher, ManagerExt};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;
use tokio::sync::Mutex;

use crate::keychain::{self, DataKey, OsKeychain, SecretSlot};
use crate::notices::NoticePolicy;
use crate::tray_text;

/// The port a first start listens on (`OMNIROUTE_PORT` overrides it).
const DEFAULT_PORT: u16 = 20128;
/// How often the tray's status line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// Started by the login item: stay in the tray, open no window.
const MINIMIZED_FLAG: &str = "--minimized";
const WINDOW: &str = "main";

/// What the tray and the window need from the running gateway.
struct Shell {
    /// Taken out on quit, to shut the gateway down.
    gateway: Mutex<Option<Handle>>,
    /// `http://127.0.0.1:20128`.
    url: String,
    status_item: MenuItem<Wry>,
}

/// Runs the app until the user quits from the tray.
pub fn run() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OMNIROUTE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let minimized = std::env::args().any(|a| a == MINIMIZED_FLAG);
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            Some(vec![MINIMIZED_FLAG]),
        ))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .setup(move |app| {
            let handle = start_gateway()?;
            let url = handle.url();
            open_window(app.handle(), &handle, !minimized)?;
            let status_item = build_tray(app.handle())?;
            watch_events(&handle);
            app.manage(Shell {
                gateway: Mutex::new(Some(handle)),
                url,
                status_item,
            });
            refresh_status(app.handle().clone());
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window hides it; the gateway keeps serving.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("omniroute-desktop: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|_, event| {
        // With every window hidden the app lives on in the tray; only Quit
        // (an explicit exit code) ends it.
        if let RunEvent::ExitRequested { api, code, .. } = event
            && code.is_none()
        {
            api.prevent_exit();
        }
    });
    ExitCode::SUCCESS
}

/// Options of the in-process gateway: the user's data dir, the port, and
/// the data key from the OS keychain when there is one.
fn gateway_options() -> (Options, DataKey) {
    let data_dir = std::env::var_os("OMNIROUTE_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(omniroute::config::default_data_dir);
    let port = std::env::var("OMNIROUTE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_PORT);
    let env_key = std::env::var("OMNIROUTE_SECRET_KEY").ok();
    let data_key = if env_key.is_some() {
        // An explicit key wins; the keychain is not touched.
        DataKey::KeyFile {
            warning: String::new(),
        }
    } else {
        if let Err(e) = std::fs::create_dir_all(&data_dir) {
            tracing::warn!(error = %e, dir = %data_dir.display(), "cannot create the data dir");
        }
        let slot = OsKeychain::open();
        let slot_ref = slot.as_ref().ok().map(|s| s as &dyn SecretSlot);
        keychain::resolve(slot_ref, &data_dir)
    };
    match &data_key {
        DataKey::Keychain { migrated: true, .. } => {
            tracing::info!("the data key moved from the key file into the OS keychain");
        }
        DataKey::KeyFile { warning } if !warning.is_empty() => tracing::warn!("{warning}"),
        _ => {}
    }
    let options = Options {
        host: None,
        port: Some(port),
        data_dir,
        config_path: None,
        secret_key_hex: env_key.or_else(|| data_key.hex().map(str::to_owned)),
        initial_password: std::env::var("INITIAL_PASSWORD").ok(),
        warnings: match &data_key {
            DataKey::KeyFile { warning } if !warning.is_empty() => vec![warning.clone()],
            _ => Vec::new(),
        },
    };
    (options, data_key)
}

/// Starts the gateway on Tauri's runtime. A port in use is told in a
/// notification as well as on stderr, never a silent exit.
fn start_gateway() -> Result<Handle, Box<dyn std::error::Error>> {
    let (options, _) = gateway_options();
    let port = options.port.unwrap_or(DEFAULT_PORT);
    match tauri::async_runtime::block_on(Gateway::start(options)) {
        Ok(handle) => {
            tracing::info!(url = %handle.url(), "gateway started");
            Ok(handle)
        }
        Err(e) => {
            let body = match &e {
                StartError::Bind { .. } => format!(
                    "Port {port} is already in use — is OmniRoute already running? Set OMNIROUTE_PORT to use another port."
                ),
                other => other.to_string(),
            };
            notify("OmniRoute could not start", &body);
            eprintln!("omniroute-desktop: {e}");
            Err(Box::new(e))
        }
    }
}

/// The dashboard window, signed in with a one-time token.
fn open_window(
    app: &AppHandle,
    gateway: &Handle,
    visible: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let url = tauri::Url::parse(&gateway.dashboard_login_url())?;
    WebviewWindowBuilder::new(app, WINDOW, WebviewUrl::External(url))
        .title("OmniRoute")
        .inner_size(1280.0, 820.0)
        .min_inner_size(1024.0, 640.0)
        .visible(visible)
        .build()?;
    Ok(())
}

fn show_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(WINDOW) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// The tray icon and its menu; returns the status line item to refresh.
fn build_tray(app: &AppHandle) -> tauri::Result<MenuItem<Wry>> {
    let open = MenuItem::with_id(app, "open", "Open OmniRoute", true, None::<&str>)?;
    let browser = MenuItem::with_id(
        app,
        "browser",
        "Open dashboard in browser",
        true,
        None::<&str>,
    )?;
    let status = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
    let copy = MenuItem::with_id(app, "copy", "Copy endpoint URL", true, None::<&str>)?;
    let autostart_on = app.autolaunch().is_enabled().unwrap_or(false);
    let autostart = CheckMenuItem::with_id(
        app,
        "autostart",
        "Start on login",
        true,
        autostart_on,
        None::<&str>,
    )?;
    let quit_item = MenuItem::with_id(app, "quit", "Quit OmniRoute", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &browser,
            &PredefinedMenuItem::separator(app)?,
            &status,
            &copy,
            &PredefinedMenuItem::separator(app)?,
            &autostart,
            &PredefinedMenuItem::separator(app)?,
            &quit_item,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id("main")
        .tooltip("OmniRoute")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "open" => show_window(app),
            "browser" => {
                let url = format!("{}/dashboard/", shell_url(app));
                if let Err(e) = app.opener().open_url(url, None::<&str>) {
                    tracing::warn!(error = %e, "cannot open the browser");
                }
            }
            "copy" => {
                let url = format!("{}/v1", shell_url(app));
                if let Err(e) = app.clipboard().write_text(url) {
                    tracing::warn!(error = %e, "cannot write the clipboard");
                }
            }
            "autostart" => {
                let manager = app.autolaunch();
                let result = if manager.is_enabled().unwrap_or(false) {
                    manager.disable()
                } else {
                    manager.enable()
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "cannot change start on login");
                }
                let _ = autostart.set_checked(manager.is_enabled().unwrap_or(false));
            }
            "quit" => quit(app.clone()),
            _ => {}
        })
        // Linux trays deliver no clicks (the menu's first item opens the
        // window there); elsewhere a left click opens it.
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(status)
}

fn shell_url(app: &AppHandle) -> String {
    app.try_state::<Shell>()
        .map(|shell| shell.url.clone())
        .unwrap_or_default()
}

/// Keeps the tray's status line and tooltip current.
fn refresh_status(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        loop {
            let Some(shell) = app.try_state::<Shell>() else {
                return;
            };
            let status = match shell.gateway.lock().await.as_ref() {
                Some(gateway) => gateway.status().await,
                None => return,
            };
            let address = shell.url.trim_start_matches("http://").to_owned();
            let _ = shell
                .status_item
                .set_text(tray_text::status_line(&address, &status));
            if let Some(tray) = app.tray_by_id("main") {
                let _ = tray.set_tooltip(Some(tray_text::tooltip(&status)));
            }
            tokio::time::sleep(STATUS_EVERY).await;
        }
    });
}

/// Shows a desktop notification; failures (no notification server) are logged.
fn notify(title: &str, body: &str) {
    let result = notify_rust::Notification::new()
        .appname("OmniRoute")
        .summary(title)
        .body(body)
        .show();
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot show a notification");
    }
}

/// Turns the gateway's events into notifications, by [`NoticePolicy`].
fn watch_events(gateway: &Handle) {
    let mut events = gateway.events().subscribe();
    tauri::async_runtime::spawn(async move {
        let mut policy = NoticePolicy::default();
        loop {
            match events.recv().await {
                Ok(envelope) => {
                    if let Some(notice) = policy.decide(&envelope.event, envelope.ts) {
                        // The D-Bus call blocks; keep it off the runtime's threads.
                        let _ = tokio::task::spawn_blocking(move || {
                            notify(&notice.title, &notice.body)
                        })
                        .await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "notifications fell behind");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// Stops the gateway (in-flight requests finish, usage is flushed), then exits.
fn quit(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        if let Some(shell) = app.try_state::<Shell>()
            && let Some(gateway) = shell.gateway.lock().await.take()
        {
            gateway.shutdown().await;
        }
        app.exit(0);
    });
}
