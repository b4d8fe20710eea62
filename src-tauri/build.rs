//! Tauri's build step: reads tauri.conf.json and embeds the app's context (icons, splash page).

fn main() {
    tauri_build::build();
}
