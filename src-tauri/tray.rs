//! The tray icon and its menu: what each item is, and the items whose state the app changes later (status line, checkboxes, the port list).

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Wry};

use crate::prefs::PRESET_PORTS;

pub const TRAY_ID: &str = "main";
const CUSTOM_PORT_ID: &str = "port:custom";

/// A menu item the user picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuChoice {
    OpenWindow,
    OpenBrowser,
    CopyEndpoint,
    ToggleStartOnLogin,
    TogglePause,
    Port(u16),
    CustomPort,
    Quit,
}

/// The choice behind a menu item id.
pub fn choice(id: &str) -> Option<MenuChoice> {
    Some(match id {
        "open" => MenuChoice::OpenWindow,
        "browser" => MenuChoice::OpenBrowser,
        "copy" => MenuChoice::CopyEndpoint,
        "autostart" => MenuChoice::ToggleStartOnLogin,
        "pause" => MenuChoice::TogglePause,
        "quit" => MenuChoice::Quit,
        CUSTOM_PORT_ID => MenuChoice::CustomPort,
        other => MenuChoice::Port(other.strip_prefix("port:")?.parse().ok()?),
    })
}

/// The label of the custom port item: with the port when it is in use.
pub fn custom_port_label(port: u16) -> String {
    if PRESET_PORTS.contains(&port) {
        "Custom…".to_owned()
    } else {
        format!("Custom ({port})…")
    }
}

/// The items whose text or check mark follows the app's state.
pub struct TrayItems {
    pub status: MenuItem<Wry>,
    pub start_on_login: CheckMenuItem<Wry>,
    pub pause: CheckMenuItem<Wry>,
    presets: Vec<(u16, CheckMenuItem<Wry>)>,
    custom: CheckMenuItem<Wry>,
}

impl TrayItems {
    /// Checks the item of the port in use.
    pub fn show_port(&self, port: u16) {
        for (preset, item) in &self.presets {
            let _ = item.set_checked(*preset == port);
        }
        let _ = self.custom.set_checked(!PRESET_PORTS.contains(&port));
        let _ = self.custom.set_text(custom_port_label(port));
    }
}

/// Builds the tray icon and its menu. `on_choice` runs on the main thread
/// for every pick; a left click on the icon (where the platform reports
/// one) opens the window.
pub fn build(
    app: &AppHandle,
    port: u16,
    start_on_login: bool,
    on_choice: impl Fn(&AppHandle, MenuChoice) + Send + Sync + 'static,
) -> tauri::Result<TrayItems> {
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
    let start_on_login = CheckMenuItem::with_id(
        app,
        "autostart",
        "Start on login",
        true,
        start_on_login,
        None::<&str>,
    )?;
    let pause = CheckMenuItem::with_id(app, "pause", "Pause routing", true, false, None::<&str>)?;
    let presets = PRESET_PORTS
        .iter()
        .map(|p| {
            CheckMenuItem::with_id(
                app,
                format!("port:{p}"),
                p.to_string(),
                true,
                *p == port,
                None::<&str>,
            )
            .map(|item| (*p, item))
        })
        .collect::<tauri::Result<Vec<_>>>()?;
    let custom = CheckMenuItem::with_id(
        app,
        CUSTOM_PORT_ID,
        custom_port_label(port),
        true,
        !PRESET_PORTS.contains(&port),
        None::<&str>,
    )?;
    let port_menu = Submenu::with_id(app, "ports", "Server port", true)?;
    for (_, item) in &presets {
        port_menu.append(item)?;
    }
    port_menu.append(&custom)?;
    let quit = MenuItem::with_id(app, "quit", "Quit OmniRoute", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &browser,
            &PredefinedMenuItem::separator(app)?,
            &status,
            &copy,
            &PredefinedMenuItem::separator(app)?,
            &pause,
            &port_menu,
            &start_on_login,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("OmniRoute")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| {
            if let Some(picked) = choice(event.id().as_ref()) {
                on_choice(app, picked);
            }
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
                crate::app::show_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(TrayItems {
        status,
        start_on_login,
        pause,
        presets,
        custom,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_ids_name_their_choices() {
        assert_eq!(choice("open"), Some(MenuChoice::OpenWindow));
        assert_eq!(choice("pause"), Some(MenuChoice::TogglePause));
        assert_eq!(choice("port:3000"), Some(MenuChoice::Port(3000)));
        assert_eq!(choice("port:custom"), Some(MenuChoice::CustomPort));
        assert_eq!(choice("port:99999"), None);
        assert_eq!(choice("status"), None);
    }

    #[test]
    fn the_custom_item_names_a_custom_port() {
        assert_eq!(custom_port_label(20128), "Custom…");
        assert_eq!(custom_port_label(5555), "Custom (5555)…");
    }
}
