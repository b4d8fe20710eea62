//! The OmniRoute desktop shell (Tauri 2): the gateway in-process, its dashboard in a window, a tray menu, OS-keychain key storage, notifications and start on login.

mod app;
pub mod command_line;
pub mod keychain;
pub mod notices;
pub mod prefs;
mod tray;
pub mod tray_text;

pub use app::run;
