//! The Tauri application: starts the gateway, opens the signed-in dashboard window, runs the tray's choices (pause, port, start on login, quit), keeps its status fresh, turns gateway events into notifications, and shuts down cleanly.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::RwLock;
use std::time::Duration;

use omniroute::{Gateway, Handle, Options, StartError};
use tauri::{
    AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindow, WebviewWindowBuilder, WindowEvent,
};
use tauri_plugin_autostart::{MacosLauncher, ManagerExt};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;
use tokio::sync::Mutex;

use crate::command_line::{self, Action, MINIMIZED_FLAG};
use crate::keychain::{self, DataKey, OsKeychain, SecretSlot};
use crate::notices::{Kind, NoticePolicy};
use crate::prefs::{self, Prefs};
use crate::tray::{self, MenuChoice, TRAY_ID, TrayItems};
use crate::tray_text;

/// How often the tray's status line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(5);
const WINDOW: &str = "main";
/// The small window that asks for a custom port (`splash/port.html`).
const PORT_WINDOW: &str = "port";

/// What the tray and the window need from the running gateway.
struct Shell {
    /// Taken out on quit or a port change, to shut the gateway down.
    gateway: Mutex<Option<Handle>>,
    /// `http://127.0.0.1:20128`, for the menu's synchronous handlers.
    url: RwLock<String>,
    data_dir: PathBuf,
    tray: TrayItems,
}

impl Shell {
    fn url(&self) -> String {
        self.url.read().map(|u| u.clone()).unwrap_or_default()
    }
}

