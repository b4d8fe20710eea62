//! What a launch asks for: `--minimized` from the login item, and the flags a second launch hands to the running instance (show the window, quit, start on login, pause routing, move to another port).

/// Started by the login item: stay in the tray, open no window.
pub const MINIMIZED_FLAG: &str = "--minimized";

/// Something a launch asks the running app to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ShowWindow,
    Quit,
    StartOnLogin(bool),
    PauseRouting(bool),
    /// Move the gateway to this port (the tray's Server port menu).
    MovePort(u16),
    /// Open the small window that asks for a port (the menu's Custom… item).
    ChoosePort,
}

/// The command line, read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Launch {
    pub minimized: bool,
    pub actions: Vec<Action>,
}

pub const USAGE: &str = "usage: omniroute-desktop [--minimized] [--show] [--quit] \
[--start-on-login=on|off] [--pause-routing | --resume-routing] [--port=N] [--choose-port]";

/// Reads `args` (without the program name). Unknown flags are an error
/// naming them, so a typo is not silently a plain launch.
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Launch, String> {
    let mut launch = Launch::default();
    for arg in args {
        let action = match arg.as_ref() {
            MINIMIZED_FLAG => {
                launch.minimized = true;
                continue;
            }
            "--show" => Action::ShowWindow,
            "--quit" => Action::Quit,
            "--start-on-login=on" => Action::StartOnLogin(true),
            "--start-on-login=off" => Action::StartOnLogin(false),
            "--pause-routing" => Action::PauseRouting(true),
            "--resume-routing" => Action::PauseRouting(false),
            "--choose-port" => Action::ChoosePort,
            other if other.starts_with("--port=") => {
                Action::MovePort(crate::prefs::parse_port(&other["--port=".len()..])?)
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        };
        launch.actions.push(action);
    }
    Ok(launch)
}

/// What a second launch means to the instance already running: its
/// actions, or showing the window when it asked for nothing (a user
/// clicking the app icon again). The login item's `--minimized` asks for
/// nothing at all.
pub fn for_running_instance(launch: &Launch) -> Vec<Action> {
    if launch.actions.is_empty() && !launch.minimized {
        vec![Action::ShowWindow]
    } else {
        launch.actions.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_actions_in_order() {
        let launch = parse(&["--start-on-login=on", "--pause-routing", "--quit"]).unwrap();
        assert!(!launch.minimized);
        assert_eq!(
            launch.actions,
            vec![
                Action::StartOnLogin(true),
                Action::PauseRouting(true),
                Action::Quit
            ]
        );
        assert_eq!(
            parse(&["--resume-routing", "--start-on-login=off", "--show"])
                .unwrap()
                .actions,
            vec![
                Action::PauseRouting(false),
                Action::StartOnLogin(false),
                Action::ShowWindow
            ]
        );
    }

    #[test]
    fn a_plain_second_launch_shows_the_window_and_the_login_item_does_not() {
        let plain = parse::<&str>(&[]).unwrap();
        assert_eq!(for_running_instance(&plain), vec![Action::ShowWindow]);
        let login_item = parse(&[MINIMIZED_FLAG]).unwrap();
        assert!(login_item.minimized);
        assert_eq!(for_running_instance(&login_item), vec![]);
        let quit = parse(&["--quit"]).unwrap();
        assert_eq!(for_running_instance(&quit), vec![Action::Quit]);
    }

    #[test]
    fn unknown_flags_are_refused_by_name() {
        assert_eq!(
            parse(&["--port=3000", "--choose-port"]).unwrap().actions,
            vec![Action::MovePort(3000), Action::ChoosePort]
        );
        assert!(parse(&["--port=80"]).unwrap_err().contains("1024 to 65535"));
        let error = parse(&["--start-on-login=yes"]).unwrap_err();
        assert!(error.starts_with("unknown argument `--start-on-login=yes`"));
        assert!(error.contains("usage: omniroute-desktop"));
    }
}
