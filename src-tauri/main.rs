//! `omniroute-desktop`: the tray app. Everything happens in the library so its logic is testable.

// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    omniroute_desktop::run()
}