/// Runs the app until the user quits.
pub fn run() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OMNIROUTE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let launch = match command_line::parse(&args) {
        Ok(launch) => launch,
        Err(e) => {
            eprintln!("omniroute-desktop: {e}");
            return ExitCode::from(2);
        }
    };
    let app = tauri::Builder::default()
        // First: a second launch hands its flags to this instance and exits
        // before it starts anything of its own.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            let args = argv.get(1..).unwrap_or_default();
            match command_line::parse(args) {
                Ok(launch) => {
                    for action in command_line::for_running_instance(&launch) {
                        apply(app, action);
                    }
                }
                Err(e) => tracing::warn!("a second launch asked for something unknown: {e}"),
            }
        }))
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            Some(vec![MINIMIZED_FLAG]),
        ))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![set_custom_port])
        .setup(move |app| {
            let (options, data_dir) = gateway_options();
            let handle = start_gateway(options)?;
            open_window(app.handle(), &handle, !launch.minimized)?;
            let start_on_login = app.autolaunch().is_enabled().unwrap_or(false);
            let items = tray::build(
                app.handle(),
                handle.addr().port(),
                start_on_login,
                on_menu_choice,
            )?;
            watch_events(app.handle().clone(), &handle);
            app.manage(Shell {
                url: RwLock::new(handle.url()),
                gateway: Mutex::new(Some(handle)),
                data_dir,
                tray: items,
            });
            refresh_status(app.handle().clone());
            for action in &launch.actions {
                apply(app.handle(), *action);
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the dashboard hides it; the gateway keeps serving.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.label() == WINDOW
            {
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

/// Options of the in-process gateway — the user's data dir, the port, the
/// data key from the OS keychain when there is one — and the data dir.
fn gateway_options() -> (Options, PathBuf) {
    let data_dir = std::env::var_os("OMNIROUTE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(omniroute::config::default_data_dir);
    let port = prefs::port(
        std::env::var("OMNIROUTE_PORT").ok().as_deref(),
        &Prefs::load(&data_dir),
    );
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
        data_dir: data_dir.clone(),
        // The same config file the headless gateway reads, when one is named.
        config_path: std::env::var_os("OMNIROUTE_CONFIG").map(PathBuf::from),
        secret_key_hex: env_key.or_else(|| data_key.hex().map(str::to_owned)),
        initial_password: std::env::var("INITIAL_PASSWORD").ok(),
        warnings: match &data_key {
            DataKey::KeyFile { warning } if !warning.is_empty() => vec![warning.clone()],
            _ => Vec::new(),
        },
        upstream_override: None,
    };
    (options, data_dir)
}

/// What a failed start tells the user.
fn start_problem(error: &StartError, port: u16) -> String {
    match error {
        StartError::Bind { .. } => format!(
            "Port {port} is already in use by another program. Pick another port from the tray's Server port menu, or set OMNIROUTE_PORT."
        ),
        other => other.to_string(),
    }
}

/// Starts the gateway on Tauri's runtime. A port in use is told in a
/// notification as well as on stderr, never a silent exit.
fn start_gateway(options: Options) -> Result<Handle, Box<dyn std::error::Error>> {
    let port = options.port.unwrap_or(prefs::DEFAULT_PORT);
    match tauri::async_runtime::block_on(Gateway::start(options)) {
        Ok(handle) => {
            tracing::info!(url = %handle.url(), "gateway started");
            Ok(handle)
        }
        Err(e) => {
            notify("OmniRoute could not start", &start_problem(&e, port));
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

fn main_window(app: &AppHandle) -> Option<WebviewWindow> {
    app.get_webview_window(WINDOW)
}

pub(crate) fn show_window(app: &AppHandle) {
    if let Some(window) = main_window(app) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

fn shell_url(app: &AppHandle) -> String {
    app.try_state::<Shell>()
        .map(|shell| shell.url())
        .unwrap_or_default()
}

/// Runs a tray menu pick.
fn on_menu_choice(app: &AppHandle, picked: MenuChoice) {
    match picked {
        MenuChoice::OpenWindow => show_window(app),
        MenuChoice::OpenBrowser => {
            let url = format!("{}/dashboard/", shell_url(app));
            if let Err(e) = app.opener().open_url(url, None::<&str>) {
                tracing::warn!(error = %e, "cannot open the browser");
            }
        }
        MenuChoice::CopyEndpoint => {
            let url = format!("{}/v1", shell_url(app));
            if let Err(e) = app.clipboard().write_text(url) {
                tracing::warn!(error = %e, "cannot write the clipboard");
            }
        }
        MenuChoice::ToggleStartOnLogin => {
            let on = app.autolaunch().is_enabled().unwrap_or(false);
            apply(app, Action::StartOnLogin(!on));
        }
        MenuChoice::TogglePause => {
            // The gateway's state, not the check mark (which platforms flip
            // at different moments), says what the click means.
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let Some(shell) = app.try_state::<Shell>() else {
                    return;
                };
                let paused = shell
                    .gateway
                    .lock()
                    .await
                    .as_ref()
                    .is_some_and(Handle::routing_paused);
                apply(&app, Action::PauseRouting(!paused));
            });
        }
        MenuChoice::Port(port) => apply(app, Action::MovePort(port)),
        MenuChoice::CustomPort => apply(app, Action::ChoosePort),
        MenuChoice::Quit => apply(app, Action::Quit),
    }
}

/// Does what a launch or a menu pick asked for.
fn apply(app: &AppHandle, action: Action) {
    match action {
        Action::ShowWindow => show_window(app),
        Action::ChoosePort => ask_custom_port(app),
        Action::Quit => quit(app.clone()),
        Action::StartOnLogin(on) => {
            let manager = app.autolaunch();
            // The autostart entry is written into ~/.config/autostart on
            // Linux, which a fresh account may not have yet.
            #[cfg(target_os = "linux")]
            if on && let Some(dir) = dirs::config_dir().map(|d| d.join("autostart")) {
                let _ = std::fs::create_dir_all(dir);
            }
            let result = if on {
                manager.enable()
            } else {
                manager.disable()
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot change start on login");
            }
            let now = manager.is_enabled().unwrap_or(false);
            tracing::info!(start_on_login = now, "start on login changed");
            if let Some(shell) = app.try_state::<Shell>() {
                let _ = shell.tray.start_on_login.set_checked(now);
            }
        }
        Action::PauseRouting(paused) => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let Some(shell) = app.try_state::<Shell>() else {
                    return;
                };
                if let Some(gateway) = shell.gateway.lock().await.as_ref() {
                    gateway.set_routing_paused(paused);
                }
                tracing::info!(paused, "routing pause changed");
                let _ = shell.tray.pause.set_checked(paused);
                refresh_once(&app).await;
            });
        }
        Action::MovePort(port) => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = change_port(&app, port).await {
                    notify("OmniRoute kept its port", &e);
                }
            });
        }
    }
}

/// Moves the gateway to `port`: stops it (in-flight requests finish, usage
/// is flushed), starts it on the new port, remembers the choice and
/// reloads the window. When the new port cannot be had, the gateway comes
/// back on the old one and the error says why.
async fn change_port(app: &AppHandle, port: u16) -> Result<(), String> {
    let shell = app
        .try_state::<Shell>()
        .ok_or("the app is still starting")?;
    let mut slot = shell.gateway.lock().await;
    let Some(old) = slot.take() else {
        return Err("OmniRoute is quitting".to_owned());
    };
    let old_port = old.addr().port();
    if old_port == port {
        *slot = Some(old);
        shell.tray.show_port(port);
        return Ok(());
    }
    let paused = old.routing_paused();
    old.shutdown().await;
    let (mut options, _) = gateway_options();
    options.port = Some(port);
    let (handle, outcome) = match Gateway::start(options.clone()).await {
        Ok(handle) => {
            if let Err(e) = (Prefs { port: Some(port) }).save(&shell.data_dir) {
                tracing::warn!(error = %e, "cannot save the port choice");
            }
            (handle, Ok(()))
        }
        Err(e) => {
            let problem = start_problem(&e, port);
            options.port = Some(old_port);
            let handle = Gateway::start(options)
                .await
                .map_err(|e| format!("{problem} Restarting on port {old_port} failed too: {e}"))?;
            (handle, Err(problem))
        }
    };
    handle.set_routing_paused(paused);
    tracing::info!(url = %handle.url(), "gateway moved");
    if let Ok(mut url) = shell.url.write() {
        *url = handle.url();
    }
    shell.tray.show_port(handle.addr().port());
    if let Some(window) = main_window(app)
        && let Ok(url) = tauri::Url::parse(&handle.dashboard_login_url())
    {
        match window.navigate(url) {
            Ok(()) => tracing::info!(address = %handle.addr(), "dashboard window reloaded"),
            Err(e) => tracing::warn!(error = %e, "cannot reload the dashboard window"),
        }
    }
    watch_events(app.clone(), &handle);
    *slot = Some(handle);
    drop(slot);
    refresh_once(app).await;
    outcome
}

/// Opens (or focuses) the small window that asks for a custom port.
fn ask_custom_port(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(PORT_WINDOW) {
        let _ = window.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, PORT_WINDOW, WebviewUrl::App("port.html".into()))
        .title("OmniRoute — server port")
        .inner_size(380.0, 190.0)
        .resizable(false)
        .build();
    if let Err(e) = built {
        tracing::warn!(error = %e, "cannot open the port window");
    }
}

/// From the port window: checks the typed port and moves the gateway to it.
#[tauri::command]
async fn set_custom_port(app: AppHandle, port: String) -> Result<(), String> {
    let port = prefs::parse_port(&port)?;
    change_port(&app, port).await?;
    if let Some(window) = app.get_webview_window(PORT_WINDOW) {
        let _ = window.close();
    }
    Ok(())
}

/// Refreshes the tray's status line and tooltip now.
async fn refresh_once(app: &AppHandle) {
    let Some(shell) = app.try_state::<Shell>() else {
        return;
    };
    let status = match shell.gateway.lock().await.as_ref() {
        Some(gateway) => gateway.status().await,
        None => return,
    };
    let url = shell.url();
    let address = url.trim_start_matches("http://");
    let _ = shell
        .tray
        .status
        .set_text(tray_text::status_line(address, &status));
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(tray_text::tooltip(&status)));
    }
}

/// Keeps the tray's status line and tooltip current.
fn refresh_status(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        loop {
            refresh_once(&app).await;
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
    match result {
        Ok(_) => tracing::info!(title, "notified"),
        Err(e) => tracing::warn!(error = %e, "cannot show a notification"),
    }
}

/// Turns the gateway's events into notifications, by [`NoticePolicy`] and
/// the kinds the gateway's `notify_*` settings switch on. Ends with the
/// gateway it watches.
fn watch_events(app: AppHandle, gateway: &Handle) {
    let mut events = gateway.events().subscribe();
    tauri::async_runtime::spawn(async move {
        let mut policy = NoticePolicy::default();
        loop {
            match events.recv().await {
                Ok(envelope) => {
                    if let Some(shell) = app.try_state::<Shell>()
                        && let Some(gateway) = shell.gateway.lock().await.as_ref()
                    {
                        policy.set_enabled(&Kind::enabled_in(&gateway.settings()));
                    }
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
            tracing::info!("gateway stopped, usage flushed");
        }
        app.exit(0);
    });
}
